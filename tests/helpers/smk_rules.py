"""Read the rules of rules/*.smk as text: name, conda env, modules called, GPU resource; and
which rules a module's edit reruns (their code closures, workflow.core.codegraph).

The rule files are snakefmt-formatted, so a rule is a `rule name:` (or `checkpoint name:`) line
followed by the lines indented deeper. Used by the env, SLURM and rerun tests
so that they cover every stage as its rules appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO
from workflow.core import codegraph

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


def importers(module: str, rules: dict[str, Rule], root: Path = REPO) -> set[str]:
    """Names of the rules whose code closure (workflow.core.codegraph, as `get_code` in
    rules/common.smk) holds `module`."""
    return {rule.name for rule in rules.values()
            if rule.modules and module in codegraph.module_closure(root, rule.modules)}  # fmt: skip
