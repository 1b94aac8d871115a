"""Window geometry shared by the index and the tiling: grids, shifts, clipping, YOLO lines.

Conventions (docs/dataflow.md): boxes are `xmin, ymin, xmax, ymax` in float pixels with `xmax`
exclusive; a window is the integer square `[x0, x0 + size) x [y0, y0 + size)`. Box arrays are
float64 (N, 4).
"""

from __future__ import annotations

import numpy as np


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
