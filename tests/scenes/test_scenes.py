"""Scene index: both readers on hand-made fixtures (good and malformed), the split, settings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers.scene_fixtures import CLASSES, SPLIT, make_sources
from workflow.scenes import index
from workflow.scenes.readers import SkipLog, parse_dota_line, parse_xview_feature, read_dota_labels


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("sources"))


def settings_json(sources, **changes) -> str:
    values = {key: sources[key] for key in ("data", "classes", "split")}
    values.update(changes)
    return json.dumps(values)


@pytest.fixture(scope="module")
def built(sources):
    return index.build_index(index.settings_from_json(settings_json(sources)))


def test_every_skip_is_counted_per_source(sources, built):
    _, _, summary = built
    for source in ("xview", "dota"):
        assert summary["sources"][source]["skips"] == sources["skips"][source], source


def test_tables_hold_the_good_labels(built):
    scenes, objects, summary = built
    assert sorted(scenes["scene_id"]) == sorted(
        [f"xview_{s}" for s in ("10", "11", "12", "13")] + [f"dota_P000{i}" for i in (1, 2, 3, 4)])
    assert list(scenes.columns) == index.SCENE_COLUMNS
    assert list(objects.columns) == index.OBJECT_COLUMNS
    assert objects["object_id"].is_unique
    assert summary["total"]["objects_per_class"] == {"plane": 7, "car": 6, "truck": 2, "boat": 3}
    assert summary["total"]["scenes_without_target"] == 2
    # DOTA polygon -> axis-aligned box; difficult kept; class ids follow classes.names
    plane = objects[(objects["scene_id"] == "dota_P0001") & (objects["class_name"] == "plane")]
    assert plane[["xmin", "ymin", "xmax", "ymax"]].values.tolist() == [[30, 40, 62, 70]]
    car = objects[objects["scene_id"] == "dota_P0001"].iloc[1]
    assert (car["class_name"], car["class_id"], car["difficult"]) == ("car", 1, 1)
    # the box leaving the 300 x 260 image is clipped to it and flagged
    clipped = objects[objects["clipped"]]
    assert clipped[["xmin", "ymin", "xmax", "ymax"]].values.tolist() == [[280, 240, 300, 260]]
    counts = objects.groupby("scene_id").size()
    assert (scenes.set_index("scene_id")["n_objects"] == counts.reindex(scenes["scene_id"]).fillna(0)).all()


def test_skips_name_the_file(sources, caplog):
    with caplog.at_level(logging.WARNING):
        index.build_index(index.settings_from_json(settings_json(sources)))
    text = caplog.text
    assert "missing.tif not found" in text
    assert "broken.tif" in text and "P0010.png" in text  # unreadable images
    assert "P0009.png not found" in text and "P0009.txt" in text  # label file without image
    assert "P0002.txt:5:" in text and "P0002.txt:6:" in text  # malformed lines by number
    assert "'75'" in text and "'helicopter'" in text


def test_cli_writes_the_contract(sources, tmp_path):
    out = {name: tmp_path / f"{name}.csv" for name in ("scenes", "objects")}
    summary = tmp_path / "summary.json"
    index.main(["--settings", settings_json(sources), "--scenes", str(out["scenes"]),
                "--objects", str(out["objects"]), "--summary", str(summary)])
    assert list(pd.read_csv(out["scenes"]).columns) == index.SCENE_COLUMNS
    assert list(pd.read_csv(out["objects"]).columns) == index.OBJECT_COLUMNS
    assert set(json.loads(summary.read_text())) == {"sources", "total", "splits", "target",
                                                    "working_gsd"}


@pytest.mark.parametrize("line,message", [
    ("1 2 3 4 5 6 7 8", "8 fields"), ("1 2 3 4 5 6 7 x plane 0", "could not convert"),
    ("1 2 3 4 5 6 7 8 plane 3", "difficult is '3'"), ("5 5 5 5 5 5 5 5 plane 0", "empty box"),
    ("1 2 3 4 5 6 7 8 plane 0 extra", "11 fields"),
])
def test_malformed_dota_lines(line, message):
    with pytest.raises(ValueError, match=message):
        parse_dota_line(line)


def test_xview_feature_parsing():
    good = {"properties": {"image_id": "1.tif", "type_id": 13.0, "bounds_imcoords": "1,2,30,40"}}
    assert parse_xview_feature(good) == ("1.tif", "13", (1.0, 2.0, 30.0, 40.0))
    as_list = {"properties": {"image_id": "1.tif", "type_id": 13, "bounds_imcoords": [1, 2, 30.5, 40]}}
    assert parse_xview_feature(as_list) == ("1.tif", "13", (1.0, 2.0, 30.5, 40.0))
    for bad, message in (
        ({"properties": {"image_id": "1.tif", "type_id": 13, "bounds_imcoords": "1,2,x,4"}}, "'x'"),
        ({"properties": {"image_id": "1.tif", "type_id": 13, "bounds_imcoords": [1, 2, 3]}}, "four"),
        ({"properties": {"image_id": "1.tif", "type_id": 13, "bounds_imcoords": [1, 2, "3", 4]}},
         "list of four numbers"),
        ({"properties": {"image_id": "1.tif", "type_id": 13, "bounds_imcoords": {"x": 1}}},
         "list of four numbers"),
        ({"properties": {"image_id": "", "type_id": 13, "bounds_imcoords": "1,2,3,4"}}, "image_id"),
        ({"properties": {"image_id": "1.tif", "type_id": 1.5, "bounds_imcoords": "1,2,3,4"}}, "type_id"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_xview_feature(bad)


def synthetic_scenes(n_target: int, n_other: int) -> pd.DataFrame:
    ids = [f"s{i:03d}" for i in range(n_target + n_other)]
    return pd.DataFrame({"scene_id": ids, "n_target": [2] * n_target + [0] * n_other})


def split_of(table, seed=0, fractions=None):
    settings = index.SplitSettings(seed, fractions or SPLIT["fractions"])
    return index.assign_split(table, settings, "plane")


@pytest.mark.parametrize("n_target,n_other", [(3, 0), (4, 9), (25, 40)])
def test_split_every_split_holds_targets(n_target, n_other):
    table = synthetic_scenes(n_target, n_other)
    split = split_of(table)
    assert set(split) <= set(index.SPLITS) and (split != "").all()  # one split per scene
    for name in index.SPLITS:
        assert (table["n_target"][split == name] > 0).any(), name
    if n_target == 25:  # large enough for the fractions to show: 15 / 5 / 5
        assert split[table["n_target"] > 0].value_counts().to_dict() == {
            "train": 15, "val": 5, "test": 5}


def test_split_is_seeded_and_by_scene():
    table = synthetic_scenes(20, 30)
    first = split_of(table, seed=3)
    assert first.equals(split_of(table, seed=3))
    shuffled = table.sample(frac=1, random_state=1)  # row order does not matter, ids do
    assert split_of(shuffled, seed=3).sort_index().equals(first)
    assert any(not split_of(table, seed=s).equals(first) for s in range(4, 8))


def test_split_impossible_names_the_counts():
    with pytest.raises(ValueError, match="only 2 of 7 scenes hold 'plane'"):
        split_of(synthetic_scenes(2, 5))
    with pytest.raises(ValueError, match="no 'plane' object"):
        split_of(synthetic_scenes(0, 5))


def test_no_target_in_the_data(sources):
    classes = dict(CLASSES, xview={"18": "car"}, dota={"ship": "boat"})
    with pytest.raises(ValueError, match="no 'plane' object"):
        index.build_index(index.settings_from_json(settings_json(sources, classes=classes)))


def test_allocate_keeps_the_minimum():
    assert index.allocate(3, {"train": 0.8, "val": 0.1, "test": 0.1}, 1) == {"train": 1, "val": 1, "test": 1}
    assert sum(index.allocate(17, SPLIT["fractions"], 0).values()) == 17


@pytest.mark.parametrize("change,key", [
    ({"classes": dict(CLASSES, colour="red")}, "classes.colour"),
    ({"split": {"seed": 0, "fractions": {"train": 0.5, "val": 0.2, "test": 0.2}}}, "split.fractions"),
    ({"split": {"seed": 0, "fractions": {"train": 0.6, "valid": 0.2, "test": 0.2}}}, "split.fractions"),
    ({"classes": dict(CLASSES, dota={"plane": "jet"})}, "classes.dota.plane"),
    ({"data": {"demo": None, "xview": None, "dota": None}}, "'data'"),
    ({"data": {"demo": None, "xview": {"images": "x", "labelz": "y"}, "dota": None}}, "data.xview.labelz"),
])
def test_bad_settings_name_the_key(sources, change, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        index.settings_from_json(settings_json(sources, **change))


def test_missing_inputs_name_the_config_key(sources, tmp_path):
    data = dict(sources["data"], xview={"images": str(tmp_path / "nowhere"), "labels": "x.geojson"})
    with pytest.raises(ValueError, match="data.xview.images"):
        index.build_index(index.settings_from_json(settings_json(sources, data=data)))
    (tmp_path / "bad.geojson").write_text('{"type": "Feature"}')
    data = dict(sources["data"], xview={"images": sources["data"]["xview"]["images"],
                                        "labels": str(tmp_path / "bad.geojson")})
    with pytest.raises(ValueError, match="not a GeoJSON FeatureCollection"):
        index.build_index(index.settings_from_json(settings_json(sources, data=data)))


def test_boxes_are_positive_and_inside(built):
    scenes, objects, _ = built
    merged = objects.merge(scenes[["scene_id", "width", "height"]], on="scene_id")
    assert (merged["xmin"] >= 0).all() and (merged["ymin"] >= 0).all()
    assert (merged["xmax"] <= merged["width"]).all() and (merged["ymax"] <= merged["height"]).all()
    assert np.all(merged["xmax"] > merged["xmin"]) and np.all(merged["ymax"] > merged["ymin"])


def test_dota_label_variants(built, sources, tmp_path):
    """Headers of DOTA v1.0 to v2.0, 9-field lines, difficult 2, UTF-16 files (scene_fixtures)."""
    _, objects, _ = built
    by_scene = objects.set_index("scene_id")
    p4 = by_scene.loc[["dota_P0004"]]  # UTF-16 with `acquisition dates:`, difficult 2
    assert p4[["class_name", "difficult"]].values.tolist() == [["plane", 0]]
    nine = objects[(objects["scene_id"] == "dota_P0002") & (objects["class_name"] == "car")]
    assert nine[["xmin", "ymin", "xmax", "ymax", "difficult"]].values.tolist() == [[60, 20, 70, 28, 0]]
    skips = SkipLog("dota")
    raw, header = read_dota_labels(Path(sources["data"]["dota"]["labels"]) / "P0004.txt", skips)
    assert header == {"imagesource": "GoogleEarth", "gsd": "0.146343590398",
                      "acquisition dates": "2016-05-12"}
    assert raw == [("plane", (120.0, 90.0, 150.0, 122.0), 0)] and not skips.counts
    assert parse_dota_line("1 2 3 2 3 4 1 4 ship") == ("ship", (1.0, 2.0, 3.0, 4.0), 0)
    assert [parse_dota_line(f"1 2 3 2 3 4 1 4 ship {d}")[2] for d in "012"] == [0, 1, 0]
    # a UTF-8 file with a byte-order mark, and a header line after the objects
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffimagesource:GF-2\ngsd:null\n1 2 3 2 3 4 1 4 ship 0\nnote:late\n".encode())
    raw, header = read_dota_labels(bom, skips)
    assert header == {"imagesource": "GF-2", "gsd": "null"} and len(raw) == 1
    assert skips.counts["malformed_label"] == 1


def test_images_are_found_as_publishers_name_them(tmp_path):
    """Suffixes in any case and the formats aerial sets ship (BMP, JPEG 2000 aside), label files
    named .TXT, and macOS' hidden '._' files, which are not images."""
    import cv2

    from workflow.core.labels import ClassSettings
    from workflow.scenes.readers import ImageFolder, label_files, read_dota

    images, labels = tmp_path / "images", tmp_path / "labelTxt"
    images.mkdir()
    labels.mkdir()
    names = {"P0001": "P0001.PNG", "P0002": "P0002.Jpg", "P0003": "P0003.tiff", "P0004": "P0004.bmp",
             "P0005": "P0005.JPEG"}
    pixels = np.full((64, 64, 3), 120, np.uint8)
    for stem, name in names.items():
        assert cv2.imwrite(str(images / name), pixels), name
        label = labels / (f"{stem}.TXT" if stem == "P0005" else f"{stem}.txt")
        label.write_text("gsd:0.5\n10 10 30 10 30 30 10 30 plane 0\n")
    (images / "._P0001.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (labels / "._P0001.txt").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    folder = ImageFolder(images)
    assert folder.files == sorted(names.values())
    assert {stem: folder.find_stem(stem) for stem in names} == names
    assert folder.find("p0001.png") == "P0001.PNG" and folder.find("P0009.png") is None
    assert [p.name for p in label_files(labels)] == [*(f"P000{i}.txt" for i in range(1, 5)), "P0005.TXT"]
    classes = ClassSettings(names=("plane",), target="plane", xview=None, dota={"plane": "plane"})
    scenes, objects, skips = read_dota(images, labels, classes)
    assert len(scenes) == 5 and len(objects) == 5
    assert not skips.counts["missing_image"] and not skips.counts["unlabelled_image"]
