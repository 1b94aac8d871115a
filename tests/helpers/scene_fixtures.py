"""Tiny hand-made scenes in both formats, good and malformed, for the index and tiling tests.

`make_sources(root)` writes them and returns the `data` and `classes` config sections plus the
skips the index must count (the expected numbers are derived here, next to the files that cause
them, so the tests compare against what was written).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from workflow.core import io

CLASSES = {
    "names": ["plane", "car", "truck", "boat"],
    "target": "plane",
    "xview": {"11": "plane", "13": "plane", "18": "car", "23": "truck", "40": "boat"},
    "dota": {"plane": "plane", "small-vehicle": "car", "large-vehicle": "truck", "ship": "boat"},
}
TILING = {
    "crop_size": 32, "oversize": "shrink", "background_margin": 8, "background_stride": 48, "detect_size": 64,
    "detect_overlap": 16, "min_visibility": 0.5,
    "tarmac": {"min_fraction": 0.35, "max_saturation": 40, "value_range": [70, 190]},
}
SPLIT = {"seed": 0, "fractions": {"train": 0.6, "val": 0.2, "test": 0.2}}


def scene_pixels(seed: int, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 noise: every window differs, so a tile can be matched to its place."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_geotiff(path: Path, image: np.ndarray) -> None:
    """A tiled, compressed, georeferenced 3-band GeoTIFF of an (H, W, 3) uint8 array."""
    height, width, _ = image.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3,
                       dtype="uint8", tiled=True, blockxsize=64, blockysize=64, compress="deflate",
                       crs="EPSG:4326", transform=Affine(1e-5, 0, 10.0, 0, -1e-5, 50.0)) as dst:
        dst.write(image.transpose(2, 0, 1))


def feature(image_id, type_id, bounds) -> dict:
    return {"type": "Feature", "geometry": None,
            "properties": {"image_id": image_id, "type_id": type_id, "bounds_imcoords": bounds}}


def xview_features() -> tuple[list, dict]:
    """GeoJSON features and the skips they must cause."""
    good = [
        feature("10.tif", 11, "20,30,44,50"), feature("10.tif", 13, "150,100,176,128"),
        feature("10.tif", 18, "200,200,210,208"), feature("11.tif", 11, "100,60,130,90"),
        feature("11.tif", 40, "10,10,30,22"), feature("12.tif", 18, "50,50,60,58"),
        feature("12.tif", 23, "100,100,120,112"), feature("13.tif", 11, "240,180,270,206"),
        feature("12.tif", 18, "40,150,56,160"),  # exactly half inside the detect tile at x0=48
        feature("13.tif", 40, [10, 10, 30, 22]),  # bounds_imcoords as a list of four numbers
    ]
    bad = [
        feature("10.tif", 75, "1,1,5,5"), feature("11.tif", 82, "1,1,5,5"),  # invalid ids
        feature("12.tif", 15, "1,1,5,5"),  # helicopter: not in the class map
        feature("11.tif", 18, "280,240,310,270"),  # leaves the 300 x 260 image: clipped
        feature("12.tif", 18, "400,400,420,420"),  # wholly outside
        feature("missing.tif", 11, "1,1,5,5"), feature("missing.tif", 18, "1,1,5,5"),
        feature("broken.tif", 11, "1,1,5,5"),
        {"type": "Feature", "properties": {"image_id": "10.tif", "type_id": 11}},
        feature("10.tif", 11, "1,2,3"), feature("10.tif", "abc", "1,1,5,5"),
        feature("10.tif", 11, "9,9,3,3"), "not a feature",
        feature("10.tif", 11, [1, 2, 3]), feature("10.tif", 11, [1, 2, "x", 4]),
    ]
    skips = {"missing_image": 1, "unreadable_image": 1, "objects_of_skipped_images": 3,
             "malformed_label": 7, "unknown_label": 3, "box_outside_image": 1, "clipped_box": 1,
             "unlabelled_image": 1, "unknown_labels": {"15": 1, "75": 1, "82": 1}}
    return good + bad, skips


DOTA_LABELS = {
    "P0001": ["imagesource:GoogleEarth", "gsd:0.15",
              "30 40 62 40 62 70 30 70 plane 0", "100 100 112 100 112 108 100 108 small-vehicle 1"],
    "P0002": ["200 150 230 150 230 190 200 190 plane 0",
              "10 10 20 10 20 16 10 16 large-vehicle 0",
              "60 20 70 20 70 28 60 28 small-vehicle",  # 9 fields: not difficult
              "1 1 9 1 9 9 1 9 helicopter 0",  # unknown category
              "1 1 9 1 9 9 1 9 plane x",  # line 5: bad difficult
              "gsd:0.3",  # line 6: a header line after the objects
              ""],
    "P0003": ["gsd:null", "50 50 80 50 80 70 50 70 ship 0"],
    # DOTA v2.0's header; difficult 2 (read as not difficult); written as UTF-16 (DOTA_UTF16)
    "P0004": ["imagesource:GoogleEarth", "gsd:0.146343590398", "acquisition dates:2016-05-12",
              "120 90 150 90 150 122 120 122 plane 2"],
    "P0009": ["1 1 9 1 9 9 1 9 plane 0"],  # its image is missing
    "P0010": ["1 1 9 1 9 9 1 9 plane 0"],  # its image is truncated
}
DOTA_UTF16 = {"P0004"}  # label files written as the DOTA devkit writes them (UTF-16 with a BOM)
DOTA_SKIPS = {"missing_image": 1, "unreadable_image": 1, "objects_of_skipped_images": 2,
              "malformed_label": 2, "unknown_label": 1, "box_outside_image": 0, "clipped_box": 0,
              "unlabelled_image": 1, "unknown_labels": {"helicopter": 1}}


def make_sources(root: Path, size: tuple[int, int] = (260, 300)) -> dict:
    """Write xView and DOTA fixtures under root; return the config sections and expected skips."""
    height, width = size
    xview_images, dota_images, dota_labels = root / "xview", root / "dota" / "images", root / "dota" / "labelTxt"
    for folder in (xview_images, dota_images, dota_labels):
        folder.mkdir(parents=True)
    for seed, stem in enumerate(["10", "11", "12", "13", "99"]):  # 99: no labels
        write_geotiff(xview_images / f"{stem}.tif", scene_pixels(seed, height, width))
    (xview_images / "broken.tif").write_bytes(b"this is not a tiff")
    features, xview_skips = xview_features()
    labels = root / "xview.geojson"
    labels.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    for seed, stem in enumerate(["P0001", "P0002", "P0003", "P0004", "P0005"], start=10):
        io.write_png(dota_images / f"{stem}.png", scene_pixels(seed, height, width))  # P0005: no labels
    truncated = (dota_images / "P0001.png").read_bytes()
    (dota_images / "P0010.png").write_bytes(truncated[: len(truncated) // 2])
    for stem, lines in DOTA_LABELS.items():
        text = "\r\n".join(lines) + "\r\n" if stem in DOTA_UTF16 else "\n".join(lines) + "\n"
        (dota_labels / f"{stem}.txt").write_bytes(text.encode("utf-16" if stem in DOTA_UTF16 else "utf-8"))
    data = {"demo": None,
            "xview": {"images": str(xview_images), "labels": str(labels)},
            "dota": {"images": str(dota_images), "labels": str(dota_labels)}}
    return {"data": data, "classes": CLASSES, "split": SPLIT,
            "skips": {"xview": xview_skips, "dota": DOTA_SKIPS}}
