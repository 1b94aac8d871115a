"""Data-parallel training over several processes (torch.distributed): who this process is, its
device, its rows of a global batch, and the sums that make N processes train as one.

A training launched by `torchrun` (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or by
`srun` in a SLURM allocation of several tasks (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; the
launcher, workflow.core.launch, exports MASTER_ADDR and MASTER_PORT) joins a process group: NCCL
when it has a GPU, Gloo on the CPU. Without either, the world is one process and nothing here
communicates.

How N processes give the training of one (the same seed, the same steps, up to float reduction
order): every process holds the whole model and draws the whole global batch (data, timesteps,
noise) from the shared generators, then keeps its own contiguous rows of it (`World.rows`). Its
loss is the sum of its rows' per-sample losses divided by the global batch, so the gradients
summed over the processes (`sum_gradients`, once per optimizer step, after every micro-batch of
the accumulation) are exactly those of one process on the whole batch. The replicas then take
the same Adam step and stay equal; EMA and training states are the same on every process.
The ADM networks normalise with GroupNorm, per sample, so a row's output does not depend on
which other rows share its process; BatchNorm (the cherry-picker) does, and gets global-batch
statistics from SyncBatchNorm (`sync_batch_norm`).

The gradients are summed by hand, one flattened all-reduce per bucket, rather than by
DistributedDataParallel: one reduction per optimizer step whatever the accumulation, no hook
that frozen, unused or checkpointed parameters could upset, and the exact-sum reasoning above
holds by construction. What it gives up, overlapping the reduction with the backward pass,
costs about the time of one all-reduce of the trainable gradients per optimizer step (tens of
milliseconds for ADM-256 on NVLink, against seconds of compute).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from typing import Iterable, Mapping

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)

# Elements per all-reduce of the flattened gradients (100 MB of float32).
BUCKET_ELEMENTS = 25_000_000
# How long a process waits for the others (rendezvous, a collective) before failing.
TIMEOUT = datetime.timedelta(minutes=30)


@dataclasses.dataclass(frozen=True)
class World:
    """This process in the group: rank in 0..size-1, local rank on its node, its device."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0 alone writes model files, training states, loss curves, samples and logs."""
        return self.rank == 0

    def rows(self, batch: int) -> slice:
        """This rank's rows of a global batch of `batch`: contiguous, sizes differing by at most one."""
        return slice(self.rank * batch // self.size, (self.rank + 1) * batch // self.size)


def ranks_from_env(env: Mapping[str, str] = os.environ) -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's variables, else srun's, else (0, 1, 0)."""
    for names in (("RANK", "WORLD_SIZE", "LOCAL_RANK"), ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")):
        if all(name in env for name in names):
            rank, size, local = (int(env[name]) for name in names)
            if not 0 <= rank < size:
                raise ValueError(f"{names[0]}={rank} is outside 0..{size - 1} ({names[1]}={size})")
            return rank, size, local
    return 0, 1, 0


def start(env: Mapping[str, str] = os.environ) -> World:
    """Join the process group (when there are several processes) and pick this rank's device:
    GPU local_rank (modulo the GPUs it sees), else the CPU."""
    rank, size, local = ranks_from_env(env)
    if torch.cuda.is_available():
        device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if size > 1:
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in env:
                raise ValueError(f"{size} processes but no {name}: launch with torchrun, or with "
                                 "workflow.core.launch under SLURM")
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=f"tcp://{env['MASTER_ADDR']}:{env['MASTER_PORT']}",
                                rank=rank, world_size=size, timeout=TIMEOUT)
        log.info("rank %d of %d (local %d) on %s, %s", rank, size, local, device, backend)
    return World(rank, size, local, device)


def stop(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def check_batch(world: World, batch: int, key: str) -> None:
    """Each of the world's processes needs at least one row of every global batch."""
    if batch < world.size:
        raise ValueError(f"config key '{key}': the global batch of {batch} cannot be split over "
                         f"{world.size} processes; give at least one image per process")


def sum_(world: World, tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `tensor` over every process (in place; itself with one process)."""
    if world.size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def sum_gradients(world: World, parameters: Iterable[nn.Parameter]) -> None:
    """Replace each parameter's gradient by its sum over the processes, in buckets of flattened
    gradients. A parameter without a gradient (unused this step) counts as zeros on every rank."""
    if world.size == 1:
        return
    parameters = list(parameters)
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    start_index = 0
    while start_index < len(parameters):
        bucket, elements = [], 0
        while start_index < len(parameters) and (not bucket or elements < BUCKET_ELEMENTS):
            bucket.append(parameters[start_index])
            elements += parameters[start_index].numel()
            start_index += 1
        flat = torch.cat([p.grad.reshape(-1) for p in bucket])
        sum_(world, flat)
        offset = 0
        for p in bucket:
            p.grad.copy_(flat[offset : offset + p.numel()].view_as(p.grad))
            offset += p.numel()


def broadcast_model(world: World, model: nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (the replicas start equal)."""
    if world.size == 1:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)


def sync_batch_norm(world: World, model: nn.Module) -> nn.Module:
    """BatchNorm layers with statistics over the global batch (torch's SyncBatchNorm), so that a
    BatchNorm network (the cherry-picker's ResNet-18) trains as on one process. torch computes
    them on GPUs only; a BatchNorm network split over CPU processes would normalise each rank's
    rows alone, so that is refused."""
    if world.size == 1 or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return model
    if world.device.type != "cuda":
        raise ValueError(f"this network has BatchNorm layers, whose statistics torch shares between "
                         f"processes on GPUs only; train it with one process on the CPU "
                         f"(got {world.size} CPU processes)")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)
