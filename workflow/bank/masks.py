"""Plane bank: a mask, Canny edges and a size class for every plane crop (method report, D.3).

Methods (config `masks.method`, allowed values in METHODS):
- `sam`: Segment Anything prompted with the box (workflow.bank.sam); needs a checkpoint path.
- `grabcut`: OpenCV GrabCut seeded with the box, for users without SAM weights.
- `box`: the filled box, for ablations.
There is no fallback from one method to another: a missing SAM checkpoint is an error.

Where masks are made. `sam` and `grabcut` segment each plane where its scene holds it: a region
around the box read near the scene's native resolution (workflow.bank.native; the crops
manifest says where each crop lies in its scene, the index's scenes.csv where the scene is),
and the mask is brought to the crop's geometry (working GSD, `shrink` scale) by area averaging.
On real imagery a crop often holds a plane at a fifth of its native pixels, too few for either
method. `box` needs no pixels: it fills the crop box.

Edges are Canny on the crop itself: the crop is the scene resampled to the crop's geometry, the
image the Canny-conditioned model trains on with Canny at random thresholds
(workflow.diffusion.data), so the bank's edge maps describe the plane as the model has seen
edges drawn. Native-resolution edges shrunk to the crop would be denser than any it saw.

Every raw mask goes through the same post-processing (workflow.bank.mask_ops.postprocess); the bank
records the mask's tight box and flags masks whose area is implausible for their box, keeping
them in the manifest (`flagged`, `flag_reason`) so they are counted, not lost. Consumers of
results/bank/manifest.csv drop flagged rows themselves.

Commands (docs/dataflow.md, "plane bank"):
  python -m workflow.bank.masks chunk --settings JSON --crops CSV --scenes results/index/scenes.csv
      --chunk I --out results/bank/chunkI
  python -m workflow.bank.masks merge --settings JSON --crops CSV --chunks DIR... --manifest CSV
      --summary JSON [--crops-summary results/tiles/crops/summary.json]
  python -m workflow.bank.masks sheet --settings '{"contact_sheet_planes": N}' --manifest CSV --out PNG
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.bank import native
from workflow.bank.edges import canny_fixed, edges_near_mask
from workflow.bank.mask_ops import area_flag, box_mask, grabcut_mask, postprocess
from workflow.bank.params import METHOD_KEYS
from workflow.bank.table import (
    BANK_COLUMNS,
    bank_sheet,
    merge_chunks,
    read_crops,
    read_scenes,
    summarise,
)
from workflow.core import io
from workflow.core.geometry import tight_box
from workflow.core.labels import BOX, size_class
from workflow.core.logs import setup_logging
from workflow.core.settings import from_dict, read_settings

METHODS = ("sam", "grabcut", "box")


@dataclasses.dataclass(frozen=True)
class SamSettings:
    model_type: str
    checkpoint: str | None
    batch_size: int


@dataclasses.dataclass(frozen=True)
class MasksSettings:
    """The `masks` section, less the contact sheet's key. The rules pass only what the method
    reads (workflow/bank/params.py): `sam` with sam, `grabcut_iterations` with grabcut,
    `area_fraction_range` with both; the others may be absent (None)."""

    method: str
    canny_thresholds: tuple[int, int]
    edge_margin: int | None
    chunks: int
    sam: SamSettings | None = None
    grabcut_iterations: int | None = None
    area_fraction_range: tuple[float, float] | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"config key 'masks.method': {self.method!r} is not one of {METHODS}")
        for key in METHOD_KEYS[self.method]:
            if getattr(self, key) is None:
                raise ValueError(f"config key 'masks.{key}': missing (masks.method is {self.method})")
        if self.area_fraction_range is not None:
            low, high = self.area_fraction_range
            if not 0 <= low <= high:
                raise ValueError(
                    f"config key 'masks.area_fraction_range': need 0 <= low <= high, got {low}, {high}"
                )
            object.__setattr__(self, "area_fraction_range", (float(low), float(high)))
        if self.edge_margin is not None and not self.edge_margin >= 0:
            raise ValueError(
                f"config key 'masks.edge_margin': need null or >= 0, got {self.edge_margin}"
            )
        low, high = self.canny_thresholds
        if not 1 <= low <= high <= 255:
            raise ValueError(
                f"config key 'masks.canny_thresholds': need 1 <= low <= high <= 255, got {low}, {high}"
            )
        object.__setattr__(self, "canny_thresholds", (int(low), int(high)))


@dataclasses.dataclass(frozen=True)
class CropTiling:
    crop_size: int


@dataclasses.dataclass(frozen=True)
class BankSettings:
    """--settings of `chunk` and `merge`."""

    masks: MasksSettings
    tiling: CropTiling


@dataclasses.dataclass(frozen=True)
class SheetSettings:
    """--settings of `sheet`."""

    contact_sheet_planes: int

    def __post_init__(self):
        if not isinstance(self.contact_sheet_planes, int) or self.contact_sheet_planes < 1:
            raise ValueError("config key 'masks.contact_sheet_planes': need an integer >= 1, got "
                             f"{self.contact_sheet_planes!r}")


def masks_settings(values: dict) -> MasksSettings:
    """The `masks` config section (as a dict) -> MasksSettings; a bad value names its key."""
    values = {k: v for k, v in values.items() if k != "contact_sheet_planes"}
    return from_dict(MasksSettings, values, "masks")


def raw_masks(settings: MasksSettings, images: list[np.ndarray], boxes: np.ndarray, model=None):
    """The method's masks before post-processing: N crops (H, W, 3) uint8 and (N, 4) boxes ->
    N (H, W) bool. `model` is the loaded SAM for method 'sam' (see workflow.bank.sam.load_sam)."""
    if settings.method == "sam":
        if model is None:
            raise ValueError("method 'sam' needs a loaded model (workflow.bank.sam.load_sam)")
        from workflow.bank.sam import sam_masks  # torch loads only when SAM runs

        return sam_masks(model, images, boxes, settings.sam.batch_size)
    if settings.method == "grabcut":
        return [grabcut_mask(i, b, settings.grabcut_iterations) for i, b in zip(images, boxes)]
    if settings.method == "box":
        return [box_mask(i.shape[:2], b) for i, b in zip(images, boxes)]
    raise ValueError(f"config key 'masks.method': {settings.method!r} is not one of {METHODS}")


# --- the bank: one chunk of crops -> masks, edges, table; chunks -> manifest, summary, sheet ---


def read_crop(path: str, crop_size: int) -> np.ndarray:
    """One crop PNG -> (S, S, 3) uint8 RGB, S = tiling.crop_size."""
    image = io.read_png(path)
    if image.shape != (crop_size, crop_size, 3):
        raise ValueError(
            f"{path}: expected a ({crop_size}, {crop_size}, 3) RGB crop (tiling.crop_size), got {image.shape}"
        )
    return image


def bank_entry(image, raw, box, settings: MasksSettings, crop_size: int):
    """Post-process one raw mask -> (table fields, mask (H, W) uint8 0/255, edges (H, W) uint8)."""
    mask = postprocess(raw, box)
    # A `box` mask fills its box by construction: only emptiness can make it implausible.
    plausible = (0.0, float("inf")) if settings.method == "box" else settings.area_fraction_range
    fraction, reason = area_flag(mask, box, plausible)
    found = tight_box(mask)
    found = None if found is None else tuple(float(v) for v in found)
    # An empty mask has no box: its size class is the crop box's, and the row is flagged.
    xmin, ymin, xmax, ymax = found if found is not None else box
    fields = {
        "size_class": size_class(ymax - ymin, xmax - xmin, crop_size),
        **{f"mask_{k}": (v if found else np.nan) for k, v in zip(BOX, (xmin, ymin, xmax, ymax))},
        **{f"box_{k}": float(v) for k, v in zip(BOX, box)},
        "area_fraction": round(fraction, 6),
        "flagged": bool(reason),
        "flag_reason": reason,
        "method": settings.method,
    }
    edges = canny_fixed(image, *settings.canny_thresholds)
    edges = edges_near_mask(edges, mask, settings.edge_margin)
    return fields, mask.astype(np.uint8) * 255, edges


def load_segmenter(settings: MasksSettings):
    """The SAM model for method 'sam' (on the GPU when one is visible), else None."""
    if settings.method != "sam":
        return None
    from workflow.bank.sam import load_sam
    from workflow.core.device import pick_device

    return load_sam(settings.sam.model_type, settings.sam.checkpoint, pick_device("auto"))


def crop_masks(settings: MasksSettings, batch: pd.DataFrame, scenes: pd.DataFrame,
               images: list[np.ndarray], crop_size: int, model=None) -> list[np.ndarray]:
    """Raw masks (S, S) bool of a batch of crops-manifest rows: `box` on the crops, the other
    methods on each plane's native region (post-processed there), brought to the crop."""
    boxes = batch[BOX].to_numpy(dtype=np.float64)
    if settings.method == "box":
        return raw_masks(settings, images, boxes)
    regions = native.read_regions(batch, scenes)
    region_boxes = np.array([region.box(box) for (region, _), box in zip(regions, boxes)])
    raws = raw_masks(settings, [image for _, image in regions], region_boxes, model)
    return [native.to_crop(postprocess(raw, box), region, crop_size)
            for raw, box, (region, _) in zip(raws, region_boxes, regions)]


