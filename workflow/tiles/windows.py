"""Windows of a scene: grids, shifts and windowed reading (box geometry: workflow.core.geometry).

A window is the integer square `[x0, x0 + size) x [y0, y0 + size)` (docs/dataflow.md). Scenes
are read with rasterio (GeoTIFF and PNG alike) one window at a time with `boundless=False`,
never whole.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

# GDAL's block cache: its default (5 % of RAM) lets a large scene's blocks pile up. We size it to
# hold one band of windows (window rows plus up to two block rows of 512, full scene width), so
# that overlapping windows are decoded once. rasterio passes GDAL_CACHEMAX in bytes.
GDAL_CACHE_MIN, GDAL_CACHE_MAX = 16 * 2**20, 1024 * 2**20
CACHE_BLOCK_ROWS = 2 * 512


def gdal_cache_bytes(scenes, window: int) -> int:
    """Block cache (bytes) holding a full-width band of `window` rows of the widest scene."""
    need = int(scenes["width"].max() if len(scenes) else 0) * 4 * (window + CACHE_BLOCK_ROWS)
    return int(min(max(need, GDAL_CACHE_MIN), GDAL_CACHE_MAX))


def shift_inside(start: int, size: int, length: int) -> int:
    """Move a window `[start, start + size)` the least so that it lies inside `[0, length)`."""
    if size > length:
        raise ValueError(f"a window of {size} px cannot fit in a scene side of {length} px")
    return int(min(max(start, 0), length - size))


def centred_origin(box, size: int, width: int, height: int) -> tuple[int, int]:
    """Origin (x0, y0) of the `size` window centred on a box, shifted to stay in the scene."""
    xmin, ymin, xmax, ymax = box
    x0 = int(np.floor((xmin + xmax) / 2 - size / 2 + 0.5))
    y0 = int(np.floor((ymin + ymax) / 2 - size / 2 + 0.5))
    return shift_inside(x0, size, width), shift_inside(y0, size, height)


def grid_positions(length: int, size: int, stride: int) -> list[int]:
    """Window starts along one side: 0, stride, 2 * stride, ... and a last window flush with the
    far edge (shifted inside) so that every pixel is covered. Empty when `size > length`."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if size > length:
        return []
    positions = list(range(0, length - size + 1, stride))
    if positions[-1] != length - size:
        positions.append(length - size)
    return positions


def grid_windows(width: int, height: int, size: int, stride: int) -> list[tuple[int, int]]:
    """(x0, y0) of every grid window, row-major (reads then move forward through the file)."""
    xs = grid_positions(width, size, stride)
    return [(x0, y0) for y0 in grid_positions(height, size, stride) for x0 in xs]


@contextlib.contextmanager
def open_scene(scene):
    """Open a scene row's image with rasterio; its size must match the index."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # PNGs carry no georeference
        with rasterio.open(scene.image_path) as src:
            if (src.width, src.height) != (scene.width, scene.height):
                raise ValueError(f"{scene.image_path}: {src.width}x{src.height} px, the index says "
                                 f"{scene.width}x{scene.height}: rebuild the index")
            yield src


def read_window(src, x0: int, y0: int, size: int) -> np.ndarray:
    """The window `[x0, x0 + size) x [y0, y0 + size)` as (size, size, 3) uint8 RGB."""
    from rasterio.windows import Window

    if x0 < 0 or y0 < 0 or x0 + size > src.width or y0 + size > src.height:
        raise ValueError(f"{src.name}: window ({x0}, {y0}, {size}) leaves the scene")
    bands = [1, 1, 1] if src.count == 1 else [1, 2, 3]  # grey -> RGB; alpha dropped
    data = src.read(bands, window=Window(x0, y0, size, size), boundless=False)  # (3, size, size)
    return np.ascontiguousarray(data.transpose(1, 2, 0))


def write_tile(path: Path, tile: np.ndarray, labels: Path | None = None, text: str = "") -> None:
    """Write an (H, W, 3) uint8 RGB tile as PNG (and its YOLO text when `labels` is given).

    Plain writes, not per-file atomic renames: a tile is reachable only through the manifest,
    which is written last and atomically, and a rerun clears the folder first; the renames
    would double the file-system calls of the stage.
    """
    import cv2

    if not cv2.imwrite(str(path), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    if labels is not None:
        labels.write_text(text)
