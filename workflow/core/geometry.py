"""Boxes and masks: areas, clipping, overlap, the tight box of a mask, flips and dilation.

Boxes are `xmin, ymin, xmax, ymax` in pixels with `xmax` exclusive; box arrays are float64
(N, 4); a window is the integer square `[x0, x0 + size) x [y0, y0 + size)`; masks are (H, W).
"""

from __future__ import annotations

import numpy as np

# The dihedral group of a square: transpose (t), then horizontal (h), then vertical (v) flips;
# "t" with one flip is a quarter turn. Aerial views have no up, so all eight are alike.
FLIPS = ("none", "h", "v", "hv", "t", "th", "tv", "thv")


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes -> (N,) areas (0 for empty boxes)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def clip_to_image(box: tuple[float, float, float, float], width: int, height: int):
    """Clip one box to the image `[0, width) x [0, height)`.

    Returns `(clipped_box, was_clipped)`, or None when no part of the box lies in the image.
    """
    xmin, ymin, xmax, ymax = box
    clipped = (max(xmin, 0.0), max(ymin, 0.0), min(xmax, float(width)), min(ymax, float(height)))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return None
    return clipped, clipped != tuple(float(v) for v in box)


def clip_to_window(boxes: np.ndarray, x0: int, y0: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in window coordinates, clipped to the window, and the visible fraction of each.

    boxes: (N, 4) scene boxes -> (N, 4) window-relative clipped boxes, (N,) visible area / area.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    shifted = boxes - np.array([x0, y0, x0, y0], dtype=np.float64)
    clipped = np.clip(shifted, 0.0, float(size))
    area = box_area(boxes)
    visible = np.divide(box_area(clipped), area, out=np.zeros_like(area), where=area > 0)
    return clipped, visible


def overlapping(box, boxes: np.ndarray, margin: float = 0) -> np.ndarray:
    """(N,) True where a box of `boxes` overlaps `box` grown by `margin` px on every side."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    return ((boxes[:, 0] < xmax + margin) & (boxes[:, 2] > xmin - margin)
            & (boxes[:, 1] < ymax + margin) & (boxes[:, 3] > ymin - margin))


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The smallest box around the nonzero pixels of an (H, W) mask, max exclusive; None when
    the mask is empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def flip(array: np.ndarray, how: str) -> np.ndarray:
    """(H, W[, C]) array transposed (t, rows and columns swapped), then flipped horizontally (h)
    and vertically (v), as `how` says (`none`: unchanged); one of the FLIPS."""
    if how not in FLIPS:
        raise ValueError(f"flip {how!r} is not one of {FLIPS}")
    if "t" in how:
        array = array.swapaxes(0, 1)
    if "h" in how:
        array = array[:, ::-1]
    if "v" in how:
        array = array[::-1]
    return np.ascontiguousarray(array)


def dilate(mask: np.ndarray, pixels: int | None) -> np.ndarray:
    """(H, W) mask grown by `pixels` (elliptic structuring element) -> (H, W) bool."""
    import cv2

    if not pixels:
        return np.asarray(mask).astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(np.asarray(mask, dtype=np.uint8), kernel) > 0
