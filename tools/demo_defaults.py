"""The "demo default" column of config/README.md's key tables, generated from config/config.yaml.

    python tools/demo_defaults.py            # rewrite the column in config/README.md
    python tools/demo_defaults.py --check    # exit 1, with the differing rows, when it is stale

Each row `| `a.b.c` | type | demo default | meaning |` gets the value at a.b.c in config.yaml as
one line of YAML flow text in backticks; a map whose keys have rows of their own says "the map
below". An optional key that config.yaml leaves out shows the default its settings dataclass
gives it (SECTIONS), so that the column is what the demo runs with. Every other cell of the
tables is left as written. tests/workflow/test_config_docs.py fails when the column is stale.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "config" / "README.md"
CONFIG = REPO / "config" / "config.yaml"
HEADER = "| key | type / allowed values | demo default | meaning |"
# Sections whose optional keys config.yaml may leave out -> the dataclass that then supplies them.
SECTIONS = {
    "diffusion.pretrain": "workflow.diffusion.train:StageSettings",
    "diffusion.finetune": "workflow.diffusion.train:StageSettings",
    "inpaint": "workflow.inpaint.settings:InpaintSettings",
}
ABSENT = object()
sys.path.insert(0, str(REPO))  # this checkout's workflow package (code_default)


def lookup(config: dict, key: str) -> Any:
    """The value at the dotted `key` (integer map keys too), or ABSENT."""
    value = config
    for part in key.split("."):
        if not isinstance(value, dict):
            return ABSENT
        found = [k for k in value if str(k) == part]
        if not found:
            return ABSENT
        value = value[found[0]]
    return value


def code_default(key: str) -> Any:
    """The default of an optional key's dataclass field (SECTIONS); an error names the key."""
    section, _, name = key.rpartition(".")
    if section not in SECTIONS:
        raise ValueError(f"config key {key!r} has a row in config/README.md but no value in config/config.yaml; "
                         f"give it one, or name its section's dataclass in SECTIONS of {Path(__file__).name}")
    module, _, cls = SECTIONS[section].partition(":")
    fields = {f.name: f for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}
    if name not in fields or fields[name].default is dataclasses.MISSING:
        raise ValueError(f"config key {key!r} is absent from config/config.yaml and {SECTIONS[section]} "
                         "gives it no default")
    return fields[name].default


def flow(value: Any) -> str:
    """A value as one line of YAML flow text."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=sys.maxsize)
    return text.strip().removesuffix("...").strip()


def cell(config: dict, key: str, keys: set[str]) -> str:
    value = lookup(config, key)
    if value is ABSENT:
        return f"not set: `{flow(code_default(key))}`"
    if isinstance(value, dict) and any(k.startswith(key + ".") for k in keys):
        return "the map below"
    return f"`{flow(value)}`"


def key_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every row of the tables under HEADER."""
    rows, inside = [], False
    for i, line in enumerate(text.splitlines()):
        if line == HEADER:
            inside = True
        elif not line.startswith("|"):
            inside = False
        elif inside and line.startswith("| `"):
            cells = line.split(" | ")
            if len(cells) != 4:
                raise ValueError(f"config/README.md line {i + 1}: expected 4 cells split by ' | ', got {len(cells)}")
            rows.append((i, cells))
    return rows


def with_defaults(text: str, config: dict) -> str:
    """`text` (config/README.md) with every key row's demo default taken from `config`."""
    lines = text.splitlines()
    rows = key_rows(text)
    keys = {cells[0].strip("| `") for _, cells in rows}
    for i, cells in rows:
        cells[2] = cell(config, cells[0].strip("| `"), keys)
        lines[i] = " | ".join(cells)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when config/README.md is stale")
    args = parser.parse_args(argv)
    text = README.read_text()
    wanted = with_defaults(text, yaml.safe_load(CONFIG.read_text()))
    if not args.check:
        README.write_text(wanted)
        return
    diff = list(difflib.unified_diff(text.splitlines(), wanted.splitlines(), "config/README.md",
                                     "from config/config.yaml", lineterm="", n=0))
    if diff:
        sys.exit("\n".join(diff) + "\nrun `python tools/demo_defaults.py`")


if __name__ == "__main__":
    main()
