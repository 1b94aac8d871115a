"""Tiles cut from the indexed scenes: plane-centred crops, background tiles, detection tiles.

`python -m workflow.tiles.tiling {crops|background|detect} --settings JSON(tiling, classes)
--scenes scenes.csv --objects objects.csv --manifest results/tiles/<kind>/manifest.csv
[--summary results/tiles/crops/summary.json]` (manifest columns and image folders in
docs/dataflow.md, section tiles; `--summary` is the crops' count of every target without a crop).

Reading. Everything here is in working pixels: the scene at the working ground resolution the
index recorded (`tiling.gsd`; workflow.scenes.resolution), so crops, background tiles and
detection tiles are all cut at that one GSD. Each scene is opened with rasterio (GeoTIFF and
PNG alike) and read one window at a time (workflow.tiles.windows: the native window resampled
to the tile's size, `boundless=False`; windows are shifted to lie inside the scene), in
row-major order so that line-based formats (PNG) are decoded forwards. GDAL's block cache is
capped at `workflow.tiles.windows.gdal_cache_bytes`, a band of windows: memory follows the tile
size and scene width, never the scene's area.

Crops that fit. A crop is centred on its target and moved, when it must, so that it holds the
whole box (no plane is ever cut by its crop). A target whose box does not fit in `crop_size`
px is handled by `tiling.oversize`: `skip` leaves it out; `shrink` reads a larger window
(side: the box's extent / SHRINK_FILL, so that the plane keeps some background around it) and
resizes it to the crop, recording `scale` (working px per crop px) in the manifest, the box and
size class in crop pixels. Each such target is logged with its scene and size, and counted by
reason in the crops summary (which the plane bank's summary repeats).

Visibility rule. An object belongs to a tile when at least `tiling.min_visibility` of its box
area lies inside the tile; its label is then its box clipped to the tile. Objects overlapping a
tile by less are dropped from that tile's labels, and counted.

Context rule (background tiles). A tile is `tarmac` when at least `tiling.tarmac.min_fraction`
of its pixels are low-saturation mid-grey: in OpenCV's HSV (S and V in 0..255), saturation
<= `max_saturation` and value within `value_range` (inclusive). Paved surfaces fall in that band;
grass and water are saturated, shadows too dark, roofs and markings often too bright. Any other
tile is `other`.

Outputs. Each subcommand removes its own old manifest and images first (a rerun never leaves
stale tiles), writes the images and labels, and writes the manifest last and atomically: a job
killed mid-way leaves no manifest.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.checks import check_overlap, check_value_range
from workflow.core.geometry import clip_to_window, overlapping
from workflow.core.labels import BOX, SPLITS, ClassSettings, size_class, yolo_lines
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.tiles.params import KIND_KEYS
from workflow.tiles.windows import (
    box_extent,
    centred_origin,
    fits,
    gdal_cache_bytes,
    grid_windows,
    open_scene,
    read_window,
    write_tile,
)

log = logging.getLogger(__name__)
TILE_KINDS = ("crops", "background", "detect")
SCENE_COLUMNS = ["scene_id", "image_path", "width", "height", "split", "native_width",
                 "native_height", "scale", "bands", "stretch"]
OBJECT_COLUMNS = ["object_id", "scene_id", "class_name", "class_id", "xmin", "ymin", "xmax", "ymax"]
OVERSIZE = ("skip", "shrink")  # tiling.oversize: what becomes of a target larger than its crop
SHRINK_FILL = 0.875  # a shrunk target spans this share of its crop's side (28 of 32 px)
# Why a target of the train split has no crop (crops summary, `skipped`).
CROP_SKIPS = ("larger_than_crop", "larger_than_scene", "scene_smaller_than_crop")



@dataclasses.dataclass(frozen=True)
class TarmacRule:
    min_fraction: float
    max_saturation: int
    value_range: tuple[int, int]

    def __post_init__(self):
        check_value_range(self.value_range)


@dataclasses.dataclass(frozen=True)
class TilingSettings:
    """The `tiling` section; keys a kind does not read may be absent (None)."""
    crop_size: int | None = None
    oversize: str | None = None
    background_margin: int | None = None
    background_stride: int | None = None
    detect_size: int | None = None
    detect_overlap: int | None = None
    min_visibility: float | None = None
    tarmac: TarmacRule | None = None

    def __post_init__(self):
        if self.detect_overlap is not None and self.detect_size is not None:
            check_overlap(self.detect_overlap, self.detect_size)
        if self.oversize is not None and self.oversize not in OVERSIZE:
            raise ValueError(f"config key 'tiling.oversize': {self.oversize!r}; allowed {OVERSIZE}")
        if self.min_visibility is not None and not 0 < self.min_visibility <= 1:
            raise ValueError(f"config key 'tiling.min_visibility': {self.min_visibility}; need (0, 1]")
        for key in ("crop_size", "background_stride", "detect_size"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"config key 'tiling.{key}': {value}; need >= 1")


@dataclasses.dataclass(frozen=True)
class TilingTask:
    """--settings of a tiling command: the tiling and classes sections."""

    tiling: TilingSettings
    classes: ClassSettings


def settings_from_json(text: str, kind: str | None = None) -> TilingTask:
    """--settings JSON of the config sections tiling and classes -> TilingTask.

    With `kind`, the tiling keys that kind reads (KIND_KEYS of workflow/tiles/params.py, what
    its rule passes) must be present; without, all.
    """
    settings = read_settings(text, TilingTask)
    given = {f.name for f in dataclasses.fields(TilingSettings)
             if getattr(settings.tiling, f.name) is not None}
    required = KIND_KEYS[kind] if kind else [f.name for f in dataclasses.fields(TilingSettings)]
    missing = [key for key in required if key not in given]
    if missing:
        raise ValueError(f"config key 'tiling.{missing[0]}': missing (tiling {kind or ''} needs "
                         f"{list(required)})")
    return settings


def load_index(scenes_csv, objects_csv) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scenes.csv and objects.csv, their columns checked (docs/dataflow.md, section index)."""
    tables = []
    for path, columns in ((scenes_csv, SCENE_COLUMNS), (objects_csv, OBJECT_COLUMNS)):
        table = pd.read_csv(path, dtype={"scene_id": str})
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        tables.append(table)
    scenes, objects = tables
    unknown = set(objects["scene_id"]) - set(scenes["scene_id"])
    if unknown:
        raise ValueError(f"{objects_csv}: scene ids absent from {scenes_csv}: {sorted(unknown)[:5]}")
    bad = sorted(set(scenes["split"]) - set(SPLITS))
    if bad:
        raise ValueError(f"{scenes_csv}: split values {bad}; allowed {list(SPLITS)}")
    return scenes, objects


