"""A scene's pixel format: which bands are red, green, blue, and how its values map to 0..255.

Real imagery comes as 8-bit RGB (xView, DOTA), but also as 16-bit and 4-band rasters
(WorldView: blue, green, red, near-infrared). `data.<source>.bands` names the three bands that
are red, green and blue (default 1, 2, 3; a one-band scene is grey and read thrice), and
`data.<source>.stretch` a (low, high) percentile pair: per band, the values at those
percentiles of a decimated read of the whole scene (about STRETCH_SIDE px on its longer side,
computed once, by the index) map linearly to 0 and 255. Without a stretch the pixels must be
8-bit; any other type stops the index with the file and the key, rather than skipping every
scene of a 16-bit source.

The index records the bands and stretch of each scene in scenes.csv (`bands`, `stretch` as
comma-separated numbers, see `format_numbers`), and the tiling applies them to each window
(`to_rgb8`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np

STRETCH_SIDE = 1024  # px of the longer side of the decimated read that sets a scene's stretch


@dataclasses.dataclass(frozen=True)
class RasterInfo:
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None


def probe(path: Path) -> RasterInfo:
    """Header of an image and one corner pixel (so that a truncated file fails here, not in the
    tiling); raises OSError when it cannot be read."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.windows import Window

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # PNGs carry no georeference
            with rasterio.open(path) as src:
                if len(set(src.dtypes)) != 1 or src.dtypes[0].startswith("complex"):
                    raise OSError(f"{path}: band types {src.dtypes}; need one real type")
                src.read(1, window=Window(src.width - 1, src.height - 1, 1, 1))
                return RasterInfo(int(src.width), int(src.height), int(src.count), src.dtypes[0],
                                  src.nodata)
    except RasterioError as error:
        raise OSError(f"{path}: {error}") from None


def rgb_bands(info: RasterInfo, bands, path: Path, key: str) -> tuple[int, int, int]:
    """The 1-based (red, green, blue) bands of a scene; ValueError naming the file and `key`
    (`data.<source>.bands`) when they do not exist in it."""
    if bands is None:
        if info.count == 1:
            return (1, 1, 1)
        if info.count >= 3:
            return (1, 2, 3)
        raise ValueError(f"{path}: {info.count} bands; set config key '{key}' to the three bands "
                         "that are red, green, blue")
    bands = tuple(int(b) for b in bands)
    if max(bands) > info.count:
        raise ValueError(f"{path}: {info.count} bands, but config key '{key}' asks for bands "
                         f"{list(bands)}")
    return bands


def check_depth(info: RasterInfo, stretch, path: Path, key: str) -> None:
    """Pixels other than 8-bit need a stretch to become 0..255: ValueError naming the key."""
    if info.dtype != "uint8" and stretch is None:
        raise ValueError(f"{path}: {info.dtype} pixels, not 8-bit: set config key '{key}' (for "
                         "example [2, 98]: per band, the 2nd and 98th percentiles map to 0 and "
                         "255) so that the scene can be read")


def stretch_limits(path: Path, bands, percentiles) -> list[tuple[float, float]]:
    """Per band (of `bands`), the values at the (low, high) `percentiles` of a decimated read
    of the whole scene (nearest pixels, overviews used where the file has them; nodata left out).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            step = max(1, math.ceil(max(src.width, src.height) / STRETCH_SIDE))
            shape = (len(bands), math.ceil(src.height / step), math.ceil(src.width / step))
            data = src.read(list(bands), out_shape=shape, resampling=Resampling.nearest,
                            masked=src.nodata is not None)
    limits = []
    for band in range(len(bands)):
        values = np.ma.compressed(data[band]) if np.ma.isMaskedArray(data) else data[band].ravel()
        if values.size == 0:
            raise ValueError(f"{path}: band {bands[band]} holds only nodata; no stretch can be set")
        low, high = (float(v) for v in np.percentile(values, percentiles))
        limits.append((low, high if high > low else low + 1.0))  # a flat band maps to 0
    return limits


def to_rgb8(data: np.ndarray, limits) -> np.ndarray:
    """(3, H, W) band values -> (H, W, 3) uint8: `limits` [(low, high)] * 3 map linearly to
    0..255 (clipped); None: the values must already be uint8."""
    if limits is None:
        if data.dtype != np.uint8:
            raise ValueError(f"{data.dtype} pixels need a stretch (data.<source>.stretch)")
        return np.ascontiguousarray(data.transpose(1, 2, 0))
    out = np.empty(data.shape[1:] + (3,), np.uint8)
    for band, (low, high) in enumerate(limits):
        scaled = (data[band].astype(np.float32) - low) * (255.0 / (high - low))
        out[..., band] = np.clip(np.rint(scaled), 0, 255)
    return out


def format_numbers(values) -> str:
    """Numbers as one comma-separated CSV field ('' for None)."""
    if values is None:
        return ""
    return ",".join(f"{float(v):.10g}" for v in np.asarray(values, dtype=np.float64).ravel())


def parse_numbers(text, count: int, where: str) -> tuple[float, ...] | None:
    """Inverse of `format_numbers`: `count` numbers, or None for an empty field."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or str(text).strip() == "":
        return None
    try:
        values = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise ValueError(f"{where}: {text!r} is not {count} comma-separated numbers")
    return values
