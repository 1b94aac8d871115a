"""Canny edges of plane crops: fixed thresholds for the bank, random thresholds for training.

The method report (annex G.1) trains the Canny-conditioned model on edges computed "using random
threshold (between 1 and 255) with the opencv canny edge detector", a fresh draw per sample, so
the model learns to follow edge maps of any density; the bank that conditions inpainting stores
edges at one fixed pair of thresholds (config `masks.canny_thresholds`).

Both functions take an (H, W, 3) uint8 RGB image and return an (H, W) uint8 map of 0 and 255.
"""

from __future__ import annotations

import cv2
import numpy as np

from workflow.core.geometry import dilate

THRESHOLD_MIN = 1
THRESHOLD_MAX = 255


def _check_image(image_rgb: np.ndarray) -> np.ndarray:
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB image, got shape {image.shape} dtype {image.dtype}"
        )
    return image


def canny_fixed(image_rgb: np.ndarray, low: int, high: int) -> np.ndarray:
    """Canny edges of an (H, W, 3) uint8 RGB image at thresholds low <= high -> (H, W) uint8 0/255.

    The image is converted to grey first (OpenCV's Canny on a 3-channel image would take the
    channel gradient maximum, which differs from the report's grey-level edges).
    """
    image = _check_image(image_rgb)
    if not (THRESHOLD_MIN <= low <= high <= THRESHOLD_MAX):
        raise ValueError(
            f"Canny thresholds must satisfy {THRESHOLD_MIN} <= low <= high <= {THRESHOLD_MAX}, "
            f"got low={low}, high={high}"
        )
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, float(low), float(high))
    return np.where(edges > 0, 255, 0).astype(np.uint8)


def draw_thresholds(rng: np.random.Generator) -> tuple[int, int]:
    """Two integer thresholds drawn uniformly in [1, 255], sorted so low <= high (annex G.1)."""
    low, high = sorted(int(v) for v in rng.integers(THRESHOLD_MIN, THRESHOLD_MAX + 1, size=2))
    return low, high


def canny_random_thresholds(image_rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Canny edges at thresholds drawn per call from `rng` -> (H, W) uint8 0/255.

    Deterministic given the generator's state; each call advances `rng` by one draw of two ints.
    """
    low, high = draw_thresholds(rng)
    return canny_fixed(image_rgb, low, high)


def edges_near_mask(edges: np.ndarray, mask: np.ndarray, margin: int | None) -> np.ndarray:
    """Keep the edges within `margin` px of the mask (the bank's inpainting condition then
    describes the plane, not the crop's former background); None keeps them all.
    (H, W) uint8 edges, (H, W) bool mask -> (H, W) uint8 0/255."""
    if margin is None:
        return edges
    near = dilate(mask, margin)
    return np.where(near, edges, 0).astype(np.uint8)
