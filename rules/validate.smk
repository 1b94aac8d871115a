# Configuration checks, run when the Snakefile loads: the schema (types, enums, unknown keys),
# then what one key requires of another (workflow/core/checks.py, which the jobs' settings
# share). Each failure names the key and what is allowed.
import importlib.util
from pathlib import Path

import jsonschema
import yaml


def _load_checks():
    path = Path(workflow.basedir) / "workflow" / "core" / "checks.py"
    spec = importlib.util.spec_from_file_location("workflow_checks", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


CHECKS = _load_checks()


# the C loader when libyaml is there: this runs at every parse (dry runs of tests/helpers/rerun_table.py)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def validate_config(config, schema):
    """Validate against config/schema.yaml; name every offending key and what is allowed."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(
        validator.iter_errors(config), key=lambda e: list(e.absolute_path)
    ):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(f"  config key '{key}': {error.message}")
    if problems:
        raise ValueError("invalid configuration:\n" + "\n".join(problems))
    CHECKS.check_config(config)


def check_config_files(sections):
    """Each --configfile holds config sections (a target typed after it does not)."""
    for path in workflow.overwrite_configfiles:
        CHECKS.check_config_file(
            path, yaml.load(Path(path).read_text(), Loader=LOADER), sections
        )


# The load stops on the first bad value with one line that names it (no traceback: the user
# fixes a config file, not the workflow). A layered config file (--configfile) removes the
# demo's runs, sets and models by nulling them.
SCHEMA = yaml.load(
    Path(workflow.source_path("../config/schema.yaml")).read_text(), Loader=LOADER
)
try:
    check_config_files(SCHEMA["properties"])
    CHECKS.drop_removed_entries(config)
    validate_config(config, SCHEMA)
except ValueError as error:
    raise SystemExit(f"Error: {error}")
