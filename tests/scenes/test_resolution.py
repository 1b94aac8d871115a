"""Real imagery: one working GSD, crops that hold their plane, oversize targets, 16-bit and
4-band rasters. On scenes the tests write (demo scenes at two GSDs, hand-made rasters)."""

from __future__ import annotations

import json
import types
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import rasterio

from tests.helpers.scene_fixtures import CLASSES, SPLIT, TILING, make_sources, scene_pixels, write_geotiff
from workflow.core import io
from workflow.core.labels import ClassSettings, size_class
from workflow.scenes import index, rasters
from workflow.scenes.demo_scenes import generate_scenes
from workflow.scenes.readers import SourceRead, read_dota, read_xview
from workflow.scenes.resolution import scene_size, working_side
from workflow.scenes.sources import SourcePaths
from workflow.tiles import tiling
from workflow.tiles.windows import box_extent, centred_origin, fits, open_scene

BOX = ["xmin", "ymin", "xmax", "ymax"]
DEMO_CLASSES = ClassSettings(names=("plane", "car", "truck", "boat"), target="plane",
                             xview={"11": "plane", "12": "plane", "13": "plane", "17": "car",
                                    "18": "car", "23": "truck", "40": "boat", "41": "boat"},
                             dota={"plane": "plane", "small-vehicle": "car",
                                   "large-vehicle": "truck", "ship": "boat"})


def as_row(scene: dict):
    return types.SimpleNamespace(**scene)


def boxes(objects: list[dict]) -> np.ndarray:
    return np.array([[o[k] for k in BOX] for o in objects])


# --- one working GSD ------------------------------------------------------------------------


def test_working_size_rounds_down_but_not_below_an_exact_ratio():
    assert working_side(2560, 1.5 / 0.15) == 256  # 255.99999999999997 in floating point
    assert working_side(1001, 3.0) == 333
    size = scene_size(5120, 4000, 0.15, 0.3)
    assert (size.scale, size.width, size.height, size.gsd) == (2.0, 2560, 2000, 0.3)
    same = scene_size(300, 260, 0.3, None)
    assert (same.scale, same.width, same.gsd, same.native_gsd) == (1.0, 300, 0.3, 0.3)


@pytest.fixture(scope="module")
def two_gsds(tmp_path_factory):
    """The same demo airports written at 0.3 m and at 0.15 m, indexed at a working 0.3 m."""
    root = tmp_path_factory.mktemp("gsd")
    read = {}
    for gsd in (0.3, 0.15):
        r = root / str(gsd)
        generate_scenes(r / "xi", r / "x.geojson", r / "di", r / "dl", 1, 1, 256, 4, 0.0,
                        gsd=0.3, xview_gsd=gsd, dota_gsd=gsd)
        xview = SourceRead("xview", SourcePaths(str(r / "xi"), str(r / "x.geojson"), gsd=gsd), 0.3)
        dota = SourceRead("dota", SourcePaths(str(r / "di"), str(r / "dl")), 0.3)  # gsd: header
        read[gsd] = (read_xview(r / "xi", r / "x.geojson", DEMO_CLASSES, xview),
                     read_dota(r / "di", r / "dl", DEMO_CLASSES, dota))
    return read


def test_a_scene_written_at_015_m_and_read_at_03_m_matches_it_drawn_at_03_m(two_gsds):
    for source in (0, 1):
        (scenes_a, objects_a, _), (scenes_b, objects_b, _) = two_gsds[0.3][source], two_gsds[0.15][source]
        a, b = scenes_a[0], scenes_b[0]
        assert (b["native_width"], b["native_gsd"], b["gsd"], b["scale"]) == (512, 0.15, 0.3, 2.0)
        assert (a["scale"], b["width"], b["height"]) == (1.0, a["width"], a["height"])
        assert len(objects_a) == len(objects_b) > 0
        assert np.abs(boxes(objects_a) - boxes(objects_b)).max() <= 1.0  # within a pixel
        with open_scene(as_row(a)) as reader_a, open_scene(as_row(b)) as reader_b:
            tile_a = reader_a.read(40, 56, 128).astype(float)
            tile_b = reader_b.read(40, 56, 128).astype(float)  # a 256 px window averaged 2 x 2
        assert tile_b.shape == (128, 128, 3)
        assert np.abs(tile_a - tile_b).mean() < 2.0  # the same pixels, up to the resampling


