"""The config values each report job reads: the `params:` of rules/report.smk.

Snakemake reruns a job when its params change, so each job gets the keys its result depends on
and no others (config/README.md, "Reruns"): the AP tables read the runs (their kind and sweep
value), the default focal gamma and the names of the copy-paste sets (the control); the learning
curve plot marks `detect.train.epochs`; the synthetic quality reads the class names and target.
The commands accept exactly these (tests/workflow/test_params.py). rules/report.smk loads this
file by path: it imports nothing from the package.
"""

from __future__ import annotations

from typing import Any, Mapping


def tables_settings(config: Mapping[str, Any]) -> dict:
    """--settings of workflow.report.tables."""
    return {
        "runs": config["experiments"]["runs"],
        "focal_gamma": config["detect"]["train"]["focal_gamma"],
        "paste_sets": list(config["copy_paste"]["sets"] or {}),
    }


def curve_epochs(config: Mapping[str, Any]) -> int:
    """--epochs of workflow.report.curves: the experiments' training length, marked on the plot."""
    return config["detect"]["train"]["epochs"]


def quality_settings(config: Mapping[str, Any]) -> dict:
    """--settings of workflow.report.quality."""
    return {"classes": {key: config["classes"][key] for key in ("names", "target")}}
