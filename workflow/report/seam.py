"""The seam of a synthetic plane: how far the ground around it was changed from its tile.

A synthetic image is its background tile with one plane laid in. In the ring between `inner`
and `outer` px around the plane's label box, a faithful image keeps the tile's ground: the
mean absolute difference (grey levels per pixel, over the RGB channels) is 0 for a pasted
plane, and the ratio of local contrast (the standard deviation of the ring's luma, output over
tile) is 1. A disc of repainted ground shows as a difference of a few grey levels and a ratio
below 1 (smoother than the tile).

`seam_sheet` draws, per plane at full scale, the output, its tile and their difference (x4).
"""

from __future__ import annotations

import numpy as np

from workflow.core.images import grid, luma
from workflow.core.io import read_png
from workflow.tiles.ground import ring_region

RING = (2, 8)  # px around the label box
DIFFERENCE_GAIN = 4  # the difference panel's amplification


def ring_mask(shape: tuple[int, int], box, inner: int = RING[0], outer: int = RING[1]) -> np.ndarray:
    """(H, W) bool: pixels within `outer` px of the box (xmin, ymin, xmax, ymax; exclusive ends)
    but more than `inner` px from it, clipped to the image."""
    return ring_region(shape, box, [], inner, outer)


def ring_metrics(image: np.ndarray, tile: np.ndarray, box) -> tuple[float, float]:
    """(mean absolute difference in grey levels, ratio of luma standard deviations output/tile)
    in the ring around `box`; NaN when the ring is empty."""
    ring = ring_mask(image.shape[:2], box)
    if not ring.any():
        return float("nan"), float("nan")
    out, ground = image[ring], tile[ring]
    spread = float(luma(ground).std())
    ratio = float(luma(out).std()) / spread if spread > 0 else float("nan")
    return float(np.abs(out.astype(np.float32) - ground.astype(np.float32)).mean()), ratio


def measure(table) -> tuple[list[float], list[float]]:
    """Ring metrics of every row of a synthetic set's manifest (image, background, box)."""
    mads, ratios = [], []
    for row in table.itertuples():
        mad, ratio = ring_metrics(read_png(row.image), read_png(row.background),
                                  (row.xmin, row.ymin, row.xmax, row.ymax))
        mads.append(mad)
        ratios.append(ratio)
    return mads, ratios


def seam_sheet(table, n: int, scale: int = 3) -> np.ndarray:
    """The first n planes of a set: output, tile and |difference| x DIFFERENCE_GAIN side by
    side, each the same window around the plane (its largest box grown by RING's outer width),
    in full pixels, enlarged `scale` times (nearest)."""
    rows = list(table.head(n).itertuples())
    images = [(read_png(row.image), read_png(row.background)) for row in rows]
    side = max(max(row.xmax - row.xmin, row.ymax - row.ymin) for row in rows) + 2 * RING[1] + 8
    side = int(min(side, *(image.shape[0] for image, _ in images), *(image.shape[1] for image, _ in images)))
    cells, captions = [], []
    for row, (image, tile) in zip(rows, images):
        cx, cy = (row.xmin + row.xmax) // 2, (row.ymin + row.ymax) // 2
        x0 = int(np.clip(cx - side // 2, 0, image.shape[1] - side))
        y0 = int(np.clip(cy - side // 2, 0, image.shape[0] - side))
        cut = (slice(y0, y0 + side), slice(x0, x0 + side))
        difference = np.abs(image[cut].astype(np.int16) - tile[cut].astype(np.int16))
        difference = np.clip(difference * DIFFERENCE_GAIN, 0, 255).astype(np.uint8)
        mad, _ = ring_metrics(image, tile, (row.xmin, row.ymin, row.xmax, row.ymax))
        cells += [image[cut], tile[cut], difference]
        captions += [f"ring {mad:.1f}", "tile", f"diff x{DIFFERENCE_GAIN}"]
    return grid(cells, captions, columns=12, scale=scale)
