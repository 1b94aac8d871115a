"""The copy-paste control: its alpha matte, its blend, and its set: labels from the pasted mask,
inside the tile, with an inpainted set's manifest columns."""

import json

import numpy as np
import pandas as pd
import pytest
from tests.helpers.inpaint_fixtures import TILE, WINDOW, make_background, make_bank

from workflow.copy_paste import paste
from workflow.core.geometry import flip, tight_box
from workflow.core.io import read_png
from workflow.core.labels import read_yolo

SETTINGS = {"feather": 2, "true_size": False, "placement_tries": 50, "seed": 0,
            "sets": {"pasted": {"context": "random", "images": 6}},
            "classes": {"names": ["plane", "car"], "target": "plane"}}


@pytest.fixture(scope="module")
def pasted_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("paste")
    background, bank = make_background(root), make_bank(root)
    out = root / "pasted"
    paste.main(["--settings", json.dumps(SETTINGS), "--set", "pasted", "--bank", str(bank),
                "--background", str(background), "--out", str(out)])
    return out, pd.read_csv(bank), pd.read_csv(background)


def test_labels_are_the_box_of_the_pasted_mask_inside_the_tile(pasted_set):
    out, bank, _ = pasted_set
    table = pd.read_csv(out / "manifest.csv")
    assert len(table) == 6 and set(table["crop_id"]) == {"c0"}  # the flagged entry is never used
    for row in table.itertuples():
        mask = flip(read_png(bank.loc[bank["crop_id"] == row.crop_id, "mask"].item()) > 0, row.flip)
        xmin, ymin, xmax, ymax = tight_box(mask)
        box = (xmin + row.window_x, ymin + row.window_y, xmax + row.window_x, ymax + row.window_y)
        assert (row.xmin, row.ymin, row.xmax, row.ymax) == box
        assert 0 <= row.xmin < row.xmax <= TILE and 0 <= row.ymin < row.ymax <= TILE
        class_ids, boxes = read_yolo(row.labels, TILE)
        assert class_ids[-1] == 0 and boxes[-1].tolist() == pytest.approx(list(box), abs=1e-3)
        assert len(class_ids) == 2  # the tile's own object is kept


def test_pasted_pixels_are_the_bank_crop_on_the_mask_and_the_tile_elsewhere(pasted_set):
    out, bank, background = pasted_set
    table = pd.read_csv(out / "manifest.csv")
    row = table.iloc[0]
    image, tile = read_png(row["image"]), read_png(row["background"])
    crop = flip(read_png(bank.loc[bank["crop_id"] == row["crop_id"], "image"].item()), row["flip"])
    mask = flip(read_png(bank.loc[bank["crop_id"] == row["crop_id"], "mask"].item()) > 0, row["flip"])
    x, y = int(row["window_x"]), int(row["window_y"])
    window = image[y : y + WINDOW, x : x + WINDOW]
    crop_rgb = crop if crop.ndim == 3 else np.repeat(crop[..., None], 3, axis=2)
    assert (window[mask] == crop_rgb[mask]).all()
    far = np.ones(image.shape[:2], bool)
    far[max(0, y - 1) : y + WINDOW + 1, max(0, x - 1) : x + WINDOW + 1] = False
    assert (image[far] == tile[far]).all()


def test_manifest_has_the_columns_of_an_inpainted_set(pasted_set):
    out, _, _ = pasted_set
    table = pd.read_csv(out / "manifest.csv")
    inpainted = {"image", "labels", "index", "tile_id", "background", "crop_id", "flip", "xmin", "ymin", "xmax",
                 "ymax", "window_x", "window_y", "size_class", "overlaps", "score", "candidate_scores",
                 "guidance_scale", "set", "chunk", "model", "context", "seed", "sampler", "respacing",
                 "jump_length", "jump_n_sample", "candidates"}
    assert inpainted <= set(table.columns)
    assert (table["model"] == "copy_paste").all() and (table["set"] == "pasted").all()
    assert "/images/" in table["image"].iloc[0] and "/labels/" in table["labels"].iloc[0]
    assert (out / "contact_sheet.png").stat().st_size > 0


def test_the_same_settings_paste_the_same_set(pasted_set, tmp_path):
    out, _, _ = pasted_set
    root = out.parent
    again = tmp_path / "again"
    paste.main(["--settings", json.dumps(SETTINGS), "--set", "pasted", "--bank", str(root / "bank.csv"),
                "--background", str(root / "background.csv"), "--out", str(again)])
    first, second = pd.read_csv(out / "manifest.csv"), pd.read_csv(again / "manifest.csv")
    assert first[["crop_id", "flip", "xmin", "ymin", "tile_id"]].equals(second[["crop_id", "flip", "xmin", "ymin", "tile_id"]])
    assert (read_png(first["image"].iloc[3]) == read_png(second["image"].iloc[3])).all()


def test_an_unknown_set_names_the_key(tmp_path):
    with pytest.raises(ValueError, match="copy_paste.sets"):
        paste.main(["--settings", json.dumps(SETTINGS), "--set", "other", "--bank", "b", "--background", "g",
                    "--out", str(tmp_path)])


def test_an_auto_sized_set_pastes_as_many_images_as_its_needs_say(tmp_path):
    background, bank = make_background(tmp_path), make_bank(tmp_path)
    needs = tmp_path / "needs.json"
    needs.write_text(json.dumps({"set": "pasted", "images": 3, "needs": {"replacement_0": 3}}))
    settings = json.loads(json.dumps(SETTINGS))
    settings["sets"]["pasted"]["images"] = "auto"
    argv = ["--settings", json.dumps(settings), "--set", "pasted", "--bank", str(bank),
            "--background", str(background)]
    paste.main([*argv, "--needs", str(needs), "--out", str(tmp_path / "out")])
    assert len(pd.read_csv(tmp_path / "out" / "manifest.csv")) == 3
    with pytest.raises(ValueError, match="give --needs"):
        paste.main([*argv, "--out", str(tmp_path / "none")])
