"""The config values a selection job reads: the `params:` of rules/selection.smk.

Snakemake reruns a job when its params change, so the job of selected set S gets S's own entry
of `selection.sets`, the gate's keys only when S is gated (a threshold), and the class names
and target. workflow.selection.select accepts exactly these (tests/workflow/test_params.py).
rules/selection.smk and rules/common.smk load this file by path: it imports nothing from the
package.
"""

from __future__ import annotations

from typing import Any, Mapping


def selected_sets(config: Mapping[str, Any]) -> dict:
    """selection.sets (empty when the section or its sets are null)."""
    return dict((config.get("selection") or {}).get("sets") or {})


def gated(config: Mapping[str, Any], set_name: str) -> bool:
    """Selected set `set_name` keeps only the planes the gate's detector finds."""
    return selected_sets(config)[set_name].get("threshold") is not None


def draws(config: Mapping[str, Any], set_name: str) -> int:
    """Planes drawn from the sources per plane the selected set keeps: gate.draws when gated."""
    return config["selection"]["gate"]["draws"] if gated(config, set_name) else 1


def select_settings(config: Mapping[str, Any], set_name: str) -> dict:
    """--settings of the job of selected set `set_name`."""
    values = {
        "set": set_name,
        "entry": selected_sets(config)[set_name],
        "classes": {key: config["classes"][key] for key in ("names", "target")},
    }
    if gated(config, set_name):
        values["gate"] = dict(config["selection"]["gate"])
    return values
