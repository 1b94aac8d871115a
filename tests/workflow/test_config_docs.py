"""Every configuration key is documented in config/README.md.

The schema (config/schema.yaml) is what the workflow accepts; the README is what users read.
This test walks the schema and fails, naming each one, when a key has no row in the README
(its full dotted path in backticks), so that adding a key to the schema without documenting
it breaks CI.

The walk of the schema is tests/helpers/config_schema.py's.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import re

import yaml

from tests.helpers import REPO
from tests.helpers.config_schema import schema_keys


CONFIG = REPO / "config"
README = (CONFIG / "README.md").read_text()
TOOL = REPO / "tools" / "demo_defaults.py"


def test_every_schema_key_is_documented():
    paths = sorted({path for path, _ in schema_keys()})
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
