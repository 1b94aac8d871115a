"""Where a synthetic plane goes: a background tile, a bank plane (flipped), a window around it.

One placement = one background tile of the set's context, one bank entry (mask and edges,
flipped at random, method report D.3), and a window of the model's resolution that keeps the
plane where it sat in its crop (the crops are centred on their plane). The dilated mask is the
unknown region the model paints (room for the plane's edge); only the plane, by its feathered
mask, is laid back into the tile (composite); the label is the tight box of the (undilated) placed mask in tile pixels, and
the guidance class is the size class of that box. Windows avoid existing labelled objects when
a free position exists among `tries` random draws.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Callable

import cv2
import numpy as np
import pandas as pd

from workflow.core.composite import alpha_matte, blend
from workflow.core.geometry import FLIPS, dilate, flip, overlapping, tight_box
from workflow.core.images import luma
from workflow.core.io import read_png
from workflow.core.labels import read_yolo, size_class, yolo_lines
from workflow.tiles.ground import PlaneGround

CONTEXTS = ("tarmac", "random", "apron")  # config inpaint.sets.*.context, copy_paste.sets.*.context


def set_key(name: str) -> int:
    """A set's name as a seed word: placement i of set S draws from (seed, set_key(S), i)."""
    return zlib.crc32(name.encode())


@dataclasses.dataclass(frozen=True)
class Placement:
    """One planned synthetic plane. Boxes are xmin, ymin, xmax (exclusive), ymax in tile px."""

    tile_id: str
    background: str  # path of the tile image
    labels: str  # path of the tile's YOLO labels
    tile_size: int
    crop_id: str
    mask_path: str
    edges_path: str
    flip: str
    x: int  # window origin in the tile
    y: int
    box: tuple[int, int, int, int]
    size_class: int
    overlaps: bool  # True when no free position was found
    side: int | None = None  # the window's side in tile px; None: the model's (S)

    def window_side(self, model_side: int) -> int:
        return self.side or model_side


def tile_pool(background: pd.DataFrame, context: str, ground: pd.DataFrame | None = None) -> pd.DataFrame:
    """Background tiles a set draws from: `tarmac` tiles (the colour rule), `apron` tiles (the
    ground most like the real planes' own, workflow.tiles.ground; needs `ground`, its scores),
    or every tile for `random`."""
    if context not in CONTEXTS:
        raise ValueError(f"inpaint set context {context!r} is not one of {CONTEXTS}")
    if context == "apron":
        if ground is None:
            raise ValueError("context apron draws from the ground scores (results/tiles/ground/scores.csv)")
        pool = background[background["tile_id"].isin(ground.loc[ground["apron"].astype(bool), "tile_id"])]
    else:
        pool = background if context == "random" else background[background["context"] == "tarmac"]
    if pool.empty:
        raise ValueError(f"no background tile of context {context!r} (of {len(background)} tiles)")
    return pool.sort_values("tile_id").reset_index(drop=True)


def bank_pool(bank: pd.DataFrame) -> pd.DataFrame:
    """Bank entries that were not flagged (implausible mask area)."""
    pool = bank[~bank["flagged"].astype(bool)]
    if pool.empty:
        raise ValueError(f"every one of the {len(bank)} plane bank entries is flagged")
    return pool.sort_values("crop_id").reset_index(drop=True)


def choose_window(rng, tile_size: int, window: int, region_box, existing: np.ndarray, tries: int,
                  ground: Callable[[int, int], float] | None = None):
    """Window origin (x, y) inside the tile whose unknown region misses every existing box.

    `region_box` is the unknown region's box in window pixels. Returns (x, y, overlaps): the
    first free draw (with `ground`, a function of the origin, the free draw of least ground
    distance among `tries`), else the last draw with overlaps=True (counted by the caller).
    """
    if tile_size < window:
        raise ValueError(f"background tile of {tile_size} px is smaller than the model's {window} px")
    best = None
    for _ in range(tries):
        x, y = (int(v) for v in rng.integers(0, tile_size - window + 1, size=2))
        shifted = (region_box[0] + x, region_box[1] + y, region_box[2] + x, region_box[3] + y)
        if overlapping(shifted, existing).any():
            continue
        if ground is None:
            return x, y, False
        distance = ground(x, y)
        if best is None or distance < best[0]:
            best = (distance, x, y)
    if best is not None:
        return best[1], best[2], False
    return x, y, True


