"""Draw the sample grid of a trained U-Net from its model file: a picture of what it learnt.

    python -m workflow.diffusion.grid --settings '{"sample_grid": N, "sample_steps": M}' \
        --model results/diffusion/models/{model}/model.pt [--bank results/bank/manifest.csv] \
        --out results/diffusion/models/{model}/samples.png

A rule of its own, after the training: the grid's settings (diffusion.pretrain.sample_* or
diffusion.finetune.sample_*) redraw the picture and train nothing. The network, its noise
schedule and its seed come from the model file, so the grid of a model is the same whenever it
is drawn. A conditioned model (canny, mask) needs --bank: its grid alternates rows of the
bank's stored condition maps and the samples drawn from them. A guided-diffusion checkpoint given
as `diffusion.pretrained` is a bare state dict: the settings' `base` (preset, schedule, steps,
seed of the diffusion section) then says what network and process it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

import numpy as np
import torch

from workflow.core.device import pick_device
from workflow.core.images import grid
from workflow.core.io import write_png
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.core.tensors import to_uint8
from workflow.diffusion import checkpoint, gaussian
from workflow.diffusion.data import PlaneBank

log = logging.getLogger(__name__)
COLUMNS = 8  # images per row of the grid


@dataclasses.dataclass(frozen=True)
class BaseSpec:
    """What a bare guided-diffusion state dict does not say: the diffusion section's keys."""

    preset: str
    schedule: str
    steps: int
    seed: int


@dataclasses.dataclass(frozen=True)
class GridSettings:
    """--settings: diffusion.<stage>.sample_grid and sample_steps (and `base` for a given base)."""

    sample_grid: int  # samples drawn
    sample_steps: int  # respaced DDPM steps
    base: BaseSpec | None = None

    def __post_init__(self):
        for key in ("sample_grid", "sample_steps"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"config key '{key}': need an integer >= 1, got {getattr(self, key)!r}")


def sample_grid(model, spec: checkpoint.DiffusionSpec, settings: GridSettings,
                cond: torch.Tensor | None, device) -> np.ndarray:
    """DDPM samples over `sample_steps` respaced steps of the model's own schedule, seeded by the
    model's seed -> grid image (H, W, 3) uint8; a conditioned model's grid alternates rows of
    conditions (n, 1, S, S) and the samples drawn from them."""
    if spec.steps is not None and settings.sample_steps > spec.steps:
        raise ValueError(f"config key 'sample_steps': {settings.sample_steps} respaced steps exceed "
                         f"the {spec.steps} steps the model was trained for")
    d = gaussian.make_diffusion(spec.schedule, spec.steps, respacing=settings.sample_steps)
    n, size = settings.sample_grid, spec.image_size
    generator = torch.Generator().manual_seed(spec.seed)
    samples = gaussian.ddpm_sample(d, model, (n, 3, size, size), generator,
                                   cond=None if cond is None else cond.to(device), device=device)
    tiles = to_uint8(samples)
    if cond is not None:
        columns = min(COLUMNS, n)
        rows = [x for start in range(0, n, columns)
                for x in (to_uint8(cond[start : start + columns]), tiles[start : start + columns])]
        tiles = np.concatenate(rows)
    return grid(list(tiles), columns=COLUMNS, gap=2)


def load_unet(path: str, base: BaseSpec | None, device) -> tuple[torch.nn.Module, checkpoint.DiffusionSpec]:
    """A model file written here, or (with `base`) a guided-diffusion checkpoint of that preset."""
    obj = checkpoint.load(path)
    if "arch" in obj or base is None:
        model, spec = checkpoint.load_model(path, device)
        if spec.kind != "unet":
            raise ValueError(f"--model {path} is a {spec.kind}, not a U-Net")
        return model, spec
    from workflow.diffusion.presets import build_unet, image_size

    model = build_unet(base.preset)
    checkpoint.init_from_base(model, path, base.preset)
    spec = checkpoint.DiffusionSpec(kind="unet", image_size=image_size(base.preset), condition="none",
                                    schedule=base.schedule, steps=base.steps, arch={"preset": base.preset},
                                    seed=base.seed, step=0)
    return model.to(device).eval(), spec


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settings", required=True, help='JSON {"sample_grid": N, "sample_steps": M}')
    parser.add_argument("--model", required=True, help="a U-Net model file (model.pt)")
    parser.add_argument("--bank", help="results/bank/manifest.csv (conditioned models)")
    parser.add_argument("--out", required=True, help="the grid PNG (samples.png)")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, GridSettings)
    device = torch.device(pick_device("auto"))
    model, spec = load_unet(args.model, settings.base, device)
    cond = None
    if spec.condition != "none":
        if args.bank is None:
            parser.error(f"--model {args.model} is conditioned on {spec.condition}: give --bank")
        cond = PlaneBank(args.bank, spec.image_size, spec.condition).stored_conditions(settings.sample_grid)
    write_png(args.out, sample_grid(model, spec, settings, cond, device))
    log.info("%s: %d samples over %d steps (seed %d) -> %s", args.model, settings.sample_grid,
             settings.sample_steps, spec.seed, args.out)


if __name__ == "__main__":
    main()