def test_index_reads_the_gsd_header_and_stops_on_an_unknown_one(tmp_path):
    sources = make_sources(tmp_path)
    settings = {key: sources[key] for key in ("data", "classes", "split")}
    with pytest.raises(ValueError, match=r"10\.tif is unknown.*data\.xview\.gsd"):
        index.build_index(index.settings_from_json(json.dumps({**settings, "tiling": {"gsd": 0.3}})))
    data = {"demo": None, "xview": dict(sources["data"]["xview"], gsd=0.3),
            "dota": sources["data"]["dota"]}
    with pytest.raises(ValueError, match=r"P0002\.txt.*data\.dota\.gsd"):  # no header, no default
        index.build_index(index.settings_from_json(json.dumps(
            {**settings, "data": data, "tiling": {"gsd": 0.3}})))
    data["dota"] = dict(sources["data"]["dota"], gsd=0.3)
    scenes, objects, summary = index.build_index(index.settings_from_json(json.dumps(
        {**settings, "data": data, "tiling": {"gsd": 0.3}})))
    p1 = scenes.set_index("scene_id").loc["dota_P0001"]
    assert (p1.native_gsd, p1.gsd, p1.scale, p1.width, p1.height) == (0.15, 0.3, 2.0, 150, 130)
    plane = objects[(objects["scene_id"] == "dota_P0001") & (objects["class_name"] == "plane")]
    assert plane[BOX].values.tolist() == [[15, 20, 31, 35]]  # [30, 40, 62, 70] at half the px
    p4 = scenes.set_index("scene_id").loc["dota_P0004"]
    assert p4.native_gsd == pytest.approx(0.146343590398) and p4.scale == pytest.approx(2.05, abs=0.01)
    assert (scenes.set_index("scene_id").loc[["dota_P0002", "dota_P0003"], "native_gsd"] == 0.3).all()
    assert summary["working_gsd"] == 0.3
    assert summary["sources"]["dota"]["native_gsd"] == {
        "min": 0.146343590398, "max": 0.3, "unknown": 0, "from_config": 2, "resampled_scenes": 2}
    assert summary["sources"]["xview"]["native_gsd"]["resampled_scenes"] == 0


# --- crops that hold their plane; oversize targets -------------------------------------------


def test_crop_windows_hold_every_box_that_fits():
    rng = np.random.default_rng(0)
    for _ in range(500):
        side = rng.uniform(2, 32)
        x0, y0 = rng.uniform(0, 268, 2)
        box = (x0, y0, min(x0 + side, 300), min(y0 + rng.uniform(2, 32), 260))
        if not fits(box, 32):
            continue
        cx, cy = centred_origin(box, 32, 300, 260)
        assert cx <= box[0] and box[2] <= cx + 32 and cy <= box[1] and box[3] <= cy + 32, box
    assert box_extent((10.5, 3.0, 42.5, 35.0)) == (33, 32) and not fits((10.5, 3, 42.5, 35), 32)


def oversize_index(root: Path):
    """One 300 x 260 scene with planes of 20, 45 and 270 px, and its index tables."""
    pixels = scene_pixels(5, 260, 300)
    write_geotiff(root / "s.tif", pixels)
    scene = dict(scene_id="xview_s", source="xview", image_path=str(root / "s.tif"), width=300,
                 height=260, split="train", n_objects=3, n_target=3, native_width=300,
                 native_height=260, native_gsd=0.3, gsd=0.3, scale=1.0, bands="1,2,3", stretch="")
    planes = [(100, 100, 120, 112), (20, 30, 65, 70), (10, 0, 280, 250)]
    objects = [dict(object_id=i, scene_id="xview_s", source_label="11", class_name="plane",
                    class_id=0, xmin=b[0], ymin=b[1], xmax=b[2], ymax=b[3], clipped=False,
                    difficult=0) for i, b in enumerate(planes)]
    pd.DataFrame([scene], columns=index.SCENE_COLUMNS).to_csv(root / "scenes.csv", index=False)
    pd.DataFrame(objects, columns=index.OBJECT_COLUMNS).to_csv(root / "objects.csv", index=False)
    return pixels


