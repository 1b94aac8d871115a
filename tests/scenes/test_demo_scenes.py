"""Demo scene generator: determinism, both formats, labels that fit what was drawn, size spread."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio

from workflow.core.io import read_png
from workflow.scenes import demo_scenes
from workflow.scenes.demo.painter import image_box, oriented_box, paint, rasterise
from workflow.scenes.demo.placement import MAX_PLANE_SIDE, plane_colours
from workflow.scenes.demo.shapes import plane_parts, sample_plane_params

SIZE, SEED, CROP = 512, 3, 32
PLANE_IDS = {11, 12, 13}
XVIEW_IDS = {11, 12, 13, 17, 18, 19, 20, 21, 23, 40, 41, 42, 44}
DOTA_CATEGORIES = {"plane", "small-vehicle", "large-vehicle", "ship"}


def generate(root: Path, seed: int = SEED) -> dict[str, Path]:
    paths = dict(
        out_xview_images=root / "xview" / "images",
        out_xview_labels=root / "xview" / "xview.geojson",
        out_dota_images=root / "dota" / "images",
        out_dota_labels=root / "dota" / "labelTxt",
    )
    demo_scenes.generate_scenes(
        **paths, n_xview=4, n_dota=4, size=SIZE, seed=seed, empty_fraction=0.25
    )
    return paths


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, Path]:
    return generate(tmp_path_factory.mktemp("demo"))


def xview_labels(paths) -> dict[str, list[tuple[int, tuple[int, ...], dict]]]:
    """image_id -> [(type_id, box, geometry)]."""
    collection = json.loads(paths["out_xview_labels"].read_text())
    assert collection["type"] == "FeatureCollection"
    scenes: dict[str, list] = {p.name: [] for p in paths["out_xview_images"].glob("*.tif")}
    for feature in collection["features"]:
        props = feature["properties"]
        box = tuple(int(v) for v in props["bounds_imcoords"].split(","))
        scenes[props["image_id"]].append((props["type_id"], box, feature["geometry"]))
    return scenes


def dota_labels(paths) -> dict[str, list[tuple[str, np.ndarray]]]:
    """stem -> [(category, polygon (4, 2))]; checks the header and every line's form."""
    scenes = {}
    for txt in sorted(paths["out_dota_labels"].glob("*.txt")):
        lines = txt.read_text().splitlines()
        assert lines[0].startswith("imagesource:") and lines[1].startswith("gsd:")
        float(lines[1].split(":", 1)[1])
        objects = []
        for line in lines[2:]:
            tokens = line.split()
            assert len(tokens) == 10, line
            assert tokens[8] in DOTA_CATEGORIES and tokens[9] in ("0", "1"), line
            objects.append((tokens[8], np.array([float(t) for t in tokens[:8]]).reshape(4, 2)))
        scenes[txt.stem] = objects
    return scenes


def plane_boxes(paths) -> list[tuple[float, float, float, float]]:
    """Axis-aligned plane boxes of both formats (DOTA: the polygon's extent)."""
    boxes = [
        box for objects in xview_labels(paths).values() for t, box, _ in objects if t in PLANE_IDS
    ]
    for objects in dota_labels(paths).values():
        boxes += [(*poly.min(0), *poly.max(0)) for cat, poly in objects if cat == "plane"]
    return boxes


def test_same_seed_same_bytes_other_seed_other_scenes(paths, tmp_path):
    again = generate(tmp_path / "again")
    files = sorted(
        p.relative_to(paths["out_xview_images"].parents[1])
        for p in paths["out_xview_images"].parents[1].rglob("*")
        if p.is_file()
    )
    assert len(files) == 4 + 1 + 4 + 4
    root_a, root_b = paths["out_xview_images"].parents[1], again["out_xview_images"].parents[1]
    for name in files:
        assert (root_a / name).read_bytes() == (root_b / name).read_bytes(), name
    other = generate(tmp_path / "other", seed=SEED + 1)
    assert not np.array_equal(
        read_png(paths["out_dota_images"] / "P0000.png"),
        read_png(other["out_dota_images"] / "P0000.png"),
    )


def test_xview_geotiffs_and_geojson_agree(paths):
    labels = xview_labels(paths)
    assert sorted(labels) == ["1000.tif", "1001.tif", "1002.tif", "1003.tif"]
    for image_id, objects in labels.items():
        with rasterio.open(paths["out_xview_images"] / image_id) as src:
            assert (src.count, src.width, src.height, src.dtypes[0]) == (3, SIZE, SIZE, "uint8")
            assert src.crs.to_epsg() == 4326
            transform = src.transform
        assert transform.a > 0 and transform.e < 0 and transform.b == transform.d == 0
        assert objects, f"{image_id} has no labels at all"
        for type_id, (x0, y0, x1, y1), geometry in objects:
            assert type_id in XVIEW_IDS
            ring = np.array(geometry["coordinates"][0])
            expected = [
                transform @ (x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))
            ]
            np.testing.assert_allclose(ring, expected, atol=1e-8)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_dota_images_and_lines(paths):
    labels = dota_labels(paths)
    assert sorted(labels) == ["P0000", "P0001", "P0002", "P0003"]
    for stem, objects in labels.items():
        with rasterio.open(
            paths["out_dota_images"] / f"{stem}.png"
        ) as src:  # as the tiling reads it
            assert (src.count, src.width, src.height) == (3, SIZE, SIZE)
        assert objects
        for _, polygon in objects:
            assert polygon.min() >= 0 and polygon.max() <= SIZE


