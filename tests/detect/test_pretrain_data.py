"""The detector pre-training data holds no target object: drawn without it, checked on the index."""

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workflow.detect import params as detect_params
from workflow.detect import pretrain_data

CONFIG = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "config.yaml").read_text())


def test_pretraining_scenes_and_tiles_hold_no_target(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["detect"]["pretrain"]["scenes"].update(n_xview=2, n_dota=2, size=512, keep_without_objects=0.5)
    settings = detect_params.pretrain_data_settings(config)
    out = tmp_path / "data"
    pretrain_data.main(["--settings", json.dumps(settings), "--out", str(out)])
    objects = pd.read_csv(out / "work" / "index" / "objects.csv")
    assert len(objects) > 0 and "plane" not in set(objects["class_name"])
    assert {"car", "truck", "boat"} <= set(objects["class_name"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert "without any plane" in manifest["note"]
    for split in ("train", "val", "test"):
        assert manifest["splits"][split]["instances"]["plane"] == 0
        for image in (out / f"{split}.txt").read_text().split():
            labels = image.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
            assert not any(line.startswith("0 ") for line in open(labels))  # class 0 is plane
    assert manifest["splits"]["train"]["instances"]["car"] > 0


def test_an_index_holding_the_target_is_rejected(tmp_path):
    objects = pd.DataFrame({"class_name": ["car", "plane"], "scene_id": ["a", "b"]})
    with pytest.raises(ValueError, match="hold 1 'plane' objects .* scene b"):
        pretrain_data.check_target_free(objects, "plane", tmp_path / "objects.csv")
    pretrain_data.check_target_free(objects[:1], "plane", tmp_path / "objects.csv")