@pytest.mark.parametrize("policy", ["skip", "shrink"])
def test_oversize_targets_are_skipped_or_shrunk_and_counted(tmp_path, policy, caplog):
    pixels = oversize_index(tmp_path)
    settings = tiling.TilingTask(tiling.TilingSettings(crop_size=32, oversize=policy),
                               ClassSettings(**CLASSES))
    out = tmp_path / "crops"
    with caplog.at_level("WARNING"):
        table = tiling.make_tiles("crops", tmp_path / "scenes.csv", tmp_path / "objects.csv",
                                  settings, out / "manifest.csv", out / "summary.json")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["targets"] == 3 and summary["oversize"]["policy"] == policy
    assert summary["oversize"]["skipped"]["larger_than_crop"] == (2 if policy == "skip" else 0)
    assert summary["oversize"]["skipped"]["larger_than_scene"] == (1 if policy == "shrink" else 0)
    assert "xview_s object 1, 45x40 px" in caplog.text  # logged with scene and size
    small = table[table["object_id"] == 0].iloc[0]
    assert small["scale"] == 1.0 and small[BOX].tolist() == [6, 10, 26, 22]
    if policy == "skip":
        assert list(table["object_id"]) == [0]
        return
    assert summary["oversize"]["shrunk"] == 1 and len(table) == 2
    big = table[table["object_id"] == 1].iloc[0]
    side = int(np.ceil(45 / tiling.SHRINK_FILL))  # 52 px window -> 32 px crop
    assert big["scale"] == pytest.approx(side / 32)
    x0, y0 = int(big["x0"]), int(big["y0"])
    assert x0 <= 20 and 65 <= x0 + side and y0 <= 30 and 70 <= y0 + side  # the plane is inside
    expected = (np.array([20, 30, 65, 70]) - [x0, y0, x0, y0]) * 32 / side
    np.testing.assert_allclose(big[BOX].astype(float), expected, atol=1e-3)
    assert big["size_class"] == size_class(expected[3] - expected[1], expected[2] - expected[0], 32)
    crop = io.read_png(big["image"]).astype(float)
    window = pixels[y0:y0 + side, x0:x0 + side].astype(np.float32)
    area = cv2.resize(window, (32, 32), interpolation=cv2.INTER_AREA)  # an area average, as GDAL's
    assert np.abs(crop - area).mean() < 3.0


def test_the_bank_summary_counts_shrunk_and_skipped_crops(tmp_path):
    from workflow.bank.table import summarise

    bank = pd.DataFrame({"flag_reason": ["", "", "small"], "flagged": [False, False, True],
                         "size_class": [3, 8, 2], "area_fraction": [0.4, 0.5, 0.01],
                         "scale": [1.0, 1.6, 1.0]})
    crops = {"oversize": {"policy": "shrink", "shrunk": 1,
                          "skipped": {"larger_than_crop": 0, "larger_than_scene": 2,
                                      "scene_smaller_than_crop": 0}}}
    summary = summarise(bank, {"method": "grabcut"}, 32, crops)
    assert summary["shrunk_crops"] == 1 and summary["oversize"] == crops["oversize"]


# --- 16-bit and 4-band rasters -----------------------------------------------------------------


