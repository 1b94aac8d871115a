"""The conda environments of envs/: each parses, and names every package its rules' modules import.

A rule's packages are read from its `python -m workflow.<module>` command and that module's
imports (see smk_rules.imports for which imports count), so a new import in a stage module, or
a rule moved to another env, is checked without editing this file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from tests.helpers.smk_rules import read_rules
from workflow.core.codegraph import third_party_imports

ENVS = sorted((REPO / "envs").glob("*.yaml"))
# Import name -> the package names that provide it, in conda-forge or on PyPI.
PROVIDERS = {
    "cv2": {"opencv-python", "opencv-python-headless", "opencv"},
    "yaml": {"pyyaml"},
    "PIL": {"pillow"},
    "sklearn": {"scikit-learn"},
    "skimage": {"scikit-image"},
    "segment_anything": {"segment-anything"},
    "torch": {"pytorch", "torch"},
}


def package_names(env_file: Path) -> set[str]:
    """Lower-case package names of an env file's conda and pip dependencies, versions dropped."""
    spec = yaml.safe_load(env_file.read_text())
    names = set()
    for entry in spec["dependencies"]:
        items = entry["pip"] if isinstance(entry, dict) else [entry]
        for item in items:
            names.add(re.split(r"[=<>!~ \[]", item.split("::")[-1], maxsplit=1)[0].lower())
    return names


def providers(import_name: str) -> set[str]:
    return PROVIDERS.get(import_name, {import_name.lower().replace("_", "-")})


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.name)
def test_env_parses(env_file):
    spec = yaml.safe_load(env_file.read_text())
    assert set(spec) >= {"channels", "dependencies"}, f"{env_file.name}: channels/dependencies"
    names = package_names(env_file)
    assert "python" in names, f"{env_file.name} does not pin python"
    pip = [entry for entry in spec["dependencies"] if isinstance(entry, dict)]
    assert all(set(entry) == {"pip"} for entry in pip), f"{env_file.name}: only pip sections"
    if pip:
        assert "pip" in names, f"{env_file.name} has a pip section but no pip package"


def test_every_env_has_rules_and_at_most_one_cv2():
    used = {rule.conda for rule in read_rules().values()}
    for env_file in ENVS:
        owners = package_names(env_file) & PROVIDERS["cv2"]
        assert len(owners) <= 1, f"{env_file.name}: two packages own cv2: {sorted(owners)}"
    assert ENVS, "no envs/*.yaml"
    assert {p.name for p in ENVS} >= {"core.yaml", "torch.yaml", "detect.yaml"}
    assert None not in used
    unused = {p.resolve() for p in ENVS} - {p.resolve() for p in used}
    assert not unused, f"envs that no rule uses: {sorted(p.name for p in unused)}"


@pytest.mark.parametrize(
    "rule", sorted(read_rules().values(), key=lambda r: r.name), ids=lambda r: r.name
)
def test_rule_env_names_its_imports(rule):
    assert rule.conda is not None, f"rule {rule.name} ({rule.file.name}) has no conda: env"
    assert rule.conda.is_file(), f"rule {rule.name}: conda env {rule.conda} does not exist"
    assert rule.modules, f"rule {rule.name} runs no `python -m workflow.<module>`"
    names = package_names(rule.conda)
    for module in rule.modules:
        for package in sorted(third_party_imports(REPO, module)):
            assert providers(package) & names, (
                f"rule {rule.name} runs {module}, which imports {package!r}, but "
                f"{rule.conda.relative_to(REPO)} names none of {sorted(providers(package))}"
            )
