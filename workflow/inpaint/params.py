"""The config values each inpainting job reads: the `params:` of rules/inpaint.smk, and the
networks a set needs besides its model.

Snakemake reruns a job when its params change, so a chunk of set S gets the keys its images
depend on and no others (config/README.md, "Reruns"): the chosen sampler's schedule only (the
top-level `respacing`, `jump_length`, `jump_n_sample` with `repaint`, `fast` with `fast`),
`guidance_scale` only when S's model is unconditional (the only ones guided), `compile` when
on, S's own entry of
`inpaint.sets`, and the class names. workflow.inpaint.settings accepts exactly these
(tests/workflow/test_params.py). rules/inpaint.smk loads this file by path: it imports nothing from the
package.
"""

from __future__ import annotations

from typing import Any, Mapping

# Keys of `inpaint` every chunk reads, whatever the sampler and the set.
SHARED_KEYS = ("sampler", "mask_dilation", "feather", "shadow", "true_size", "placement_tries",
               "batch_size", "chunks", "seed")
# The schedule of each sampler.
SAMPLER_KEYS = {"repaint": ("respacing", "jump_length", "jump_n_sample"), "fast": ("fast",)}


def unconditional(config: Mapping[str, Any], set_name: str) -> bool:
    """Set `set_name` inpaints with a model of condition `none`: guidance applies to it."""
    model = config["inpaint"]["sets"][set_name]["model"]
    return config["diffusion"]["models"][model] == "none"


def guided(config: Mapping[str, Any], set_name: str) -> bool:
    """The set is guided toward the size class: an unconditional model, guidance_scale > 0."""
    return unconditional(config, set_name) and config["inpaint"]["guidance_scale"] > 0


def cherry_picked(config: Mapping[str, Any], set_name: str) -> bool:
    """The cherry-picker keeps the best of the set's candidates (candidates > 1)."""
    return config["inpaint"]["sets"][set_name]["candidates"] > 1


def chunk_settings(config: Mapping[str, Any], set_name: str) -> dict:
    """--settings of a chunk of `set_name`."""
    inpaint = config["inpaint"]
    keys = SHARED_KEYS + SAMPLER_KEYS[inpaint["sampler"]]
    if unconditional(config, set_name):
        keys += ("guidance_scale",)
    values = {key: inpaint[key] for key in keys}
    if inpaint.get("compile"):  # optional; a compiled network may round differently
        values["compile"] = True
    values["sets"] = {set_name: inpaint["sets"][set_name]}
    classes = {key: config["classes"][key] for key in ("names", "target")}
    return {"inpaint": values, "classes": classes}
