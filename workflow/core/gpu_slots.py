"""GPU slots of one machine: each job takes GPUs of its own, never one another job holds.

Snakemake's `--resources gpu=N` only counts GPU jobs; it does not tell a job which GPU is free,
and every job would pick device 0. Here a job asking for n GPUs takes n free device ids of the
machine, each held by an exclusive lock (fcntl.flock) on the file `<lock_dir>/gpu<id>.lock`,
and is then shown only those devices (CUDA_VISIBLE_DEVICES, so they appear to it as 0..n-1).
The lock belongs to the open file, which the job's command inherits (workflow.core.launch
executes the command in place of itself): it is released when the job ends or dies, however
it dies (kill -9 included), and a slot never stays taken by a job that is gone.

The machine's devices are CUDA_VISIBLE_DEVICES when it is set (the GPUs a user offers to the
workflow; also how the tests pretend to have GPUs), else what `nvidia-smi -L` lists, else none.
The lock folder is GPU_SLOTS_DIR, else a folder of this user under the temporary directory:
machine-wide, since GPUs are; users sharing a workstation point GPU_SLOTS_DIR at one folder.
Only the standard library is used: the launcher starts before any job imports torch.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping

POLL_SECONDS = 1.0  # between tries while every slot is taken


def machine_devices(env: Mapping[str, str] = os.environ) -> list[str]:
    """The device ids jobs may take: CUDA_VISIBLE_DEVICES if set, else nvidia-smi's GPUs."""
    if "CUDA_VISIBLE_DEVICES" in env:
        return [part.strip() for part in env["CUDA_VISIBLE_DEVICES"].split(",") if part.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    if listing.returncode != 0:
        return []
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def lock_dir(env: Mapping[str, str] = os.environ) -> Path:
    default = Path(tempfile.gettempdir()) / f"gpu_slots_{os.getuid()}"
    return Path(env.get("GPU_SLOTS_DIR") or default)


def lock_file(folder: Path, device: str) -> Path:
    """gpu<id>.lock; ids such as GPU-<uuid> or MIG-<uuid> keep only file-name characters."""
    return folder / f"gpu{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def try_take(folder: Path, device: str) -> int | None:
    """An open, inheritable file descriptor holding `device`'s lock, or None if another holds it."""
    fd = os.open(lock_file(folder, device), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.set_inheritable(fd, True)  # the job's command keeps it (and with it the slot) after exec
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {' '.join(sys.argv)}\n".encode())  # who holds it, for people
    return fd


def take(n: int, devices: list[str], folder: Path, wait: bool = True) -> tuple[list[str], list[int]]:
    """n distinct free devices of `devices` and the descriptors holding them.

    All or nothing: when fewer than n are free, the ones taken are given back and the whole
    request is tried again after POLL_SECONDS (two jobs of two GPUs each holding one of two
    cannot deadlock). With wait=False a busy machine raises TimeoutError instead.
    """
    if n > len(devices):
        raise ValueError(f"a job asks for {n} GPUs, but this machine offers {len(devices)} "
                         f"({','.join(devices) or 'none'}; CUDA_VISIBLE_DEVICES or nvidia-smi -L)")
    folder.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        taken: list[tuple[str, int]] = []
        for device in devices:
            fd = try_take(folder, device)
            if fd is not None:
                taken.append((device, fd))
                if len(taken) == n:
                    return [d for d, _ in taken], [fd for _, fd in taken]
        for _, fd in taken:
            os.close(fd)  # closing the last descriptor of the file releases its lock
        if not wait:
            raise TimeoutError(f"fewer than {n} of the GPUs {','.join(devices)} are free ({folder})")
        if not waited:
            print(f"gpu_slots: waiting for {n} free GPU(s) of {','.join(devices)} ({folder})",
                  file=sys.stderr, flush=True)
            waited = True
        time.sleep(POLL_SECONDS)