def plan(rng, tiles: pd.DataFrame, bank: pd.DataFrame, window: int, dilation: int, tries: int = 50,
         planes: PlaneGround | None = None, true_size: bool = False):
    """Draw one Placement from the pools with the numpy Generator `rng`. With `planes` (context
    apron), the window goes where the tile's ground is most like the real planes' ground. With
    `true_size`, a bank plane that was shrunk into its crop (its `scale` > 1) is placed at the
    size it had: its window covers scale x S tile px (at most the tile), into which the plane
    painted at S px is enlarged (lay_in_tile)."""
    tile = tiles.iloc[int(rng.integers(len(tiles)))]
    entry = bank.iloc[int(rng.integers(len(bank)))]
    how = FLIPS[int(rng.integers(len(FLIPS)))]
    mask = flip(read_png(entry["mask"]) > 0, how)
    if mask.shape != (window, window):
        raise ValueError(f"bank mask {entry['mask']} is {mask.shape}, the model works at {window} px")
    size = int(tile["size"])
    if not mask.any():
        raise ValueError(f"bank mask {entry['mask']} is empty")
    side = min(int(round(window * float(entry["scale"]))), size) if true_size else window
    region = tight_box(resized(dilate(mask, dilation), side))
    _, existing = read_yolo(tile["labels"], size)
    ground = None
    if planes is not None:
        image = read_png(tile["image"])

        def ground(x, y):
            return planes.distance(image[y : y + side, x : x + side])

    x, y, overlaps = choose_window(rng, size, side, region, existing, tries, ground)
    xmin, ymin, xmax, ymax = tight_box(mask)
    placed = tight_box(resized(mask, side))  # the label: the mask as it is laid in
    box = (placed[0] + x, placed[1] + y, placed[2] + x, placed[3] + y)
    return Placement(
        tile_id=str(tile["tile_id"]), background=str(tile["image"]), labels=str(tile["labels"]),
        tile_size=size, crop_id=str(entry["crop_id"]), mask_path=str(entry["mask"]),
        edges_path=str(entry["edges"]), flip=how, x=x, y=y, box=box,
        size_class=size_class(ymax - ymin, xmax - xmin, window), overlaps=overlaps,
        side=side if side != window else None,
    )  # fmt: skip


def resized(image: np.ndarray, side: int, enlarge: int = cv2.INTER_CUBIC) -> np.ndarray:
    """An (S, S[, 3]) image at side x side: area average to shrink, `enlarge` to enlarge; a bool
    mask enlarges by nearest neighbour."""
    if image.shape[0] == side:
        return image
    if image.dtype == bool:
        return cv2.resize(image.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST) > 0
    method = cv2.INTER_AREA if side < image.shape[0] else enlarge
    return cv2.resize(image, (side, side), interpolation=method)


def placed_mask(p: Placement) -> np.ndarray:
    """The placed plane's own mask (S, S) bool in window pixels: the bank mask, flipped."""
    return flip(read_png(p.mask_path) > 0, p.flip)


def tile_window(p: Placement, model_side: int) -> np.ndarray:
    """The tile's pixels under the placement's window, at tile resolution (side x side, 3)."""
    side = p.window_side(model_side)
    return read_png(p.background)[p.y : p.y + side, p.x : p.x + side]


