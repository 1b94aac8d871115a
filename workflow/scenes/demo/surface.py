"""Paint the ground from the plan: textured surfaces, runway and apron markings, buildings.

All images here are (S, S, 3) float32 RGB in 0..255, changed in place.
"""

from __future__ import annotations

import cv2
import numpy as np

from workflow.scenes.demo.layout import APRON, BUILDING, GRASS, Frame, Plan
from workflow.scenes.demo.painter import fill

WHITE = [232.0, 232.0, 226.0]
YELLOW = [222.0, 190.0, 70.0]
ROOFS = np.array(
    [
        [196, 196, 192],
        [222, 220, 214],
        [104, 104, 108],
        [166, 98, 72],
        [122, 136, 152],
        [202, 190, 160],
    ],
    dtype=np.float32,
)
AMPLITUDE = np.array([9, 3, 5, 4, 0, 4], np.float32)  # texture strength per region id


def noise(rng: np.random.Generator, size: int, scales=(96, 24, 6), weights=(1.0, 0.6, 0.35)):
    """(size, size) float32 smooth noise of about unit spread: upsampled random grids summed."""
    total = np.zeros((size, size), np.float32)
    for scale, weight in zip(scales, weights):
        cells = max(2, int(np.ceil(size / scale)) + 1)
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        total += weight * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return total / np.sqrt(sum(w * w for w in weights))


def colour_regions(rng: np.random.Generator, regions: np.ndarray) -> np.ndarray:
    """(S, S) region ids -> (S, S, 3) float32: a colour per region, textured; dry patches in grass."""
    size = regions.shape[0]
    grass = np.array([rng.uniform(78, 100), rng.uniform(104, 128), rng.uniform(52, 72)])
    palette = np.stack(
        [
            grass,  # GRASS
            [rng.uniform(35, 55), rng.uniform(70, 88), rng.uniform(95, 118)],  # WATER
            np.full(3, rng.uniform(148, 172)) + rng.uniform(-4, 4, 3),  # APRON: concrete
            np.full(3, rng.uniform(72, 92)),  # PAVED: asphalt
            ROOFS[0],  # BUILDING (painted over later)
            np.full(3, rng.uniform(84, 100)),  # ROAD
        ]
    ).astype(np.float32)
    image = palette[regions]
    image += (AMPLITUDE[regions] * noise(rng, size))[..., None]
    patches = noise(rng, size, (160, 40), (1.0, 0.5)) * 0.5 - 0.2
    np.clip(patches, 0, 1, out=patches)
    patches[regions != GRASS] = 0
    image += patches[..., None] * (np.float32([150, 138, 96]) - palette[GRASS])
    return image


def runway_marks(frame: Frame, plan: Plan) -> list[np.ndarray]:
    """White polygons: edge lines, dashed centre line, threshold bars and aiming-point blocks."""
    rv, rw = plan.runway
    end = 0.46 * plan.size - 4  # inner edge of each runway end
    marks = [
        frame.rect(-end, end, rv + side * (rw / 2 - 2.5), rv + side * (rw / 2 - 1.3))
        for side in (1, -1)
    ]
    marks += [
        frame.rect(u, u + 16, rv - 0.8, rv + 0.8) for u in np.arange(-end + 44, end - 46, 30.0)
    ]
    bars_v = [v for v in np.linspace(rv - rw / 2 + 4, rv + rw / 2 - 6, 8) if abs(v + 0.9 - rv) > 2]
    for e in (1, -1):
        outer, inner = e * end, e * (end - 22)
        marks += [frame.rect(min(outer, inner), max(outer, inner), v, v + 1.8) for v in bars_v]
        aim = e * (end - 66)
        marks += [
            frame.rect(aim - 9, aim + 9, rv + s * rw / 4 - 2, rv + s * rw / 4 + 2) for s in (1, -1)
        ]
    return marks


