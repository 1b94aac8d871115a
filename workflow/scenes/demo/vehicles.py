"""The other classes: cars in the car park and on the road, trucks and buses, boats on water.

Sizes at the demo's ground resolution: cars 4-7 px long, trucks 7-12 px, boats 6-16 px.
xView type ids: car 18 (small car) / 17 (passenger vehicle); truck 23 (truck), 20 (pickup),
21 (utility truck), 19 (bus); boat 41 (motorboat), 42 (sailboat), 44 (fishing), 40 (vessel).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from workflow.scenes.demo import layout
from workflow.scenes.demo.painter import rasterise
from workflow.scenes.demo.placement import Placer
from workflow.scenes.demo.shapes import boat_parts, car_parts, truck_parts

PAINTS = np.array(
    [[235, 235, 232], [35, 36, 40], [168, 170, 174], [170, 40, 38], [40, 62, 140], [84, 86, 90],
     [196, 184, 150], [226, 196, 60]],
    dtype=float,
)  # fmt: skip
GLASS = np.array([48.0, 54.0, 64.0])
MIN_CONTRAST = 30.0  # grey levels between a vehicle's paint and the ground under it
Pose = tuple[float, float, float]  # x, y, heading (radians)


def paint_for(rng: np.random.Generator, background: float) -> np.ndarray:
    """A paint from PAINTS whose grey level is at least MIN_CONTRAST off the background.

    A labelled vehicle the colour of the road would teach the detector to see nothing.
    """
    usable = PAINTS[np.abs(PAINTS.mean(axis=1) - background) >= MIN_CONTRAST]
    return usable[rng.integers(len(usable))] + rng.uniform(-8, 8, 3)


def _place(placer: Placer, parts, pose: Pose, allowed, colours: Callable[[float], dict],
           kind: str, type_id: int, shadow: float) -> bool:  # fmt: skip
    """Rasterise at the pose; if it fits, colour it against the ground under it and commit."""
    x, y, heading = pose
    raster = rasterise(parts, x, y, heading, tuple(placer.ground.sun * shadow))
    if not placer.fits(raster, allowed):
        return False
    placer.commit(raster, colours(placer.background_level(raster)), kind, type_id, clearance=1)
    return True


def car(placer: Placer, pose: Pose, allowed) -> bool:
    rng = placer.rng
    length = rng.uniform(4.0, 7.0)
    parts = car_parts(length, max(2.0, length * rng.uniform(0.42, 0.5)))
    type_id = int(rng.choice([18, 17]))

    def colours(background):
        return dict(body=paint_for(rng, background), glass=GLASS)

    return _place(placer, parts, pose, allowed, colours, "car", type_id, shadow=0.8)


def truck(placer: Placer, pose: Pose, allowed) -> bool:
    rng = placer.rng
    bus = rng.random() < 0.2
    length = rng.uniform(9.0, 12.0) if bus else rng.uniform(7.0, 12.0)
    parts = truck_parts(length, rng.uniform(3.0, 4.0), bus)
    type_id = 19 if bus else int(rng.choice([23, 20, 21]))

    def colours(background):
        body = paint_for(rng, background)
        return dict(
            body=body, cab=PAINTS[rng.integers(len(PAINTS))], roof=np.clip(body + 30, 0, 255)
        )

    return _place(placer, parts, pose, allowed, colours, "truck", type_id, shadow=1.3)


def add_parking(placer: Placer, occupancy: float) -> None:
    """Cars nose-in in a share `occupancy` of the parking stalls."""
    g, rng = placer.ground, placer.rng
    for u, v in g.plan.stalls:
        if rng.random() < occupancy:
            x, y = g.frame.to_image([u + rng.normal(0, 0.3), v + rng.normal(0, 0.5)])
            car(
                placer, (x, y, g.frame.heading(True) + np.pi * (rng.random() < 0.5)), (layout.ROAD,)
            )


def add_traffic(placer: Placer, cars: int, trucks: int, apron_trucks: int) -> None:
    """Cars and trucks driving along the access road (keeping right), service trucks on the apron."""
    g, rng = placer.ground, placer.rng
    road_v, u0, u1 = g.plan.road
    for count, make in ((cars, car), (trucks, truck)):
        for _ in range(count):
            lane = rng.choice([-1, 1])
            x, y = g.frame.to_image([rng.uniform(u0, u1), road_v + 3 * lane])
            make(placer, (x, y, g.frame.heading(False) + np.pi * (lane < 0)), (layout.ROAD,))
    for _ in range(apron_trucks):
        point = placer.random_point((layout.APRON,))
        if point is not None:
            truck(placer, (*point, rng.uniform(0, 2 * np.pi)), (layout.APRON, layout.PAVED))


def add_boats(placer: Placer, count: int, tries: int = 10) -> None:
    """Boats on open water; the kind (type id) follows the length."""
    rng = placer.rng
    cabins = np.array([[150, 160, 175], [200, 200, 196], [70, 90, 140]], dtype=float)

    def colours(background):
        return dict(body=np.full(3, rng.uniform(215, 245)), cabin=cabins[rng.integers(3)])

    for _ in range(count):
        for _ in range(tries):
            point = placer.random_point((layout.WATER,))
            if point is None:
                return
            length = rng.uniform(6.0, 16.0)
            type_id = 41 if length < 9 else int(rng.choice([42, 44])) if length < 13 else 40
            parts = boat_parts(length, length * rng.uniform(0.3, 0.4))
            pose = (*point, rng.uniform(0, 2 * np.pi))
            if _place(placer, parts, pose, (layout.WATER,), colours, "boat", type_id, shadow=0.6):
                break
