"""Train the two helper classifiers of inpainting (method report section D.2):

- `size`: the noisy size classifier for guidance (guided-diffusion's encoder half, 11 size
  classes), trained on bank crops noised by q_sample at uniformly random timesteps, so that
  p(y | x_t) is defined at every noise level (Dhariwal & Nichol 2021, section 4).
- `cherry`: the plane-vs-background cherry-picker, a torchvision ResNet-18 trained on bank crops
  (positive) against random crop-size windows of background tiles (negative); it keeps the best
  of K inpaintings.

    python -m workflow.diffusion.train_classifier size --settings JSON --bank BANK.csv \
        --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt --checkpoint-every N
    python -m workflow.diffusion.train_classifier cherry --settings JSON --bank BANK.csv \
        --background BACKGROUND.csv --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt \
        --checkpoint-every N

--settings: size: the `diffusion` keys preset, schedule, steps, seed and `size_classifier`;
cherry: seed and `cherry_picker` (both sections without `checkpoint_every`, which comes as
--checkpoint-every: how the run goes, not what it learns; workflow/diffusion/params.py).

Data-parallel when launched as several processes, as workflow.diffusion.train: `batch_size` is
the global batch, rank 0 alone writes. The cherry-picker's BatchNorm layers then normalise over
the global batch (SyncBatchNorm, GPUs only; workflow.diffusion.distributed.sync_batch_norm).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

import torch
import torch.nn.functional as F

from workflow.core.device import seed_everything
from workflow.core.labels import N_SIZE_CLASSES
from workflow.core.logs import setup_logging
from workflow.core.settings import parse_settings, read_settings
from workflow.diffusion import checkpoint, distributed, gaussian, loop
from workflow.diffusion.cherry_picker import CherryPicker
from workflow.diffusion.data import (
    PlaneBank,
    TileWindows,
    bank_crop_size,
    read_manifest,
)
from workflow.diffusion.losses import sample_timesteps_uniform

log = logging.getLogger(__name__)



@dataclasses.dataclass(frozen=True)
class SizeClassifierSettings:
    iterations: int
    batch_size: int
    lr: float
    oversample_small: bool


@dataclasses.dataclass(frozen=True)
class CherryPickerSettings:
    weights: str | None
    num_classes: int  # 1: one plane logit (sigmoid); 2: background/plane logits (softmax)
    input_size: int
    iterations: int
    batch_size: int
    lr: float


def load_resnet_weights(model: CherryPicker, path: str) -> None:
    """Torchvision ResNet-18 weights from `path` (loaded with weights_only=True). The classification
    head is replaced when its shape differs (ImageNet's 1000 classes); any other missing,
    unexpected or mis-shaped key is an error naming the path and the key."""
    state = checkpoint.load(path)
    state = state.get("state_dict", state)
    own = model.net.state_dict()
    head = [k for k in ("fc.weight", "fc.bias") if k in state and state[k].shape != own[k].shape]
    if head:
        log.info("%s: head %s has another shape; a new %d-output head is trained",
                 path, head, model.num_classes)
        state = {k: v for k, v in state.items() if k not in head}
    missing = [k for k in own if k not in state and k not in head]
    unexpected = [k for k in state if k not in own]
    shaped = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or shaped:
        raise ValueError(f"cherry_picker.weights {path}: missing keys {missing[:5]}, unexpected keys "
                         f"{unexpected[:5]}, mis-shaped keys {shaped[:5]} for a torchvision ResNet-18")
    model.net.load_state_dict(state, strict=False)


def size_loss_fn(d: gaussian.GaussianDiffusion, device: torch.device) -> loop.LossFn:
    """Per-sample cross-entropy of the classifier on q_sample(x0, t) at uniform t, for `rows` of
    the batch (x0, labels); the timesteps and noise of every row are drawn."""

    def loss_fn(model, batch, generator, rows):
        x0, labels = batch
        t = sample_timesteps_uniform(d.num_timesteps, len(x0), generator)
        noise = torch.randn(x0.shape, generator=generator)
        x0, t, noise, labels = (v[rows].to(device) for v in (x0, t, noise, labels))
        logits = model(gaussian.q_sample(d, x0, t, noise), t).float()
        loss = F.cross_entropy(logits, labels, reduction="none")
        return dict(loss=loss, accuracy=(logits.argmax(1) == labels).float())

    return loss_fn


def cherry_loss_fn(num_classes: int, device: torch.device) -> loop.LossFn:
    """Per-sample plane-vs-background loss of `rows` of the batch (images, labels 1 plane / 0
    background)."""

    def loss_fn(model, batch, generator, rows):
        images, labels = batch[0][rows].to(device), batch[1][rows].to(device)
        logits = model(images).float()
        if num_classes == 1:
            loss = F.binary_cross_entropy_with_logits(logits[:, 0], labels.float(), reduction="none")
            predicted = (logits[:, 0] > 0).long()
        else:
            loss = F.cross_entropy(logits, labels, reduction="none")
            predicted = logits.argmax(1)
        return dict(loss=loss, accuracy=(predicted == labels).float())

    return loss_fn


@dataclasses.dataclass(frozen=True)
class SizeJob:
    """--settings of `size`: the diffusion process the classifier sees, and its section."""

    preset: str
    schedule: str
    steps: int
    seed: int
    size_classifier: SizeClassifierSettings


@dataclasses.dataclass(frozen=True)
class CherryJob:
    """--settings of `cherry`."""

    seed: int
    cherry_picker: CherryPickerSettings


def train_size(args, world: distributed.World) -> None:
    from workflow.diffusion.presets import build_classifier, image_size

    job = read_settings(args.settings, SizeJob, "diffusion")
    settings, config = job.size_classifier, parse_settings(args.settings)
    seed_everything(job.seed)
    model = build_classifier(job.preset, N_SIZE_CLASSES).to(world.device)
    size = image_size(job.preset)
    bank = PlaneBank(args.bank, size, balance=settings.oversample_small)
    d = gaussian.make_diffusion(job.schedule, job.steps)
    batch_fn = lambda rng: (lambda b: (b[0], b[2]))(bank.batch(rng, settings.batch_size))  # noqa: E731
    arch = dict(kind="classifier", preset=job.preset, image_size=size, n_classes=N_SIZE_CLASSES)
    diffusion = dict(schedule=job.schedule, steps=job.steps)
    _fit(args, model, batch_fn, size_loss_fn(d, world.device), settings, config, arch, diffusion, world)


def train_cherry(args, world: distributed.World) -> None:
    job = read_settings(args.settings, CherryJob, "diffusion")
    settings, config = job.cherry_picker, parse_settings(args.settings)
    seed_everything(job.seed)
    model = CherryPicker(settings.num_classes, settings.input_size)
    if settings.weights is not None:
        load_resnet_weights(model, settings.weights)
    model = distributed.sync_batch_norm(world, model).to(world.device)
    crop = bank_crop_size(args.bank)
    bank = PlaneBank(args.bank, crop)
    tiles = read_manifest(args.background, ["image"])["image"].tolist()
    background = TileWindows(tiles, crop, str(args.background))

    def batch_fn(rng):
        n_pos = settings.batch_size // 2
        positives = bank.batch(rng, n_pos)[0]
        negatives = background.batch(rng, settings.batch_size - n_pos)
        labels = torch.cat([torch.ones(n_pos), torch.zeros(settings.batch_size - n_pos)]).long()
        return torch.cat([positives, negatives]), labels

    arch = dict(kind="cherry_picker", image_size=crop, input_size=settings.input_size,
                num_classes=settings.num_classes)
    loss_fn = cherry_loss_fn(settings.num_classes, world.device)
    _fit(args, model, batch_fn, loss_fn, settings, config, arch, None, world)


def _fit(args, model, batch_fn, loss_fn, settings, config, arch, diffusion, world) -> None:
    """Train, then (rank 0) write the loss curve and the model file (`config` recorded in it)."""
    kind = "size_classifier" if arch["kind"] == "classifier" else "cherry_picker"
    distributed.check_batch(world, settings.batch_size, f"diffusion.{kind}.batch_size")
    distributed.broadcast_model(world, model)
    log.info("%s: %d parameters, device %s, %d process(es)", arch["kind"],
             sum(p.numel() for p in model.parameters()), world.device, world.size)
    loop_settings = loop.LoopSettings(
        settings.iterations, settings.lr, settings.batch_size, checkpoint_every=args.checkpoint_every
    )
    result = loop.train(model, list(model.parameters()), batch_fn, loss_fn, loop_settings, config,
                        config["seed"], args.state, world)
    distributed.stop(world)
    if not world.main:
        return
    loop.write_loss(result.history, args.loss_csv, args.loss_png)
    seed = config["seed"]
    checkpoint.save_model(args.model, model.state_dict(), arch, diffusion, config, seed, result.step)
    log.info("wrote %s at step %d (last accuracy %.3f)", args.model, result.step,
             result.history[-1]["accuracy"])
    loop.discard_state(args.state)


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["size", "cherry"])
    parser.add_argument("--settings", required=True)
    parser.add_argument("--bank", required=True, help="results/bank/manifest.csv")
    parser.add_argument("--background", help="cherry: results/tiles/background/manifest.csv")
    parser.add_argument("--model", required=True)
    parser.add_argument("--loss-csv", required=True)
    parser.add_argument("--loss-png", required=True)
    parser.add_argument("--state", help="training state file; resumed after a kill")
    parser.add_argument("--checkpoint-every", type=int, default=100,
                        help="steps between training states (how the run goes, not what it learns)")
    args = parser.parse_args(argv)
    if args.checkpoint_every < 1:
        parser.error(f"--checkpoint-every {args.checkpoint_every}: need >= 1")
    if args.kind == "cherry" and args.background is None:
        parser.error("cherry needs --background")
    world = distributed.start()
    if not world.main:
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 alone logs progress
    (train_size if args.kind == "size" else train_cherry)(args, world)


if __name__ == "__main__":
    main()
