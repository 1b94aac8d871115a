"""Run the workflow in a private copy of the repository, and read what a dry run schedules.

A copy (Snakefile, rules/, config/, workflow/, envs/, tests/configs/) keeps each test's results/,
resources/ and .snakemake/ away from the repository, and lets a test edit a module without
touching the real one: `python -m workflow.x` run from the copy imports the copy's package
(the working directory comes first on sys.path).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


VENV_BIN = Path(sys.prefix) / "bin"  # the venv running the tests
COPIED = ("Snakefile", "rules", "config", "profiles", "workflow", "envs", "tests/configs",
          "resources/demo_weights")
TINY = ("--configfile", "config/config.yaml", "tests/configs/tiny.yaml")


def snakemake_env() -> dict[str, str]:
    """The environment jobs see: the venv's python and snakemake first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    return env


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow's sources into `dest` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        elif source.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def snakemake(workdir: Path, *args: str, timeout: float = 1800, check: bool = True):
    """Run `snakemake args` in `workdir`; on failure raise with the output's tail and job logs."""
    result = subprocess.run(
        [str(VENV_BIN / "snakemake"), *args],
        cwd=workdir,
        env=snakemake_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed (exit {result.returncode}) in {workdir}:\n"
            f"{tail(result.stdout + result.stderr)}\n{failed_logs(workdir)}"
        )
    return result


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def failed_logs(workdir: Path, lines: int = 20) -> str:
    """The tails of the most recent rule logs, to show why a job failed."""
    logs = sorted((workdir / "results" / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)[
        -3:
    ]
    return "\n".join(f"--- {p.relative_to(workdir)}:\n{tail(p.read_text(), lines)}" for p in logs)


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from the `Job stats:` table of a (dry) run; {} when nothing is scheduled.

    The table lists `rule count` lines between a dashed line and `total`.
    """
    counts: dict[str, int] = {}
    in_table = False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            in_table, counts = False, {}
        elif line.startswith("----"):
            in_table = True
        elif in_table:
            match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
            if not match or match.group(1) == "total":
                in_table = False
                continue
            counts[match.group(1)] = int(match.group(2))
    return counts


def scheduled(workdir: Path, *args: str) -> dict[str, int]:
    """Jobs per rule that `snakemake -n` schedules in `workdir` (rule `all` left out)."""
    result = snakemake(workdir, "-n", "--quiet", "rules", *args)
    counts = job_counts(result.stdout + result.stderr)
    counts.pop("all", None)
    return counts


def run_tiny(dest: Path) -> Path:
    """Copy the workflow to `dest` and run the tiny configuration there to the end."""
    workdir = copy_workflow(dest)
    snakemake(workdir, "--profile", "config/profiles/workstation", "--cores", "2", *TINY)
    return workdir


if __name__ == "__main__":
    print(run_tiny(Path(sys.argv[1]).resolve()))
