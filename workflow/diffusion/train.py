"""Train the diffusion U-Net: `pretrain` a base model on tiles, or `finetune` one on the plane bank.

    python -m workflow.diffusion.train pretrain --settings JSON --tiles results/tiles/background/manifest.csv \
        --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt --checkpoint-every N
    python -m workflow.diffusion.train finetune --settings JSON --bank results/bank/manifest.csv \
        --base BASE.pt --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt --checkpoint-every N

--settings: the `diffusion` keys preset, schedule, steps, vlb_weight, seed, the stage's section
(`pretrain` or `finetune`, without its sample-grid keys and `checkpoint_every`) and, for
finetune, `condition` (none | canny | mask); workflow/diffusion/params.py selects them. Loss: the
hybrid L_simple + lambda * L_vlb (workflow.diffusion.losses), Adam, uniform timesteps (method
report annex G.1). Writes a training state to --state every --checkpoint-every steps and resumes
from it after a kill. The sample grid is drawn from the written model by workflow.diffusion.grid.

The command line, the distributed start and the closing writes are workflow.diffusion.trainer's,
shared with train_classifier. Data-parallel when launched as several processes (`torchrun
--nproc-per-node N`, or `srun` through workflow.core.launch): `batch_size` stays the global batch,
each process computes its rows, and rank 0 alone writes the model file, the training state and the
loss curve (workflow.diffusion.distributed). With `checkpointing` the residual and attention blocks
keep no activations for the backward pass and recompute them (torch.utils.checkpoint): the same
gradients for about a third more compute and a fraction of the memory.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from workflow.core.device import seed_everything
from workflow.core.logs import setup_logging
from workflow.diffusion import checkpoint, distributed, gaussian, loop, trainer
from workflow.diffusion.data import PlaneBank, TileWindows
from workflow.diffusion.losses import hybrid_loss, sample_timesteps_uniform

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StageSettings:
    iterations: int
    batch_size: int
    accumulation: int
    lr: float
    ema: float | None
    mode: str | None = None  # finetune only: full | attention | attention_adapter
    oversample_small: bool = False  # finetune only
    warmup: int = 0  # steps of linear learning-rate warm-up (0: none)
    dihedral: bool = False  # also random 90-degree rotations (transposes) besides the flips
    checkpointing: bool = False  # recompute block activations in the backward pass (memory)


@dataclasses.dataclass(frozen=True)
class PretrainSettings:
    """--settings of `pretrain`: the diffusion keys of every U-Net and the `pretrain` section."""

    preset: str
    schedule: str
    steps: int
    vlb_weight: float
    seed: int
    pretrain: StageSettings
    condition = "none"  # a base model is unconditional

    @property
    def stage(self) -> StageSettings:
        return self.pretrain


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
    """--settings of `finetune`: the same keys, the `finetune` section and the model's condition."""

    preset: str
    schedule: str
    steps: int
    vlb_weight: float
    seed: int
    finetune: StageSettings
    condition: str

    def __post_init__(self):
        if self.finetune.mode is None:
            raise ValueError("config key 'diffusion.finetune.mode': missing")

    @property
    def stage(self) -> StageSettings:
        return self.finetune


TrainSettings = PretrainSettings | FinetuneSettings
STAGES = {"pretrain": PretrainSettings, "finetune": FinetuneSettings}


def make_loss_fn(d: gaussian.GaussianDiffusion, vlb_weight: float, device: torch.device) -> loop.LossFn:
    """Per-sample hybrid loss of `rows` of a global batch (x0 (B, 3, S, S), cond or None) at
    uniform timesteps; the timesteps and noise of all B rows are drawn, then the rows kept."""

    def loss_fn(model, batch, generator, rows):
        x0, cond = batch
        t = sample_timesteps_uniform(d.num_timesteps, len(x0), generator)
        noise = torch.randn(x0.shape, generator=generator)
        x0, t, noise = x0[rows].to(device), t[rows].to(device), noise[rows].to(device)
        x_t = gaussian.q_sample(d, x0, t, noise)
        output = model(x_t, t, cond=None if cond is None else cond[rows].to(device)).float()
        return hybrid_loss(d, output, x0, x_t, t, noise, vlb_weight)

    return loss_fn


