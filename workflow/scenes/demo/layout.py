"""Where things are: the airport plan (runway, taxiway, apron, terminal, road, car park, lake).

The airport is laid out in its own frame (u along the runway, v across it, towards the
terminal) in pixels, then rotated by a random angle about a point near the scene centre, so
every scene shows the same kind of airport at another angle and offset. Distances across the
runway are absolute pixels (they set the room planes have); lengths along it scale with the
scene size. `workflow.scenes.demo.surface` paints the ground from the plan; `Ground` carries the
painted image, a map of region ids and the plan whose anchors (stands, lanes, parking stalls)
tell where objects go.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from workflow.scenes.demo.painter import fill

GRASS, WATER, APRON, PAVED, BUILDING, ROAD = range(6)  # region ids; PAVED: runway and taxiways


@dataclasses.dataclass(frozen=True)
class Frame:
    """Airport frame: (u, v) -> image (x, y) by rotating by `angle` about (cx, cy)."""

    cx: float
    cy: float
    angle: float

    def to_image(self, uv) -> np.ndarray:
        """(K, 2) or (2,) airport coordinates -> image coordinates, same shape."""
        uv = np.asarray(uv, dtype=np.float64)
        c, s = np.cos(self.angle), np.sin(self.angle)
        return uv @ np.array([[c, s], [-s, c]]) + np.array([self.cx, self.cy])

    def rect(self, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
        """(4, 2) image polygon of an airport-frame rectangle."""
        return self.to_image([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])

    def heading(self, along_v: bool) -> float:
        """Image heading (radians) of the +u axis, or of the +v axis."""
        return self.angle + (np.pi / 2 if along_v else 0.0)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Airport-frame geometry in pixels; rectangles are (u0, u1, v0, v1)."""

    size: int
    runway: tuple[float, float]  # (centre v, width)
    taxiway: tuple[float, float]  # (centre v, width)
    apron: tuple[float, float, float, float]
    terminal: tuple[float, float, float, float]
    road: tuple[float, float, float]  # (centre v, u0, u1), 12 px wide
    lot: tuple[float, float, float, float]  # the car park
    lake: tuple[float, float, float] | None  # (u, v, radius) or no water

    @property
    def stands(self) -> list[tuple[float, float]]:
        """(u, v) of each stand's stop line, 38 px apart along the terminal side of the apron."""
        u0, u1, _, v1 = self.apron
        return [(u, v1 - 4) for u in np.arange(u0 + 22, u1 - 20, 38.0)]

    @property
    def stalls(self) -> list[tuple[float, float]]:
        """(u, v) of each parking stall: 4 rows, 7 px apart along a row."""
        u0, u1, v0, _ = self.lot
        return [
            (u, v) for v in v0 + 9 + 17.5 * np.arange(4) for u in np.arange(u0 + 4, u1 - 3, 7.0)
        ]


def plan_airport(rng: np.random.Generator, size: int) -> Plan:
    """Draw the airport's dimensions: runway, taxiway and apron side by side, then the landside."""
    depth = rng.uniform(150, 210)
    apron_half = max(120.0, rng.uniform(0.22, 0.32) * size)
    au = rng.uniform(-0.08, 0.08) * size
    apron = (au - apron_half, au + apron_half, -30.0, -30.0 + depth)
    terminal_v = apron[3] + rng.uniform(30, 45)
    road_v = terminal_v + 22
    pu = au - apron_half * rng.uniform(0.2, 0.9)
    lake = None
    if rng.random() < 0.75:  # beyond the runway, away from the terminal
        lake = (rng.uniform(-0.4, 0.4) * size, -110 - rng.uniform(140, 260), rng.uniform(60, 150))
    return Plan(
        size=size,
        runway=(-110.0, rng.uniform(30, 40)),
        taxiway=(-52.0, rng.uniform(13, 17)),
        apron=apron,
        terminal=(apron[0] + 20, apron[1] - 20, apron[3] + 3, terminal_v),
        road=(road_v, -0.75 * size, 0.75 * size),
        lot=(pu, pu + rng.uniform(0.15, 0.28) * size, road_v + 10, road_v + 80),
        lake=lake,
    )


def lake_outline(rng, centre: np.ndarray, radius: float, points: int = 18) -> np.ndarray:
    """(points, 2) smooth random closed outline around `centre`: radii jittered, then smoothed."""
    angles = np.linspace(0, 2 * np.pi, points, endpoint=False)
    jitter = rng.standard_normal(points)
    smooth = (np.roll(jitter, 1) + jitter + np.roll(jitter, -1)) / 3  # circular moving average
    radii = radius * (1 + 0.25 * smooth)
    return centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]


def fill_regions(rng, regions: np.ndarray, frame: Frame, plan: Plan) -> None:
    """Write region ids in paint order: water, paved strips, apron, roads and the car park."""
    size = plan.size
    if plan.lake is not None:
        u, v, radius = plan.lake
        fill(regions, [lake_outline(rng, frame.to_image([u, v]), radius)], WATER)
    (rv, rw), (tv, tw) = plan.runway, plan.taxiway
    u0, u1, v0, _ = plan.apron
    strips = [
        frame.rect(-0.46 * size, 0.46 * size, rv - rw / 2, rv + rw / 2),
        frame.rect(-0.42 * size, 0.42 * size, tv - tw / 2, tv + tw / 2),
    ]
    # Connectors from the runway across the taxiway to the apron: both runway ends and the middle.
    strips += [
        frame.rect(u - 9, u + 9, rv, v0 + 2) for u in (-0.4 * size, (u0 + u1) / 2, 0.4 * size)
    ]
    fill(regions, strips, PAVED)
    fill(regions, [frame.rect(*plan.apron)], APRON)
    road_v, r0, r1 = plan.road
    spur = u0 + 1.7 * (u1 - u0) / 2  # a side road leaving the scene, away from the apron
    roads = [
        frame.rect(r0, r1, road_v - 6, road_v + 6),
        frame.rect(spur - 6, spur + 6, road_v, 2 * size),
    ]
    fill(regions, roads + [frame.rect(*plan.lot)], ROAD)


@dataclasses.dataclass
class Ground:
    """image: (S, S, 3) float32 RGB; regions: (S, S) uint8 region ids; the anchors objects use."""

    image: np.ndarray
    regions: np.ndarray
    frame: Frame
    plan: Plan
    sun: np.ndarray  # (2,) unit vector: where shadows fall
