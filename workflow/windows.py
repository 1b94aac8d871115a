"""Windows of a scene: geometry (grids, shifts, clipping, YOLO lines) and windowed reading.

Conventions (docs/dataflow.md): boxes are `xmin, ymin, xmax, ymax` in float pixels with `xmax`
exclusive; a window is the integer square `[x0, x0 + size) x [y0, y0 + size)`. Box arrays are
float64 (N, 4). Scenes are read with rasterio (GeoTIFF and PNG alike) one window at a time with
`boundless=False`, never whole.
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


def near_window(boxes: np.ndarray, x0: int, y0: int, size: int, margin: int) -> np.ndarray:
    """(N,) True where a box overlaps the window grown by `margin` px on every side."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    lo_x, lo_y, hi_x, hi_y = x0 - margin, y0 - margin, x0 + size + margin, y0 + size + margin
    return (boxes[:, 0] < hi_x) & (boxes[:, 2] > lo_x) & (boxes[:, 1] < hi_y) & (boxes[:, 3] > lo_y)


def yolo_lines(class_ids, rel_boxes: np.ndarray, size: int) -> str:
    """YOLO label text: `class_id cx cy w h` per box, normalised by the square window's side."""
    rel_boxes = np.asarray(rel_boxes, dtype=np.float64).reshape(-1, 4)
    lines = []
    for class_id, (xmin, ymin, xmax, ymax) in zip(class_ids, rel_boxes):
        cx, cy = (xmin + xmax) / 2 / size, (ymin + ymax) / 2 / size
        w, h = (xmax - xmin) / size, (ymax - ymin) / size
        lines.append(f"{int(class_id)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def parse_yolo(text: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `yolo_lines`: (N,) class ids and (N, 4) window-relative pixel boxes."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4))
    values = np.array([[float(v) for v in row[1:]] for row in rows]) * size
    cx, cy, w, h = values.T
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return np.array([int(row[0]) for row in rows]), boxes


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
