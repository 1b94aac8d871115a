"""The config values each report job reads: the `params:` of rules/report.smk.

Snakemake reruns a job when its params change, so each job gets the keys its result depends on
and no others (config/README.md, "Reruns"): the AP tables read the runs (their kind and sweep
value), the default focal gamma and the names of the control's sets (copy-paste, and the
selected sets drawing only from them); the learning
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
        "paste_sets": paste_sets(config),
        "resolve": config["experiments"]["resolve"],
    }


def paste_sets(config: Mapping[str, Any]) -> list[str]:
    """The control's sets: copy_paste.sets and the selected sets drawing from them only."""
    pasted = list(config["copy_paste"]["sets"] or {})
    selected = config["selection"]["sets"] or {}
    return pasted + [name for name, entry in selected.items() if set(entry["sources"]) <= set(pasted)]


def curve_epochs(config: Mapping[str, Any]) -> int:
    """--epochs of workflow.report.curves: the experiments' training length, marked on the plot."""
    return config["detect"]["train"]["epochs"]


def quality_settings(config: Mapping[str, Any]) -> dict:
    """--settings of workflow.report.quality."""
    return {"classes": {key: config["classes"][key] for key in ("names", "target")}}
