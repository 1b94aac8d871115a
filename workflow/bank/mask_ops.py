"""Pure mask operations of the plane bank: box masks, GrabCut, post-processing, area flags.

Masks are (H, W) bool arrays; boxes are (xmin, ymin, xmax, ymax) float pixels, xmax exclusive
(docs/dataflow.md). Post-processing (`postprocess`) keeps the connected component under the box
centre (or the largest inside the box when the centre is background) and fills its holes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# GrabCut works on crops enlarged (cubic) so that their short side reaches this many pixels. On a
# 32 px crop a wing is 1-2 px wide and GrabCut's smoothness term (a cost per cut neighbour pair)
# weighs as much as its colour term there, so whole planes can be lost. Measured on 80 drawn
# planes on 32 px textured crops (IoU with the drawn mask, full resolution -> enlarged to 96 px):
# white planes, 10th percentile 0.71 -> 0.86 (mean 0.95 -> 0.94); planes of random colours with
# shadows, 10th percentile 0.00 -> 0.41 (mean 0.59 -> 0.67); ~40 ms per crop.
GRABCUT_MIN_SIDE = 96
# When the box touches the crop border there is little or no background outside it to learn the
# background colours from; the strip this many crop pixels wide inside the box along the sides
# that touch the border is then taken as background. Plane pixels on the crop's outermost row or
# column are lost that way (the mask's box may end 1 px short there); marking the strip only
# "probable" background instead lets GrabCut turn the whole box to foreground (measured: IoU 0.61
# instead of 0.98 on drawn planes touching the border).
GRABCUT_RING = 1


def box_pixels(box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Float box -> integer pixel bounds (x0, y0, x1, y1), x1 exclusive, at least one pixel,
    clipped to an image of `shape` (H, W). A pixel is inside when its centre is."""
    height, width = shape
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    x0 = min(max(math.ceil(xmin - 0.5), 0), width - 1)
    y0 = min(max(math.ceil(ymin - 0.5), 0), height - 1)
    x1 = min(max(math.ceil(xmax - 0.5), x0 + 1), width)
    y1 = min(max(math.ceil(ymax - 0.5), y0 + 1), height)
    return x0, y0, x1, y1


def box_mask(shape: tuple[int, int], box) -> np.ndarray:
    """The filled box as an (H, W) bool mask (method `box`)."""
    x0, y0, x1, y1 = box_pixels(box, shape)
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def grabcut_seed(shape: tuple[int, int], box) -> np.ndarray:
    """GrabCut's initial labels for a box on an (H, W) crop -> (H, W) uint8: definite background
    outside the box, probable foreground inside (what GC_INIT_WITH_RECT sets), and background on
    a GRABCUT_RING wide strip inside the box along the sides that touch the crop's border.
    """
    height, width = shape
    x0, y0, x1, y1 = box_pixels(box, shape)
    seed = np.full(shape, cv2.GC_BGD, dtype=np.uint8)
    seed[y0:y1, x0:x1] = cv2.GC_PR_FGD
    r = GRABCUT_RING
    for touches, strip in (
        (x0 == 0, np.s_[y0:y1, x0 : x0 + r]), (x1 == width, np.s_[y0:y1, x1 - r : x1]),
        (y0 == 0, np.s_[y0 : y0 + r, x0:x1]), (y1 == height, np.s_[y1 - r : y1, x0:x1]),
    ):  # fmt: skip
        if touches:
            seed[strip] = cv2.GC_BGD
    return seed


def grabcut_mask(image_rgb: np.ndarray, box, iterations: int) -> np.ndarray:
    """GrabCut seeded with the box on an (H, W, 3) uint8 crop -> (H, W) bool.

    The seed is the box rectangle (grabcut_seed; equal to GC_INIT_WITH_RECT's when the box is
    clear of the border), the crop is enlarged (GRABCUT_MIN_SIDE), and OpenCV's RNG (used by the
    k-means that starts GrabCut's colour models) is seeded, so the result depends on the inputs only.
    """
    height, width = image_rgb.shape[:2]
    factor = max(1, math.ceil(GRABCUT_MIN_SIDE / min(height, width)))
    big = cv2.resize(image_rgb, (width * factor, height * factor), interpolation=cv2.INTER_CUBIC)
    seed = grabcut_seed((height, width), box)
    labels = cv2.resize(seed, (width * factor, height * factor), interpolation=cv2.INTER_NEAREST)
    cv2.setRNGSeed(0)
    cv2.grabCut(
        cv2.cvtColor(big, cv2.COLOR_RGB2BGR), labels, None,
        np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64),
        iterations, cv2.GC_INIT_WITH_MASK,
    )  # fmt: skip
    foreground = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    # Back to crop pixels: a pixel is foreground when most of its enlarged copy is.
    small = cv2.resize(foreground, (width, height), interpolation=cv2.INTER_AREA)
    return small >= 0.5


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> the same mask with every background region not reachable from the border
    set. Background is flooded with 4-connectivity, the dual of the 8-connected foreground."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 2, flags=4)
    return (padded != 2)[1:-1, 1:-1]


def postprocess(mask: np.ndarray, box) -> np.ndarray:
    """Keep, inside the box, the component under the box centre (else the largest), holes
    filled. (H, W) bool -> (H, W) bool; an empty result means no plane was found."""
    x0, y0, x1, y1 = box_pixels(box, mask.shape)
    inside = np.zeros(mask.shape, dtype=np.uint8)
    inside[y0:y1, x0:x1] = np.asarray(mask, dtype=bool)[y0:y1, x0:x1]
    count, labels = cv2.connectedComponents(inside, connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, dtype=bool)
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    centre_y = min(max(int((ymin + ymax) / 2), y0), y1 - 1)
    centre_x = min(max(int((xmin + xmax) / 2), x0), x1 - 1)
    label = labels[centre_y, centre_x]
    if label == 0:
        sizes = np.bincount(labels.ravel(), minlength=count)
        sizes[0] = 0
        label = int(np.argmax(sizes))  # ties: the lowest label, i.e. first in raster order
    return fill_holes(labels == label)


def area_flag(mask: np.ndarray, box, area_range: tuple[float, float]) -> tuple[float, str]:
    """(mask area / box area, flag reason): '' when plausible, else 'empty', 'small', 'large'."""
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    fraction = float(mask.sum()) / max((xmax - xmin) * (ymax - ymin), 1e-9)
    if not mask.any():
        return fraction, "empty"
    if fraction < area_range[0]:
        return fraction, "small"
    if fraction > area_range[1]:
        return fraction, "large"
    return fraction, ""