def tarmac_fraction(tile: np.ndarray, rule: TarmacRule) -> float:
    """Fraction of an (H, W, 3) uint8 RGB tile's pixels in the tarmac colour band."""
    import cv2

    hsv = cv2.cvtColor(tile, cv2.COLOR_RGB2HSV)
    low, high = rule.value_range
    grey = (hsv[..., 1] <= rule.max_saturation) & (hsv[..., 2] >= low) & (hsv[..., 2] <= high)
    return float(grey.mean())


def context_of(tile: np.ndarray, rule: TarmacRule) -> str:
    return "tarmac" if tarmac_fraction(tile, rule) >= rule.min_fraction else "other"


def tile_labels(boxes: np.ndarray, class_ids: np.ndarray, x0: int, y0: int, size: int,
                min_visibility: float) -> tuple[str, np.ndarray, int]:
    """Objects kept by the visibility rule -> (YOLO text, (N,) keep mask, number dropped).

    boxes: (N, 4) scene boxes; class_ids: (N,) detector class ids.
    """
    rel, visible = clip_to_window(boxes, x0, y0, size)
    keep = visible >= min_visibility - 1e-9
    dropped = int(((visible > 0) & ~keep).sum())
    return yolo_lines(class_ids[keep], rel[keep], size), keep, dropped


def scene_objects(objects: pd.DataFrame, scene_id: str):
    """(N, 4) boxes, (N,) class ids and (N,) object ids of one scene, as arrays (fast per tile)."""
    present = objects[objects["scene_id"] == scene_id]
    return (present[BOX].to_numpy(dtype=np.float64), present["class_id"].to_numpy(dtype=np.int64),
            present["object_id"].to_numpy(dtype=np.int64))


def prepare_output(manifest: Path, subdirs) -> Path:
    """Remove the old manifest, then the old images and labels of this subcommand; make the
    empty folders `subdirs` (relative to the manifest's folder)."""
    out = manifest.parent
    manifest.unlink(missing_ok=True)
    for top in sorted({Path(sub).parts[0] for sub in subdirs}):
        if (out / top).exists():
            shutil.rmtree(out / top)
    for sub in subdirs:
        (out / sub).mkdir(parents=True)
    return out


def fitting_scenes(scenes: pd.DataFrame, size: int, what: str) -> pd.DataFrame:
    """Scenes at least `size` px on each side; the others are logged and counted."""
    small = (scenes["width"] < size) | (scenes["height"] < size)
    for scene in scenes[small].itertuples():
        log.warning("skipped %s (%dx%d px): smaller than the %s size %d", scene.scene_id,
                    scene.width, scene.height, what, size)
    return scenes[~small]


