"""Atomic writes: every artifact appears whole or not at all.

A job killed mid-way must leave nothing that a downstream rule would accept, so each writer
writes to a temporary sibling and renames it into place (rename is atomic on one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

# mkstemp/mkdtemp create 0600/0700 entries; artifacts get the usual permissions instead, so
# that colleagues on a shared cluster filesystem can read them.
_UMASK = os.umask(0)
os.umask(_UMASK)

@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_png(path: str | os.PathLike, image) -> None:
    """Write an (H, W) or (H, W, 3) uint8 RGB array as PNG, atomically."""
    import cv2
    import numpy as np

    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"write_png({path}): expected uint8, got {image.dtype}")
    if image.ndim == 3:
        image = image[..., ::-1]  # OpenCV writes BGR
    with atomic_path(path) as tmp:
        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise OSError(f"could not encode {path} as PNG")
        tmp.write_bytes(data.tobytes())


def read_png(path: str | os.PathLike):
    """Read a PNG as an (H, W, 3) uint8 RGB array (or (H, W) if single-channel)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise OSError(f"cannot read image {path}")
    if image.ndim == 3:
        image = image[..., 2::-1].copy()  # BGR(A) -> RGB
    return image


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    """Lay out a matplotlib figure, write it as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
