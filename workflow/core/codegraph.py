"""The import graph of the `workflow` package, read from the source without importing it.

Its uses: each rule lists the source files it runs as inputs (`get_code` in rules/common.smk),
so that editing a module reruns exactly the rules whose code closure holds it; the tests that
the package has no import cycle and imports only backwards along the pipeline; and the test that
each rule's conda env names the packages its modules import (`third_party_imports`). This
module imports nothing from the package: the Snakefile loads it by path.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "workflow"


def module_file(root: Path, name: str) -> Path | None:
    """The .py file of the dotted module `name` under `root` (the folder holding the package)."""
    base = Path(root).joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


# (file, module name, mtime, size) -> its imports: a Snakefile asks for the closure of every
# rule, and most rules share most modules.
_IMPORTED: dict[tuple, list[tuple[str, bool]]] = {}


def file_imports(path: Path, name: str) -> list[tuple[str, bool]]:
    """(dotted name, inside a function?) of every import of a file, of any package (absolute and
    relative imports, at any depth; `from a.b import c` gives a.b and the candidate a.b.c)."""
    stat = Path(path).stat()
    key = (str(path), name, stat.st_mtime_ns, stat.st_size)
    if key not in _IMPORTED:
        _IMPORTED[key] = _parse_imports(Path(path), name)
    return list(_IMPORTED[key])


def imported_names(path: Path, name: str, lazy: bool = True) -> list[str]:
    """Dotted names of the package's modules, and candidate submodules, that a file imports;
    without `lazy`, only those imported at module level (what every import of it runs)."""
    return [n for n, in_function in file_imports(path, name)
            if (n == PACKAGE or n.startswith(PACKAGE + ".")) and (lazy or not in_function)]  # fmt: skip


def _parse_imports(path: Path, name: str) -> list[tuple[str, bool]]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    in_functions = {id(node) for function in ast.walk(tree)
                    if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for node in ast.walk(function)}  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(n, id(node) in in_functions) for n in names]
    return found


def imports_of(root: Path, name: str, lazy: bool = True) -> list[str]:
    """The package modules that module `name` imports directly (candidates that are attributes,
    as in `from workflow.x import function`, are dropped); without `lazy`, at module level only."""
    path = module_file(root, name)
    if path is None:
        raise ValueError(f"no module {name!r} under {root}")
    return sorted({n for n in imported_names(path, name, lazy) if n != name and module_file(root, n)})


def module_closure(root: Path, modules, lazy: bool = True) -> dict[str, Path]:
    """Every module that `modules` run: themselves, what they import (transitively; imports inside
    functions too unless `lazy` is false) and their parent packages' __init__.py files ->
    {dotted name: file}."""
    root = Path(root)
    found: dict[str, Path] = {}
    todo = list(modules)
    for name in modules:
        if module_file(root, name) is None:
            raise ValueError(f"no module {name!r} under {root / PACKAGE}")
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = module_file(root, name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += imports_of(root, name, lazy)
    return found


def third_party_imports(root: Path, name: str) -> set[str]:
    """Top-level names of the packages outside the standard library and the package that every
    run of module `name` imports: those imported at module level by the modules it reaches
    through module-level imports, and inside functions of `name` itself. A lazy import elsewhere
    is a code path of some configurations only (the bank's SAM path imports torch so)."""
    found = set()
    for module, path in module_closure(root, [name], lazy=False).items():
        found |= {n.split(".")[0] for n, in_function in file_imports(path, module)
                  if n and (not in_function or module == name)}  # fmt: skip
    return {n for n in found if n not in sys.stdlib_module_names and n not in ("__future__", PACKAGE)}


def all_modules(root: Path) -> list[str]:
    """Dotted names of every module of the package under `root`."""
    root = Path(root)
    names = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_cycles(root: Path) -> list[list[str]]:
    """Import cycles between the package's modules (imports inside functions count too); each
    cycle as the list of its modules, first repeated at the end. Package __init__ edges from a
    submodule to its parents are not imports and are not followed."""
    graph = {name: imports_of(root, name) for name in all_modules(root)}
    cycles, state = [], {}

    def visit(name: str, stack: list[str]) -> None:
        state[name] = "open"
        stack.append(name)
        for other in graph.get(name, []):
            if state.get(other) == "open":
                cycles.append(stack[stack.index(other):] + [other])
            elif other not in state:
                visit(other, stack)
        stack.pop()
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [])
    return cycles
