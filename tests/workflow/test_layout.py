"""The house: one folder per stage named as its rule file, commands told apart from library
modules, imports only backwards along the pipeline, no import cycle, logging set up only in
the commands' `main`, and each rule's code closure holding only what it runs."""

from __future__ import annotations

import ast
import re

import pytest

from tests.helpers import REPO
from tests.helpers.smk_rules import LAUNCHER
from workflow.core import codegraph

PACKAGE = REPO / "workflow"
STAGES = ["scenes", "tiles", "bank", "diffusion", "inpaint", "copy_paste", "datasets", "detect", "selection", "report"]


def stage_commands(stage: str) -> set[str]:
    """The commands a stage README lists (`- `name`: ...` lines under "Commands:")."""
    text = (PACKAGE / stage / "README.md").read_text()
    block = text.split("Commands:", 1)[1].split("Library", 1)[0]
    return set(re.findall(r"^- `(\w+)`", block, re.MULTILINE))


def rule_modules() -> dict[str, set[str]]:
    """rules/<stage>.smk -> the modules its rules run with `python -m` (the GPU launcher of
    workflow/core, which runs them, aside)."""
    return {path.stem: set(re.findall(r"python -m (workflow[\w.]+)", path.read_text())) - {LAUNCHER}
            for path in (REPO / "rules").glob("*.smk")}


def test_stage_folders_are_the_rule_files():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(STAGES) | {"core"}
    with_rules = {name for name, modules in rule_modules().items() if modules}
    assert with_rules == set(STAGES)
    assert not [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"], "modules outside a stage"


@pytest.mark.parametrize("stage", STAGES)
def test_commands_are_what_the_rules_run(stage):
    commands = stage_commands(stage)
    run = {module.split(".")[-1] for module in rule_modules()[stage]}
    assert run == commands, f"rules/{stage}.smk runs {sorted(run)}, README lists {sorted(commands)}"
    mains = {p.stem for p in (PACKAGE / stage).glob("*.py") if '__name__ == "__main__"' in p.read_text()}
    assert mains == commands, f"{stage}: modules with a __main__ {sorted(mains)}"


def test_no_import_cycle():
    assert codegraph.import_cycles(REPO) == []


def test_imports_go_backwards_along_the_pipeline():
    order = ["core", *STAGES]
    for name in codegraph.all_modules(REPO):
        parts = name.split(".")
        if len(parts) < 2:
            continue
        for other in codegraph.imports_of(REPO, name):
            if other.count(".") >= 1:
                assert order.index(other.split(".")[1]) <= order.index(parts[1]), f"{name} imports {other}"


def test_closure_follows_relative_function_level_and_attribute_imports(tmp_path):
    pkg = tmp_path / "workflow"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "main.py").write_text("from . import helper\nfrom workflow.a.tools import name\n")
    (pkg / "a" / "helper.py").write_text("def f():\n    from .late import g\n")
    (pkg / "a" / "late.py").write_text("")
    (pkg / "a" / "tools.py").write_text("name = 1\n")
    (pkg / "a" / "unused.py").write_text("")
    closure = codegraph.module_closure(tmp_path, ["workflow.a.main"])
    assert set(closure) == {"workflow", "workflow.a", "workflow.a.main", "workflow.a.helper",
                            "workflow.a.late", "workflow.a.tools"}
    (pkg / "a" / "late.py").write_text("import workflow.a.main\n")
    (cycle,) = codegraph.import_cycles(tmp_path)
    assert cycle[0] == cycle[-1] and set(cycle) == {"workflow.a.main", "workflow.a.helper",
                                                    "workflow.a.late"}
    with pytest.raises(ValueError, match="no module 'workflow.a.nothing'"):
        codegraph.module_closure(tmp_path, ["workflow.a.nothing"])


@pytest.mark.parametrize("command,absent", [
    ("workflow.inpaint.run", ["workflow.diffusion.loop", "workflow.diffusion.train",
                              "workflow.diffusion.train_classifier", "workflow.diffusion.losses",
                              "workflow.diffusion.data"]),
    ("workflow.diffusion.train", ["workflow.diffusion.train_classifier", "workflow.inpaint.run"]),
    ("workflow.bank.masks", ["workflow.diffusion", "workflow.tiles.tiling"]),
])
def test_rule_closures_hold_only_what_runs(command, absent):
    closure = codegraph.module_closure(REPO, [command])
    assert not set(closure) & set(absent), sorted(set(closure) & set(absent))


def test_logging_is_configured_only_in_main():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                continue
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "basicConfig":
                assert path.name == "logs.py", f"{path}: logging.basicConfig outside workflow/core/logs.py"
        calls = [(f.name, c) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                 for c in ast.walk(f) if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "setup_logging"]
        top = [c for c in tree.body if isinstance(c, (ast.Expr, ast.Assign)) and "setup_logging(" in ast.unparse(c)]
        assert not top, f"{path}: setup_logging at import"
        assert all(name == "main" for name, _ in calls), f"{path}: setup_logging outside main"
