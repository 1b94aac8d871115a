"""The one way a command reads its settings: the --settings JSON that a rule passes (the
selection of its stage's workflow/<stage>/params.py) into a tree of frozen dataclasses.

`read_settings(text, Cls)` parses the JSON and `from_dict` builds `Cls` from it, recursing into
fields typed as dataclasses (also `X | None` and `Mapping[str, X]`), turning lists into tuples
where a field is typed as a tuple. An unknown or missing key names its config path; checks of
single values live in each dataclass's `__post_init__`, checks across keys in workflow.core.checks.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import types
import typing
from typing import Any, Type, TypeVar

T = TypeVar("T")


def parse_settings(text: str) -> dict[str, Any]:
    """The --settings JSON text as a dict."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--settings is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--settings must be a JSON object, got {type(value).__name__}")
    return value


def read_settings(text: str, cls: Type[T], where: str = "") -> T:
    """--settings JSON -> `cls` (a dataclass whose fields are the JSON's top-level keys);
    `where` is the config section those keys belong to, if one ('diffusion')."""
    return from_dict(cls, parse_settings(text), where)


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else str(name)


def from_dict(cls: Type[T], values: Any, where: str) -> T:
    """Build the (frozen) dataclass `cls` from a config section; `where` is its config path
    ('tiling', 'inpaint.sets.x'; '' for the top level), used in every message."""
    if not isinstance(values, collections.abc.Mapping):
        raise ValueError(f"config key '{where or '(top level)'}': expected a mapping, got "
                         f"{type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"config key '{_key(where, unknown[0])}': unknown key; allowed: "
                         f"{sorted(fields)}")
    missing = [name for name, f in fields.items() if name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"config key '{_key(where, missing[0])}': missing")
    hints = typing.get_type_hints(cls)
    return cls(**{name: _convert(hints[name], value, _key(where, name))
                  for name, value in values.items()})


def _convert(hint, value, where: str):
    """A JSON value as the field type `hint` wants it (nested dataclasses, tuples)."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, where) if len(options) == 1 else value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (collections.abc.Mapping, dict) and len(args) == 2:
        if not isinstance(value, collections.abc.Mapping):
            raise ValueError(f"config key '{where}': expected a mapping, got {type(value).__name__}")
        return {k: _convert(args[1], v, _key(where, k)) for k, v in value.items()}
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    return value
