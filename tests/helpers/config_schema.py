"""The keys of config/schema.yaml as config/README.md documents them: one walk, for the docs test
(every key has a row) and the rerun table (every key has a change).

Walk: from the top-level `properties`, `$ref` (also inside `allOf`) resolved into `$defs`;
objects with `properties` are descended into. Map-valued keys (no fixed `properties`: class maps,
`diffusion.models`, `detect.weights`, `inpaint.sets`, `experiments.runs`) are leaves; the fields
of their entries, when fixed, are documented as `<map>.<name>.<field>`. `detect.train` and
`detect.pretrain.train` share the ultralytics arguments (`$defs/train_args`), documented once as
`detect.train.<arg>`; `detect.pretrain.train` itself is a leaf.
"""

from __future__ import annotations

import yaml

from tests.helpers import REPO


SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


def resolve(node: dict) -> dict:
    """A schema node with its `$ref`s (directly or in `allOf`) merged in."""
    if "$ref" in node:
        target = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        node = {**resolve(target), **{k: v for k, v in node.items() if k != "$ref"}}
    for part in node.get("allOf", []):
        node = {**node, **{k: v for k, v in resolve(part).items() if k != "required"}}
    return node


def schema_keys(properties: dict = SCHEMA["properties"], prefix: str = "") -> list[tuple[str, dict]]:
    """(dotted path, schema node) of every key config/README.md documents (the walk above)."""
    keys = []
    for name, node in properties.items():
        path, node = prefix + name, resolve(node)
        if path == "detect.pretrain.train":
            keys.append((path, node))
        elif "properties" in node:
            keys += schema_keys(node["properties"], path + ".")
        else:
            keys.append((path, node))
            entry = node.get("additionalProperties")
            if isinstance(entry, dict) and "properties" in resolve(entry):
                keys += schema_keys(resolve(entry)["properties"], path + ".<name>.")
    return keys
