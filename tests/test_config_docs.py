"""Every configuration key is documented in config/README.md.

The schema (config/schema.yaml) is what the workflow accepts; the README is what users read.
This test walks the schema and fails, naming each one, when a key has no row in the README
(its full dotted path in backticks), so that adding a key to the schema without documenting
it breaks CI.

Walk: from the top-level `properties`, `$ref` (also inside `allOf`) resolved into `$defs`;
objects with `properties` are descended into. Map-valued keys (no fixed `properties`: class maps,
`diffusion.models`, `detect.weights`, `inpaint.sets`, `experiments.runs`) are leaves; the fields
of their entries, when fixed, are documented as `<map>.<name>.<field>`. `detect.train` and
`detect.pretrain.train` share the ultralytics arguments (`$defs/train_args`), documented once as
`detect.train.<arg>`; `detect.pretrain.train` itself is a leaf.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import re
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parent.parent / "config"
SCHEMA = yaml.safe_load((CONFIG / "schema.yaml").read_text())
README = (CONFIG / "README.md").read_text()
TOOL = CONFIG.parent / "tools" / "demo_defaults.py"


def resolve(node: dict) -> dict:
    """The node with its `$ref`s (directly or in `allOf`) merged in."""
    if "$ref" in node:
        target = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        node = {**resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}
    for part in node.get("allOf", []):
        node = {**node, **{k: v for k, v in resolve(part).items() if k != "required"}}
    return node


def key_paths(properties: dict, prefix: str = "") -> list[str]:
    """Dotted paths of the keys a user writes under `properties`."""
    paths = []
    for name, node in properties.items():
        path, node = prefix + name, resolve(node)
        if path in ("detect.train", "detect.pretrain.train"):
            if path == "detect.pretrain.train":
                paths.append(path)
            paths += key_paths(node["properties"], "detect.train.")
        elif "properties" in node:
            paths += key_paths(node["properties"], path + ".")
        else:
            paths.append(path)
            entry = node.get("additionalProperties")
            if isinstance(entry, dict) and "properties" in resolve(entry):
                paths += key_paths(resolve(entry)["properties"], path + ".<name>.")
    return paths


def test_every_schema_key_is_documented():
    paths = sorted(set(key_paths(SCHEMA["properties"])))
    assert len(paths) > 100, paths  # the walk found the schema's keys
    missing = [path for path in paths if f"`{path}`" not in README]
    assert not missing, "config/README.md documents no row for: " + ", ".join(missing)


def test_every_section_has_a_heading():
    top = yaml.safe_load((CONFIG / "config.yaml").read_text())
    headings = [line for line in README.splitlines() if line.startswith("## ")]
    missing = [key for key in top if not any(re.search(rf"\b{key}\b", h) for h in headings)]
    assert not missing, f"config/README.md has no '## ' section for: {missing}"


def demo_defaults():
    """tools/demo_defaults.py, the generator of the README's "demo default" column."""
    spec = importlib.util.spec_from_file_location("demo_defaults", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_default_column_is_config_yaml():
    config = yaml.safe_load((CONFIG / "config.yaml").read_text())
    wanted = demo_defaults().with_defaults(README, config)
    diff = "\n".join(difflib.unified_diff(README.splitlines(), wanted.splitlines(), "config/README.md",
                                          "from config/config.yaml", lineterm="", n=0))
    assert README == wanted, f"run `python tools/demo_defaults.py`:\n{diff}"


def test_demo_default_column_follows_a_changed_value():
    tool, config = demo_defaults(), yaml.safe_load((CONFIG / "config.yaml").read_text())
    changed = copy.deepcopy(config)
    changed["inpaint"]["jump_n_sample"] += 1
    before, after = (tool.with_defaults(README, c).splitlines() for c in (config, changed))
    rows = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(rows) == 1 and rows[0][1].startswith("| `inpaint.jump_n_sample` |")
    assert f"| `{config['inpaint']['jump_n_sample'] + 1}` |" in rows[0][1]
