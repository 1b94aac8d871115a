"""Ground resolution: a scene's native GSD, the working GSD and the size it has at that GSD.

The ground sample distance (GSD, metres per pixel) differs from scene to scene in DOTA (its
label files carry a `gsd:` header) and is about 0.3 m in xView. With `tiling.gsd` set, every
scene is tiled at that one working GSD: a working pixel covers `scale = gsd / native_gsd`
native pixels on each side, the scene's working size is its native size divided by `scale`
(rounded down, so that every working window lies inside the native raster), and the index's
boxes are native boxes divided by `scale`. Without it (`tiling.gsd: null`), working pixels are
native pixels (`scale` 1), as the scenes come.
"""

from __future__ import annotations

import dataclasses
import math

# Working sizes closer than this to an integer are that integer: 2560 px at 0.15 m read at
# 1.5 m are 256 px, although 2560 / (1.5 / 0.15) is 255.99999999999997 in floating point.
SIZE_TOLERANCE = 1e-6


@dataclasses.dataclass(frozen=True)
class SceneSize:
    """A scene at its native and at the working resolution."""

    native_width: int
    native_height: int
    native_gsd: float | None  # None: unknown (the scene is then tiled at native pixels)
    gsd: float | None  # working GSD: tiling.gsd, or native_gsd when that is null
    scale: float  # native px per working px (1: no resampling)
    width: int
    height: int


def working_side(native: int, scale: float) -> int:
    """Working pixels along a side of `native` pixels: native / scale, rounded down."""
    exact = native / scale
    nearest = round(exact)
    return int(nearest if abs(exact - nearest) < SIZE_TOLERANCE else math.floor(exact))


def scene_size(native_width: int, native_height: int, native_gsd: float | None,
               working_gsd: float | None) -> SceneSize:
    """The scene's working size; `working_gsd` None keeps native pixels. A working GSD needs a
    native one (the caller names the config key that lacks it)."""
    if working_gsd is None:
        return SceneSize(native_width, native_height, native_gsd, native_gsd, 1.0, native_width,
                         native_height)
    if native_gsd is None:
        raise ValueError("a working GSD (tiling.gsd) needs the scene's native GSD")
    scale = working_gsd / native_gsd
    if abs(scale - 1.0) < SIZE_TOLERANCE:
        scale = 1.0
    return SceneSize(native_width, native_height, native_gsd, working_gsd, scale,
                     working_side(native_width, scale), working_side(native_height, scale))


def to_working(box, scale: float) -> tuple[float, float, float, float]:
    """A native pixel box at the working resolution."""
    return tuple(float(v) / scale for v in box)
