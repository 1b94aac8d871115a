# Shared helpers: config validation, settings passed to modules, target lists.
import json
from pathlib import Path

import jsonschema
import yaml


def validate_config(config, schema_file):
    """Validate against config/schema.yaml; name every offending key and what is allowed."""
    schema = yaml.safe_load(Path(schema_file).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
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
        raise ValueError(f"config key 'classes.target': {target!r} is not in classes.names {names}")
    for source in ("xview", "dota"):
        for label, name in config["classes"][source].items():
            if name not in names:
                raise ValueError(
                    f"config key 'classes.{source}.{label}': {name!r} is not in classes.names {names}"
                )
    total = sum(config["split"]["fractions"].values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"config key 'split.fractions': the fractions sum to {total}, not 1")
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
        raise ValueError("config key 'data': give at least one of data.xview and data.dota")


validate_config(config, workflow.source_path("../config/schema.yaml"))


def get_settings(*sections):
    """A config section (or several, merged by name) as JSON text for a module's --settings.

    A plain string in params: is what makes Snakemake rerun the rule when a value changes.
    """
    if len(sections) == 1:
        return json.dumps(config[sections[0]], sort_keys=True)
    return json.dumps({name: config[name] for name in sections}, sort_keys=True)


def get_scene_sources():
    """The scene folders and label files the index reads, for rule inputs."""
    sources = {}
    for name in ("xview", "dota"):
        if config["data"][name]:
            sources[f"{name}_images"] = config["data"][name]["images"]
            sources[f"{name}_labels"] = config["data"][name]["labels"]
    return sources


def get_final_outputs():
    """What `snakemake` builds by default: every stage's final products."""
    return [
        "results/index/summary.json",
        "results/tiles/crops/manifest.csv",
        "results/tiles/background/manifest.csv",
        "results/tiles/detect/manifest.csv",
    ]