def build_model(settings: TrainSettings, base: str | Path | None):
    """The U-Net to train and its trainable parameters; fine-tuning starts from `base`, a base
    training from `base` when given (diffusion.pretrain.init), else from random weights."""
    from workflow.diffusion.finetune_modes import configure_finetune
    from workflow.diffusion.presets import build_unet

    diffusion = dict(schedule=settings.schedule, steps=settings.steps)
    if isinstance(settings, PretrainSettings):
        model = build_unet(settings.preset)
        if base is not None:
            checkpoint.init_from_base(model, base, settings.preset, diffusion)
        return model, list(model.parameters())
    model = build_unet(settings.preset, condition=settings.condition, finetune_mode=settings.stage.mode)
    checkpoint.init_from_base(model, base, settings.preset, diffusion)
    return model, configure_finetune(model, settings.stage.mode)


def set_checkpointing(model: torch.nn.Module, enabled: bool) -> None:
    """Activation checkpointing of every residual and attention block (their `use_checkpoint`)."""
    from workflow.diffusion.unet import AttentionBlock, ResBlock

    for module in model.modules():
        if isinstance(module, (ResBlock, AttentionBlock)):
            module.use_checkpoint = enabled


def make_batches(settings: TrainSettings, data: str | Path, size: int):
    """batch_fn(rng) -> (x0 (B, 3, S, S), cond (B, 1, S, S) or None), from the detection tiles'
    manifest (pretrain) or the plane bank's (finetune)."""
    n = settings.stage.batch_size
    if isinstance(settings, PretrainSettings):
        tiles = TileWindows.from_manifest(data, size, dihedral=settings.stage.dihedral)
        return lambda rng: (tiles.batch(rng, n), None)
    bank = PlaneBank(data, size, settings.condition, balance=settings.stage.oversample_small,
                     dihedral=settings.stage.dihedral)
    log.info("%s: %d crops, condition %s", data, len(bank), settings.condition)
    return lambda rng: bank.batch(rng, n)[:2]


def unet_training(kind: str, settings: TrainSettings, config: dict, data: str | Path, base: str | Path | None,
                  world: distributed.World) -> trainer.Training:
    """The U-Net training of `kind` (pretrain | finetune) on `data` (see make_batches), a
    fine-tuning starting from `base`."""
    stage = settings.stage
    seed_everything(settings.seed)
    model, parameters = build_model(settings, base)
    set_checkpointing(model, stage.checkpointing)
    model.to(world.device)
    size = model.image_size
    d = gaussian.make_diffusion(settings.schedule, settings.steps)
    arch = dict(kind="unet", preset=settings.preset, image_size=size, condition=settings.condition,
                finetune_mode=stage.mode if kind == "finetune" else None)
    return trainer.Training(
        kind=kind, model=model, parameters=parameters, batch_fn=make_batches(settings, data, size),
        loss_fn=make_loss_fn(d, settings.vlb_weight, world.device),
        loop=loop.LoopSettings(stage.iterations, stage.lr, stage.batch_size, stage.accumulation, stage.ema,
                               warmup=stage.warmup),
        arch=arch, diffusion=dict(schedule=settings.schedule, steps=settings.steps), config=config,
        seed=settings.seed,
    )  # fmt: skip


def main(argv=None) -> None:
    setup_logging()
    parser = trainer.parser(__doc__, STAGES)
    parser.add_argument("--tiles", help="pretrain: results/tiles/background/manifest.csv")
    parser.add_argument("--bank", help="finetune: results/bank/manifest.csv")
    parser.add_argument("--base", help="finetune (pretrain, optional): the base model file or "
                        "guided-diffusion checkpoint the training starts from")
    args = trainer.parse_args(parser, argv, needs={"pretrain": ["tiles"], "finetune": ["bank", "base"]})
    config, settings = trainer.read_settings(args.settings, STAGES[args.kind])
    world = trainer.start()
    data = args.tiles if args.kind == "pretrain" else args.bank
    training = unet_training(args.kind, settings, config, data, args.base, world)
    trainer.fit(training, trainer.outputs(args), world)


if __name__ == "__main__":
    main()