def crop_window(box, size: int, width: int, height: int, oversize: str):
    """(x0, y0, side) of the window a target's crop is cut from, or (None, reason) without one.

    A box that fits gets the `size` window centred on it (and holding it); a larger one, with
    `shrink`, the window of side extent / SHRINK_FILL, if the scene holds it.
    """
    if fits(box, size):
        return (*centred_origin(box, size, width, height), size), None
    if oversize == "skip":
        return None, "larger_than_crop"
    side = int(np.ceil(max(box_extent(box)) / SHRINK_FILL))
    if side > min(width, height):
        return None, "larger_than_scene"
    return (*centred_origin(box, side, width, height), side), None


def make_crops(scenes, objects, settings: TilingTask, out: Path) -> tuple[pd.DataFrame, dict]:
    """One crop_size crop per target object of the train split, centred on the object, holding
    it whole (see "Crops that fit"); returns the manifest and the crops summary."""
    size, target = settings.tiling.crop_size, settings.classes.target
    oversize = settings.tiling.oversize
    rows, skipped, shrunk = [], dict.fromkeys(CROP_SKIPS, 0), 0
    train_all = scenes[scenes["split"] == "train"]
    train = fitting_scenes(train_all, size, "crop")
    targets = objects[objects["class_name"] == target]
    small = targets["scene_id"].isin(set(train_all["scene_id"]) - set(train["scene_id"]))
    skipped["scene_smaller_than_crop"] = int(small.sum())
    for scene in train.itertuples():
        planes = targets[targets["scene_id"] == scene.scene_id]
        if planes.empty:
            continue
        planes = planes.assign(cy=(planes["ymin"] + planes["ymax"]) / 2).sort_values(["cy", "xmin"])
        with open_scene(scene) as src:
            for obj in planes.itertuples():
                box = (obj.xmin, obj.ymin, obj.xmax, obj.ymax)
                window, reason = crop_window(box, size, scene.width, scene.height, oversize)
                extent = "x".join(str(v) for v in box_extent(box))
                if window is None:
                    skipped[reason] += 1
                    log.warning("crops: %s object %d, %s px at the working GSD: no crop (%s, "
                                "crop %d px, scene %dx%d px, tiling.oversize %s)", scene.scene_id,
                                obj.object_id, extent, reason, size, scene.width, scene.height,
                                oversize)
                    continue
                x0, y0, side = window
                if side != size:
                    shrunk += 1
                    log.warning("crops: %s object %d, %s px at the working GSD, larger than the "
                                "%d px crop: shrunk from a %d px window (scale %.3f)",
                                scene.scene_id, obj.object_id, extent, size, side, side / size)
                rel, _ = clip_to_window(np.array(box), x0, y0, side)
                rel = rel[0] * (size / side)
                crop_id = f"{scene.scene_id}_{obj.object_id}"
                image = out / "images" / f"{crop_id}.png"
                write_tile(image, read_window(src, x0, y0, side, size))
                rows.append(dict(crop_id=crop_id, image=str(image), scene_id=scene.scene_id,
                                 object_id=obj.object_id, x0=x0, y0=y0,
                                 **dict(zip(BOX, rel.round(3))),
                                 size_class=size_class(rel[3] - rel[1], rel[2] - rel[0], size),
                                 scale=round(side / size, 6)))
    n_targets = int(targets["scene_id"].isin(train_all["scene_id"]).sum())
    summary = {"targets": n_targets, "crops": len(rows), "crop_size": size,
               "oversize": {"policy": oversize, "shrunk": shrunk, "skipped": skipped}}
    log.info("crops: %d written from %d train scenes (%d %s objects in the train split); %d "
             "shrunk, without a crop %s", len(rows), len(train), n_targets, target, shrunk,
             {k: v for k, v in skipped.items() if v})
    table = pd.DataFrame(rows, columns=["crop_id", "image", "scene_id", "object_id", "x0", "y0",
                                        *BOX, "size_class", "scale"])
    return table, summary


def make_background(scenes, objects, settings: TilingTask, out: Path) -> pd.DataFrame:
    """Grid tiles of the train split with no target object within background_margin."""
    t, target = settings.tiling, settings.classes.target
    rows, rejected, dropped = [], 0, 0
    for scene in fitting_scenes(scenes[scenes["split"] == "train"], t.detect_size, "tile").itertuples():
        boxes, class_ids, _ = scene_objects(objects, scene.scene_id)
        is_target = class_ids == settings.classes.class_id(target)
        with open_scene(scene) as src:
            for x0, y0 in grid_windows(scene.width, scene.height, t.detect_size, t.background_stride):
                if overlapping((x0, y0, x0 + t.detect_size, y0 + t.detect_size), boxes[is_target],
                               t.background_margin).any():
                    rejected += 1
                    continue
                tile = read_window(src, x0, y0, t.detect_size)
                text, _, n_dropped = tile_labels(boxes[~is_target], class_ids[~is_target], x0, y0,
                                                 t.detect_size, t.min_visibility)
                dropped += n_dropped
                tile_id = f"{scene.scene_id}_{x0}_{y0}"
                image, labels = out / "images" / f"{tile_id}.png", out / "labels" / f"{tile_id}.txt"
                write_tile(image, tile, labels, text)
                rows.append(dict(tile_id=tile_id, image=str(image), labels=str(labels),
                                 scene_id=scene.scene_id, x0=x0, y0=y0, size=t.detect_size,
                                 context=context_of(tile, t.tarmac)))
    table = pd.DataFrame(rows, columns=["tile_id", "image", "labels", "scene_id", "x0", "y0", "size",
                                        "context"])
    log.info("background: %d tiles written (%s), %d windows rejected within %d px of a %s, "
             "%d object labels dropped by the visibility rule", len(table),
             table["context"].value_counts().to_dict(), rejected, t.background_margin, target, dropped)
    return table, None