def window_inputs(p: Placement, dilation: int, condition: str):
    """The window's pixels and masks at the model's side S: image (S, S, 3) uint8 (the tile's
    window, shrunk to S for a plane placed at its true size), unknown (S, S) bool, and the
    condition (S, S) uint8 (flipped edges or mask; None for condition 'none')."""
    mask = placed_mask(p)
    size = mask.shape[0]
    image = resized(tile_window(p, size), size)
    cond = None
    if condition == "canny":
        cond = flip(read_png(p.edges_path), p.flip)
    elif condition == "mask":
        cond = mask.astype(np.uint8) * 255
    elif condition != "none":
        raise ValueError(f"model condition {condition!r} is not none, canny or mask")
    return image, dilate(mask, dilation), cond


def generated_plane(mask: np.ndarray, window: np.ndarray, ground: np.ndarray, unknown: np.ndarray,
                    shadow: float | None) -> np.ndarray:
    """What the model drew as the plane: its mask and, with `shadow` set, the painted pixels
    next to it that are at least `shadow` grey levels darker than the tile's ground there (the
    plane's cast shadow, which the mask does not cover), as far as they connect to the plane."""
    if shadow is None:
        return mask
    darker = unknown & ~mask & (luma(ground) - luma(window) >= shadow)
    _, labels = cv2.connectedComponents((mask | darker).astype(np.uint8), connectivity=8)
    touching = np.unique(labels[mask])
    return mask | (np.isin(labels, touching[touching > 0]) & darker)


def lay_in(ground: np.ndarray, window: np.ndarray, mask: np.ndarray, unknown: np.ndarray,
           feather: int, shadow: float | None) -> np.ndarray:
    """The tile's window `ground` (S, S, 3) with the plane the model painted in `window` laid in
    by the feathered matte (workflow.core.composite) of what it drew as the plane
    (generated_plane), within the unknown region: the ground it repainted around the plane is
    dropped, so every pixel farther than `feather` px from the plane and its shadow is the
    tile's own, bit for bit."""
    drawn = generated_plane(mask, window, ground, unknown, shadow)
    return blend(ground, window, alpha_matte(drawn, feather) * unknown, 0, 0)


def lay_in_tile(p: Placement, painted: np.ndarray, unknown: np.ndarray, feather: int,
                shadow: float | None) -> np.ndarray:
    """lay_in at tile resolution: the window painted at the model's side S enlarged to the
    placement's window (a plane placed at its true size), laid into the tile's own pixels
    there, so that the ground around the plane keeps the tile's full detail -> (side, side, 3)."""
    model_side = painted.shape[0]
    side = p.window_side(model_side)
    return lay_in(tile_window(p, model_side), resized(painted, side), resized(placed_mask(p), side),
                  resized(unknown, side), feather, shadow)


def place_window(p: Placement, window: np.ndarray) -> np.ndarray:
    """The background tile with its window at the placement replaced by `window` (side, side, 3)."""
    tile = read_png(p.background)
    size = window.shape[0]
    tile[p.y : p.y + size, p.x : p.x + size] = window
    return tile


def label_text(p: Placement, class_id: int) -> str:
    """The YOLO label file of a synthetic image: the tile's own lines plus the placed target."""
    with open(p.labels) as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()]
    lines.append(yolo_lines([class_id], [p.box], p.tile_size).rstrip("\n"))
    return "\n".join(lines) + "\n"


def record(p: Placement, name: str, i: int) -> dict:
    """The manifest row of synthetic image `i` (files images/<name>.png, labels/<name>.txt)."""
    return dict(image=f"images/{name}.png", labels=f"labels/{name}.txt", index=i, tile_id=p.tile_id,
                background=p.background, crop_id=p.crop_id, flip=p.flip, x=p.box[0], y=p.box[1],
                xmin=p.box[0], ymin=p.box[1], xmax=p.box[2], ymax=p.box[3], window_x=p.x, window_y=p.y,
                window_side=p.side or 0, size_class=p.size_class, overlaps=p.overlaps)  # fmt: skip
