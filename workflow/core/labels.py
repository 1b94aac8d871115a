"""Label conventions shared by the stages (docs/dataflow.md): splits, box columns, the size
class of a plane, YOLO label lines, and the `classes` config section.

Boxes are `xmin, ymin, xmax, ymax` in float pixels with `xmax` exclusive. A YOLO line is
`class_id cx cy w h`, normalised by the square tile's side.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping

import numpy as np

from workflow.core.checks import SPLITS, check_class_map, check_target

__all__ = ["SPLITS", "BOX", "N_SIZE_CLASSES", "size_class", "yolo_lines", "parse_yolo",
           "read_yolo", "ClassSettings"]

BOX = ["xmin", "ymin", "xmax", "ymax"]
N_SIZE_CLASSES = 11  # floor(10 * (h + w) / (2 S)) in 0..10


def size_class(h, w, crop_size: int):
    """Size class `floor(10 * (h + w) / (2 * crop_size))` clamped to 0..10 (int, or int array)."""
    value = np.clip(np.floor(10 * (np.asarray(h) + np.asarray(w)) / (2 * crop_size)), 0,
                    N_SIZE_CLASSES - 1).astype(np.int64)
    return int(value) if value.ndim == 0 else value


def yolo_lines(class_ids, boxes, size: int) -> str:
    """YOLO label text, one line per (N, 4) pixel box of a `size` px square tile."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    lines = []
    for class_id, (xmin, ymin, xmax, ymax) in zip(class_ids, boxes):
        cx, cy = (xmin + xmax) / 2 / size, (ymin + ymax) / 2 / size
        w, h = (xmax - xmin) / size, (ymax - ymin) / size
        lines.append(f"{int(class_id)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    return "".join(lines)


def parse_yolo(text: str, size: int, where: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `yolo_lines`: (N,) class ids and (N, 4) pixel boxes. `where` names the file."""
    rows = [(number, line.split()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    for number, fields in rows:
        if len(fields) != 5 or not fields[0].isdigit():
            raise ValueError(f"{where}:{number}: expected 'class_id cx cy w h', got {' '.join(fields)!r}")
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4))
    values = np.array([[float(v) for v in fields[1:]] for _, fields in rows]) * size
    cx, cy, w, h = values.T
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return np.array([int(fields[0]) for _, fields in rows]), boxes


def read_yolo(path: str | Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A YOLO label file -> (N,) class ids, (N, 4) pixel boxes; a missing file holds none."""
    path = Path(path)
    if not path.exists():
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4))
    return parse_yolo(path.read_text(), size, str(path))


@dataclasses.dataclass(frozen=True)
class ClassSettings:
    """Config section `classes`: detector classes in YOLO id order, the rare target class, and
    the source label maps (only the index reads them).

    A map may be None (its source unused) and an entry None (that label skipped); both are kept
    as given, and `label_map` checks the map of a source that is read (`check_class_map`): the
    map of an unused source may name classes that are not in `names`."""

    names: tuple[str, ...]
    target: str
    xview: Mapping[str, str | None] | None = None  # type id -> class name
    dota: Mapping[str, str | None] | None = None  # category -> class name

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        check_target(self.names, self.target)

    def label_map(self, source: str) -> dict[str, str]:
        """The checked map of a source that is read, without its null entries."""
        mapping = getattr(self, source)
        check_class_map(source, mapping, self.names)
        return {str(label): name for label, name in mapping.items() if name is not None}

    def class_id(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"class {name!r} is not in classes.names {list(self.names)}")
        return self.names.index(name)

    @property
    def target_id(self) -> int:
        return self.names.index(self.target)
