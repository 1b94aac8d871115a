"""Train the diffusion U-Net: `pretrain` a base model on tiles, or `finetune` one on the plane bank.

    python -m workflow.diffusion.train pretrain --settings JSON --tiles results/tiles/detect/manifest.csv \
        --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt --checkpoint-every N
    python -m workflow.diffusion.train finetune --settings JSON --bank results/bank/manifest.csv \
        --base BASE.pt --model M.pt --loss-csv L.csv --loss-png L.png --state STATE.pt --checkpoint-every N

--settings: the `diffusion` keys preset, schedule, steps, vlb_weight, seed, the stage's section
(`pretrain` or `finetune`, without its sample-grid keys and `checkpoint_every`) and, for
finetune, `condition` (none | canny | mask); workflow/diffusion/params.py selects them. Loss: the
hybrid L_simple + lambda * L_vlb (workflow.diffusion.losses), Adam, uniform timesteps (method
report annex G.1). Writes a training state to --state every --checkpoint-every steps and resumes
from it after a kill. The sample grid is drawn from the written model by workflow.diffusion.grid.

Data-parallel when launched as several processes (`torchrun --nproc-per-node N`, or `srun` through
workflow.core.launch): `batch_size` stays the global batch, each process computes its rows, and
rank 0 alone writes the model file, the training state and the loss curve
(workflow.diffusion.distributed). With `checkpointing` the residual and attention blocks keep no
activations for the backward pass and recompute them (torch.utils.checkpoint): the same
gradients for about a third more compute and a fraction of the memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

import torch

from workflow.core.device import seed_everything
from workflow.core.logs import setup_logging
from workflow.core.settings import parse_settings, read_settings
from workflow.diffusion import checkpoint, distributed, gaussian, loop
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


def parse_train_settings(text: str, stage: str) -> TrainSettings:
    """The --settings JSON of `stage` (pretrain | finetune) as a frozen dataclass."""
    return read_settings(text, STAGES[stage], "diffusion")


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


def build_model(settings: TrainSettings, stage: str, base: str | None):
    """The U-Net to train and its trainable parameters; fine-tuning starts from `base`."""
    from workflow.diffusion.finetune_modes import configure_finetune
    from workflow.diffusion.presets import build_unet

    if stage == "pretrain":
        model = build_unet(settings.preset)
        return model, list(model.parameters())
    model = build_unet(settings.preset, condition=settings.condition, finetune_mode=settings.stage.mode)
    checkpoint.init_from_base(model, base, settings.preset,
                              dict(schedule=settings.schedule, steps=settings.steps))
    return model, configure_finetune(model, settings.stage.mode)


def set_checkpointing(model: torch.nn.Module, enabled: bool) -> None:
    """Activation checkpointing of every residual and attention block (their `use_checkpoint`)."""
    from workflow.diffusion.unet import AttentionBlock, ResBlock

    for module in model.modules():
        if isinstance(module, (ResBlock, AttentionBlock)):
            module.use_checkpoint = enabled


def make_batches(settings: TrainSettings, args: argparse.Namespace, size: int):
    """batch_fn(rng) -> (x0 (B, 3, S, S), cond (B, 1, S, S) or None)."""
    n = settings.stage.batch_size
    if args.stage == "pretrain":
        tiles = TileWindows.from_detect_manifest(args.tiles, size, dihedral=settings.stage.dihedral)
        return lambda rng: (tiles.batch(rng, n), None)
    bank = PlaneBank(args.bank, size, settings.condition, balance=settings.stage.oversample_small,
                     dihedral=settings.stage.dihedral)
    log.info("%s: %d crops, condition %s", args.bank, len(bank), settings.condition)
    return lambda rng: bank.batch(rng, n)[:2]


def run(args: argparse.Namespace) -> None:
    settings = parse_train_settings(args.settings, args.stage)
    config = parse_settings(args.settings)
    stage = settings.stage
    world = distributed.start()
    distributed.check_batch(world, stage.batch_size, f"diffusion.{args.stage}.batch_size")
    if not world.main:
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 alone logs progress
    seed_everything(settings.seed)
    model, parameters = build_model(settings, args.stage, args.base)
    set_checkpointing(model, stage.checkpointing)
    model.to(world.device)
    size = model.image_size
    batch_fn = make_batches(settings, args, size)
    n_train = sum(p.numel() for p in parameters)
    log.info("%s: preset %s, %d of %d parameters train, device %s, %d process(es)", args.stage,
             settings.preset, n_train, sum(p.numel() for p in model.parameters()), world.device, world.size)
    distributed.broadcast_model(world, model)
    d = gaussian.make_diffusion(settings.schedule, settings.steps)
    loop_settings = loop.LoopSettings(stage.iterations, stage.lr, stage.batch_size, stage.accumulation,
                                      stage.ema, args.checkpoint_every, stage.warmup)
    loss_fn = make_loss_fn(d, settings.vlb_weight, world.device)
    result = loop.train(model, parameters, batch_fn, loss_fn, loop_settings, config, settings.seed,
                        args.state, world)
    distributed.stop(world)
    if not world.main:
        return
    model.load_state_dict(result.export_state_dict(model))
    loop.write_loss(result.history, args.loss_csv, args.loss_png)
    arch = dict(kind="unet", preset=settings.preset, image_size=size, condition=settings.condition,
                finetune_mode=stage.mode if args.stage == "finetune" else None)
    diffusion = dict(schedule=settings.schedule, steps=settings.steps)
    checkpoint.save_model(args.model, model.state_dict(), arch, diffusion, config, settings.seed, result.step)
    log.info("wrote %s at step %d", args.model, result.step)
    loop.discard_state(args.state)


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=["pretrain", "finetune"])
    parser.add_argument("--settings", required=True, help="JSON of the diffusion settings (see above)")
    parser.add_argument("--tiles", help="pretrain: results/tiles/detect/manifest.csv")
    parser.add_argument("--bank", help="finetune: results/bank/manifest.csv")
    parser.add_argument("--base", help="finetune: base model file or guided-diffusion checkpoint")
    parser.add_argument("--model", required=True, help="output model file (model.pt)")
    parser.add_argument("--loss-csv", required=True)
    parser.add_argument("--loss-png", required=True)
    parser.add_argument("--state", help="training state file, written every --checkpoint-every steps; resumed")
    parser.add_argument("--checkpoint-every", type=int, default=100,
                        help="steps between training states (how the run goes, not what it learns)")
    args = parser.parse_args(argv)
    if args.checkpoint_every < 1:
        parser.error(f"--checkpoint-every {args.checkpoint_every}: need >= 1")
    needed = ["tiles"] if args.stage == "pretrain" else ["bank", "base"]
    for name in needed:
        if getattr(args, name) is None:
            parser.error(f"{args.stage} needs --{name}")
    run(args)


if __name__ == "__main__":
    main()
