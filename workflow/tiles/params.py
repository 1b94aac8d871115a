"""The config values each tiling job reads: the `params:` of rules/tiles.smk.

Snakemake reruns a job when its params change, so each kind of tiles gets its own tiling keys
(KIND_KEYS) and the class map, and no others (config/README.md, "Reruns"): a changed detection
tile size does not recut the diffusion crops, and the reverse. workflow.tiles.tiling requires
exactly these (tests/workflow/test_params.py). rules/tiles.smk loads this file by path: it imports
nothing from the package.
"""

from __future__ import annotations

from typing import Any, Mapping

# The tiling keys each kind of tiles reads (`tiling.gsd` is the index's: workflow/scenes/params.py).
KIND_KEYS = {
    "crops": ("crop_size", "oversize"),
    "background": ("background_margin", "background_stride", "detect_size", "min_visibility",
                   "tarmac"),
    "detect": ("detect_size", "detect_overlap", "min_visibility"),
}


def tiling_settings(config: Mapping[str, Any], kind: str) -> dict:
    """--settings of the tiling job of `kind` (one of KIND_KEYS): its tiling keys, the classes."""
    tiling = {key: config["tiling"][key] for key in KIND_KEYS[kind]}
    return {"tiling": tiling, "classes": config["classes"]}


def ground_settings(config: Mapping[str, Any]) -> dict:
    """--settings of the ground scores: the share of tiles context `apron` draws from, and the
    classes (the target whose ground is described)."""
    return {"apron_share": config["tiling"]["apron_share"], "classes": config["classes"]}
