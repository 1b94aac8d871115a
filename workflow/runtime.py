"""What every stage's command line shares: logging, settings parsing, device choice, seeding."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import sys
from typing import Any, Type, TypeVar

T = TypeVar("T")


def setup_logging(name: str) -> logging.Logger:
    """Log to stderr (the rule's `log:` file collects it)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return logging.getLogger(name)


def parse_settings(text: str) -> dict[str, Any]:
    """The --settings JSON text a rule passes (see get_settings in rules/common.smk)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--settings is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--settings must be a JSON object, got {type(value).__name__}")
    return value


def from_dict(cls: Type[T], values: dict[str, Any], where: str) -> T:
    """Build a (frozen) dataclass from a config section; unknown or missing keys name the key.

    `where` is the config path of the section, for the message (for example 'tiling').
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"config key '{where}.{unknown[0]}': unknown key; allowed: {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"config key '{where}.{missing[0]}': missing")
    return cls(**values)


def pick_device(requested: str = "auto") -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; an explicit choice is checked."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} requested but no CUDA device is visible")
    return requested


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
