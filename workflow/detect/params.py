"""The config values each detection job reads: the `params:` of rules/detect.smk, and where and
how the trainings run (their command line).

Snakemake reruns a job when its params change, so a job gets the keys its result depends on and
no others (config/README.md, "Reruns"):
- a training of experiment E reads `detect.train` with E's `focal_gamma` in place of the
  default, `focal_alpha` only when that gamma is > 0 (the BCE has no alpha), and the target;
- the pre-training reads `detect.train` overridden by `detect.pretrain.train`, by the same rules;
- the pre-training data reads `detect.pretrain.scenes`, `split` and `tiling` (over the
  detection tiling keys it overrides) and the classes.
RUNTIME_KEYS (the device and the data-loader workers) say where and how a training runs, not
what it learns: `runtime` gives them to the command line (--device, --workers), never to the
params (`run_flags`, the rules' `run_flags` resource), so that moving a run to a GPU or to more
workers reruns nothing. The commands accept exactly these settings
(tests/workflow/test_params.py). rules/detect.smk loads this file by path: it imports nothing
from the package.
"""

from __future__ import annotations

from typing import Any, Mapping

# Training arguments that say where and how a training runs: on the command line.
RUNTIME_KEYS = ("device", "workers")
# The detection tiling keys (tiling.*) the pre-training data reads, before its own overrides.
PRETRAIN_TILING_KEYS = ("detect_size", "detect_overlap", "min_visibility")


def _train_args(config: Mapping[str, Any], pretrain: bool) -> dict:
    """detect.train, overridden by detect.pretrain.train for the pre-training."""
    detect = config["detect"]
    return {**detect["train"], **(detect["pretrain"]["train"] if pretrain else {})}


def _settings(train: Mapping[str, Any], target: str | None) -> dict:
    """--settings of workflow.detect.train: the arguments less RUNTIME_KEYS, and less
    focal_alpha when the focal loss is off."""
    leave = set(RUNTIME_KEYS) | ({"focal_alpha"} if train["focal_gamma"] == 0 else set())
    return {"train": {k: v for k, v in train.items() if k not in leave}, "target": target}


def train_settings(config: Mapping[str, Any], experiment: str) -> dict:
    """--settings of the trainings of `experiment` (its focal_gamma overrides the default)."""
    train = _train_args(config, pretrain=False)
    gamma = config["experiments"]["runs"][experiment].get("focal_gamma")
    if gamma is not None:
        train["focal_gamma"] = gamma
    return _settings(train, config["classes"]["target"])


def learning_curve_settings(config: Mapping[str, Any], experiment: str) -> dict:
    """--settings of the learning curve: `experiment`'s (the baseline's) training with
    detect.learning_curve.epochs, validated after every epoch."""
    values = train_settings(config, experiment)
    values["train"].update(epochs=config["detect"]["learning_curve"]["epochs"], val=True)
    return values


def pretrain_settings(config: Mapping[str, Any]) -> dict:
    """--settings of the pre-training (experiments' focal_gamma does not apply). Its scenes hold
    no target (workflow.detect.pretrain_data), so it reports no target AP: target null. It is
    no part of a sweep: its epochs show its own images (epoch_size dataset)."""
    return _settings({**_train_args(config, pretrain=True), "epoch_size": "dataset"}, None)


def runtime(config: Mapping[str, Any], pretrain: bool = False) -> dict:
    """{device, workers} of the trainings (or of the pre-training): their command line."""
    train = _train_args(config, pretrain)
    return {key: train[key] for key in RUNTIME_KEYS}


def run_flags(config: Mapping[str, Any], pretrain: bool = False) -> str:
    """The command-line flags of `runtime`: the trainings' `run_flags` resource."""
    values = runtime(config, pretrain)
    return f"--device {values['device']} --workers {values['workers']}"


def pretrain_data_settings(config: Mapping[str, Any]) -> dict:
    """--settings of workflow.detect.pretrain_data. The pre-training scenes' seed must differ
    from data.demo.seed; that is checked when the workflow loads, so the demo's seed is no
    input of this job."""
    pretrain = config["detect"]["pretrain"]
    tiling = {key: config["tiling"][key] for key in PRETRAIN_TILING_KEYS}
    return {
        "scenes": pretrain["scenes"],
        "split": pretrain["split"],
        "classes": config["classes"],
        "tiling": {**tiling, **pretrain["tiling"]},
    }
