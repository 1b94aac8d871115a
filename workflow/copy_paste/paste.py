"""The copy-paste control: real bank planes pasted by their masks onto background tiles.

    python -m workflow.copy_paste.paste --settings JSON --set NAME --bank results/bank/manifest.csv \
        --background results/tiles/background/manifest.csv --out results/copy_paste/{set}

The cheap alternative every diffusion set is measured against: the same placement rule as an
inpainted set (workflow.inpaint.placement.plan: a background tile of the set's context, a bank
plane of the train split under one of the 8 flips and quarter turns, a window that misses the
tile's labelled objects), but the plane's own pixels are pasted instead of painted. The edge is
blended by a feathered alpha: 1 on the mask, falling linearly to 0 over `feather` px outside it,
so no hard cut-out border gives the paste away. The label is the tight box of the pasted
(undilated) mask, as for an inpainted plane. Writes, under --out: `data/images`, `data/labels`
(the tile's own labels plus the pasted plane), `manifest.csv` with the columns of an inpainted
set's manifest (workflow.inpaint.merge; the sampler's columns name `copy_paste`), and
`contact_sheet.png`. Deterministic from copy_paste.seed, the set name and the image index.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.composite import alpha_matte, blend
from workflow.core.geometry import flip
from workflow.core.images import to_rgb
from workflow.core.labels import ClassSettings
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.core.set_size import set_images
from workflow.inpaint import placement as pl
from workflow.inpaint.merge import sheet
from workflow.tiles.ground import PlaneGround

log = logging.getLogger(__name__)
METHOD = "copy_paste"  # written where an inpainted set names its model and sampler


@dataclasses.dataclass(frozen=True)
class PasteSet:
    """One entry of copy_paste.sets: the context of its background tiles and its image count."""

    context: str
    images: int | str  # or "auto": as many as the experiments drawing from the set need

    def __post_init__(self):
        if self.context not in pl.CONTEXTS:
            raise ValueError(f"copy-paste set context {self.context!r} is not one of {pl.CONTEXTS}")


@dataclasses.dataclass(frozen=True)
class PasteSettings:
    """The `copy_paste` section (its own set only) and the classes."""

    feather: int  # px of the alpha ramp outside the mask
    true_size: bool  # a plane shrunk into its crop is pasted at the size it had
    placement_tries: int
    seed: int
    sets: Mapping[str, PasteSet]
    classes: ClassSettings

    def __post_init__(self):
        if self.feather < 0:
            raise ValueError(f"config key 'copy_paste.feather': {self.feather}; need >= 0")


def paste_one(p: pl.Placement, crop_path: str, feather: int) -> np.ndarray:
    """The background tile with placement p's bank plane pasted (enlarged to the placement's
    window when placed at its true size) -> (H, W, 3) uint8."""
    crop = flip(to_rgb(io.read_png(crop_path)), p.flip)
    side = p.window_side(crop.shape[0])
    mask = pl.resized(pl.placed_mask(p), side)
    return blend(io.read_png(p.background), pl.resized(crop, side), alpha_matte(mask, feather), p.x, p.y)


def make_set(s: PasteSettings, name: str, bank: pd.DataFrame, background: pd.DataFrame, out: Path,
             images: int, ground: pd.DataFrame | None = None, planes: PlaneGround | None = None):
    """Plan and paste the `images` images of set `name` into `out` (images/, labels/) ->
    metadata rows. `ground`, `planes`: the ground scores and plane grounds, for context apron
    (placed as inpainted sets of that context are)."""
    spec = s.sets[name]
    tiles = pl.tile_pool(background, spec.context, ground)
    pool = pl.bank_pool(bank)
    window = io.read_png(pool["mask"].iloc[0]).shape[0]
    crops = dict(zip(pool["crop_id"], pool["image"]))
    class_id = s.classes.target_id
    rows = []
    for i in range(images):
        started = time.process_time()  # the CPU seconds of drawing and pasting (not writing)
        rng = np.random.default_rng([s.seed, pl.set_key(name), i])
        p = pl.plan(rng, tiles, pool, window, s.feather, s.placement_tries, planes, s.true_size)
        image_name = f"{name}_{i:05d}"
        pasted = paste_one(p, crops[p.crop_id], s.feather)
        seconds = time.process_time() - started
        io.write_png(out / "images" / f"{image_name}.png", pasted)
        (out / "labels" / f"{image_name}.txt").write_text(pl.label_text(p, class_id))
        rows.append(pl.record(p, image_name, i) | dict(score=np.nan, cpu_seconds=round(seconds, 4)))
    log.info("%s: %d pasted planes, %d without a free window", name, len(rows),
             sum(r["overlaps"] for r in rows))
    return pd.DataFrame(rows)


def manifest_columns(table: pd.DataFrame, s: PasteSettings, name: str) -> pd.DataFrame:
    """The columns an inpainted set's manifest has beyond the placement's (workflow.inpaint.run),
    filled for a paste: no model, sampler, candidates or network evaluations."""
    return table.assign(candidate_scores="", guidance_scale=0.0, set=name, chunk=0, model=METHOD,
                        context=s.sets[name].context, seed=s.seed, sampler=METHOD, step="",
                        respacing=0, jump_length=0, jump_n_sample=0, candidates=1, evaluations=0)


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="JSON: the copy_paste section, classes")
    parser.add_argument("--set", required=True, help="a key of copy_paste.sets")
    parser.add_argument("--bank", required=True, help="results/bank/manifest.csv")
    parser.add_argument("--background", required=True, help="results/tiles/background/manifest.csv")
    parser.add_argument("--out", required=True, type=Path, help="results/copy_paste/{set}")
    parser.add_argument("--needs", help="the set's size when its images is auto")
    parser.add_argument("--ground", help="results/tiles/ground/scores.csv, for context apron")
    parser.add_argument("--planes", help="results/tiles/ground/planes.csv, for context apron")
    parser.add_argument("--contact-sheet-images", type=int, default=16)
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, PasteSettings)
    if args.set not in settings.sets:
        raise ValueError(f"--set {args.set!r} is not a key of copy_paste.sets {sorted(settings.sets)}")
    bank, background = pd.read_csv(args.bank), pd.read_csv(args.background)
    data = args.out / "data"
    with io.atomic_dir(data) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        images = set_images(settings.sets[args.set].images, args.needs, args.set)
        ground = pd.read_csv(args.ground) if args.ground else None
        planes = PlaneGround.read(args.planes) if args.planes else None
        table = make_set(settings, args.set, bank, background, tmp, images, ground, planes)
    table = manifest_columns(table, settings, args.set)
    for column in ("image", "labels"):
        table[column] = [str(data / v) for v in table[column]]
    io.write_png(args.out / "contact_sheet.png", sheet(table, args.contact_sheet_images))
    io.write_csv(args.out / "manifest.csv", table)
    log.info("wrote %d images to %s", len(table), data)


if __name__ == "__main__":
    main()
