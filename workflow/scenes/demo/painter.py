"""Rasterise posed shapes into a small window, paint them with a cast shadow, measure the label.

Everything happens inside the object's own window (a few dozen pixels), so painting a scene
costs one small `cv2.fillPoly` per part. The label box is the tight box of the painted body
pixels (shadow excluded), `xmax`/`ymax` exclusive as in docs/dataflow.md; the oriented polygon
is the smallest rectangle aligned with the heading that holds every painted pixel.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from workflow.core.geometry import tight_box

SHIFT = 3  # fillPoly fixed-point bits: vertices at 1/8 px
_ONE = 1 << SHIFT


def fill(canvas: np.ndarray, polygons: list[np.ndarray], value) -> None:
    """Fill float (K, 2) polygons (x, y in pixels) on `canvas` in place, at sub-pixel precision."""
    pts = [np.round(np.asarray(p, dtype=np.float64) * _ONE).astype(np.int32) for p in polygons]
    cv2.fillPoly(canvas, pts, value, lineType=cv2.LINE_8, shift=SHIFT)


def pose(polygon: np.ndarray, cx: float, cy: float, heading: float) -> np.ndarray:
    """Local (K, 2) -> image (K, 2): rotate by `heading` (radians, image axes), then translate."""
    c, s = np.cos(heading), np.sin(heading)
    rot = np.array([[c, s], [-s, c]])  # row vectors: [x, y] @ rot = [x c - y s, x s + y c]
    return polygon @ rot + np.array([cx, cy])


@dataclasses.dataclass
class Raster:
    """An object rasterised in its window: masks (h, w) bool, the window origin in the image."""

    x0: int
    y0: int
    parts: list[tuple[np.ndarray, str]]  # (mask, part name) in paint order
    body: np.ndarray  # union of the parts: what the label box covers
    shadow: np.ndarray  # shadow pixels not covered by the body
    heading: float

    @property
    def window(self) -> tuple[slice, slice]:
        h, w = self.body.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


def rasterise(
    parts: list[tuple[np.ndarray, str]],
    cx: float,
    cy: float,
    heading: float,
    shadow_offset: tuple[float, float],
) -> Raster:
    """Masks of the parts posed at (cx, cy, heading), and of their shadow shifted by the offset."""
    posed = [(pose(poly, cx, cy, heading), name) for poly, name in parts]
    points = np.concatenate([p for p, _ in posed])
    dx, dy = shadow_offset
    low = np.floor(np.minimum(points.min(0), points.min(0) + (dx, dy))).astype(int) - 1
    high = np.ceil(np.maximum(points.max(0), points.max(0) + (dx, dy))).astype(int) + 2
    w, h = high - low
    masks = []
    for poly, name in posed:
        canvas = np.zeros((h, w), np.uint8)
        fill(canvas, [poly - low], 1)
        masks.append((canvas.astype(bool), name))
    body = np.logical_or.reduce([m for m, _ in masks])
    shadow = np.zeros((h, w), np.uint8)
    fill(shadow, [poly - low + (dx, dy) for poly, _ in posed], 1)
    return Raster(int(low[0]), int(low[1]), masks, body, shadow.astype(bool) & ~body, heading)


def inside(raster: Raster, height: int, width: int, margin: int = 1) -> bool:
    """Whether the whole window (body and shadow) lies `margin` px inside the image."""
    h, w = raster.body.shape
    return (
        raster.x0 >= margin
        and raster.y0 >= margin
        and raster.x0 + w <= width - margin
        and raster.y0 + h <= height - margin
    )


def paint(image: np.ndarray, raster: Raster, colours: dict[str, np.ndarray], shade: float) -> None:
    """Darken the shadow by `shade` (0..1, multiplied), then paint the parts, in place.

    image: (H, W, 3) float32 RGB; colours: part name -> (3,) RGB.
    """
    window = image[raster.window]
    window[raster.shadow] *= shade
    for mask, name in raster.parts:
        window[mask] = colours[name]


def image_box(raster: Raster) -> tuple[int, int, int, int]:
    """(xmin, ymin, xmax, ymax) of the body pixels in image pixels, max exclusive."""
    xmin, ymin, xmax, ymax = tight_box(raster.body)
    return raster.x0 + xmin, raster.y0 + ymin, raster.x0 + xmax, raster.y0 + ymax


def oriented_box(raster: Raster) -> np.ndarray:
    """(4, 2) corners (x, y), clockwise on screen from the nose-port corner, holding every body pixel.

    Each body pixel is the unit square [x, x+1) x [y, y+1); its four corners are projected on
    the heading axis and its normal, and the extreme projections give the rectangle.
    """
    ys, xs = np.nonzero(raster.body)
    corners = np.stack([xs, ys], 1)[:, None, :] + np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    corners = corners.reshape(-1, 2).astype(np.float64) + (raster.x0, raster.y0)
    axis = np.array([np.cos(raster.heading), np.sin(raster.heading)])
    normal = np.array([-axis[1], axis[0]])  # starboard side in image axes (y down)
    a, n = corners @ axis, corners @ normal
    rect = [(a.max(), n.min()), (a.max(), n.max()), (a.min(), n.max()), (a.min(), n.min())]
    return np.array([u * axis + v * normal for u, v in rect])