def build_chunk(settings: MasksSettings, crop_size: int, crops: pd.DataFrame,
                scenes: pd.DataFrame, chunk: int, out: Path):
    """Masks, edges and table.csv of chunk `chunk` (rows whose index % chunks == chunk), written
    as one folder `out` atomically. `scenes`: the index's scenes.csv (table.read_scenes).
    Returns the table (BANK_COLUMNS)."""
    if not 0 <= chunk < settings.chunks:
        raise ValueError(f"--chunk {chunk}: must be in 0..{settings.chunks - 1} (masks.chunks)")
    part = crops.iloc[chunk :: settings.chunks]
    model = load_segmenter(settings)
    group = settings.sam.batch_size if settings.method == "sam" else 64
    rows = []
    with io.atomic_dir(out) as tmp:
        for start in range(0, len(part), group):
            batch = part.iloc[start : start + group]
            images = [read_crop(path, crop_size) for path in batch["image"]]
            boxes = batch[BOX].to_numpy(dtype=np.float64)
            raws = crop_masks(settings, batch, scenes, images, crop_size, model)
            for record, image, raw, box in zip(batch.itertuples(), images, raws, boxes):
                fields, mask, edges = bank_entry(image, raw, box, settings, crop_size)
                names = {kind: f"{kind}/{record.crop_id}.png" for kind in ("masks", "edges")}
                io.write_png(tmp / names["masks"], mask)
                io.write_png(tmp / names["edges"], edges)
                rows.append(
                    {"crop_id": record.crop_id, "scene_id": record.scene_id, "image": record.image,
                     "mask": str(out / names["masks"]), "edges": str(out / names["edges"]),
                     "scale": float(record.scale), **fields}
                )  # fmt: skip
        table = pd.DataFrame(rows, columns=BANK_COLUMNS)
        io.write_csv(tmp / "table.csv", table)
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.bank.masks", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    chunk = commands.add_parser("chunk", help="masks and edges of one chunk of the crops")
    merge = commands.add_parser("merge", help="chunks -> manifest, summary")
    sheet = commands.add_parser("sheet", help="manifest -> contact sheet of planes across scenes")
    for sub in (chunk, merge):
        sub.add_argument(
            "--settings", required=True, help='JSON {"masks": ..., "tiling": {"crop_size": S}}'
        )
        sub.add_argument("--crops", required=True, help="results/tiles/crops/manifest.csv")
    chunk.add_argument("--scenes", required=True, help="results/index/scenes.csv")
    chunk.add_argument("--chunk", type=int, required=True)
    chunk.add_argument("--out", required=True, type=Path, help="results/bank/chunk{I}")
    merge.add_argument("--chunks", nargs="*", default=[], type=Path, help="the chunk folders")
    merge.add_argument("--manifest", required=True)
    merge.add_argument("--summary", required=True)
    merge.add_argument("--crops-summary", type=Path,
                       help="results/tiles/crops/summary.json: its oversize counts join the summary")
    sheet.add_argument("--settings", required=True, help='JSON {"contact_sheet_planes": N}')
    sheet.add_argument("--manifest", required=True)
    sheet.add_argument("--out", required=True, help="results/bank/contact_sheet.png")
    args = parser.parse_args(argv)
    setup_logging()
    log = logging.getLogger(__name__)
    if args.command == "sheet":
        bank = pd.read_csv(args.manifest, dtype={"crop_id": str, "scene_id": str})
        bank["flag_reason"] = bank["flag_reason"].astype(object).fillna("")
        planes = read_settings(args.settings, SheetSettings).contact_sheet_planes
        io.write_png(args.out, bank_sheet(bank, planes))
        log.info(
            "contact sheet of %d of %d planes: %s", min(planes, len(bank)), len(bank), args.out
        )
        return
    bank_settings = read_settings(args.settings, BankSettings)
    settings, crop_size = bank_settings.masks, bank_settings.tiling.crop_size
    crops = read_crops(args.crops)
    started = time.perf_counter()
    if args.command == "chunk":
        table = build_chunk(settings, crop_size, crops, read_scenes(args.scenes), args.chunk,
                            args.out)
        log.info(
            "chunk %d/%d: %d crops, %d flagged, method %s, %.1f s", args.chunk, settings.chunks,
            len(table), int(table["flagged"].sum()), settings.method, time.perf_counter() - started,
        )  # fmt: skip
        return
    bank = merge_chunks(crops, args.chunks)
    crops_summary = json.loads(args.crops_summary.read_text()) if args.crops_summary else None
    summary = summarise(bank, dataclasses.asdict(settings), crop_size, crops_summary)
    io.write_csv(args.manifest, bank)
    io.write_json(args.summary, summary)
    log.info(
        "bank: %d crops, %d flagged %s, %d shrunk, oversize %s",
        summary["crops"],
        summary["flagged"],
        summary["flag_reasons"],
        summary["shrunk_crops"],
        summary["oversize"],
    )


if __name__ == "__main__":
    main()
