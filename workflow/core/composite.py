"""Laying a plane into a background tile by its mask: the one way both synthesis stages do it
(workflow.inpaint writes a generated plane, workflow.copy_paste a real bank plane).

The plane's pixels enter by a feathered alpha matte: 1 on the plane's mask, falling linearly to
0 over `feather` px outside it. Every pixel where the matte is 0 stays the tile's own, bit for
bit, so no ring of repainted ground and no hard cut-out border gives the plane away.
"""

from __future__ import annotations

import cv2
import numpy as np


def alpha_matte(mask: np.ndarray, feather: int) -> np.ndarray:
    """(S, S) bool mask -> (S, S) float32 alpha: 1 on the mask, 1 - d / (feather + 1) at
    distance d px outside it (0 from feather + 1 px on)."""
    mask = np.asarray(mask, dtype=bool)
    if feather == 0:
        return mask.astype(np.float32)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(1.0 - outside / (feather + 1), 0.0, 1.0).astype(np.float32)


def blend(tile: np.ndarray, crop: np.ndarray, alpha: np.ndarray, x: int, y: int) -> np.ndarray:
    """A copy of the tile (H, W, 3) uint8 with the crop (S, S, 3) laid over the window at (x, y)
    by `alpha` (S, S); pixels where alpha is 0 stay the tile's, bit for bit."""
    out = tile.copy()
    size = crop.shape[0]
    window = out[y : y + size, x : x + size].astype(np.float32)
    a = alpha[..., None]
    mixed = np.rint(a * crop.astype(np.float32) + (1.0 - a) * window).astype(np.uint8)
    touched = alpha > 0
    out[y : y + size, x : x + size][touched] = mixed[touched]
    return out