def write_multiband(path: Path, count: int, dtype: str) -> np.ndarray:
    """A (count, 96, 128) raster: band k a ramp of its own range (16-bit values over 0..4000)."""
    y, x = np.mgrid[0:96, 0:128]
    data = np.stack([(x * (k + 1) * 7 + y * 3 + 100 * k) % 4000 for k in range(count)]).astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", width=128, height=96, count=count, dtype=dtype,
                       tiled=True, blockxsize=64, blockysize=64, compress="deflate") as dst:
        dst.write(data)
    return data


def raster_source(tmp_path: Path, count: int, dtype: str, **read) -> tuple[SourceRead, np.ndarray]:
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    data = write_multiband(images / "7.tif", count, dtype)
    labels = tmp_path / "labels.geojson"
    feature = {"type": "Feature", "geometry": None,
               "properties": {"image_id": "7.tif", "type_id": 11, "bounds_imcoords": [40, 30, 60, 50]}}
    labels.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    paths = SourcePaths(str(images), str(labels), gsd=0.3, **read)
    return SourceRead("xview", paths, None), data


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_16_bit_scenes_need_a_stretch_and_name_the_key(tmp_path):
    read, _ = raster_source(tmp_path, 4, "uint16")
    with pytest.raises(ValueError, match=r"7\.tif: uint16 pixels.*'data\.xview\.stretch'"):
        read_xview(read.paths.images, read.paths.labels, ClassSettings(**CLASSES), read)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_4_band_16_bit_scene_through_bands_and_stretch(tmp_path):
    read, data = raster_source(tmp_path, 4, "uint16", bands=(3, 2, 1), stretch=(2.0, 98.0))
    scenes, objects, _ = read_xview(read.paths.images, read.paths.labels, ClassSettings(**CLASSES), read)
    scene = scenes[0]
    assert scene["bands"] == "3,2,1" and len(objects) == 1
    limits = rasters.parse_numbers(scene["stretch"], 6, "stretch")
    for out_band, band in enumerate((3, 2, 1)):  # 96 x 128 < 1024: the decimated read is whole
        low, high = np.percentile(data[band - 1], [2, 98])
        assert limits[2 * out_band] == pytest.approx(low) and limits[2 * out_band + 1] == pytest.approx(high)
    with open_scene(as_row(scene)) as reader:
        tile = reader.read(16, 8, 64)
    assert tile.dtype == np.uint8 and tile.shape == (64, 64, 3)
    low, high = limits[0], limits[1]
    expected_red = np.clip(np.rint((data[2, 8:72, 16:80].astype(float) - low) * 255 / (high - low)), 0, 255)
    assert np.abs(tile[..., 0].astype(float) - expected_red).max() <= 1
    assert tile.max() - tile.min() > 128  # values over 0..4000 spread over the 8 bits


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_bands_a_scene_lacks_name_the_key(tmp_path):
    read, _ = raster_source(tmp_path, 2, "uint8")
    with pytest.raises(ValueError, match=r"2 bands.*'data\.xview\.bands'"):
        read_xview(read.paths.images, read.paths.labels, ClassSettings(**CLASSES), read)
    read, _ = raster_source(tmp_path, 3, "uint8", bands=(4, 2, 1))
    with pytest.raises(ValueError, match=r"3 bands.*'data\.xview\.bands' asks for bands \[4, 2, 1\]"):
        read_xview(read.paths.images, read.paths.labels, ClassSettings(**CLASSES), read)


@pytest.mark.parametrize("change,key", [
    ({"gsd": 0}, "data.xview.gsd"), ({"bands": [1, 2]}, "data.xview.bands"),
    ({"stretch": [50, 10]}, "data.xview.stretch"),
])
def test_bad_source_settings_name_the_key(tmp_path, change, key):
    sources = make_sources(tmp_path)
    data = dict(sources["data"], xview=dict(sources["data"]["xview"], **change))
    values = {"data": data, "classes": sources["classes"], "split": SPLIT}
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        index.settings_from_json(json.dumps(values))


def test_tiling_settings_know_the_oversize_policies():
    with pytest.raises(ValueError, match="tiling.oversize"):
        tiling.TilingSettings(**dict(TILING, oversize="crop"))
