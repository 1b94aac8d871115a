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
    """The section (inpaint | copy_paste | selection) holding synthetic set `set_name`, and its
    entry."""
    for section in ("inpaint", "copy_paste", "selection"):
        sets = (config.get(section) or {}).get("sets") or {}
        if set_name in sets:
            return section, sets[set_name]
    raise KeyError(f"synthetic set {set_name!r} is in none of inpaint.sets, copy_paste.sets, selection.sets")


def auto_sized(config: Mapping[str, Any], set_name: str) -> bool:
    """The set's `images` is `auto`: its job reads results/datasets/needs/{set}.json."""
    return synthetic_entry(config, set_name)[1]["images"] == "auto"


def drawing_experiments(config: Mapping[str, Any], set_name: str) -> dict:
    """The dataset settings of every experiment drawing from `set_name`."""
    runs = config["experiments"]["runs"]
    return {name: dataset_settings(config, name) for name, run in runs.items() if run.get("set") == set_name}


def needs_settings(config: Mapping[str, Any], set_name: str) -> dict:
    """--settings of the needs of `set_name`: the dataset settings of every experiment drawing
    from it, the jobs it is made in (inpaint.chunks; one for other sets), and for each selected
    set drawing from it (selection.sets) that set's experiments, its number of sources and the
    planes it draws per plane it keeps (selection.gate.draws when gated, else 1)."""
    section, _ = synthetic_entry(config, set_name)
    selection = config.get("selection") or {}
    selections = {}
    for name, entry in (selection.get("sets") or {}).items():
        if set_name in entry["sources"]:
            gated = entry.get("threshold") is not None
            selections[name] = {
                "sources": len(entry["sources"]),
                "draws": selection["gate"]["draws"] if gated else 1,
                "images": entry["images"],
                "experiments": drawing_experiments(config, name),
            }
    return {
        "set": set_name,
        "chunks": config["inpaint"]["chunks"] if section == "inpaint" else 1,
        "experiments": drawing_experiments(config, set_name),
        "selections": selections,
    }
