"""Read the rules of rules/*.smk as text: name, conda env, modules called, GPU resource.

The rule files are snakefmt-formatted, so a rule is a `rule name:` (or `checkpoint name:`) line
followed by the lines indented deeper. Used by the env, SLURM and rerun tests
so that they cover every stage as its rules appear.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULE_START = re.compile(r"^(?P<indent>\s*)(?:rule|checkpoint) (?P<name>\w+):\s*$")
MODULE = re.compile(r"python -m (workflow(?:\.\w+)+)")
# What GPU rules run their command through (`python -m workflow.core.launch ... -- python -m
# workflow.x`): it chooses the job's GPUs and processes, not what the job computes, so it is not
# one of the rule's modules (no env, code-input or rerun duty of its own).
LAUNCHER = "workflow.core.launch"
CONDA = re.compile(r"conda:\s*\n\s*\"([^\"]+)\"")
GPU = re.compile(r"\bgpu\s*=\s*(?!0\b)\S")  # gpu=1, or gpu=<a function of the config>


@dataclass(frozen=True)
class Rule:
    name: str
    file: Path
    text: str

    @property
    def modules(self) -> list[str]:
        """The `workflow` modules the rule's command runs (`python -m workflow.x`), launcher aside."""
        return sorted(set(MODULE.findall(self.text)) - {LAUNCHER})

    @property
    def launched(self) -> str | None:
        """The launcher's arguments before `--` (`--gpus {resources.gpu} ...`), or None."""
        match = re.search(rf"python -m {re.escape(LAUNCHER)} (.*?) --\"", self.text)
        return match.group(1) if match else None

    @property
    def conda(self) -> Path | None:
        """The rule's conda env file, resolved relative to its .smk file."""
        match = CONDA.search(self.text)
        return (self.file.parent / match.group(1)).resolve() if match else None

    @property
    def uses_gpu(self) -> bool:
        """Declares a `gpu` resource other than a literal 0 (possibly only in some configs)."""
        return "resources:" in self.text and bool(GPU.search(self.text))


def read_rules(rules_dir: Path = REPO / "rules") -> dict[str, Rule]:
    """Every rule of rules/*.smk by name."""
    rules = {}
    for path in sorted(rules_dir.glob("*.smk")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            match = RULE_START.match(line)
            if not match:
                continue
            indent = len(match.group("indent"))
            end = i + 1
            while end < len(lines) and (
                not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
            ):
                end += 1
            rules[match.group("name")] = Rule(match.group("name"), path, "\n".join(lines[i:end]))
    return rules


def module_file(name: str, root: Path = REPO) -> Path | None:
    """The source file of a dotted module name under `root`, or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(path: Path, package: str) -> list[tuple[str, bool]]:
    """(dotted name, inside a function?) for every import statement of a file.

    `from a.b import c` yields `a.b` and `a.b.c` (c may be a submodule); relative imports are
    resolved against `package`.
    """
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parts + ([child.module] if child.module else []))
                found.append((base, in_function))
                found.extend((f"{base}.{alias.name}", in_function) for alias in child.names)
            visit(child, nested)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def imports(name: str, root: Path = REPO, follow_lazy: bool = True) -> tuple[set[str], set[str]]:
    """(workflow modules reached, top-level names of the other packages imported) from `name`.

    With `follow_lazy`, `workflow` imports are followed wherever they stand, as get_code in
    rules/common.smk does for reruns (a lazy import inside a function is a code path the command
    takes under some configuration); without it, only module-level ones, which every run of the
    command executes. Other packages count at module level of every module reached, and inside
    functions only in `name` itself: helpers such as workflow.runtime import torch lazily so
    that CPU-only stages do not need it.
    """
    reached, packages, todo = set(), set(), [name]
    while todo:
        current = todo.pop()
        path = module_file(current, root)
        if path is None or current in reached:
            continue
        reached.add(current)
        package = current if path.name == "__init__.py" else current.rpartition(".")[0]
        for target, lazy in _imported_names(path, package):
            top = target.split(".")[0]
            if top == "workflow":
                if follow_lazy or not lazy:
                    todo.append(target)
            elif top and (not lazy or current == name):
                packages.add(top)
    return reached, packages


def third_party_imports(name: str, root: Path = REPO) -> set[str]:
    """Third-party packages every run of a rule's module needs (see `imports`).

    Lazily imported `workflow` modules are not followed: the bank's contact sheet runs
    workflow.bank.masks in the core env, and only the SAM code path (a lazy import) needs torch.
    """
    _, packages = imports(name, root, follow_lazy=False)
    return {n for n in packages if n not in sys.stdlib_module_names and n != "__future__"}


def importers(module: str, rules: dict[str, Rule], root: Path = REPO) -> set[str]:
    """Names of the rules whose modules are `module` or import it (transitively)."""
    return {
        rule.name
        for rule in rules.values()
        if any(module in imports(called, root)[0] for called in rule.modules)
    }
