"""The other classes: cars in the car park and on the road, trucks and buses, boats on water.

Sizes at the demo's ground resolution: cars 4-7 px long, trucks 7-12 px, boats 6-16 px.
xView type ids: car 18 (small car) / 17 (passenger vehicle); truck 23 (truck), 20 (pickup),
21 (utility truck), 19 (bus); boat 41 (motorboat), 42 (sailboat), 44 (fishing), 40 (vessel).
"""

from __future__ import annotations

import numpy as np

from workflow.demo import layout
from workflow.demo.painter import rasterise
from workflow.demo.placement import Placer
from workflow.demo.shapes import boat_parts, car_parts, truck_parts

CAR_PAINT = np.array(
    [
        [235, 235, 232],
        [35, 36, 40],
        [168, 170, 174],
        [170, 40, 38],
        [40, 62, 140],
        [84, 86, 90],
        [196, 184, 150],
    ],
    dtype=float,
)
GLASS = np.array([48.0, 54.0, 64.0])


def _try(
    placer: Placer,
    parts,
    x: float,
    y: float,
    heading: float,
    allowed,
    colours,
    kind: str,
    type_id: int,
    shadow: float = 1.0,
) -> bool:
    raster = rasterise(parts, x, y, heading, tuple(placer.ground.sun * shadow))
    if not placer.fits(raster, allowed):
        return False
    placer.commit(raster, colours, kind, type_id, clearance=1)
    return True


def _car(placer: Placer, x: float, y: float, heading: float, allowed) -> bool:
    rng = placer.rng
    length = rng.uniform(4.0, 7.0)
    paint = CAR_PAINT[rng.integers(len(CAR_PAINT))] + rng.uniform(-8, 8, 3)
    parts = car_parts(length, max(2.0, length * rng.uniform(0.42, 0.5)))
    return _try(
        placer,
        parts,
        x,
        y,
        heading,
        allowed,
        dict(body=paint, glass=GLASS),
        "car",
        int(rng.choice([18, 17])),
        shadow=0.8,
    )


def _truck(placer: Placer, x: float, y: float, heading: float, allowed) -> bool:
    rng = placer.rng
    bus = rng.random() < 0.2
    length = rng.uniform(9.0, 12.0) if bus else rng.uniform(7.0, 12.0)
    colours = dict(
        body=np.full(3, rng.uniform(180, 240)) if rng.random() < 0.6 else rng.uniform(40, 220, 3),
        cab=CAR_PAINT[rng.integers(len(CAR_PAINT))],
        roof=np.full(3, rng.uniform(200, 245)),
    )
    type_id = 19 if bus else int(rng.choice([23, 20, 21]))
    parts = truck_parts(length, rng.uniform(3.0, 4.0), bus)
    return _try(placer, parts, x, y, heading, allowed, colours, "truck", type_id, shadow=1.3)


def add_parking(placer: Placer, occupancy: float) -> None:
    """Cars nose-in in a share `occupancy` of the parking stalls."""
    g, rng = placer.ground, placer.rng
    for u, v in g.plan.stalls:
        if rng.random() < occupancy:
            x, y = g.frame.to_image([u + rng.normal(0, 0.3), v + rng.normal(0, 0.5)])
            _car(placer, x, y, g.frame.heading(True) + np.pi * (rng.random() < 0.5), (layout.ROAD,))


def add_traffic(placer: Placer, cars: int, trucks: int, apron_trucks: int) -> None:
    """Cars and trucks driving along the access road, service trucks on the apron."""
    g, rng = placer.ground, placer.rng
    road_v, u0, u1 = g.plan.road
    for count, make in ((cars, _car), (trucks, _truck)):
        for _ in range(count):
            lane = rng.choice([-1, 1])
            x, y = g.frame.to_image([rng.uniform(u0, u1), road_v + 3 * lane])
            make(placer, x, y, g.frame.heading(False) + np.pi * (lane < 0), (layout.ROAD,))
    for _ in range(apron_trucks):
        point = placer.random_point((layout.APRON,))
        if point is not None:
            _truck(placer, *point, rng.uniform(0, 2 * np.pi), (layout.APRON, layout.PAVED))


def add_boats(placer: Placer, count: int, tries: int = 10) -> None:
    """Boats on open water; the kind (type id) follows the length."""
    rng = placer.rng
    for _ in range(count):
        for _ in range(tries):
            point = placer.random_point((layout.WATER,))
            if point is None:
                return
            length = rng.uniform(6.0, 16.0)
            type_id = 41 if length < 9 else int(rng.choice([42, 44])) if length < 13 else 40
            colours = dict(
                body=np.full(3, rng.uniform(215, 245)),
                cabin=np.array([[150, 160, 175], [200, 200, 196], [70, 90, 140]][rng.integers(3)]),
            )
            parts = boat_parts(length, length * rng.uniform(0.3, 0.4))
            if _try(
                placer,
                parts,
                *point,
                rng.uniform(0, 2 * np.pi),
                (layout.WATER,),
                colours,
                "boat",
                type_id,
                shadow=0.6,
            ):
                break
