"""How long the rerun table of config/README.md takes to build (tests/helpers/rerun_table.py): the
touched finished demo state, then one in-process Snakemake dry run per key of the schema.

Goal: the whole table in under 180 s of CPU (a few minutes on the 2 CI cores), so that
tests/workflow/test_rerun_table.py stays a small part of CI. Prints wall and CPU seconds of each part,
the CPU seconds per dry run, a CLI dry run (`snakemake -n`, with its start-up) for comparison,
and the ratio of the table's CPU time to its goal.

    python bench/rerun_table.py
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.helpers import rerun_table  # noqa: E402
from tests.helpers.snakemake_run import snakemake  # noqa: E402

GOAL_CPU_S = 180.0


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    changes = rerun_table.key_changes(config)
    with tempfile.TemporaryDirectory() as scratch:
        wall, used = time.perf_counter(), cpu()
        workdir, _ = rerun_table.finished_state(Path(scratch) / "demo")
        state = time.perf_counter() - wall, cpu() - used
        wall, used = time.perf_counter(), cpu()
        rerun_table.rerun_rows(workdir, changes)
        rows = time.perf_counter() - wall, cpu() - used
        wall = time.perf_counter()
        snakemake(workdir, "-n", "--quiet", "rules")
        cli = time.perf_counter() - wall
    total = state[1] + rows[1]
    print(f"finished state: {state[0]:.1f} s wall, {state[1]:.1f} s CPU")
    print(f"{len(changes)} dry runs: {rows[0]:.1f} s wall, {rows[1]:.1f} s CPU, "
          f"{rows[1] / len(changes):.2f} s CPU each (a CLI dry run: {cli:.1f} s wall)")
    print(f"table: {total:.1f} s CPU, goal {GOAL_CPU_S:.0f} s: ratio {total / GOAL_CPU_S:.2f}")


if __name__ == "__main__":
    main()
