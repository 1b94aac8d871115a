"""A resumable training loop shared by the diffusion models and the classifiers, on one process
or data-parallel over several (workflow.diffusion.distributed).

Everything random flows from three states saved in the training state every `checkpoint_every`
steps: the numpy Generator of the data (batch order, windows, flips, Canny thresholds), the torch
Generator of the loss (timesteps, noise) and torch's global RNG (dropout). Restoring them with the
model, optimizer, EMA and loss history makes a resumed run continue exactly as an uninterrupted
one: the same weights at the same step, bit for bit on the same machine and world size.

Every process draws the whole global batch of `batch_size` from those generators and computes
its own rows of it; the loss is normalised by the global batch and the gradients are summed over
the processes once per optimizer step, so any number of processes trains as one (up to the order
of float sums) and a training state written with one world size resumes with another. Dropout
(0 in every preset here) is the one draw that is not shared: each process applies its own.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from workflow.core.io import atomic_path, write_csv
from workflow.diffusion import checkpoint
from workflow.diffusion.distributed import World, sum_, sum_gradients

log = logging.getLogger(__name__)

# batch_fn(data_rng) -> the global batch (every process draws all of it).
BatchFn = Callable[[np.random.Generator], Any]
# loss_fn(model, batch, loss_generator, rows) -> per-sample terms of this process's rows of the
# batch, {name: (len(rows),) tensor}; "loss" is the one differentiated, every term is logged
# as its mean over the global batch. The function draws the randoms of the whole batch (its
# timesteps, its noise) and keeps its rows, so the draw does not depend on the world size.
LossFn = Callable[[nn.Module, Any, torch.Generator, slice], dict[str, torch.Tensor]]


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    iterations: int
    lr: float
    batch_size: int  # the global batch of one micro-batch, split over the processes
    accumulation: int = 1
    ema: float | None = None
    checkpoint_every: int = 100
    warmup: int = 0  # steps of linear learning-rate warm-up from lr / warmup to lr (0: none)


@dataclasses.dataclass
class LoopResult:
    step: int
    history: list[dict[str, float]]
    ema: dict[str, torch.Tensor] | None

    def export_state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The model's state dict with the EMA weights in place of the trained ones, if any."""
        state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        state.update(self.ema or {})
        return state


