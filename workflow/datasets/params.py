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


def synthetic_entry(config: Mapping[str, Any], set_name: str) -> tuple[str, Mapping[str, Any]]:
    """The section (inpaint | copy_paste) holding synthetic set `set_name`, and its entry."""
    for section in ("inpaint", "copy_paste"):
        sets = config[section]["sets"] or {}
        if set_name in sets:
            return section, sets[set_name]
    raise KeyError(f"synthetic set {set_name!r} is in neither inpaint.sets nor copy_paste.sets")


def auto_sized(config: Mapping[str, Any], set_name: str) -> bool:
    """The set's `images` is `auto`: its job reads results/datasets/needs/{set}.json."""
    return synthetic_entry(config, set_name)[1]["images"] == "auto"


def needs_settings(config: Mapping[str, Any], set_name: str) -> dict:
    """--settings of the needs of `set_name`: the dataset settings of every experiment drawing
    from it, and the jobs it is made in (inpaint.chunks; one for a copy-paste set)."""
    section, _ = synthetic_entry(config, set_name)
    runs = config["experiments"]["runs"]
    return {
        "set": set_name,
        "chunks": config["inpaint"]["chunks"] if section == "inpaint" else 1,
        "experiments": {name: dataset_settings(config, name) for name, run in runs.items()
                        if run.get("set") == set_name},
    }
