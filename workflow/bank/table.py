"""Plane bank tables: the chunk and manifest columns, merging chunks, summary, contact sheet.

Columns and their meaning: docs/dataflow.md, "plane bank". Used by workflow.bank.masks.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.images import draw_box, grid, overlay_mask
from workflow.core.labels import BOX

# What the bank reads of the tiling stage's crops: the image, the box in crop px, and where the
# crop lies in its scene (working px origin, crop scale: working px per crop px), so that masks
# are made from the scene's own pixels (workflow.bank.native).
CROP_COLUMNS = ("crop_id", "image", "scene_id", "x0", "y0", "scale", *BOX)
# What it reads of the index's scenes.csv: where each scene is and how to read its pixels.
SCENE_COLUMNS = ("scene_id", "image_path", "width", "height", "native_width", "native_height",
                 "scale", "bands", "stretch")
BANK_COLUMNS = (
    ["crop_id", "scene_id", "image", "mask", "edges", "size_class", "scale"]
    + [f"mask_{k}" for k in BOX]
    + [f"box_{k}" for k in BOX]
    + ["area_fraction", "flagged", "flag_reason", "method"]
)


def read_crops(path: str | Path) -> pd.DataFrame:
    """The tiling stage's crops/manifest.csv; a missing column names the file and the column."""
    crops = pd.read_csv(path, dtype={"crop_id": str, "image": str, "scene_id": str})
    _check_columns(crops, CROP_COLUMNS, path)
    if crops["crop_id"].duplicated().any():
        raise ValueError(
            f"{path}: duplicate crop_id {crops['crop_id'][crops['crop_id'].duplicated()].iloc[0]!r}"
        )
    return crops


def read_scenes(path: str | Path) -> pd.DataFrame:
    """The index's scenes.csv, indexed by scene_id; a missing column names the file."""
    scenes = pd.read_csv(path, dtype={"scene_id": str})  # as workflow.tiles.tiling reads it
    _check_columns(scenes, SCENE_COLUMNS, path)
    return scenes.set_index("scene_id")


def _check_columns(table: pd.DataFrame, columns, path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected at least {list(columns)}")


def merge_chunks(crops: pd.DataFrame, chunk_dirs: list[Path]) -> pd.DataFrame:
    """The chunks' tables in the crops manifest's order; every crop exactly once, or an error."""
    tables = [pd.read_csv(Path(d) / "table.csv", dtype={"crop_id": str}) for d in chunk_dirs]
    bank = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=BANK_COLUMNS)
    doubled = bank["crop_id"][bank["crop_id"].duplicated()]
    if len(doubled):
        raise ValueError(f"crop {doubled.iloc[0]!r} appears in more than one chunk of {chunk_dirs}")
    missing = sorted(set(crops["crop_id"]) - set(bank["crop_id"]))
    extra = sorted(set(bank["crop_id"]) - set(crops["crop_id"]))
    if missing or extra:
        raise ValueError(
            f"chunks {[str(d) for d in chunk_dirs]} do not cover the crops manifest: "
            f"{len(missing)} crop(s) missing (first {missing[:3]}), {len(extra)} unknown "
            f"(first {extra[:3]}); were they made with another masks.chunks?"
        )
    bank = bank.set_index("crop_id").loc[crops["crop_id"]].reset_index()
    bank["flagged"] = bank["flagged"].astype(bool)
    bank["flag_reason"] = bank["flag_reason"].astype(object).fillna("")
    return bank[BANK_COLUMNS]


def summarise(bank: pd.DataFrame, settings: dict, crop_size: int,
              crops_summary: dict | None = None) -> dict:
    """Counts of the bank: crops, flagged (by reason), size classes, area fractions, crops
    shrunk from a larger window; `settings` (the masks section as used) is recorded with them,
    and the crops summary's count of the targets left without a crop (`oversize`)."""
    kept = bank[bank["flag_reason"] != "empty"]["area_fraction"]
    return {
        "method": settings["method"],
        "crops": int(len(bank)),
        "flagged": int(bank["flagged"].sum()),
        "flag_reasons": {
            r: int((bank["flag_reason"] == r).sum()) for r in ("empty", "small", "large")
        },
        "size_classes": {
            str(k): int(v) for k, v in sorted(bank["size_class"].value_counts().items())
        },
        "area_fraction": {
            "min": float(kept.min()) if len(kept) else None,
            "median": float(kept.median()) if len(kept) else None,
            "max": float(kept.max()) if len(kept) else None,
        },
        "shrunk_crops": int((bank["scale"] > 1).sum()),
        "oversize": None if crops_summary is None else crops_summary["oversize"],
        "crop_size": crop_size,
        "settings": settings,
    }


def sheet_sample(bank: pd.DataFrame, planes: int) -> pd.DataFrame:
    """`planes` bank rows spread across scenes: scenes in order of first appearance, taken one
    plane at a time in turn (evenly spaced scenes when there are more scenes than planes), so
    that the sheet shows the whole bank, not the first scene's planes. Deterministic."""
    by_scene = [rows.index.tolist() for _, rows in bank.groupby("scene_id", sort=False)]
    if len(by_scene) > planes:
        by_scene = [by_scene[i] for i in np.linspace(0, len(by_scene) - 1, planes).round().astype(int)]
    picked = []
    for turn in range(max((len(rows) for rows in by_scene), default=0)):
        for rows in by_scene:
            if turn < len(rows) and len(picked) < planes:
                picked.append(rows[turn])
    return bank.loc[picked]


def spread_caption(text: str, cells: int, width: int) -> list[str]:
    """`text` split over `cells` adjacent captions of a grid row (about width // 6 characters
    each: what images.grid writes under a cell), so that a long crop id is not cut."""
    step = max(1, width // 6)
    return [text[i * step : (i + 1) * step] for i in range(cells)]


def bank_sheet(bank: pd.DataFrame, planes: int) -> np.ndarray:
    """Contact sheet of `planes` bank entries sampled across scenes (sheet_sample): per plane the
    crop, its mask overlaid (red) with the target box (green), and its edges, enlarged (nearest)
    to about 96 px, four planes per row -> (H, W, 3) uint8 RGB. The caption under the three
    runs on: crop id, size class or flag, and the crop's scale (working px per crop px, as in the
    manifest) when it was shrunk from a larger window."""
    images, captions = [], []
    for row in sheet_sample(bank, planes).itertuples():
        crop = io.read_png(row.image)
        box = (row.box_xmin, row.box_ymin, row.box_xmax, row.box_ymax)
        overlay = draw_box(overlay_mask(crop, io.read_png(row.mask)), box, color=(0, 255, 0))
        images += [crop, overlay, io.read_png(row.edges)]
        note = f"FLAG {row.flag_reason}" if row.flagged else f"size {row.size_class}"
        if row.scale != 1:
            note += f" scale {row.scale:.2f}"
        captions += [f"{row.crop_id} {note}"]
    if not images:
        images, captions = [np.full((32, 32, 3), 255, np.uint8)], ["no planes"]
        return grid(images, captions, columns=1, scale=3)
    scale = max(1, math.ceil(96 / images[0].shape[0]))
    width = images[0].shape[1] * scale
    captions = [part for text in captions for part in spread_caption(text, 3, width)]
    return grid(images, captions, columns=12, scale=scale)
