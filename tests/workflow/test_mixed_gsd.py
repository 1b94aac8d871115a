"""Scenes at mixed ground resolutions tiled at one working GSD, up to the plane bank.

tests/configs/mixed_gsd.yaml: generated airports with airliner-sized planes, DOTA-format scenes
at 0.15 m and xView-format scenes at 0.3 m, tiled at 1.5 m with 32 px crops. The run must tile
everything at that one GSD, cut no plane with its crop (the larger ones shrunk into theirs, and
counted), and give a bank whose masks follow the planes.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers.snakemake_run import copy_workflow, snakemake

pytestmark = pytest.mark.slow
CONFIG = ("--configfile", "config/config.yaml", "tests/configs/mixed_gsd.yaml")
TARGETS = ("results/bank/summary.json", "results/bank/contact_sheet.png",
           "results/tiles/detect/manifest.csv", "results/tiles/background/manifest.csv")
BOX = ["xmin", "ymin", "xmax", "ymax"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("mixed_gsd"))
    snakemake(workdir, *TARGETS, "--cores", "2", *CONFIG)
    return workdir


def test_every_scene_is_tiled_at_the_one_working_gsd(mixed):
    scenes = pd.read_csv(mixed / "results/index/scenes.csv")
    assert set(scenes["gsd"]) == {1.5}
    native = scenes.groupby("source")["native_gsd"].unique().to_dict()
    assert [list(native["dota"]), list(native["xview"])] == [[0.15], [0.3]]
    assert set(scenes["scale"].round(6)) == {10.0, 5.0}
    assert set(scenes["width"]) == {341}  # 512 m at 1.5 m/px, whichever file it came from
    summary = json.loads((mixed / "results/index/summary.json").read_text())
    assert summary["working_gsd"] == 1.5
    detect = pd.read_csv(mixed / "results/tiles/detect/manifest.csv")
    assert len(detect) and set(detect["scene_id"]) == set(scenes["scene_id"])


def test_no_plane_is_cut_by_its_crop(mixed):
    objects = pd.read_csv(mixed / "results/index/objects.csv").set_index("object_id")
    crops = pd.read_csv(mixed / "results/tiles/crops/manifest.csv")
    summary = json.loads((mixed / "results/tiles/crops/summary.json").read_text())
    assert summary["crops"] == summary["targets"] == len(crops) > 5  # every train plane
    assert summary["oversize"]["shrunk"] == int((crops["scale"] > 1).sum()) > 0
    for crop in crops.itertuples():
        box = objects.loc[crop.object_id, BOX].to_numpy(float)
        side = crop.scale * 32
        whole = (box - [crop.x0, crop.y0, crop.x0, crop.y0]) * 32 / side  # unclipped, crop px
        assert whole.min() >= -1e-6 and whole.max() <= 32 + 1e-6, crop.crop_id
        np.testing.assert_allclose([crop.xmin, crop.ymin, crop.xmax, crop.ymax], whole, atol=2e-3)


def test_the_bank_masks_follow_the_planes(mixed):
    bank = pd.read_csv(mixed / "results/bank/manifest.csv")
    summary = json.loads((mixed / "results/bank/summary.json").read_text())
    assert summary["shrunk_crops"] == int((bank["scale"] > 1).sum()) > 0
    assert summary["oversize"]["skipped"] == {"larger_than_crop": 0, "larger_than_scene": 0,
                                              "scene_smaller_than_crop": 0}
    assert summary["flagged"] <= len(bank) // 4, summary["flag_reasons"]
    kept = bank[~bank["flagged"]]
    mask = kept[[f"mask_{k}" for k in BOX]].to_numpy(float)
    box = kept[[f"box_{k}" for k in BOX]].to_numpy(float)
    inter = np.clip(np.minimum(mask[:, 2:], box[:, 2:]) - np.maximum(mask[:, :2], box[:, :2]), 0, None)
    mask_area = (mask[:, 2] - mask[:, 0]) * (mask[:, 3] - mask[:, 1])
    box_area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    assert (inter.prod(1) / mask_area >= 0.95).all()  # every mask lies on its plane's box
    # and spans much of it (a DOTA box is its oriented box's extent: a diagonal plane's mask
    # covers only part of it)
    assert np.median(mask_area / box_area) > 0.4, mask_area / box_area
    assert (mixed / "results/bank/contact_sheet.png").stat().st_size > 0
