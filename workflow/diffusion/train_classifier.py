"""Train the two helper classifiers of inpainting (method report section D.2):

- `size_classifier`: the noisy size classifier for guidance (guided-diffusion's encoder half, 11 size
  classes), trained on bank crops noised by q_sample at uniformly random timesteps, so that
  p(y | x_t) is defined at every noise level (Dhariwal & Nichol 2021, section 4).
- `cherry_picker`: the plane-vs-background cherry-picker, a torchvision ResNet-18 trained on bank crops
  (positive) against random crop-size windows of background tiles (negative); it keeps the best
  of K inpaintings.

    python -m workflow.diffusion.train_classifier size_classifier --settings JSON --bank BANK.csv \
        --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt --checkpoint-every N
    python -m workflow.diffusion.train_classifier cherry_picker --settings JSON --bank BANK.csv \
        --background BACKGROUND.csv --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt \
        --checkpoint-every N

--settings: size_classifier: the `diffusion` keys preset, schedule, steps, seed and
`size_classifier`; cherry_picker: seed and `cherry_picker` (both sections without `checkpoint_every`, which comes as
--checkpoint-every: how the run goes, not what it learns; workflow/diffusion/params.py).

The command line, the distributed start and the closing writes are workflow.diffusion.trainer's,
shared with workflow.diffusion.train. Data-parallel when launched as several processes: `batch_size` is
the global batch, rank 0 alone writes. The cherry-picker's BatchNorm layers then normalise over
the global batch (SyncBatchNorm, GPUs only; workflow.diffusion.distributed.sync_batch_norm).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from workflow.core.device import seed_everything
from workflow.core.labels import N_SIZE_CLASSES
from workflow.core.logs import setup_logging
from workflow.diffusion import checkpoint, distributed, gaussian, loop, trainer
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


def size_training(job: SizeJob, config: dict, bank: str | Path, world: distributed.World) -> trainer.Training:
    """The noisy size classifier on the plane bank's crops and size classes."""
    from workflow.diffusion.presets import build_classifier, image_size

    settings = job.size_classifier
    seed_everything(job.seed)
    model = build_classifier(job.preset, N_SIZE_CLASSES).to(world.device)
    size = image_size(job.preset)
    crops = PlaneBank(bank, size, balance=settings.oversample_small)
    d = gaussian.make_diffusion(job.schedule, job.steps)
    batch_fn = lambda rng: (lambda b: (b[0], b[2]))(crops.batch(rng, settings.batch_size))  # noqa: E731
    return trainer.Training(
        kind="size_classifier", model=model, parameters=list(model.parameters()), batch_fn=batch_fn,
        loss_fn=size_loss_fn(d, world.device),
        loop=loop.LoopSettings(settings.iterations, settings.lr, settings.batch_size),
        arch=dict(kind="classifier", preset=job.preset, image_size=size, num_classes=N_SIZE_CLASSES),
        diffusion=dict(schedule=job.schedule, steps=job.steps), config=config, seed=job.seed,
    )  # fmt: skip


def cherry_training(job: CherryJob, config: dict, bank: str | Path, background: str | Path,
                    world: distributed.World) -> trainer.Training:
    """The cherry-picker: bank crops (plane) against crop-size windows of background tiles."""
    settings = job.cherry_picker
    seed_everything(job.seed)
    model = CherryPicker(settings.num_classes, settings.input_size)
    if settings.weights is not None:
        load_resnet_weights(model, settings.weights)
    model = distributed.sync_batch_norm(world, model).to(world.device)
    crop = bank_crop_size(bank)
    planes = PlaneBank(bank, crop)
    tiles = read_manifest(background, ["image"])["image"].tolist()
    windows = TileWindows(tiles, crop, str(background))

    def batch_fn(rng):
        n_pos = settings.batch_size // 2
        positives = planes.batch(rng, n_pos)[0]
        negatives = windows.batch(rng, settings.batch_size - n_pos)
        labels = torch.cat([torch.ones(n_pos), torch.zeros(settings.batch_size - n_pos)]).long()
        return torch.cat([positives, negatives]), labels

    return trainer.Training(
        kind="cherry_picker", model=model, parameters=list(model.parameters()), batch_fn=batch_fn,
        loss_fn=cherry_loss_fn(settings.num_classes, world.device),
        loop=loop.LoopSettings(settings.iterations, settings.lr, settings.batch_size),
        arch=dict(kind="cherry_picker", image_size=crop, input_size=settings.input_size,
                  num_classes=settings.num_classes),
        diffusion=None, config=config, seed=job.seed,
    )  # fmt: skip


CLASSIFIERS = {"size_classifier": SizeJob, "cherry_picker": CherryJob}  # --settings of each kind


def main(argv=None) -> None:
    setup_logging()
    parser = trainer.parser(__doc__, CLASSIFIERS)
    parser.add_argument("--bank", help="results/bank/manifest.csv")
    parser.add_argument("--background", help="cherry_picker: results/tiles/background/manifest.csv")
    args = trainer.parse_args(parser, argv, needs={"size_classifier": ["bank"],
                                                   "cherry_picker": ["bank", "background"]})
    config, job = trainer.read_settings(args.settings, CLASSIFIERS[args.kind])
    world = trainer.start()
    if args.kind == "size_classifier":
        training = size_training(job, config, args.bank, world)
    else:
        training = cherry_training(job, config, args.bank, args.background, world)
    trainer.fit(training, trainer.outputs(args), world)


if __name__ == "__main__":
    main()
