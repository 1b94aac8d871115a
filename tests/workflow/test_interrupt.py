"""A job killed mid-way (SIGKILL to Snakemake and the job: a power cut) leaves nothing that a
downstream rule would accept, and the next run with --rerun-incomplete completes it, with the
same result as an uninterrupted run.

Works on a copy of the finished tiny tree: the job is forced to run again, killed as soon as it
has written part of its work (a file matching `progress` newer than the start), then redone.
To add a long stage, add a line to INTERRUPTS; give `resumed` (a regular expression the rerun's
log must match) for stages that resume from a checkpoint.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.smk_rules import read_rules
from tests.helpers.snakemake_run import TINY, VENV_BIN, scheduled, snakemake, snakemake_env

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Interrupt:
    rule: str
    output: str  # the job's output that downstream rules read
    progress: str  # glob (under the working directory) of files the job writes as it goes
    log: str  # the rule's log file
    resumed: str | None = None  # regex the rerun's log matches when the job resumed
    same: str | None = None  # file that must equal the uninterrupted run's (default: output)


INTERRUPTS = [
    Interrupt(
        rule="detect_tiles",
        output="results/tiles/detect/manifest.csv",
        progress="results/tiles/detect/**/*.png",
        log="results/logs/tiles/detect.log",
    ),
    # Killed right after its first training state is saved; the rerun resumes from it and,
    # restoring the data order and random state, ends on the same losses. Needs
    # diffusion.finetune.checkpoint_every < iterations in the tiny configuration.
    Interrupt(
        rule="finetune",
        output="results/diffusion/models/uncond/model.pt",
        progress="results/diffusion/state/finetune_uncond.pt",
        log="results/logs/diffusion/finetune_uncond.log",
        resumed=r"resumed from \S+ at step [1-9]",
        same="results/diffusion/models/uncond/loss.csv",
    ),
]


def newer_files(workdir: Path, pattern: str, since: float) -> list[Path]:
    """Files matching `pattern` modified after `since` (folders may vanish while we look)."""
    found = []
    try:
        for path in workdir.glob(pattern):
            try:
                if path.stat().st_mtime > since:
                    found.append(path)
            except FileNotFoundError:
                continue
    except FileNotFoundError:
        return []
    return found


def start_and_kill(workdir: Path, case: Interrupt, timeout: float = 300) -> None:
    """Force the job to run, wait for its first progress file, SIGKILL the whole process group."""
    since = time.time()
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "snakemake"),
            "--cores",
            "2",
            *TINY,
            "--forcerun",
            case.rule,
            "--",
            case.output,
        ],
        cwd=workdir,
        env=snakemake_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the jobs it starts die with it
    )
    try:
        deadline = time.monotonic() + timeout
        while not newer_files(workdir, case.progress, since):
            if proc.poll() is not None:
                pytest.fail(
                    f"{case.rule} ended (exit {proc.returncode}) before writing {case.progress}:"
                    " too quick to interrupt, or the pattern is wrong"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{case.rule} wrote no {case.progress} within {timeout} s")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"{case.rule} finished before the kill"


@pytest.mark.parametrize("case", INTERRUPTS, ids=lambda case: case.rule)
def test_killed_job_is_not_accepted_and_rerun_completes_it(tiny_copy, tiny_workflow, case):
    assert case.rule in read_rules(), f"INTERRUPTS names an unknown rule {case.rule}"
    same = case.same or case.output
    reference = (tiny_workflow / same).read_bytes()
    start_and_kill(tiny_copy, case)
    snakemake(tiny_copy, "--unlock", *TINY)  # the killed run left its lock behind

    # Nothing a downstream rule would accept: the output is absent, or marked incomplete so
    # that Snakemake refuses to use it without --rerun-incomplete.
    result = snakemake(tiny_copy, "-n", "--quiet", "rules", *TINY, check=False)
    if (tiny_copy / case.output).exists():
        assert result.returncode != 0 and "incomplete" in (
            result.stdout + result.stderr
        ), f"{case.output} survived the kill and is not marked incomplete"
    else:
        assert scheduled(tiny_copy, *TINY).get(case.rule) == 1

    snakemake(tiny_copy, "--cores", "2", "--rerun-incomplete", *TINY, "--", case.output)
    assert (tiny_copy / case.output).exists()
    assert (
        tiny_copy / same
    ).read_bytes() == reference, (
        f"{same} after the interrupted run differs from the uninterrupted one"
    )
    if case.resumed:
        log = (tiny_copy / case.log).read_text()
        assert re.search(case.resumed, log), f"{case.log} shows no resume ({case.resumed!r})"
