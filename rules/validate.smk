# Configuration checks, run when the Snakefile loads: the schema (types, enums, unknown keys),
# then what one key requires of another. Each failure names the key and what is allowed.
from pathlib import Path

import jsonschema
import yaml


def validate_config(config, schema_file):
    """Validate against config/schema.yaml; name every offending key and what is allowed."""
    schema = yaml.safe_load(Path(schema_file).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(
        validator.iter_errors(config), key=lambda e: list(e.absolute_path)
    ):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(f"  config key '{key}': {error.message}")
    if problems:
        raise ValueError("invalid configuration:\n" + "\n".join(problems))
    check_cross_references(config)


def check_cross_references(config):
    """Checks one key against another, which a JSON schema cannot express."""
    names = config["classes"]["names"]
    target = config["classes"]["target"]
    if target not in names:
        raise ValueError(
            f"config key 'classes.target': {target!r} is not in classes.names {names}"
        )
    for source in ("xview", "dota"):
        for label, name in config["classes"][source].items():
            if name not in names:
                raise ValueError(
                    f"config key 'classes.{source}.{label}': {name!r} is not in classes.names {names}"
                )
    total = sum(config["split"]["fractions"].values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"config key 'split.fractions': the fractions sum to {total}, not 1"
        )
    tiling = config["tiling"]
    if tiling["detect_overlap"] >= tiling["detect_size"]:
        raise ValueError(
            f"config key 'tiling.detect_overlap': {tiling['detect_overlap']} must be smaller "
            f"than tiling.detect_size ({tiling['detect_size']})"
        )
    low, high = tiling["tarmac"]["value_range"]
    if low > high:
        raise ValueError(f"config key 'tiling.tarmac.value_range': {low} > {high}")
    if not (config["data"]["xview"] or config["data"]["dota"]):
        raise ValueError(
            "config key 'data': give at least one of data.xview and data.dota"
        )
    for source in ("xview", "dota"):
        if config["data"]["demo"] and not config["data"][source]:
            raise ValueError(
                f"config key 'data.{source}': data.demo writes scenes in both formats, so give "
                f"the folders it writes them to (images, labels)"
            )
    check_model_sizes(config)
    check_masks_config(config)


# Image side of each diffusion preset (workflow.diffusion.presets.image_size; the module imports
# torch, too slow to load for every DAG build; tests/test_config_checks.py keeps both equal).
PRESET_IMAGE_SIZES = {"adm256": 256, "demo32": 32, "demo64": 64}


def check_model_sizes(config):
    """The diffusion model's side is the crop side, and fits in a detection tile."""
    preset, crop = config["diffusion"]["preset"], config["tiling"]["crop_size"]
    if PRESET_IMAGE_SIZES[preset] != crop:
        raise ValueError(
            f"config key 'diffusion.preset': {preset!r} works on {PRESET_IMAGE_SIZES[preset]} px "
            f"images, but tiling.crop_size is {crop}; make them equal"
        )
    if config["tiling"]["detect_size"] < crop:
        raise ValueError(
            f"config key 'tiling.detect_size': {config['tiling']['detect_size']} is smaller than "
            f"tiling.crop_size ({crop}); inpainting and base training cut crop-size windows "
            "out of the detection tiles"
        )
    inpaint = config["inpaint"]
    respacings = {
        "inpaint.respacing": inpaint["respacing"],
        "inpaint.fast.respacing": inpaint["fast"]["respacing"],
    }
    for key, steps in respacings.items():
        if steps > config["diffusion"]["steps"]:
            raise ValueError(
                f"config key '{key}': {steps} respaced steps exceed diffusion.steps "
                f"({config['diffusion']['steps']})"
            )


def check_masks_config(config):
    """A SAM bank needs its checkpoint: no silent fallback to another method."""
    masks = config["masks"]
    if masks["method"] == "sam" and not masks["sam"]["checkpoint"]:
        raise ValueError(
            "config key 'masks.sam.checkpoint': masks.method is sam, so give the path of a SAM "
            "checkpoint (or set masks.method to grabcut or box)"
        )


validate_config(config, workflow.source_path("../config/schema.yaml"))
