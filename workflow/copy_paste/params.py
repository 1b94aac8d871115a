"""The config values a copy-paste job reads: the `params:` of rules/copy_paste.smk.

Snakemake reruns a job when its params change, so the job of set S gets the `copy_paste` keys
with S's own entry of `copy_paste.sets` only, and the class names and target.
workflow.copy_paste.paste accepts exactly these. rules/copy_paste.smk loads this file by path: it
imports nothing from the package.
"""

from __future__ import annotations

from typing import Any, Mapping


def paste_settings(config: Mapping[str, Any], set_name: str) -> dict:
    """--settings of the copy-paste job of `set_name`."""
    section = config["copy_paste"]
    values = {key: value for key, value in section.items() if key != "sets"}
    values["sets"] = {set_name: section["sets"][set_name]}
    values["classes"] = {key: config["classes"][key] for key in ("names", "target")}
    return values
