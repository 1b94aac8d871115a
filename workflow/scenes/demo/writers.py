"""Write scenes in the two source formats, exactly as the index reads real data.

xView: one 3-band uint8 GeoTIFF per scene (EPSG:4326, north-up affine transform) and one GeoJSON
FeatureCollection for all scenes; each feature has `bounds_imcoords` "xmin,ymin,xmax,ymax"
(pixels), `type_id`, `image_id` "<name>.tif", `feature_id`, and the box corners as a lon/lat
Polygon through the scene's transform.
DOTA: one PNG per scene and `labelTxt/<stem>.txt` with `imagesource:` and `gsd:` header lines,
then `x1 y1 x2 y2 x3 y3 x4 y4 category difficult`.

A scene drawn at one ground resolution can be written at another (`rescale`): the image is
resampled (cubic when enlarging, area average when shrinking) and its labels scaled with it,
xView boxes rounded outwards to whole pixels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import rasterio
from rasterio.transform import Affine

from workflow.core.io import atomic_path, write_png
from workflow.scenes.demo.placement import SceneObject

GSD_M = 0.3  # ground sample distance of the demo scenes, metres per pixel (xView's is 0.3 m)
METRES_PER_DEGREE = 111_320.0
DOTA_CATEGORIES = {
    "plane": "plane",
    "car": "small-vehicle",
    "truck": "large-vehicle",
    "boat": "ship",
}


def rescale(image: np.ndarray, objects: list[SceneObject], drawn_gsd: float,
            written_gsd: float) -> tuple[np.ndarray, list[SceneObject]]:
    """A scene drawn at `drawn_gsd` (m/px) as written at `written_gsd`: the image resampled to
    round(side * drawn / written) px, the labels scaled by the same ratio."""
    side = image.shape[0]
    written = int(round(side * drawn_gsd / written_gsd))
    if written == side:
        return image, objects
    factor = written / side
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    resized = cv2.resize(image, (written, written), interpolation=interpolation)
    scaled = []
    for obj in objects:
        x0, y0, x1, y1 = obj.box
        box = (int(np.floor(x0 * factor)), int(np.floor(y0 * factor)),
               min(int(np.ceil(x1 * factor)), written), min(int(np.ceil(y1 * factor)), written))
        scaled.append(dataclasses.replace(obj, box=box, polygon=obj.polygon * factor))
    return resized, scaled


def scene_transform(rng: np.random.Generator, gsd: float = GSD_M) -> Affine:
    """A north-up transform at `gsd` m/px for a scene whose top-left corner is somewhere on land-ish."""
    lat, lon = rng.uniform(-50, 50), rng.uniform(-150, 150)
    dlat = gsd / METRES_PER_DEGREE
    dlon = dlat / np.cos(np.radians(lat))
    return Affine(dlon, 0.0, lon, 0.0, -dlat, lat)


def write_geotiff(path: Path, image: np.ndarray, transform: Affine) -> None:
    """(H, W, 3) uint8 RGB -> tiled, deflate-compressed GeoTIFF (windowed reads stay cheap)."""
    height, width, _ = image.shape
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs="EPSG:4326",
        transform=transform,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="deflate",
        photometric="RGB",
        interleave="pixel",
    )
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.moveaxis(image, 2, 0))


def xview_features(
    objects: list[SceneObject], image_id: str, transform: Affine, first_id: int
) -> list[dict]:
    """GeoJSON features of one scene's labels; the geometry is the pixel box in lon/lat."""
    features = []
    for k, obj in enumerate(objects):
        x0, y0, x1, y1 = obj.box
        ring = [transform @ (x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[round(lon, 9), round(lat, 9)] for lon, lat in ring]],
                },
                "properties": {
                    "bounds_imcoords": f"{x0},{y0},{x1},{y1}",
                    "type_id": obj.type_id,
                    "image_id": image_id,
                    "feature_id": first_id + k,
                },
            }
        )
    return features


def dota_text(objects: list[SceneObject], size: int, gsd: float = GSD_M) -> str:
    """labelTxt content: header lines, then one oriented polygon per object (clipped to the image)."""
    lines = ["imagesource:demo_scenes", f"gsd:{gsd}"]
    for obj in objects:
        corners = np.clip(obj.polygon, 0, size).reshape(-1)
        coords = " ".join(f"{value:.1f}" for value in corners)
        lines.append(f"{coords} {DOTA_CATEGORIES[obj.kind]} 0")
    return "\n".join(lines) + "\n"


def write_dota(
    images: Path, labels: Path, stem: str, image: np.ndarray, objects: list[SceneObject],
    gsd: float = GSD_M,
) -> None:
    write_png(images / f"{stem}.png", image)
    with atomic_path(labels / f"{stem}.txt") as tmp:
        tmp.write_text(dota_text(objects, image.shape[0], gsd))
