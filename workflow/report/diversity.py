"""Diversity of a synthetic set: how far each of its planes is from the nearest plane of the bank.

A generator that only copies its training crops adds nothing a paste does not. Each plane, a
synthetic set's (its window brought to the model's side) or the bank's, is described by its
own pixels: its grey shading inside its mask, centred on its mean there (the outside is 0),
area-reduced to SIDE x SIDE and scaled to unit length. A synthetic plane's distance is the Euclidean distance
to the nearest bank plane in any of the 8 flips and quarter turns (placements flip their
planes); the bank's own spread is each bank plane's distance to the nearest other bank plane.
A pasted set lies at 0 (its planes are bank planes); a set at the bank's own spread is as far
from the bank as its planes are from each other. A synthetic plane is described inside the mask
it was placed with, its source bank plane's: for a set conditioned on the bank's edges, which
keeps the outline, the distance measures how its shading and detail differ.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from workflow.core.geometry import FLIPS, flip
from workflow.core.images import to_rgb
from workflow.core.io import read_png

SIDE = 16  # px of the descriptor's grey image


def describe(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(S, S[, 3]) uint8 plane image and (S, S) bool mask -> unit vector of SIDE * SIDE: the
    grey shading inside the mask, centred on its mean there (so that outside, 0, is the plane's
    mean and the outline itself weighs little), area-reduced. In float64: near 0, the distance
    sqrt(2 - 2 cos) loses what float32 holds of the cosine (a copy would lie ~1e-3 from its
    source rather than at 0)."""
    grey = cv2.cvtColor(to_rgb(image), cv2.COLOR_RGB2GRAY).astype(np.float64)
    shading = np.zeros_like(grey)
    if mask.any():
        shading[mask] = grey[mask] - grey[mask].mean()
    small = cv2.resize(shading, (SIDE, SIDE), interpolation=cv2.INTER_AREA).ravel()
    norm = np.linalg.norm(small)
    return small / norm if norm > 0 else small


def bank_descriptors(bank: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors of every bank plane in all FLIPS, (N * 8, SIDE * SIDE), and the bank row
    each came from, (N * 8,)."""
    vectors, rows = [], []
    for row, entry in enumerate(bank.itertuples()):
        image, mask = read_png(entry.image), read_png(entry.mask) > 0
        for how in FLIPS:
            vectors.append(describe(flip(image, how), flip(mask, how)))
            rows.append(row)
    return np.stack(vectors), np.array(rows)


def nearest(points: np.ndarray, reference: np.ndarray, own: np.ndarray | None = None,
            rows: np.ndarray | None = None) -> np.ndarray:
    """Per point, the distance to the nearest reference vector (unit vectors); with `own` (a
    bank row per point) and `rows` (a bank row per reference vector), a point's own row is left
    out."""
    squared = 2.0 - 2.0 * points @ reference.T
    if own is not None:
        squared[own[:, None] == rows[None, :]] = np.inf
    return np.sqrt(np.clip(squared.min(axis=1), 0, None))


def set_distances(table: pd.DataFrame, bank: pd.DataFrame, size: int,
                  descriptors: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per synthetic image, its plane's distance to the nearest bank plane: the window
    (window_x, window_y; window_side, else `size` px) brought to `size` px, described inside
    the placed mask (its bank crop's, flipped as placed). `descriptors`: bank_descriptors(bank)
    when already computed."""
    reference, _ = descriptors or bank_descriptors(bank)
    masks = dict(zip(bank["crop_id"], bank["mask"]))
    points = []
    for row in table.itertuples():
        side = int(getattr(row, "window_side", 0) or size)
        window = read_png(row.image)[row.window_y:row.window_y + side, row.window_x:row.window_x + side]
        if side != size:
            window = cv2.resize(window, (size, size), interpolation=cv2.INTER_AREA)
        points.append(describe(window, flip(read_png(masks[row.crop_id]) > 0, row.flip)))
    return nearest(np.stack(points), reference) if points else np.zeros(0)


def bank_spread(bank: pd.DataFrame, descriptors: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per bank plane, its distance to the nearest other bank plane (any flip); `descriptors`
    as for set_distances."""
    reference, rows = descriptors or bank_descriptors(bank)
    unflipped = reference[::len(FLIPS)]
    return nearest(unflipped, reference, own=np.arange(len(unflipped)), rows=rows)
