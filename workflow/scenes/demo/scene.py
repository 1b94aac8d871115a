"""One complete scene: ground, planes, vehicles and boats, then a light sensor blur and noise."""

from __future__ import annotations

import cv2
import numpy as np

from workflow.scenes.demo import layout, surface, vehicles
from workflow.scenes.demo.placement import Placer, SceneObject, add_planes

PLANES_PER_SCENE = (8, 20)  # at 1024 px; fewer on smaller scenes (see plane_count)


def plane_count(rng: np.random.Generator, size: int) -> int:
    """8..20 planes on a 1024 px scene, scaled down (not below 0.6x) on smaller ones."""
    low, high = PLANES_PER_SCENE
    return int(round(rng.integers(low, high + 1) * float(np.clip(size / 1024, 0.6, 1.0))))


def finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """(S, S, 3) float32 -> uint8: a slight optical blur and sensor noise, as in real imagery."""
    image = cv2.GaussianBlur(image, (3, 3), 0.55)
    image += rng.normal(0.0, 2.0, image.shape[:2]).astype(np.float32)[..., None]
    np.maximum(image, 0, out=image)
    return cv2.convertScaleAbs(image)  # rounds and saturates to uint8


def make_ground(rng: np.random.Generator, size: int) -> layout.Ground:
    """Lay out and paint one airport of `size` x `size` px, at a random angle (no objects yet)."""
    jitter = rng.uniform(-0.1, 0.1, 2) * size
    frame = layout.Frame(size / 2 + jitter[0], size / 2 + jitter[1], rng.uniform(0, 2 * np.pi))
    sun_angle = rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(sun_angle), np.sin(sun_angle)])
    plan = layout.plan_airport(rng, size)
    regions = np.full((size, size), layout.GRASS, np.uint8)
    layout.fill_regions(rng, regions, frame, plan)
    image = surface.colour_regions(rng, regions)
    surface.paint_markings(image, regions, frame, plan)
    surface.add_buildings(rng, image, regions, frame, plan, sun)
    return layout.Ground(image, regions, frame, plan, sun)


def make_scene(
    rng: np.random.Generator, size: int, with_planes: bool, oriented: bool
) -> tuple[np.ndarray, list[SceneObject]]:
    """A (size, size, 3) uint8 RGB airport scene and its labels, drawn from `rng` only.

    `oriented`: the labels will be written as oriented polygons (DOTA), which sizes planes so
    that the polygon's extent, not only the tight box, stays within MAX_PLANE_SIDE.
    """
    ground = make_ground(rng, size)
    placer = Placer(ground, rng, shade=rng.uniform(0.45, 0.6))
    if with_planes:
        add_planes(placer, plane_count(rng, size), oriented)
    area = (size / 1024) ** 2
    vehicles.add_parking(placer, occupancy=rng.uniform(0.35, 0.8))
    vehicles.add_traffic(
        placer,
        cars=int(30 * area) + 2,
        trucks=int(10 * area) + 1,
        apron_trucks=int(rng.integers(3, 10) * area) + 1,
    )
    vehicles.add_boats(placer, count=int(rng.integers(3, 10)))
    return finish(rng, ground.image), placer.objects
