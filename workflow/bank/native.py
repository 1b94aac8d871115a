"""Where a plane has its pixels: the region of the scene around a crop's plane, read near the
scene's native resolution, and a mask made there brought back to the crop.

A crop (results/tiles/crops/manifest.csv) is the working window `[x0, x0 + side)` (working px,
side = crop_size * crop scale) resampled to `crop_size`; a working pixel is `scale` native
pixels of its scene (results/index/scenes.csv). One crop pixel is therefore

    f = scene scale * crop scale    native pixels on a side,

and crop coordinate u lies at native x0 * scene scale + u * f. On real imagery f is often 2-10
(airliners of 100 px tiled at 2 m per pixel, boxes shrunk to fit the crop): a mask made on the
crop sees a wing 1-2 px wide, where the scene holds it at 10. The bank therefore segments a
*region*: the plane's box in crop pixels widened by REGION_CONTEXT of its longer side (GrabCut
learns the background's colours from it; clipped to the scene), read from the scene on a grid of
`k` region pixels per crop pixel, an integer so that the region maps back onto crop pixels
exactly (k x k blocks, area-averaged). `k` is the integer nearest f (native detail), kept within
what the mask method handles well: the box's longer side at least MIN_BOX_SIDE region pixels
(small planes are enlarged, as GrabCut on crops was before) and at most MAX_BOX_SIDE (time).
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

# The region: the box widened on each side by this share of its longer side (at least
# MIN_CONTEXT crop px). Measured with GrabCut on the development sets' crops: see
# workflow/bank/mask_ops.py.
REGION_CONTEXT = 0.5
MIN_CONTEXT = 4
# The box's longer side in region pixels: a floor so that GrabCut's smoothness term does not
# swallow thin wings (the measure behind mask_ops.GRABCUT_MIN_SIDE), a ceiling so that a large
# native plane costs no more than a few hundred thousand pixels.
MIN_BOX_SIDE = 64
MAX_BOX_SIDE = 160


@dataclasses.dataclass(frozen=True)
class Region:
    """The region of one crop: crop pixels [u0, u1) x [v0, v1) (may leave the crop, never the
    scene), `k` region pixels per crop pixel, and its native rectangle."""

    u0: int
    v0: int
    u1: int
    v1: int
    k: int
    left: float  # native px
    top: float
    per_crop_px: float  # f: native px per crop px

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the region image in region pixels."""
        return (self.v1 - self.v0) * self.k, (self.u1 - self.u0) * self.k

    def box(self, crop_box) -> tuple[float, float, float, float]:
        """A crop-pixel box in region pixels."""
        xmin, ymin, xmax, ymax = (float(v) for v in crop_box)
        return ((xmin - self.u0) * self.k, (ymin - self.v0) * self.k,
                (xmax - self.u0) * self.k, (ymax - self.v0) * self.k)


def refinement(per_crop_px: float, box_side: float) -> int:
    """Region pixels per crop pixel: the integer nearest `per_crop_px` (native detail), raised so
    that the box's longer side (`box_side` crop px) reaches MIN_BOX_SIDE, lowered so that it
    stays within MAX_BOX_SIDE; at least 1."""
    side = max(box_side, 1e-6)
    low, high = math.ceil(MIN_BOX_SIDE / side), max(1, math.floor(MAX_BOX_SIDE / side))
    return max(1, min(max(round(per_crop_px), low), high))


