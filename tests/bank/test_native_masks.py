"""Plane masks made at the scene's native resolution (workflow.bank.native), on a generated
scene drawn at 0.15 m per pixel and tiled at 0.6 m (tiling.gsd): the index, the crops and the
bank as the workflow runs them, the mask compared with the drawn plane's footprint in the crop.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from workflow.bank import masks, native
from workflow.bank.mask_ops import postprocess
from workflow.bank.table import read_crops, read_scenes
from workflow.core import io
from workflow.scenes import index
from workflow.tiles import tiling

NATIVE_GSD, WORKING_GSD = 0.15, 0.6  # 4 native px per working px
SIDE = 768  # native px of the scene
CROP = 32
# (centre x, centre y, length in native px, angle): 20-30 working px planes that fit their crop,
# and one of 44 working px that is shrunk into it (crop scale 1.57).
PLANES = [(150, 150, 100, 0.3), (450, 140, 120, 1.2), (160, 470, 90, 2.2), (480, 480, 176, 0.7)]
PARTS = [  # a top-down airliner in units of its length: fuselage, swept wings, tail
    [(-0.5, -0.06), (0.5, -0.06), (0.55, 0), (0.5, 0.06), (-0.5, 0.06)],
    [(0.12, 0), (-0.08, -0.5), (-0.18, -0.5), (-0.05, 0), (-0.18, 0.5), (-0.08, 0.5)],
    [(-0.38, 0), (-0.48, -0.2), (-0.54, -0.2), (-0.5, 0), (-0.54, 0.2), (-0.48, 0.2)],
]


def draw_scene(rng) -> tuple[np.ndarray, list[np.ndarray]]:
    """(SIDE, SIDE, 3) uint8 textured tarmac with PLANES drawn, and each plane's (SIDE, SIDE)
    bool footprint."""
    rows = np.arange(SIDE, dtype=np.float64)[:, None, None]
    image = rng.normal(110, 10, (SIDE, SIDE, 1)) + 12 * np.sin(rows / 9.0)
    image = np.clip(image + rng.normal(0, 5, (SIDE, SIDE, 3)), 0, 255)
    footprints = []
    for cx, cy, length, angle in PLANES:
        rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        mask = np.zeros((SIDE, SIDE), np.uint8)
        for part in PARTS:
            points = (np.array(part) * length) @ rotation + np.array([cx, cy])
            cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
        # a plane's shadow beside it: what makes a box's interior more than plane and ground
        shadow = np.roll(mask, (6, 6), axis=(0, 1)).astype(bool) & ~mask.astype(bool)
        image[shadow] *= 0.55
        image[mask.astype(bool)] = (232, 232, 238)
        footprints.append(mask.astype(bool))
    return cv2.GaussianBlur(image.astype(np.uint8), (3, 3), 0.8), footprints


def tight_box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


@pytest.fixture(scope="module")
def tiled(tmp_path_factory):
    """The scene written as DOTA (gsd 0.15 in its header), indexed at 0.6 m, its crops cut."""
    root = tmp_path_factory.mktemp("native_masks")
    image, footprints = draw_scene(np.random.default_rng(0))
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for name in ("p0", "p1", "p2"):  # three scenes so that every split gets one; p0 is train
        io.write_png(root / "images" / f"{name}.png", image)
        lines = [f"gsd:{NATIVE_GSD}"]
        for mask in footprints:
            x0, y0, x1, y1 = tight_box(mask)
            lines.append(f"{x0} {y0} {x1} {y0} {x1} {y1} {x0} {y1} plane 0")
        (root / "labels" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    settings = {
        "data": {"demo": None, "xview": None,
                 "dota": {"images": str(root / "images"), "labels": str(root / "labels"),
                          "gsd": None, "bands": None, "stretch": None}},
        "classes": {"names": ["plane"], "target": "plane", "xview": None, "dota": {"plane": "plane"}},
        "split": {"seed": 0, "fractions": {"train": 0.34, "val": 0.33, "test": 0.33}},
        "tiling": {"gsd": WORKING_GSD},
    }  # fmt: skip
    scenes, objects, _ = index.build_index(index.settings_from_json(json.dumps(settings)))
    io.write_csv(root / "scenes.csv", scenes)
    io.write_csv(root / "objects.csv", objects)
    crop_settings = tiling.settings_from_json(json.dumps(
        {"tiling": {"crop_size": CROP, "oversize": "shrink"}, "classes": settings["classes"]}),
        "crops")  # fmt: skip
    tiling.make_tiles("crops", root / "scenes.csv", root / "objects.csv", crop_settings,
                      root / "crops" / "manifest.csv", root / "crops" / "summary.json")
    return root, footprints


def footprint_in_crop(footprint: np.ndarray, crop, scene) -> np.ndarray:
    """A native-pixel footprint brought to the crop: crop pixels at least half covered."""
    per_crop_px = float(scene.scale) * float(crop.scale)
    left, top = crop.x0 * scene.scale, crop.y0 * scene.scale
    side = int(round(CROP * per_crop_px))
    window = footprint[int(round(top)):int(round(top)) + side,
                       int(round(left)):int(round(left)) + side].astype(np.float32)
    return cv2.resize(window, (CROP, CROP), interpolation=cv2.INTER_AREA) >= 0.5


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_regions_map_crop_pixels_to_native_pixels(tiled):
    root, _ = tiled
    crops, scenes = read_crops(root / "crops" / "manifest.csv"), read_scenes(root / "scenes.csv")
    assert set(scenes["scale"]) == {4.0}
    shrunk = crops[crops["scale"] > 1]
    assert len(shrunk) >= 1  # the 176 px plane (44 working px) is shrunk into its 32 px crop
    for (region, image), crop in zip(native.read_regions(crops, scenes), crops.itertuples()):
        assert region.per_crop_px == pytest.approx(4.0 * crop.scale)
        assert image.shape[:2] == region.shape
        # read at native detail at least: k region px per crop px >= the native px per crop px
        side = max(crop.xmax - crop.xmin, crop.ymax - crop.ymin)
        assert region.k == native.refinement(region.per_crop_px, side)
        assert region.k >= min(round(region.per_crop_px), native.MAX_BOX_SIDE // side)
        assert region.u0 <= crop.xmin and region.u1 >= crop.xmax


def test_native_masks_follow_the_planes_better_than_masks_on_the_crop(tiled):
    root, footprints = tiled
    crops, scenes = read_crops(root / "crops" / "manifest.csv"), read_scenes(root / "scenes.csv")
    settings = masks.masks_settings({"method": "grabcut", "canny_thresholds": [100, 200],
                                     "edge_margin": 2, "chunks": 1, "grabcut_iterations": 5,
                                     "area_fraction_range": [0.05, 0.95]})
    table = masks.build_chunk(settings, CROP, crops, scenes, 0, root / "bank" / "chunk0")
    assert not table["flagged"].any()
    scene = next(scenes.reset_index().itertuples())
    native_ious, crop_ious = [], []
    for crop, row in zip(crops.itertuples(), table.itertuples()):
        mask = io.read_png(row.mask) > 0
        assert mask.shape == (CROP, CROP)
        truth = footprint_in_crop(footprints[int(crop.object_id) % len(PLANES)], crop, scene)
        box = (crop.xmin, crop.ymin, crop.xmax, crop.ymax)
        on_crop = postprocess(masks.raw_masks(settings, [io.read_png(crop.image)],
                                              np.array([box]))[0], box)
        native_ious.append(iou(mask, truth))
        crop_ious.append(iou(on_crop, truth))
    assert min(native_ious) > 0.6, native_ious
    assert np.mean(native_ious) >= np.mean(crop_ious) - 0.02, (native_ious, crop_ious)


def test_a_crop_whose_scene_is_not_indexed_names_it(tiled):
    root, _ = tiled
    crops, scenes = read_crops(root / "crops" / "manifest.csv"), read_scenes(root / "scenes.csv")
    with pytest.raises(ValueError, match="not in the index's scenes.csv"):
        native.read_regions(crops.assign(scene_id="dota_elsewhere"), scenes)


def test_region_mask_to_crop_is_area_averaged_and_clipped():
    region = native.Region(u0=-2, v0=4, u1=6, v1=8, k=3, left=0.0, top=0.0, per_crop_px=3.0)
    mask = np.zeros(region.shape, bool)
    mask[0:3, 0:24] = True  # crop row 4, all of the region's columns
    mask[3:5, 6:9] = True  # crop row 5, crop column 0: 6 of 9 region pixels
    out = native.to_crop(mask, region, 8)
    assert out[4, 0:6].all() and out[5, 0] and out.sum() == 7


def test_refinement_keeps_native_detail_within_bounds():
    assert native.refinement(4.0, 30) == 4  # native detail: 4 native px per crop px
    assert native.refinement(1.0, 20) == 4  # small plane enlarged to MIN_BOX_SIDE
    assert native.refinement(20.0, 30) == native.MAX_BOX_SIDE // 30  # capped
    assert native.refinement(0.3, 200) == 1
