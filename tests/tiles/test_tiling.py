"""Tiling geometry on hand-made scenes (GeoTIFF and PNG): crops, background and detection tiles."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.errors

from tests.helpers.scene_fixtures import CLASSES, TILING, make_sources
from workflow.core import io
from workflow.core.labels import parse_yolo, size_class
from workflow.scenes import index
from workflow.tiles import tiling, windows
from workflow.tiles.windows import centred_origin, grid_positions

TILING_JSON = json.dumps({"tiling": TILING, "classes": CLASSES})
TARGET_ID = CLASSES["names"].index(CLASSES["target"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Index the fixtures, then run the three subcommands through their CLI."""
    root = tmp_path_factory.mktemp("tiling")
    sources = make_sources(root / "sources")
    settings = json.dumps({key: sources[key] for key in ("data", "classes", "split")})
    paths = {name: root / "index" / f"{name}.csv" for name in ("scenes", "objects")}
    index.main(["--settings", settings, "--scenes", str(paths["scenes"]), "--objects",
                str(paths["objects"]), "--summary", str(root / "index" / "summary.json")])
    manifests = {}
    for kind in tiling.TILE_KINDS:
        manifests[kind] = root / "tiles" / kind / "manifest.csv"
        summary = ["--summary", str(root / "tiles" / kind / "summary.json")] if kind == "crops" else []
        tiling.main([kind, "--settings", TILING_JSON, "--scenes", str(paths["scenes"]),
                     "--objects", str(paths["objects"]), "--manifest", str(manifests[kind]), *summary])
    scenes, objects = tiling.load_index(paths["scenes"], paths["objects"])
    return dict(root=root, paths=paths, scenes=scenes, objects=objects,
                **{kind: pd.read_csv(path) for kind, path in manifests.items()})


