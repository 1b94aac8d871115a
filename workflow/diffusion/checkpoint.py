"""Checkpoints: training states (resume after a kill), model files (for consumers), and the
strict, safe loading of a guided-diffusion checkpoint as the base model.

Every file is written atomically (workflow.core.io) and read with `torch.load(weights_only=True)`, which
unpickles tensors and plain containers only, never arbitrary code.

A model file (`model.pt`, docs/dataflow.md) is a dict: `state_dict`, `arch` (what rebuilds the
network: `kind` unet | classifier | cherry_picker and its arguments), `diffusion` (schedule,
steps), `config` (the settings that made it), `seed`, `step`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from workflow.core.io import atomic_path
from workflow.diffusion.cherry_picker import CherryPicker
from workflow.diffusion.presets import build_classifier, build_unet

MODEL_KINDS = ("unet", "classifier", "cherry_picker")


def save(path: str | Path, obj: Mapping[str, Any]) -> None:
    """torch.save, atomically: a kill mid-write leaves the previous file intact."""
    with atomic_path(path) as tmp:
        torch.save(dict(obj), tmp)


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint dict, loaded on the CPU with weights_only=True; errors name the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt file or a pickle that is not weights-only
        raise ValueError(f"checkpoint {path} cannot be loaded safely (weights_only=True): {error}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    return obj


@dataclasses.dataclass(frozen=True)
class DiffusionSpec:
    """What a consumer needs besides the network: the process it was trained for and its input."""

    kind: str  # unet | classifier | cherry_picker
    image_size: int
    condition: str  # none | canny | mask (U-Nets); none otherwise
    schedule: str | None
    steps: int | None
    arch: Mapping[str, Any]
    seed: int
    step: int


def save_model(
    path, state_dict, arch: dict, diffusion: dict | None, config: dict, seed: int, step: int
) -> None:
    """Write a model file (see the module docstring); tensors are moved to the CPU."""
    if arch.get("kind") not in MODEL_KINDS:
        raise ValueError(f"arch kind {arch.get('kind')!r} is not one of {MODEL_KINDS}")
    tensors = {name: value.detach().cpu() for name, value in state_dict.items()}
    save(path, dict(state_dict=tensors, arch=arch, diffusion=diffusion, config=config, seed=seed, step=step))


def build_network(arch: Mapping[str, Any]) -> nn.Module:
    """A fresh network from a model file's `arch`."""
    kind = arch.get("kind")
    if kind == "unet":
        return build_unet(arch["preset"], condition=arch["condition"], finetune_mode=arch["finetune_mode"])
    if kind == "classifier":
        return build_classifier(arch["preset"], arch["num_classes"])
    if kind == "cherry_picker":
        return CherryPicker(arch["num_classes"], arch["input_size"])
    raise ValueError(f"arch kind {kind!r} is not one of {MODEL_KINDS}")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, DiffusionSpec]:
    """The network of a model file in eval mode on `device` (strict load), and its DiffusionSpec."""
    obj = load(path)
    for key in ("state_dict", "arch", "config", "seed", "step"):
        if key not in obj:
            raise ValueError(f"model file {path} has no {key!r} entry (keys: {sorted(obj)})")
    arch = obj["arch"]
    model = build_network(arch)
    try:
        model.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as error:
        raise ValueError(f"model file {path} does not match its arch {arch}: {error}") from None
    diffusion = obj.get("diffusion") or {}
    spec = DiffusionSpec(
        kind=arch["kind"],
        image_size=int(arch.get("image_size") or arch.get("input_size")),
        condition=arch.get("condition", "none"),
        schedule=diffusion.get("schedule"),
        steps=diffusion.get("steps"),
        arch=dict(arch),
        seed=int(obj["seed"]),
        step=int(obj["step"]),
    )
    return model.to(device).eval(), spec


def load_base_weights(path: str | Path, preset: str, diffusion: dict | None = None) -> dict[str, torch.Tensor]:
    """Base U-Net weights: a guided-diffusion checkpoint (a plain state dict, such as
    256x256_diffusion_uncond.pt) or a base model file written here, checked to be of `preset` and,
    given `diffusion` ({schedule, steps}), trained for that noise schedule."""
    obj = load(path)
    if "state_dict" in obj and "arch" in obj:
        arch = obj["arch"]
        if arch.get("kind") != "unet" or arch.get("preset") != preset:
            raise ValueError(
                f"base model {path} is a {arch.get('kind')} of preset {arch.get('preset')!r}; "
                f"diffusion.preset is {preset!r}"
            )
        trained = {k: (obj.get("diffusion") or {}).get(k) for k in ("schedule", "steps")}
        if diffusion is not None and trained != dict(diffusion):
            raise ValueError(f"base model {path} was trained for {trained}; diffusion.schedule and "
                             f"diffusion.steps are {dict(diffusion)}")
        return obj["state_dict"]
    bad = [key for key, value in obj.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise ValueError(f"checkpoint {path}: key {bad[0]!r} is not a tensor; expected a state dict")
    return obj


def init_from_base(model: nn.Module, path: str | Path, preset: str, diffusion: dict | None = None) -> None:
    """Load base weights strictly into `model`'s base network (adapter and condition encoder keep
    their zero initialisation). A missing file, missing, unexpected or mis-shaped keys raise an
    error naming the path and the keys."""
    from workflow.diffusion.unet import load_base_state_dict

    state_dict = load_base_weights(path, preset, diffusion)
    try:
        load_base_state_dict(model, state_dict)
    except ValueError as error:
        raise ValueError(f"base checkpoint {path} (diffusion.pretrained / base model): {error}") from None
