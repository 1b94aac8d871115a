"""The launcher of GPU jobs: their own GPUs on a workstation, and their processes when they train
data-parallel. Rules run a GPU command through it:

    python -m workflow.core.launch --gpus {resources.gpu} [--distributed] -- python -m workflow.x ...

1. GPUs. Under SLURM (SLURM_JOB_ID set) the job already holds its GPUs and nothing changes. On a
   workstation the job takes `--gpus` free slots (workflow.core.gpu_slots) and sees only those
   (CUDA_VISIBLE_DEVICES). A machine without GPUs, or `--gpus 0`, changes nothing.
2. Processes, with `--distributed` (the diffusion trainings, workflow.diffusion.distributed):
   - a SLURM allocation of several tasks, reached from its batch script (the executor plugin
     runs a job with an `mpi` resource there, not inside `srun -n1`): `srun` starts one process
     per task, on every node of the allocation, after MASTER_ADDR and MASTER_PORT name this host
     (where task 0 runs);
   - otherwise, with more than one GPU: `torchrun --standalone --nproc-per-node <gpus>` on this
     machine, one process per GPU;
   - otherwise one process: the command itself, exactly as without the launcher.
The launcher then executes the command in place of itself (os.execvpe), so the command keeps the
GPU locks, receives Snakemake's signals directly and its exit status is the job's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
from typing import Mapping

from workflow.core import gpu_slots


def slurm_job(env: Mapping[str, str]) -> dict[str, str]:
    """`scontrol show job` fields (NumTasks, CPUs/Task, NodeList, ...) of the enclosing SLURM job.

    Read from the controller: the executor plugin strips the SLURM_* task variables from the
    environment of the job's command."""
    out = subprocess.run(["scontrol", "show", "job", "-o", env["SLURM_JOB_ID"]], capture_output=True,
                         text=True, check=True).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def srun_command(command: list[str], job: Mapping[str, str]) -> list[str]:
    """One process per task of the allocation; a failed task ends the others."""
    tasks, cpus = job.get("NumTasks", "1"), job.get("CPUs/Task", "1")
    return ["srun", f"--ntasks={tasks}", f"--cpus-per-task={cpus}", "--kill-on-bad-exit=1", *command]


def torchrun_command(command: list[str], processes: int) -> list[str]:
    """`processes` processes on this machine; --no-python runs the command as given."""
    return ["torchrun", "--standalone", f"--nproc-per-node={processes}", "--no-python", *command]


def plan(command: list[str], gpus: int, distributed: bool, env: Mapping[str, str]) -> tuple[list[str], dict, int]:
    """(command to execute, environment changes, GPU slots to take) for this job."""
    if "SLURM_JOB_ID" in env:
        if distributed and "SLURM_STEP_ID" not in env:
            job = slurm_job(env)
            if int(job.get("NumTasks", "1")) > 1:
                master = dict(MASTER_ADDR=socket.gethostname(), MASTER_PORT=str(free_port()))
                return srun_command(command, job), master, 0
        if distributed and gpus > 1:
            return torchrun_command(command, gpus), {}, 0
        return command, {}, 0
    if distributed and gpus > 1:
        return torchrun_command(command, gpus), {}, gpus
    return command, {}, gpus


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=1, help="GPUs of the job (the rule's resources.gpu)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel: one process per GPU, or per task of a SLURM allocation")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    if args.gpus < 0:
        parser.error(f"--gpus {args.gpus}: must be >= 0")
    env = dict(os.environ)
    command, changes, slots = plan(command, args.gpus, args.distributed, env)
    env.update(changes)
    devices = gpu_slots.machine_devices(env) if slots else []
    if devices:
        taken, _ = gpu_slots.take(slots, devices, gpu_slots.lock_dir(env))
        env["CUDA_VISIBLE_DEVICES"] = ",".join(taken)
        print(f"launch: GPU(s) {env['CUDA_VISIBLE_DEVICES']} for {' '.join(command)}", file=sys.stderr, flush=True)
    if shutil.which(command[0], path=env.get("PATH")) is None:
        raise SystemExit(f"launch: {command[0]!r} is not on PATH")
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    main()
