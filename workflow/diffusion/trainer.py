"""What the two training commands share (workflow.diffusion.train, train_classifier): their
command line, the distributed start, and the fit that ends in the files every training writes.

A command names its kind (`pretrain` | `finetune`, `size_classifier` | `cherry_picker`: the
config section it trains), reads its --settings once (the JSON dict, recorded in the model file,
and the dataclass made from it), builds a `Training` and hands it to `fit`, which trains through
workflow.diffusion.loop and, on rank 0, writes the loss curve and the model file, then removes
the training state.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence, Type, TypeVar

from torch import nn

from workflow.core.settings import from_dict, parse_settings
from workflow.diffusion import checkpoint, distributed, loop

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What a training writes, and how often it saves its resumable state (how the run goes, not
    what it learns)."""

    model: Path
    loss_csv: Path
    loss_png: Path
    state: Path | None
    checkpoint_every: int


@dataclasses.dataclass(frozen=True)
class Training:
    """One training of a model: what it trains, on which batches, with which loss, for how long,
    and what its model file records. `kind` is its config section (diffusion.<kind>)."""

    kind: str
    model: nn.Module
    parameters: list[nn.Parameter]  # the trainable ones
    batch_fn: loop.BatchFn
    loss_fn: loop.LossFn
    loop: loop.LoopSettings  # its checkpoint_every comes from Outputs
    arch: dict[str, Any]
    diffusion: dict[str, Any] | None
    config: dict[str, Any]  # the --settings JSON
    seed: int


def parser(doc: str, kinds: Sequence[str]) -> argparse.ArgumentParser:
    """The common command line: the kind, --settings and the Outputs flags; a command adds its
    data flags."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=list(kinds))
    p.add_argument("--settings", required=True, help="JSON of the settings the kind reads (see above)")
    p.add_argument("--model", required=True, help="output model file (model.pt)")
    p.add_argument("--loss-csv", required=True)
    p.add_argument("--loss-png", required=True)
    p.add_argument("--state", help="training state file, written every --checkpoint-every steps; resumed")
    p.add_argument("--checkpoint-every", type=int, default=100,
                   help="steps between training states (how the run goes, not what it learns)")
    return p


def parse_args(p: argparse.ArgumentParser, argv, needs: Mapping[str, Sequence[str]]) -> argparse.Namespace:
    """Parse `argv`; `needs[kind]` lists the data flags that kind requires (exit 2 without one)."""
    args = p.parse_args(argv)
    if args.checkpoint_every < 1:
        p.error(f"--checkpoint-every {args.checkpoint_every}: need >= 1")
    for name in needs[args.kind]:
        if getattr(args, name) is None:
            p.error(f"{args.kind} needs --{name.replace('_', '-')}")
    return args


def outputs(args: argparse.Namespace) -> Outputs:
    return Outputs(Path(args.model), Path(args.loss_csv), Path(args.loss_png),
                   Path(args.state) if args.state else None, args.checkpoint_every)  # fmt: skip


def read_settings(text: str, cls: Type[T]) -> tuple[dict[str, Any], T]:
    """--settings parsed once: the dict (recorded in the model file) and `cls` made from it."""
    config = parse_settings(text)
    return config, from_dict(cls, config, "diffusion")


def start() -> distributed.World:
    """Join the process group, if launched as several; rank 0 alone logs progress."""
    world = distributed.start()
    if not world.main:
        logging.getLogger().setLevel(logging.WARNING)
    return world


def fit(training: Training, out: Outputs, world: distributed.World) -> None:
    """Train (resuming from out.state), then on rank 0 write the loss curve and the model file
    (the EMA weights where there are) and remove the training state."""
    t = training
    distributed.check_batch(world, t.loop.batch_size, f"diffusion.{t.kind}.batch_size")
    distributed.broadcast_model(world, t.model)
    log.info("%s: %d of %d parameters train, device %s, %d process(es)", t.kind,
             sum(p.numel() for p in t.parameters), sum(p.numel() for p in t.model.parameters()),
             world.device, world.size)  # fmt: skip
    settings = dataclasses.replace(t.loop, checkpoint_every=out.checkpoint_every)
    result = loop.train(t.model, t.parameters, t.batch_fn, t.loss_fn, settings, t.config, t.seed,
                        out.state, world)  # fmt: skip
    distributed.stop(world)
    if not world.main:
        return
    t.model.load_state_dict(result.export_state_dict(t.model))
    loop.write_loss(result.history, out.loss_csv, out.loss_png)
    checkpoint.save_model(out.model, t.model.state_dict(), t.arch, t.diffusion, t.config, t.seed, result.step)
    log.info("wrote %s at step %d (last step: %s)", out.model, result.step,
             ", ".join(f"{k} {v:.4g}" for k, v in result.history[-1].items() if k != "step"))  # fmt: skip
    loop.discard_state(out.state)
