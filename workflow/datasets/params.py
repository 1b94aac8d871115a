"""The config values each dataset job reads: the `params:` of rules/datasets.smk.

Snakemake reruns a job when its params change, so the dataset of experiment E gets the keys its
image lists depend on and no others (config/README.md, "Reruns"): E's own entry of
`experiments.runs` without `focal_gamma` (a training setting, read by E's trainings), the class
names and target, `experiments.keep_without_target` and `experiments.seed` (every dataset keeps
the same seeded share of the tiles holding no target; ablation and replacement also keep a
seeded share of the real plane images). workflow.datasets.build accepts exactly these (tests/workflow/test_params.py). rules/datasets.smk
loads this file by path: it imports nothing from the package.
"""

from __future__ import annotations

from typing import Any, Mapping

# Keys of an experiments.runs entry that only the trainings read.
TRAINING_KEYS = ("focal_gamma",)


def dataset_settings(config: Mapping[str, Any], experiment: str) -> dict:
    """--settings of the dataset of `experiment`."""
    run = config["experiments"]["runs"][experiment]
    values = {
        "classes": {key: config["classes"][key] for key in ("names", "target")},
        "experiment": {key: value for key, value in run.items() if key not in TRAINING_KEYS},
    }
    values["seed"] = config["experiments"]["seed"]
    values["keep_without_target"] = config["experiments"]["keep_without_target"]
    return values
