"""Plane bank tables: the chunk and manifest columns, merging chunks, summary, contact sheet.

Columns and their meaning: docs/dataflow.md, "plane bank". Used by workflow.bank.masks.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.images import grid, overlay_mask
from workflow.core.labels import BOX

CROP_COLUMNS = ("crop_id", "image", *BOX)
BANK_COLUMNS = (
    ["crop_id", "image", "mask", "edges", "size_class", "scale"]
    + [f"mask_{k}" for k in BOX]
    + [f"box_{k}" for k in BOX]
    + ["area_fraction", "flagged", "flag_reason", "method"]
)


def read_crops(path: str | Path) -> pd.DataFrame:
    """The tiling stage's crops/manifest.csv; a missing column names the file and the column."""
    crops = pd.read_csv(path, dtype={"crop_id": str, "image": str})
    missing = [c for c in CROP_COLUMNS if c not in crops.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; expected at least {list(CROP_COLUMNS)}"
        )
    if crops["crop_id"].duplicated().any():
        raise ValueError(
            f"{path}: duplicate crop_id {crops['crop_id'][crops['crop_id'].duplicated()].iloc[0]!r}"
        )
    if "scale" not in crops.columns:  # working px per crop px; 1: a crop at the working GSD
        crops["scale"] = 1.0
    return crops


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


def bank_sheet(bank: pd.DataFrame, planes: int) -> np.ndarray:
    """Contact sheet of the first `planes` bank entries: crop, mask overlay, edges, enlarged
    (nearest) to about 96 px, four planes per row -> (H, W, 3) uint8 RGB."""
    images, captions = [], []
    for row in bank.head(planes).itertuples():
        crop = io.read_png(row.image)
        images += [crop, overlay_mask(crop, io.read_png(row.mask)), io.read_png(row.edges)]
        note = f"FLAG {row.flag_reason}" if row.flagged else f"size {row.size_class}"
        if row.scale > 1:  # shrunk from a larger window: shown at 1 / scale
            note += f" x{1 / row.scale:.2f}"
        captions += [str(row.crop_id), note, "edges"]
    if not images:
        images, captions = [np.full((32, 32, 3), 255, np.uint8)], ["no planes"]
    return grid(images, captions, columns=12, scale=max(1, math.ceil(96 / images[0].shape[0])))