def scene_pixels(scenes, scene_id) -> np.ndarray:
    path = scenes.set_index("scene_id").loc[scene_id, "image_path"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as src:  # the fixtures are tiny: whole reads are fine here
            return src.read().transpose(1, 2, 0)


def visibility(box, x0, y0, size) -> float:
    xmin, ymin, xmax, ymax = box
    w = max(0.0, min(xmax, x0 + size) - max(xmin, x0))
    h = max(0.0, min(ymax, y0 + size) - max(ymin, y0))
    return w * h / ((xmax - xmin) * (ymax - ymin))


def test_crops_contain_their_plane(run):
    crops, objects, scenes = run["crops"], run["objects"], run["scenes"]
    train = scenes[scenes["split"] == "train"]["scene_id"]
    planes = objects[(objects["class_name"] == "plane") & objects["scene_id"].isin(train)]
    assert sorted(crops["object_id"]) == sorted(planes["object_id"])  # one per train plane
    size = TILING["crop_size"]
    for crop in crops.itertuples():
        obj = objects.set_index("object_id").loc[crop.object_id]
        rel = np.array([obj.xmin - crop.x0, obj.ymin - crop.y0, obj.xmax - crop.x0, obj.ymax - crop.y0])
        assert (rel >= 0).all() and (rel <= size).all(), crop.crop_id  # the plane is inside
        assert np.allclose(rel, [crop.xmin, crop.ymin, crop.xmax, crop.ymax], atol=1e-3)
        image = io.read_png(crop.image)
        scene = scene_pixels(scenes, crop.scene_id)
        assert np.array_equal(image, scene[crop.y0:crop.y0 + size, crop.x0:crop.x0 + size])
        assert crop.size_class == size_class(obj.ymax - obj.ymin, obj.xmax - obj.xmin, size)


def test_detect_labels_map_back_to_scene_boxes(run):
    detect, objects, scenes = run["detect"], run["objects"], run["scenes"]
    size = TILING["detect_size"]
    assert set(detect["split"]) == set(index.SPLITS)
    for tile in detect.itertuples():
        assert tile.image == str(Path(tile.image)).replace("/labels/", "/images/")
        assert tile.labels == tile.image.replace("/images/", "/labels/").replace(".png", ".txt")
        assert f"/detect/{tile.split}/images/" in tile.image
        class_ids, boxes = parse_yolo(Path(tile.labels).read_text(), size)
        present = objects[objects["scene_id"] == tile.scene_id]
        expected = [(o.class_id, np.clip([o.xmin - tile.x0, o.ymin - tile.y0, o.xmax - tile.x0,
                                          o.ymax - tile.y0], 0, size))
                    for o in present.itertuples()
                    if visibility((o.xmin, o.ymin, o.xmax, o.ymax), tile.x0, tile.y0, size)
                    >= TILING["min_visibility"]]
        assert len(expected) == len(class_ids), tile.tile_id
        for class_id, box in zip(class_ids, boxes):
            assert any(c == class_id and np.abs(b - box).max() <= 1 for c, b in expected), tile.tile_id
        for name in CLASSES["names"]:
            assert getattr(tile, f"n_{name}") == sum(CLASSES["names"][c] == name for c in class_ids)
    tile = detect.iloc[len(detect) // 2]
    image = io.read_png(tile["image"])
    scene = scene_pixels(scenes, tile["scene_id"])
    assert np.array_equal(image, scene[tile["y0"]:tile["y0"] + size, tile["x0"]:tile["x0"] + size])


def test_no_object_lost_except_by_visibility(run):
    detect, objects, scenes = run["detect"], run["objects"], run["scenes"]
    size = TILING["detect_size"]
    assert len(detect) == len(detect["tile_id"].unique())
    n_class = detect[[f"n_{name}" for name in CLASSES["names"]]].sum()
    for scene in scenes.itertuples():  # the tiles cover every pixel of every scene
        tiles = detect[detect["scene_id"] == scene.scene_id]
        covered = np.zeros((scene.height, scene.width), bool)
        for tile in tiles.itertuples():
            covered[tile.y0:tile.y0 + size, tile.x0:tile.x0 + size] = True
        assert covered.all(), scene.scene_id
    expected = dict.fromkeys(CLASSES["names"], 0)
    for obj in objects.itertuples():  # label instances = (object, tile) pairs passing the rule
        tiles = detect[detect["scene_id"] == obj.scene_id]
        vis = [visibility((obj.xmin, obj.ymin, obj.xmax, obj.ymax), t.x0, t.y0, size)
               for t in tiles.itertuples()]
        expected[obj.class_name] += sum(v >= TILING["min_visibility"] for v in vis)
        assert max(vis) > 0
    assert n_class.to_dict() == {f"n_{name}": n for name, n in expected.items()}
    assert n_class.sum() > len(objects) / 2


def test_background_tiles_keep_the_margin(run):
    background, objects, scenes = run["background"], run["objects"], run["scenes"]
    size, margin = TILING["detect_size"], TILING["background_margin"]
    train = scenes[scenes["split"] == "train"]
    assert set(background["scene_id"]) <= set(train["scene_id"]) and len(background) > 0
    assert set(background["context"]) <= {"tarmac", "other"}
    planes = objects[objects["class_name"] == "plane"]
    n_windows = 0
    for scene in train.itertuples():
        xs = grid_positions(scene.width, size, TILING["background_stride"])
        ys = grid_positions(scene.height, size, TILING["background_stride"])
        boxes = planes[planes["scene_id"] == scene.scene_id][["xmin", "ymin", "xmax", "ymax"]]
        clear = [all(b.xmax <= x - margin or b.xmin >= x + size + margin or b.ymax <= y - margin
                     or b.ymin >= y + size + margin for b in boxes.itertuples())
                 for y in ys for x in xs]
        n_windows += sum(clear)
    assert len(background) == n_windows  # every clear window kept, no other
    for tile in background.itertuples():
        present = planes[planes["scene_id"] == tile.scene_id]
        for b in present.itertuples():
            assert (b.xmax <= tile.x0 - margin or b.xmin >= tile.x0 + size + margin
                    or b.ymax <= tile.y0 - margin or b.ymin >= tile.y0 + size + margin)
        class_ids, _ = parse_yolo(Path(tile.labels).read_text(), size)
        assert TARGET_ID not in class_ids
        assert io.read_png(tile.image).shape == (size, size, 3)


def test_tarmac_rule_on_synthetic_tiles():
    rule = tiling.TarmacRule(**TILING["tarmac"])
    grey = np.full((64, 64, 3), 128, np.uint8)
    green = np.zeros((64, 64, 3), np.uint8)
    green[...] = (60, 150, 50)
    dark = np.full((64, 64, 3), 30, np.uint8)
    assert tiling.context_of(grey, rule) == "tarmac"
    assert tiling.context_of(green, rule) == "other"
    assert tiling.context_of(dark, rule) == "other"  # grey but below value_range
    mixed = green.copy()
    mixed[:26] = 128  # 26 / 64 = 0.41 of the pixels grey
    assert tiling.tarmac_fraction(mixed, rule) == pytest.approx(26 / 64)
    assert tiling.context_of(mixed, rule) == "tarmac"
    assert tiling.context_of(mixed, tiling.TarmacRule(0.5, 40, (70, 190))) == "other"


def test_size_class_closed_form():
    assert size_class(16, 16, 32) == 5  # (h + w) / 2 = half the crop
    assert size_class(3, 3, 32) == 0
    assert size_class(31.9, 32, 32) == 9
    assert size_class(32, 32, 32) == 10
    assert size_class(100, 90, 32) == 10  # clamped
    assert size_class(np.array([16, 32]), np.array([16, 64]), 32).tolist() == [5, 10]


def test_window_geometry():
    assert grid_positions(300, 64, 48) == [0, 48, 96, 144, 192, 236]
    assert grid_positions(128, 128, 112) == [0]
    assert grid_positions(60, 64, 48) == []
    assert centred_origin((0, 0, 10, 10), 32, 300, 260) == (0, 0)  # shifted inside
    assert centred_origin((290, 250, 300, 260), 32, 300, 260) == (268, 228)
    assert centred_origin((100, 100, 120, 110), 32, 300, 260) == (94, 89)


@pytest.mark.parametrize("change,key", [
    ({"crop_sise": 32}, "tiling.crop_sise"),
    ({"tarmac": dict(TILING["tarmac"], min_fracton=0.3)}, "tiling.tarmac.min_fracton"),
    ({"detect_overlap": 64}, "tiling.detect_overlap"),
    ({"min_visibility": 0}, "tiling.min_visibility"),
    ({"tarmac": dict(TILING["tarmac"], value_range=[200, 100])}, "tiling.tarmac.value_range"),
])
def test_bad_settings_name_the_key(change, key):
    values = {"tiling": dict(TILING, **change), "classes": CLASSES}
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        tiling.settings_from_json(json.dumps(values))


def test_rerun_clears_stale_tiles_and_a_failed_run_leaves_no_manifest(run, monkeypatch):
    manifest = run["root"] / "rerun" / "crops" / "manifest.csv"
    settings = tiling.settings_from_json(TILING_JSON)
    summary = manifest.parent / "summary.json"
    tiling.make_tiles("crops", run["paths"]["scenes"], run["paths"]["objects"], settings, manifest,
                      summary)
    stale = manifest.parent / "images" / "stale.png"
    stale.write_bytes(b"old")
    table = tiling.make_tiles("crops", run["paths"]["scenes"], run["paths"]["objects"], settings,
                              manifest, summary)
    assert not stale.exists()
    assert sorted(p.name for p in (manifest.parent / "images").iterdir()) == sorted(
        Path(p).name for p in table["image"])

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tiling, "write_tile", killed)
    with pytest.raises(KeyboardInterrupt):
        tiling.make_tiles("crops", run["paths"]["scenes"], run["paths"]["objects"], settings,
                          manifest, summary)
    assert not manifest.exists()


def test_read_window_stays_inside(run):
    scene = run["scenes"].iloc[0]
    with windows.open_scene(scene) as src:
        assert windows.read_window(src, 0, 0, 16).shape == (16, 16, 3)
        with pytest.raises(ValueError, match="leaves the scene"):
            windows.read_window(src, int(scene["width"]) - 8, 0, 16)


def test_index_columns_are_checked(run, tmp_path):
    bad = tmp_path / "scenes.csv"
    run["scenes"].drop(columns=["split"]).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="missing columns \\['split'\\]"):
        tiling.load_index(bad, run["paths"]["objects"])