def paint_markings(image: np.ndarray, regions: np.ndarray, frame: Frame, plan: Plan) -> None:
    """Runway marks, the taxiway centre line, apron slab joints, stand lines, parking stalls."""
    fill(image, runway_marks(frame, plan), WHITE)
    tv, _ = plan.taxiway
    size = plan.size
    fill(image, [frame.rect(-0.42 * size, 0.42 * size, tv - 0.6, tv + 0.6)], YELLOW)
    u0, u1, v0, v1 = plan.apron
    joints = np.zeros(regions.shape, np.uint8)
    grid = [frame.rect(u, u + 0.9, v0, v1) for u in np.arange(u0, u1, 14.0)]
    grid += [frame.rect(u0, u1, v, v + 0.9) for v in np.arange(v0, v1, 14.0)]
    fill(joints, grid, 1)
    image[(joints > 0) & (regions == APRON)] *= 0.92
    stands = [frame.rect(u - 0.6, u + 0.6, v0 + 8, v - 2) for u, v in plan.stands]  # lead-in lines
    stands += [frame.rect(u - 5, u + 5, v - 2, v - 0.8) for u, v in plan.stands]  # stop bars
    fill(image, stands, YELLOW)
    fill(image, [frame.rect(u - 0.4, u + 0.4, v - 5, v + 5) for u, v in plan.stalls], WHITE)


def building(image, regions, polygon: np.ndarray, sun: np.ndarray, height: float, roof) -> None:
    """Cast the shadow (darken what lies under it), then the roof with a lighter ridge line.

    Works in the window around roof and shadow, so a building costs a few small fills.
    """
    size = regions.shape[0]
    points = np.concatenate([polygon, polygon + sun * height])
    x0, y0 = np.clip(np.floor(points.min(0)).astype(int) - 1, 0, size)
    x1, y1 = np.clip(np.ceil(points.max(0)).astype(int) + 2, 0, size)
    if x1 <= x0 or y1 <= y0:
        return
    local = polygon - (x0, y0)
    win_image, win_regions = image[y0:y1, x0:x1], regions[y0:y1, x0:x1]
    shadow = np.zeros(win_regions.shape, np.uint8)
    fill(shadow, [local + sun * height], 1)
    fill(shadow, [local], 0)
    win_image[(shadow > 0) & (win_regions != BUILDING)] *= 0.55
    fill(win_image, [local], np.asarray(roof).tolist())
    fill(win_regions, [local], BUILDING)
    mid = local.mean(0)  # ridge: along the first axis of the rectangle, 90 % of its length
    a, b = mid + 0.45 * (local[0] + local[3] - 2 * mid), mid + 0.45 * (
        local[1] + local[2] - 2 * mid
    )
    fill(
        win_image,
        [np.array([a, b, b + 0.9, a + 0.9])],
        np.clip(np.asarray(roof) * 1.12, 0, 255).tolist(),
    )


def add_buildings(rng, image, regions, frame: Frame, plan: Plan, sun: np.ndarray) -> None:
    """The terminal and hangars beside the apron; houses on free grass further away."""
    building(image, regions, frame.rect(*plan.terminal), sun, 9, ROOFS[rng.integers(0, 2)])
    u0, u1, v0, _ = plan.apron
    for u in (u0 - 55, u1 + 8):
        if rng.random() < 0.7:
            hangar = frame.rect(u, u + 45, v0 + 20, v0 + 80)
            building(image, regions, hangar, sun, 8, ROOFS[rng.integers(len(ROOFS))])
    size = regions.shape[0]
    for _ in range(int(90 * (size / 1024) ** 2)):
        w, h = rng.uniform(10, 34, 2)
        poly = frame.rect(0, w, 0, h) - frame.to_image([0, 0]) + rng.uniform(0, size, 2)
        x0, y0, x1, y1 = np.clip(
            np.concatenate([poly.min(0) - 4, poly.max(0) + 4]).astype(int), 0, size
        )
        if x1 <= x0 or y1 <= y0 or (regions[y0:y1, x0:x1] != GRASS).any():
            continue  # only on free grass, 4 px clear of anything else
        building(image, regions, poly, sun, rng.uniform(3, 7), ROOFS[rng.integers(len(ROOFS))])
