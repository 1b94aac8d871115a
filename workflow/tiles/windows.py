"""Windows of a scene: grids, shifts and windowed reading (box geometry: workflow.core.geometry).

A window is the integer square `[x0, x0 + size) x [y0, y0 + size)` of working pixels
(docs/dataflow.md): the scene at the working ground resolution the index recorded
(workflow.scenes.resolution). Scenes are read with rasterio (GeoTIFF and PNG alike) one window
at a time with `boundless=False`, never whole: a working window is the native window `scale`
times larger, read with `out_shape` at the tile's size, so that GDAL resamples it (area
average when shrinking, bilinear when enlarging; from the file's overviews where it has them).
At scale 1 the read is the plain window, pixel for pixel. The scene's bands and stretch
(workflow.scenes.rasters) then make it 8-bit RGB.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np

from workflow.scenes.rasters import parse_numbers, to_rgb8

# GDAL's block cache: its default (5 % of RAM) lets a large scene's blocks pile up. We size it to
# hold one band of windows (window rows plus up to two block rows of 512, full scene width), so
# that overlapping windows are decoded once. rasterio passes GDAL_CACHEMAX in bytes.
GDAL_CACHE_MIN, GDAL_CACHE_MAX = 16 * 2**20, 1024 * 2**20
CACHE_BLOCK_ROWS = 2 * 512


def gdal_cache_bytes(scenes, window: int) -> int:
    """Block cache (bytes) holding a full-width band of `window` working rows (that many native
    rows times the scene's scale) of the widest scene."""
    if not len(scenes):
        return GDAL_CACHE_MIN
    rows = window * scenes["scale"].astype(float) + CACHE_BLOCK_ROWS
    need = int((scenes["native_width"].astype(float) * 4 * rows).max())
    return int(min(max(need, GDAL_CACHE_MIN), GDAL_CACHE_MAX))


def shift_inside(start: int, size: int, length: int) -> int:
    """Move a window `[start, start + size)` the least so that it lies inside `[0, length)`."""
    if size > length:
        raise ValueError(f"a window of {size} px cannot fit in a scene side of {length} px")
    return int(min(max(start, 0), length - size))


def box_extent(box) -> tuple[int, int]:
    """Width and height of the integer pixels a box touches: what a window must hold."""
    xmin, ymin, xmax, ymax = box
    return int(np.ceil(xmax) - np.floor(xmin)), int(np.ceil(ymax) - np.floor(ymin))


def fits(box, size: int) -> bool:
    """Whether some `size` window holds the whole box."""
    return max(box_extent(box)) <= size


def _centred_start(low: float, high: float, size: int, length: int) -> int:
    """Start of the `size` window centred on `[low, high)`: moved the least so that it holds
    the interval when it can, then so that it lies inside `[0, length)`."""
    start = int(np.floor((low + high) / 2 - size / 2 + 0.5))
    first, last = int(np.ceil(high)) - size, int(np.floor(low))  # starts that hold the interval
    if first <= last:
        start = min(max(start, first), last)
    return shift_inside(start, size, length)


def centred_origin(box, size: int, width: int, height: int) -> tuple[int, int]:
    """Origin (x0, y0) of the `size` window centred on a box, shifted to hold the box when it
    fits (`fits`) and to stay in the scene."""
    xmin, ymin, xmax, ymax = box
    return _centred_start(xmin, xmax, size, width), _centred_start(ymin, ymax, size, height)


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


class SceneReader:
    """An open scene read by working windows (see the module docstring).

    scene: a scenes.csv row (width, height: working size; native_width, native_height, scale,
    bands, stretch as the index wrote them).
    """

    def __init__(self, src, scene):
        self.src, self.name = src, str(scene.image_path)
        self.width, self.height = int(scene.width), int(scene.height)
        self.scale = float(scene.scale)
        self.bands = [int(b) for b in parse_numbers(scene.bands, 3, f"{self.name}: bands")]
        self.limits = parse_numbers(scene.stretch, 6, f"{self.name}: stretch")
        if self.limits is not None:
            self.limits = [self.limits[i:i + 2] for i in (0, 2, 4)]

    def read(self, x0: int, y0: int, size: int, out: int | None = None) -> np.ndarray:
        """The working window `[x0, x0 + size) x [y0, y0 + size)` as (out, out, 3) uint8 RGB
        (`out` defaults to `size`; a smaller one shrinks the window, as oversize crops do)."""
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        out = size if out is None else out
        if x0 < 0 or y0 < 0 or x0 + size > self.width or y0 + size > self.height:
            raise ValueError(f"{self.name}: window ({x0}, {y0}, {size}) leaves the scene "
                             f"({self.width}x{self.height} working px)")
        native = size * self.scale  # native px of the window's side
        if self.scale == 1.0 and out == size:  # native pixels: the plain window
            data = self.src.read(self.bands, window=Window(x0, y0, size, size), boundless=False)
            return to_rgb8(data, self.limits)
        return self.read_native(x0 * self.scale, y0 * self.scale, native, native, out, out)

    def read_native(self, left: float, top: float, width: float, height: float, out_width: int,
                    out_height: int) -> np.ndarray:
        """The rectangle `[left, left + width) x [top, top + height)` of native pixels (floats)
        resampled to (out_height, out_width, 3) uint8 RGB: area average when shrinking, bilinear
        when enlarging. The plane bank reads a plane's pixels this way (workflow.bank.native)."""
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        if left < -1e-6 or top < -1e-6 or left + width > self.src.width + 1e-6 or \
                top + height > self.src.height + 1e-6:
            raise ValueError(f"{self.name}: native rectangle ({left}, {top}, {width}, {height}) "
                             f"leaves the scene ({self.src.width}x{self.src.height} native px)")
        left, top = max(left, 0.0), max(top, 0.0)
        # clamped: floating-point rounding must not push the far edge off the raster
        window = Window(left, top, min(width, self.src.width - left),
                        min(height, self.src.height - top))
        shrink = width > out_width or height > out_height
        data = self.src.read(self.bands, window=window, boundless=False,
                             out_shape=(3, out_height, out_width),
                             resampling=Resampling.average if shrink else Resampling.bilinear)
        return to_rgb8(data, self.limits)


@contextlib.contextmanager
def open_scene(scene):
    """Open a scene row's image with rasterio -> SceneReader; its size must match the index."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # PNGs carry no georeference
        with rasterio.open(scene.image_path) as src:
            native = (int(scene.native_width), int(scene.native_height))
            if (src.width, src.height) != native:
                raise ValueError(f"{scene.image_path}: {src.width}x{src.height} px, the index says "
                                 f"{native[0]}x{native[1]}: rebuild the index")
            yield SceneReader(src, scene)


def read_window(reader: SceneReader, x0: int, y0: int, size: int, out: int | None = None):
    """`reader.read(x0, y0, size, out)`: (out, out, 3) uint8 RGB of a working window."""
    return reader.read(x0, y0, size, out)


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