def plane_region(crop_box, origin: tuple[float, float], per_crop_px: float,
                 native_size: tuple[int, int]) -> Region:
    """The region of a crop's plane. crop_box: the plane's box in crop px; origin: the crop's
    top-left corner in native px; per_crop_px: f; native_size: the scene's (width, height)."""
    if not per_crop_px > 0:
        raise ValueError(f"native px per crop px must be > 0, got {per_crop_px}")
    xmin, ymin, xmax, ymax = (float(v) for v in crop_box)
    side = max(xmax - xmin, ymax - ymin)
    margin = max(MIN_CONTEXT, REGION_CONTEXT * side)
    ox, oy = origin
    width, height = native_size
    # Crop pixels whose native footprint lies inside the scene (tolerance for rounding).
    lowest_u, lowest_v = math.ceil(-ox / per_crop_px - 1e-6), math.ceil(-oy / per_crop_px - 1e-6)
    highest_u = math.floor((width - ox) / per_crop_px + 1e-6)
    highest_v = math.floor((height - oy) / per_crop_px + 1e-6)
    u0, v0 = max(math.floor(xmin - margin), lowest_u), max(math.floor(ymin - margin), lowest_v)
    u1, v1 = min(math.ceil(xmax + margin), highest_u), min(math.ceil(ymax + margin), highest_v)
    if u1 <= u0 or v1 <= v0:
        raise ValueError(f"box {tuple(crop_box)} (crop px) has no pixels in the scene "
                         f"({width}x{height} native px, crop origin {origin}, {per_crop_px} "
                         "native px per crop px)")
    return Region(u0, v0, u1, v1, refinement(per_crop_px, side), ox + u0 * per_crop_px,
                  oy + v0 * per_crop_px, per_crop_px)


def read_region(reader, region: Region) -> np.ndarray:
    """The region's pixels from an open scene (workflow.tiles.windows.SceneReader) ->
    (H, W, 3) uint8 RGB, H, W = region.shape."""
    height, width = region.shape
    f = region.per_crop_px
    return reader.read_native(region.left, region.top, (region.u1 - region.u0) * f,
                              (region.v1 - region.v0) * f, width, height)


def to_crop(mask: np.ndarray, region: Region, crop_size: int) -> np.ndarray:
    """A region mask (H, W) bool -> the crop's (S, S) bool: a crop pixel is plane when at least
    half of its k x k region pixels are; crop pixels outside the region are not."""
    if mask.shape != region.shape:
        raise ValueError(f"mask of shape {mask.shape}, the region is {region.shape}")
    cells = cv2.resize(mask.astype(np.float32), (region.u1 - region.u0, region.v1 - region.v0),
                       interpolation=cv2.INTER_AREA)  # exact k x k means: k is an integer
    out = np.zeros((crop_size, crop_size), dtype=bool)
    cu0, cv0 = max(region.u0, 0), max(region.v0, 0)
    cu1, cv1 = min(region.u1, crop_size), min(region.v1, crop_size)
    if cu1 > cu0 and cv1 > cv0:
        out[cv0:cv1, cu0:cu1] = cells[cv0 - region.v0:cv1 - region.v0,
                                      cu0 - region.u0:cu1 - region.u0] >= 0.5
    return out


def crop_region(crop, scene) -> Region:
    """The region of a crops-manifest row `crop` (box in crop px, x0, y0 in working px, crop
    `scale`) in its scenes.csv row `scene` (working->native `scale`, native size)."""
    per_crop_px = float(scene.scale) * float(crop.scale)
    origin = (float(crop.x0) * float(scene.scale), float(crop.y0) * float(scene.scale))
    box = (crop.xmin, crop.ymin, crop.xmax, crop.ymax)
    return plane_region(box, origin, per_crop_px,
                        (int(scene.native_width), int(scene.native_height)))


def read_regions(crops, scenes) -> list[tuple[Region, np.ndarray]]:
    """(Region, region image) of every row of a crops-manifest frame, in its order; each scene
    (a scenes.csv frame indexed by scene_id) is opened once."""
    from workflow.tiles.windows import open_scene

    rows = list(crops.itertuples(index=False))
    out: list = [None] * len(rows)
    positions: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        positions.setdefault(row.scene_id, []).append(position)
    for scene_id, members in positions.items():
        if scene_id not in scenes.index:
            raise ValueError(f"crop scene {scene_id!r} is not in the index's scenes.csv: were the "
                             "crops cut from another index? Rerun the crops rule")
        scene = next(scenes.loc[[scene_id]].reset_index().itertuples(index=False))
        with open_scene(scene) as reader:
            for position in members:
                region = crop_region(rows[position], scene)
                out[position] = (region, read_region(reader, region))
    return out