def _ring_difference(image: np.ndarray, box) -> tuple[float, list[float]]:
    """Mean difference of the box from the median of a 2 px ring around it, and per box edge."""
    x0, y0, x1, y1 = box
    outer = image[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2].reshape(-1, 3).astype(float)
    inner_mask = np.zeros(image.shape[:2], bool)
    inner_mask[y0:y1, x0:x1] = True
    ring_mask = np.zeros_like(inner_mask)
    ring_mask[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = True
    background = np.median(image[ring_mask & ~inner_mask].astype(float), axis=0)
    diff = np.abs(image[y0:y1, x0:x1].astype(float) - background).max(axis=2)  # (h, w)
    edges = [diff[0].max(), diff[-1].max(), diff[:, 0].max(), diff[:, -1].max()]
    assert outer.size
    return float(diff.mean()), edges


def test_boxes_inside_images_and_around_drawn_pixels(paths):
    for image_id, objects in xview_labels(paths).items():
        with rasterio.open(paths["out_xview_images"] / image_id) as src:
            image = np.moveaxis(src.read(), 0, 2)
        for type_id, box, _ in objects:
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE
            if type_id in PLANE_IDS:
                mean, edges = _ring_difference(image, box)
                assert mean > 20, (image_id, box, mean)
                assert min(edges) > 20, (
                    image_id,
                    box,
                    edges,
                )  # tight: every edge touches the plane


def test_tight_and_oriented_boxes_hold_exactly_the_painted_pixels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        image = np.full((64, 64, 3), 120.0, np.float32)
        params = sample_plane_params(rng, rng.uniform(8, 30))
        raster = rasterise(plane_parts(params), 32.3, 31.7, rng.uniform(0, 2 * np.pi), (0.0, 0.0))
        paint(image, raster, plane_colours(rng, 120.0), 0.5)
        ys, xs = np.nonzero((image != 120).any(axis=2))
        assert image_box(raster) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        polygon = oriented_box(raster).astype(np.float32)
        for x, y in zip(xs, ys):  # every painted pixel's centre lies inside the oriented box
            assert cv2.pointPolygonTest(polygon, (float(x) + 0.5, float(y) + 0.5), False) >= 0


def test_plane_sizes_spread_over_six_size_classes(paths):
    boxes = np.array(plane_boxes(paths))
    h, w = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    assert h.max() <= MAX_PLANE_SIDE + 1e-6 and w.max() <= MAX_PLANE_SIDE + 1e-6
    assert min(h.min(), w.min()) >= 5
    classes = np.clip(np.floor(10 * (h + w) / (2 * CROP)), 0, 10).astype(int)
    assert len(set(classes.tolist())) >= 6, sorted(classes.tolist())


def test_some_scenes_hold_no_plane_and_the_others_several(paths):
    counts = [
        sum(t in PLANE_IDS for t, _, _ in objects) for objects in xview_labels(paths).values()
    ]
    counts += [sum(cat == "plane" for cat, _ in objects) for objects in dota_labels(paths).values()]
    assert sorted(counts)[:2] == [0, 0] and sorted(counts)[2] >= 4, counts  # round(0.25 * 4) each


def test_other_classes_have_their_sizes(paths):
    # Longest box side: length (car 4-7, truck 7-12, boat 6-16 px) plus a diagonal's width.
    limits = {18: 9, 17: 9, 23: 14, 20: 14, 21: 14, 19: 14, 40: 18, 41: 18, 42: 18, 44: 18}
    seen = set()
    for objects in xview_labels(paths).values():
        for type_id, (x0, y0, x1, y1), _ in objects:
            if type_id in limits:
                seen.add(limits[type_id])
                assert max(x1 - x0, y1 - y0) <= limits[type_id], (type_id, x1 - x0, y1 - y0)
    assert seen == {9, 14, 18}  # cars, trucks and boats all present


def _settings(tmp_path, **demo) -> str:
    base = dict(seed=0, n_xview=1, n_dota=1, size=256, empty_fraction=0.0)
    return json.dumps(
        {
            "demo": {**base, **demo},
            "xview": {"images": str(tmp_path / "xv"), "labels": str(tmp_path / "xv.geojson"),
                      "gsd": 0.3},
            "dota": {"images": str(tmp_path / "dota"), "labels": str(tmp_path / "txt"), "gsd": 0.3},
        }
    )


def test_command_line_writes_both_formats(tmp_path):
    demo_scenes.main(["--settings", _settings(tmp_path)])
    assert (tmp_path / "xv" / "1000.tif").exists() and (tmp_path / "dota" / "P0000.png").exists()
    assert json.loads((tmp_path / "xv.geojson").read_text())["features"]
    assert (tmp_path / "txt" / "P0000.txt").read_text().startswith("imagesource:")


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(bogus=1), "data.demo.bogus"),
        (dict(size=100), "data.demo.size"),
        (dict(empty_fraction=1.5), "data.demo.empty_fraction"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        demo_scenes.main(["--settings", _settings(tmp_path, **change)])


def test_null_demo_or_missing_format_is_an_error(tmp_path):
    settings = json.loads(_settings(tmp_path))
    with pytest.raises(ValueError, match="data.demo"):
        demo_scenes.main(["--settings", json.dumps({**settings, "demo": None})])
    with pytest.raises(ValueError, match="data.xview"):
        demo_scenes.main(["--settings", json.dumps({**settings, "xview": None})])
