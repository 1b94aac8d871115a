"""Put objects on the ground without overlaps, and the planes on tarmac (mostly).

Every object is rasterised at a candidate pose, checked (inside the image, on an allowed
region, clear of earlier labels), then painted; its label is measured from the painted pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from workflow.scenes.demo import layout
from workflow.scenes.demo.painter import (
    Raster,
    image_box,
    inside,
    oriented_box,
    paint,
    rasterise,
)
from workflow.scenes.demo.shapes import PlaneParams, plane_parts, sample_plane_params

MAX_PLANE_SIDE = 31  # px: a plane box fits inside the demo's 32 px crops
PLANE_LENGTH = (8.0, 30.0)  # px, drawn uniformly: box sides spread over ~8..31 px
TYPE_IDS = {"airliner": 13, "bizjet": 11, "prop": 12}  # xView aircraft type ids
TARMAC = (layout.APRON, layout.PAVED)  # where planes park and taxi


@dataclasses.dataclass(frozen=True)
class SceneObject:
    """One label: kind (plane|car|truck|boat), xView type id, box (px, max exclusive), (4, 2) polygon."""

    kind: str
    type_id: int
    box: tuple[int, int, int, int]
    polygon: np.ndarray


class Placer:
    """Keeps the occupancy of the labels placed so far and the painted objects' labels."""

    def __init__(self, ground: layout.Ground, rng: np.random.Generator, shade: float):
        self.ground, self.rng, self.shade = ground, rng, shade
        self.occupied = np.zeros(ground.regions.shape, bool)
        self.objects: list[SceneObject] = []
        self._pixels: dict[tuple[int, ...], np.ndarray] = {}

    def random_point(self, regions: tuple[int, ...]) -> tuple[float, float] | None:
        """A uniformly drawn pixel centre (x, y) of the given regions, or None if there is none."""
        if regions not in self._pixels:
            self._pixels[regions] = np.flatnonzero(np.isin(self.ground.regions, regions))
        pixels = self._pixels[regions]
        if pixels.size == 0:
            return None
        y, x = divmod(int(pixels[self.rng.integers(pixels.size)]), self.ground.regions.shape[1])
        return x + 0.5, y + 0.5

    def fits(self, raster: Raster, allowed: tuple[int, ...]) -> bool:
        """Inside the image, the body only on `allowed` regions, body and shadow off other labels."""
        size = self.ground.regions.shape[0]
        if not inside(raster, size, size):
            return False
        window = raster.window
        if not np.isin(self.ground.regions[window][raster.body], allowed).all():
            return False
        return not (self.occupied[window] & (raster.body | raster.shadow)).any()

    def commit(
        self, raster: Raster, colours: dict, kind: str, type_id: int, clearance: int
    ) -> None:
        """Paint the object and record its label; reserve its box plus `clearance` px."""
        paint(self.ground.image, raster, colours, self.shade)
        box = image_box(raster)
        c = clearance
        self.occupied[max(box[1] - c, 0) : box[3] + c, max(box[0] - c, 0) : box[2] + c] = True
        self.objects.append(SceneObject(kind, type_id, box, oriented_box(raster)))

    def background_level(self, raster: Raster) -> float:
        """Mean grey level of the ground under the body, before painting."""
        return float(self.ground.image[raster.window][raster.body].mean())


LIVERIES = np.array(
    [[70, 110, 170], [180, 60, 50], [235, 205, 90], [95, 100, 96], [150, 190, 225]], dtype=float
)  # coloured bodies (a quarter of the planes); the others are white or light grey
TAILS = np.array([[30, 60, 140], [190, 40, 40], [30, 30, 35], [230, 160, 40]], dtype=float)
MIN_CONTRAST = 55.0  # grey levels between a plane's body and the ground under it


