"""Shared fixtures: the tiny workflow, run once per test session, and a SLURM cluster.

`tiny_workflow` is a private copy of the workflow (tests/helpers/snakemake_run.py) in which
`snakemake --profile config/profiles/workstation --cores 2` has run the tiny configuration
(config/config.yaml + tests/configs/tiny.yaml) to the end. Tests read it or dry-run against it;
a test that changes files works on `tiny_copy`, a fresh copy of the finished tree.

While developing, TINY_WORKFLOW_DIR=<dir> reuses a finished tiny run made from the current
sources (e.g. `python -m tests.helpers.snakemake_run <dir>`) instead of running it again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.slurm_cluster import SlurmCluster, missing_reason
from tests.helpers.snakemake_run import run_tiny


@pytest.fixture(scope="session")
def tiny_workflow(tmp_path_factory):
    if os.environ.get("TINY_WORKFLOW_DIR"):
        return Path(os.environ["TINY_WORKFLOW_DIR"]).resolve()
    return run_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tiny_copy(tiny_workflow, tmp_path):
    """A copy of the finished tiny tree (results, resources, .snakemake metadata, mtimes kept)."""
    dest = tmp_path / "tiny"
    shutil.copytree(tiny_workflow, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """munged + slurmctld + slurmd on loopback, stopped by process id after the session."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with SlurmCluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module's tests: their tiny networks gain nothing from
    more, the processes they launch run with one too, and the CI machine is shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