def _rng_states(data_rng: np.random.Generator, loss_gen: torch.Generator) -> dict[str, Any]:
    states = dict(numpy=data_rng.bit_generator.state, loss=loss_gen.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()  # this process's device (one per process)
    return states


def _restore_rng(states: dict[str, Any], data_rng: np.random.Generator, loss_gen: torch.Generator) -> None:
    data_rng.bit_generator.state = states["numpy"]
    loss_gen.set_state(states["loss"])
    torch.set_rng_state(states["torch"])
    if isinstance(states.get("cuda"), torch.Tensor) and torch.cuda.is_available():
        torch.cuda.set_rng_state(states["cuda"])


def _try_resume(state_path, model, optimizer, config, seed, data_rng, loss_gen):
    """Load a matching training state; returns (step, history, ema) or None to start fresh.
    Every process reads the same file (rank 0 wrote it), whatever the world size was then."""
    if state_path is None or not Path(state_path).is_file():
        return None
    state = checkpoint.load(state_path)
    if state.get("config") != config or state.get("seed") != seed:
        log.warning("training state %s was made with other settings or seed; starting over", state_path)
        return None
    model.load_state_dict(state["model"], strict=True)
    optimizer.load_state_dict(state["optimizer"])
    _restore_rng(state["rng"], data_rng, loss_gen)
    log.info("resumed from %s at step %d", state_path, state["step"])
    ema = state["ema"]
    if ema is not None:
        device = next(model.parameters()).device
        ema = {name: value.to(device) for name, value in ema.items()}
    return state["step"], list(state["history"]), ema


def _save_state(path, model, optimizer, ema, step, history, config, seed, data_rng, loss_gen) -> None:
    checkpoint.save(path, dict(
        model=model.state_dict(), optimizer=optimizer.state_dict(), ema=ema, step=step, history=history,
        rng=_rng_states(data_rng, loss_gen), config=config, seed=seed,
    ))


def _update_ema(ema: dict[str, torch.Tensor], model: nn.Module, rate: float) -> None:
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in ema:
                ema[name].mul_(rate).add_(parameter.detach(), alpha=1 - rate)


def train(model: nn.Module, parameters: list[nn.Parameter], batch_fn: BatchFn, loss_fn: LossFn,
          settings: LoopSettings, config: dict, seed: int, state_path: str | Path | None,
          world: World) -> LoopResult:
    """Adam on `parameters` for settings.iterations steps of settings.accumulation micro-batches.

    Seeds the data and loss generators from `seed` (or restores them from `state_path`); rank 0
    saves the training state every checkpoint_every steps. `model` is on world.device, equal on
    every process.
    """
    torch.manual_seed(seed)
    data_rng = np.random.default_rng(seed)
    loss_gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(parameters, lr=settings.lr)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    resumed = _try_resume(state_path, model, optimizer, config, seed, data_rng, loss_gen)
    step, history, ema = resumed or (0, [], None)
    if settings.ema is not None and ema is None:
        ema = {name: p.detach().clone() for name, p in model.named_parameters() if name in trainable}
    model.train()
    rows = world.rows(settings.batch_size)
    # Per-sample terms summed over the global batch of every micro-batch of a step.
    scale = 1.0 / (settings.batch_size * settings.accumulation)
    bar = tqdm(total=settings.iterations, initial=step, file=sys.stderr, mininterval=10, desc="train",
               disable=not world.main)
    while step < settings.iterations:
        if settings.warmup:  # a function of the step alone, so a resumed run continues it exactly
            for group in optimizer.param_groups:
                group["lr"] = settings.lr * min(1.0, (step + 1) / settings.warmup)
        sums: dict[str, torch.Tensor] = {}
        for _ in range(settings.accumulation):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=world.device.type == "cuda"):
                terms = loss_fn(model, batch_fn(data_rng), loss_gen, rows)
            (terms["loss"].sum() * scale).backward()
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float().sum()
        sum_gradients(world, parameters)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            _update_ema(ema, model, settings.ema)
        step += 1
        totals = sum_(world, torch.stack(list(sums.values()))) * scale
        history.append({"step": step, **dict(zip(sums, totals.tolist()))})
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1].get('loss', float('nan')):.4f}", refresh=False)
        if world.main and state_path is not None and step % settings.checkpoint_every == 0:
            _save_state(state_path, model, optimizer, ema, step, history, config, seed, data_rng, loss_gen)
    bar.close()
    return LoopResult(step=step, history=history, ema=ema)


def discard_state(state_path: str | Path | None) -> None:
    """Remove a finished run's training state: it exists to resume an interrupted run, and a
    later run with changed code must train afresh rather than resume a finished one."""
    if state_path is not None:
        Path(state_path).unlink(missing_ok=True)


def write_loss(history: list[dict[str, float]], csv_path: str | Path, png_path: str | Path | None) -> None:
    """The loss history as CSV (one row per step) and, optionally, a curve PNG (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.DataFrame(history)
    write_csv(csv_path, frame)
    if png_path is None:
        return
    columns = [c for c in frame.columns if c != "step"]
    fig, axes = plt.subplots(
        len(columns), 1, figsize=(6, 2.2 * len(columns)), dpi=100, sharex=True, squeeze=False
    )
    for ax, column in zip(axes[:, 0], columns):
        ax.plot(frame["step"], frame[column], linewidth=0.6, alpha=0.5)
        smooth = frame[column].rolling(max(1, len(frame) // 20), min_periods=1).median()  # robust to t-spikes
        ax.plot(frame["step"], smooth, color=ax.lines[-1].get_color(), linewidth=1.8)
        ax.set_ylabel(column)
        if (frame[column] > 0).all():
            ax.set_yscale("log")
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
