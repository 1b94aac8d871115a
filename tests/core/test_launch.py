"""The GPU launcher (workflow.core.launch, workflow.core.gpu_slots) with pretend GPUs on the CPU:
jobs side by side never share a slot, a job asking for n GPUs gets n distinct ones, a killed
job's slot comes back, every GPU rule runs through the launcher, and the launcher picks
torchrun, srun or the bare command as documented."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.helpers.smk_rules import read_rules
from workflow.core import gpu_slots, launch

# A job that prints the GPUs it was given, then waits until its `release` file appears.
JOB = ("import os, sys, time, pathlib; print(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'), flush=True); "
       "release = pathlib.Path(sys.argv[1]); [time.sleep(0.02) for _ in iter(lambda: release.exists(), True)]")


def start_job(tmp_path: Path, name: str, gpus: int, devices: str = "0,1,2") -> tuple[subprocess.Popen, Path]:
    release = tmp_path / f"release_{name}"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": devices, "GPU_SLOTS_DIR": str(tmp_path / "slots"),
           "PYTHONPATH": str(REPO)}
    env.pop("SLURM_JOB_ID", None)
    command = [sys.executable, "-m", "workflow.core.launch", "--gpus", str(gpus), "--",
               sys.executable, "-c", JOB, str(release)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, release


def given(process: subprocess.Popen) -> set[str]:
    line = process.stdout.readline().strip()
    assert line, f"the job printed nothing: {process.stderr.read()}"
    return set(line.split(","))


def test_side_by_side_jobs_never_share_a_slot_and_a_killed_jobs_slot_comes_back(tmp_path):
    one, release_one = start_job(tmp_path, "one", 1)
    two, release_two = start_job(tmp_path, "two", 2)
    try:
        first, pair = given(one), given(two)
        assert len(first) == 1 and len(pair) == 2 and not first & pair, (first, pair)
        assert first | pair == {"0", "1", "2"}
        # Every slot is taken: a third job waits (and says so) ...
        three, release_three = start_job(tmp_path, "three", 1)
        time.sleep(1.5)
        assert three.poll() is None
        # ... until a holder dies: kill -9 leaves no stale lock, its slot goes to the waiting job.
        one.send_signal(signal.SIGKILL)
        one.wait()
        assert given(three) == first
        assert "waiting for 1 free GPU" in three.stderr.readline()
        release_two.touch()
        release_three.touch()
        assert two.wait(10) == 0 and three.wait(10) == 0
    finally:
        for process in (one, two):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_request_is_all_or_nothing_and_bounded_by_the_machine(tmp_path):
    folder = tmp_path / "slots"
    taken, fds = gpu_slots.take(2, ["a", "b", "c"], folder, wait=False)
    assert taken == ["a", "b"]
    with pytest.raises(TimeoutError):
        gpu_slots.take(2, ["a", "b", "c"], folder, wait=False)  # only c is free: none is kept
    assert gpu_slots.take(1, ["a", "b", "c"], folder, wait=False)[0] == ["c"]
    with pytest.raises(ValueError, match="asks for 4 GPUs, but this machine offers 3"):
        gpu_slots.take(4, ["a", "b", "c"], folder)
    for fd in fds:
        os.close(fd)
    assert gpu_slots.take(2, ["a", "b", "c"], folder, wait=False)[0] == ["a", "b"]
    assert gpu_slots.lock_file(folder, "GPU-1a/2").name == "gpuGPU-1a_2.lock"


def test_machine_devices_come_from_cuda_visible_devices_or_nvidia_smi():
    assert gpu_slots.machine_devices({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert gpu_slots.machine_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert gpu_slots.machine_devices({"PATH": "/nonexistent"}) == []  # no nvidia-smi: no GPU


def test_the_cpu_path_runs_the_bare_command(tmp_path):
    command = ["python", "-m", "workflow.diffusion.train"]
    assert launch.plan(command, 1, True, {}) == (command, {}, 1)
    assert launch.plan(command, 0, False, {}) == (command, {}, 0)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": "/nonexistent" + os.pathsep + os.environ["PATH"]}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    out = subprocess.run([sys.executable, "-m", "workflow.core.launch", "--gpus", "1", "--", sys.executable, "-c",
                          "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "unset" and out.stderr == ""


def test_several_gpus_start_torchrun_and_a_slurm_allocation_of_tasks_starts_srun(monkeypatch):
    command = ["python", "-m", "workflow.diffusion.train", "finetune"]
    run, env, slots = launch.plan(command, 4, True, {})
    assert run == ["torchrun", "--standalone", "--nproc-per-node=4", "--no-python", *command] and slots == 4
    assert launch.plan(command, 4, False, {}) == (command, {}, 4)  # ultralytics runs its own DDP
    # SLURM: the job holds its GPUs (no slot); its tasks are read from the controller.
    monkeypatch.setattr(launch, "slurm_job", lambda env: {"NumTasks": "8", "CPUs/Task": "6"})
    run, env, slots = launch.plan(command, 0, True, {"SLURM_JOB_ID": "17"})
    assert run == ["srun", "--ntasks=8", "--cpus-per-task=6", "--kill-on-bad-exit=1", *command]
    assert set(env) == {"MASTER_ADDR", "MASTER_PORT"} and slots == 0
    # Inside a job step (the plugin's `srun -n1`), several GPUs of one node: torchrun.
    run, _, slots = launch.plan(command, 2, True, {"SLURM_JOB_ID": "17", "SLURM_STEP_ID": "0"})
    assert run[:3] == ["torchrun", "--standalone", "--nproc-per-node=2"] and slots == 0
    monkeypatch.setattr(launch, "slurm_job", lambda env: {"NumTasks": "1"})
    assert launch.plan(command, 1, True, {"SLURM_JOB_ID": "17"}) == (command, {}, 0)


def test_every_gpu_rule_runs_through_the_launcher_and_the_trainings_are_distributed():
    rules = read_rules()
    trainings = {"pretrain", "finetune", "size_classifier", "cherry_picker"}
    for rule in rules.values():
        if rule.uses_gpu:
            assert rule.launched is not None, f"GPU rule {rule.name} does not run through the launcher"
            assert rule.launched.startswith("--gpus {resources.gpu}"), rule.launched
            assert ("--distributed" in rule.launched) == (rule.name in trainings), rule.name
        else:
            assert rule.launched is None, f"rule {rule.name} declares no GPU but runs the GPU launcher"
