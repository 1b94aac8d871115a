"""The tiny workflow through the `slurm` executor on a real single-node SLURM (slurm_cluster.py),
up to the plane bank and the size classifier (see TARGETS).

The profile is config/profiles/slurm/config.yaml with what differs on this test cluster:
its one partition, small memory requests, no GPU (`gpu: 0` for the GPU rules, which would
otherwise be rejected), status through squeue (no accounting here), quick status checks.
The jobs must have gone through the controller: every job Snakemake submitted has a SLURM job
id that `scontrol` reports as COMPLETED (MinJobAge=600 keeps finished jobs there).

The size classifier runs as a job of two tasks (TWO_TASKS, the profile's multi-node recipe on
CPUs): the launcher starts one process per task with srun, the two train data-parallel over
Gloo, and the model they write equals the one-process model of the local tiny run.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.helpers import REPO
from tests.helpers.smk_rules import read_rules
from tests.helpers.snakemake_run import TINY, copy_workflow, job_counts, snakemake

PROFILE = REPO / "config/profiles/slurm/config.yaml"
# Targets run through SLURM: the tiny workflow up to the plane bank and the size classifier
# (demo scenes, index, crops, bank chunks and merge, and one GPU rule run with gpu: 0), 7 jobs.
# Each SLURM job costs ~10 s of sbatch, srun and a second Snakemake start on top of its work, so
# the whole tiny workflow (~30 jobs, detector trainings included) would take most of CI's budget;
# the local run of conftest.tiny_workflow covers the rest. Empty list: the whole workflow.
TARGETS = ["--", "results/bank/manifest.csv", "results/diffusion/size_classifier/model.pt"]
TEST_RESOURCES = {"slurm_partition": "debug", "mem_mb": 2000, "runtime": 30}
# A diffusion training as one job of two CPU tasks (config/profiles/slurm/config.yaml, "Several
# GPUs per training"): sbatch --ntasks=2, the command in the batch script, srun inside.
TWO_TASKS = {"size_classifier": {"tasks": 2, "mpi": "srun"}}


def loopback_profile(cpus: int) -> dict:
    """The repository's SLURM profile, adapted to the loopback test cluster (`cpus` per node)."""
    profile = yaml.safe_load(PROFILE.read_text())
    profile["default-resources"] = {**profile.get("default-resources", {}), **TEST_RESOURCES}
    set_resources = profile.get("set-resources") or {}
    for rule in read_rules().values():
        if rule.uses_gpu:
            set_resources.setdefault(rule.name, {})
    for resources in set_resources.values():
        resources.update(TEST_RESOURCES, gpu=0)  # a node without GPU rejects GPU requests
        resources.pop("gres", None)
        resources.pop("gpu_model", None)
    for rule, resources in TWO_TASKS.items():
        set_resources[rule].update(resources)
    threads = {rule: min(n, cpus) for rule, n in (profile.get("set-threads") or {}).items()}
    # Snakemake rejects an empty --set-resources / --set-threads: leave those out.
    for key, value in (("set-resources", set_resources), ("set-threads", threads)):
        profile.pop(key, None)
        if value:
            profile[key] = value
    profile.update(
        {
            "slurm-status-command": "squeue",
            "slurm-no-account": True,
            "slurm-init-seconds-before-status-checks": 2,
            "latency-wait": 5,
            "retries": 0,
            "jobs": 4,
        }
    )
    return profile


def slurm_job_ids(log: str) -> list[str]:
    """SLURM job ids from Snakemake's `... submitted with SLURM jobid N` lines."""
    return re.findall(r"SLURM jobid (\d+)", log)


def scontrol_job(job_id: str, env: dict) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True
    ).stdout


def job_state(job_id: str, env: dict) -> str:
    out = scontrol_job(job_id, env)
    match = re.search(r"JobState=(\w+)", out)
    return match.group(1) if match else f"unknown ({out.strip() or 'no record'})"


def test_profile_names_every_gpu_rule_and_only_existing_rules():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    rules = read_rules()
    per_rule = {**profile.get("set-resources", {}), **profile.get("set-threads", {})}
    unknown = set(per_rule) - set(rules)
    assert not unknown, f"{PROFILE.name} sets resources of rules that do not exist: {unknown}"
    gpu_rules = {name for name, rule in rules.items() if rule.uses_gpu}
    missing = gpu_rules - set(profile.get("set-resources", {}))
    assert not missing, f"GPU rules without runtime/memory/partition in {PROFILE}: {missing}"
    assert "slurm-status-command: squeue" in PROFILE.read_text(), "the squeue choice is gone"


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_runs_through_slurm(slurm_cluster, tiny_workflow, tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    profile_dir = tmp_path / "profile"
    profile_dir.mkdir()
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(loopback_profile(slurm_cluster.cpus)))

    result = snakemake(workdir, "--profile", str(profile_dir), *TINY, *TARGETS, timeout=1500)
    log = result.stdout + result.stderr
    ran = job_counts(log)
    ran.pop("all", None)
    ids = slurm_job_ids(log)
    assert ran, f"no jobs ran:\n{log[-3000:]}"
    assert len(ids) == sum(ran.values()), f"{sum(ran.values())} jobs but SLURM ids {ids}"
    states = {job_id: job_state(job_id, slurm_cluster.env()) for job_id in ids}
    assert set(states.values()) == {"COMPLETED"}, f"SLURM job states: {states}"
    controller_log = slurm_cluster.controller_log.read_text()
    for job_id in ids:
        assert f"JobId={job_id}" in controller_log, f"slurmctld never saw job {job_id}"
    # The outputs are there and complete: nothing left to do.
    dry = snakemake(workdir, "-n", *TINY, *TARGETS)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    check_two_task_training(workdir, tiny_workflow, ids, slurm_cluster.env())


def check_two_task_training(workdir, tiny_workflow, ids, env):
    """The size classifier ran as one SLURM job of 2 tasks, as 2 processes, and trained as one."""
    import torch

    from workflow.diffusion.checkpoint import load_model

    tasks = {job_id: re.search(r"NumTasks=(\d+)", scontrol_job(job_id, env)) for job_id in ids}
    assert sorted(int(m.group(1)) for m in tasks.values() if m).count(2) == 1, tasks
    log = (workdir / "results/logs/diffusion/size_classifier.log").read_text()
    assert "rank 0 of 2" in log and "2 process(es)" in log, log[-2000:]
    model = "results/diffusion/size_classifier/model.pt"
    (two, spec), (one, _) = load_model(workdir / model), load_model(tiny_workflow / model)
    size = spec.image_size
    x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([0, 10, 500, 999])
    with torch.no_grad():  # logits: see tests/diffusion/test_distributed.py on the attention pool's bias
        assert torch.allclose(two(x, t), one(x, t), rtol=0, atol=1e-4)
