"""The config values each job of the diffusion stage reads: the `params:` of rules/diffusion.smk.

Snakemake reruns a job when its params change, so each job gets the keys its result depends on
and no others (config/README.md, "Reruns"):
- a U-Net training (`pretrain`, `finetune`) reads UNET_KEYS and its own section, less `init`
  (the file a base training starts from, an input of the rule) and less the keys of its sample
  grid (drawn by a rule of its own from the written model: a picture setting
  redraws the picture and trains nothing) and less `checkpoint_every`;
- a sample grid (`pretrain_grid`, `finetune_grid`) reads GRID_KEYS only: the network, its noise
  schedule and its seed come with the model file;
- the size classifier reads CLASSIFIER_KEYS and its section, the cherry-picker `seed` and its
  section, both less `checkpoint_every`.
`checkpoint_every` says how often a training writes its resumable state, not what it learns
(a resumed run continues bit for bit): it reaches the command line (`--checkpoint-every`), not
the params (`run_flags`, the rules' `run_flags` resource). The commands accept exactly these
settings (tests/workflow/test_params.py). rules/diffusion.smk loads this file by path: it imports
nothing from the package.
"""

from __future__ import annotations

from typing import Any, Mapping

# The diffusion keys every U-Net training reads besides its own section.
UNET_KEYS = ("preset", "schedule", "steps", "vlb_weight", "seed")
# The size classifier sees the same noising process, without the loss weight.
CLASSIFIER_KEYS = ("preset", "schedule", "steps", "seed")
# What a sample grid reads of its stage's section.
GRID_KEYS = ("sample_grid", "sample_steps")
# A file the base training starts from: an input of the rule (--base), not a setting.
INIT_KEYS = ("init",)
# How a training runs, not what it learns: on the command line.
RUNTIME_KEYS = ("checkpoint_every",)
# The sections of diffusion that train something, each with a checkpoint_every.
TRAININGS = ("pretrain", "finetune", "size_classifier", "cherry_picker")


def _section(config: Mapping[str, Any], name: str, leave: tuple[str, ...] = ()) -> dict:
    """diffusion.<name> without RUNTIME_KEYS and `leave`."""
    skip = set(RUNTIME_KEYS) | set(leave)
    return {key: value for key, value in config["diffusion"][name].items() if key not in skip}


def unet_settings(config: Mapping[str, Any], stage: str, model: str | None = None) -> dict:
    """--settings of `pretrain` (stage 'pretrain') or of the fine-tuning of `model`."""
    diffusion = config["diffusion"]
    values = {key: diffusion[key] for key in UNET_KEYS}
    values[stage] = _section(config, stage, leave=GRID_KEYS + INIT_KEYS)
    if stage == "finetune":
        values["condition"] = diffusion["models"][model]
    return values


def finetune_settings(config: Mapping[str, Any], model: str) -> dict:
    """--settings of the fine-tuning of `model` (an entry of diffusion.models)."""
    return unet_settings(config, "finetune", model)


def grid_settings(config: Mapping[str, Any], stage: str) -> dict:
    """--settings of the sample grid of a `pretrain` or `finetune` model. The grid of a base
    given by diffusion.pretrained also reads the diffusion keys that a bare guided-diffusion
    checkpoint does not hold (`base`)."""
    diffusion = config["diffusion"]
    values = {key: diffusion[stage][key] for key in GRID_KEYS}
    if stage == "pretrain" and diffusion["pretrained"] is not None:
        values["base"] = {key: diffusion[key] for key in ("preset", "schedule", "steps", "seed")}
    return values


def size_classifier_settings(config: Mapping[str, Any]) -> dict:
    diffusion = config["diffusion"]
    return {**{key: diffusion[key] for key in CLASSIFIER_KEYS},
            "size_classifier": _section(config, "size_classifier")}


def cherry_picker_settings(config: Mapping[str, Any]) -> dict:
    return {"seed": config["diffusion"]["seed"],
            "cherry_picker": _section(config, "cherry_picker")}


def checkpoint_every(config: Mapping[str, Any], training: str) -> int:
    """Steps between the training states of `training` (one of TRAININGS)."""
    return config["diffusion"][training]["checkpoint_every"]


def run_flags(config: Mapping[str, Any], training: str) -> str:
    """The command-line flags of `training`'s RUNTIME_KEYS: its `run_flags` resource."""
    return f"--checkpoint-every {checkpoint_every(config, training)}"