def plane_colours(rng: np.random.Generator, background: float) -> dict[str, np.ndarray]:
    """Livery colours; the body is redrawn until its grey level is MIN_CONTRAST off the ground."""
    for _ in range(50):
        pick = rng.random()
        if pick < 0.55:
            body = rng.uniform(228, 250) + rng.uniform(-4, 4, 3)
        elif pick < 0.75:
            body = np.full(3, rng.uniform(185, 212))
        else:
            body = LIVERIES[rng.integers(len(LIVERIES))] + rng.uniform(-10, 10, 3)
        if abs(body.mean() - background) >= MIN_CONTRAST:
            break
    else:
        raise AssertionError(f"no plane colour stands out from a ground of grey level {background}")
    fin = TAILS[rng.integers(len(TAILS))] if rng.random() < 0.6 else body * 0.8
    wing = body * rng.uniform(0.86, 0.96)
    return dict(body=body, wing=wing, engine=np.full(3, rng.uniform(60, 100)), fin=fin)


def label_side(raster: Raster, oriented: bool) -> float:
    """Longest side of the axis-aligned label box: the tight box, or the oriented box's extent."""
    if oriented:
        return float(np.ptp(oriented_box(raster), axis=0).max())
    x0, y0, x1, y1 = image_box(raster)
    return max(x1 - x0, y1 - y0)


def plane_raster(
    params: PlaneParams, cx: float, cy: float, heading: float, sun: np.ndarray, oriented: bool
) -> Raster:
    """The plane rasterised at the pose, shrunk until its label side is <= MAX_PLANE_SIDE.

    With `oriented` (DOTA labels) the oriented box's axis-aligned extent counts, as that is
    what an index reading the polygon gets; for a diagonal plane it exceeds the tight box.
    """
    for _ in range(6):
        # Parked planes stand on their gear: the shadow is offset by about a tenth of the length.
        raster = rasterise(
            plane_parts(params), cx, cy, heading, tuple(sun * (0.1 * params.length + 1.2))
        )
        side = label_side(raster, oriented)
        if side <= MAX_PLANE_SIDE:
            return raster
        params = dataclasses.replace(params, length=params.length * (MAX_PLANE_SIDE - 0.5) / side)
    raise AssertionError(f"could not shrink a plane under {MAX_PLANE_SIDE} px: {params}")


def plane_pose(placer: Placer, length: float) -> tuple[float, float, float, tuple[int, ...]] | None:
    """A candidate (x, y, heading, allowed regions): at a stand, on the apron, taxiing or on grass."""
    g, rng = placer.ground, placer.rng
    site = rng.random()
    stands = g.plan.stands
    if site < 0.45 and stands:  # nose in at a stand, stopped just short of the terminal
        u, v = stands[rng.integers(len(stands))]
        x, y = g.frame.to_image([u + rng.normal(0, 1.5), v - 2 - length / 2 - rng.uniform(0, 8)])
        return x, y, g.frame.heading(True) + rng.normal(0, 0.05), TARMAC
    if site < 0.65:
        point = placer.random_point((layout.APRON,))
        return None if point is None else (*point, rng.uniform(0, 2 * np.pi), TARMAC)
    if site < 0.85:  # lined up on the taxiway or the runway
        v = g.plan.taxiway[0] if rng.random() < 0.6 else g.plan.runway[0]
        u = rng.uniform(-0.4, 0.4) * g.plan.size
        x, y = g.frame.to_image([u, v + rng.normal(0, 1.5)])
        heading = g.frame.heading(False) + np.pi * (rng.random() < 0.5) + rng.normal(0, 0.03)
        return x, y, heading, TARMAC
    point = placer.random_point((layout.GRASS,))
    allowed = (layout.GRASS, layout.ROAD, *TARMAC)
    return None if point is None else (*point, rng.uniform(0, 2 * np.pi), allowed)


def add_planes(placer: Placer, count: int, oriented: bool, tries: int = 30) -> int:
    """Place up to `count` planes (sized for oriented or axis-aligned labels); returns how many fitted."""
    placed = 0
    for _ in range(count):
        for _ in range(tries):
            params = sample_plane_params(placer.rng, placer.rng.uniform(*PLANE_LENGTH))
            pose = plane_pose(placer, params.length)
            if pose is None:
                continue
            x, y, heading, allowed = pose
            raster = plane_raster(params, x, y, heading, placer.ground.sun, oriented)
            if not placer.fits(raster, allowed):
                continue
            colours = plane_colours(placer.rng, placer.background_level(raster))
            placer.commit(raster, colours, "plane", TYPE_IDS[params.kind], clearance=3)
            placed += 1
            break
    return placed
