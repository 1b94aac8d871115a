"""The config values each job of the plane bank reads: the `params:` of rules/bank.smk.

Snakemake reruns a job when its params change, so each job gets the keys its result depends on
under the current configuration and no others (config/README.md, "Reruns"): a method's own keys
only when that method runs, `area_fraction_range` only for the methods it applies to, the
contact sheet's key only in the contact sheet. workflow.bank.masks accepts exactly these
(tests/workflow/test_params.py). rules/bank.smk loads this file by path: it imports nothing from the
package.
"""

from __future__ import annotations

from typing import Any, Mapping

# Keys of `masks` every chunk and merge job reads, whatever the method.
SHARED_KEYS = ("method", "canny_thresholds", "edge_margin", "chunks")
# Keys read only under one method (`box` fills the box: no model, no area check but emptiness).
METHOD_KEYS = {
    "sam": ("sam", "area_fraction_range"),
    "grabcut": ("grabcut_iterations", "area_fraction_range"),
    "box": (),
}


def chunk_settings(config: Mapping[str, Any]) -> dict:
    """--settings of the chunk and merge jobs: the method's masks keys and the crop size."""
    masks = config["masks"]
    keys = SHARED_KEYS + METHOD_KEYS[masks["method"]]
    return {
        "masks": {key: masks[key] for key in keys},
        "tiling": {"crop_size": config["tiling"]["crop_size"]},
    }


def sheet_settings(config: Mapping[str, Any]) -> dict:
    """--settings of the contact sheet."""
    return {"contact_sheet_planes": config["masks"]["contact_sheet_planes"]}