def make_detect(scenes, objects, settings: TilingTask, out: Path) -> pd.DataFrame:
    """Overlapping detect_size tiles of every split with YOLO labels of every class."""
    t, names = settings.tiling, settings.classes.names
    stride = t.detect_size - t.detect_overlap
    rows, dropped, labelled = [], 0, set()
    for split in SPLITS:
        for scene in fitting_scenes(scenes[scenes["split"] == split], t.detect_size, "tile").itertuples():
            boxes, class_ids, object_ids = scene_objects(objects, scene.scene_id)
            with open_scene(scene) as src:
                for x0, y0 in grid_windows(scene.width, scene.height, t.detect_size, stride):
                    text, keep, n_dropped = tile_labels(boxes, class_ids, x0, y0, t.detect_size,
                                                        t.min_visibility)
                    dropped += n_dropped
                    labelled.update(object_ids[keep].tolist())
                    tile_id = f"{scene.scene_id}_{x0}_{y0}"
                    image = out / split / "images" / f"{tile_id}.png"
                    labels = out / split / "labels" / f"{tile_id}.txt"
                    write_tile(image, read_window(src, x0, y0, t.detect_size), labels, text)
                    counts = np.bincount(class_ids[keep], minlength=len(names))
                    rows.append(dict(tile_id=tile_id, split=split, image=str(image),
                                     labels=str(labels), scene_id=scene.scene_id, x0=x0, y0=y0,
                                     size=t.detect_size,
                                     **{f"n_{name}": int(n) for name, n in zip(names, counts)}))
    columns = ["tile_id", "split", "image", "labels", "scene_id", "x0", "y0", "size",
               *(f"n_{name}" for name in names)]
    table = pd.DataFrame(rows, columns=columns)
    in_tiles = objects["scene_id"].isin(table["scene_id"])
    log.info("detect: %d tiles written %s; %d object labels dropped by the visibility rule "
             "(min_visibility %.2f); %d of %d objects in no tile", len(table),
             table["split"].value_counts().to_dict(), dropped, t.min_visibility,
             int(in_tiles.sum()) - len(labelled), int(in_tiles.sum()))
    return table, None


SUBDIRS = {"crops": ["images"], "background": ["images", "labels"],
           "detect": [f"{split}/{sub}" for split in SPLITS for sub in ("images", "labels")]}
MAKERS = {"crops": make_crops, "background": make_background, "detect": make_detect}


def make_tiles(kind: str, scenes_csv, objects_csv, settings: TilingTask, manifest,
               summary=None) -> pd.DataFrame:
    """Clear the old outputs of `kind`, write its images, then its manifest (last, atomically)
    and, for the crops, their summary to `summary` (required then)."""
    import rasterio

    if (kind == "crops") != (summary is not None):
        raise ValueError("the crops, and only they, write a summary (--summary)")
    scenes, objects = load_index(scenes_csv, objects_csv)
    manifest = Path(manifest)
    out = prepare_output(manifest, SUBDIRS[kind])
    window = settings.tiling.crop_size if kind == "crops" else settings.tiling.detect_size
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(scenes, window)):
        table, counts = MAKERS[kind](scenes, objects, settings, out)
    if summary is not None:
        io.write_json(summary, counts)
    io.write_csv(manifest, table)
    log.info("wrote %s (%d rows)", manifest, len(table))
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=TILE_KINDS)
    parser.add_argument("--settings", required=True, help="JSON of config sections tiling, classes")
    parser.add_argument("--scenes", required=True, help="results/index/scenes.csv")
    parser.add_argument("--objects", required=True, help="results/index/objects.csv")
    parser.add_argument("--manifest", required=True, help="output manifest.csv")
    parser.add_argument("--summary", help="output summary.json (crops only: targets without a crop)")
    args = parser.parse_args(argv)
    setup_logging()
    make_tiles(args.kind, args.scenes, args.objects, settings_from_json(args.settings, args.kind),
               args.manifest, args.summary)


if __name__ == "__main__":
    main()
