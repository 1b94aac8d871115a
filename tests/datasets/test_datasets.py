"""Dataset assembly per experiment kind: image and instance counts, nesting, errors."""

import json

import pytest
import yaml

from tests.helpers.yolo_fixtures import NAMES, write_detect_tiles, write_synthetic_set
from workflow.datasets import build as datasets
from workflow.datasets.experiments import EXPERIMENT_KINDS

# planes per training tile: 7 tiles hold 11 planes, 3 hold none
TRAIN = [0, 0, 1, 2, 1, 3, 0, 1, 1, 2]
PLAN = {"train": TRAIN, "val": [1, 0], "test": [1, 0, 2]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {
        "tiles": str(write_detect_tiles(root / "tiles", PLAN)),
        "synthetic": [str(write_synthetic_set(root / "inpaint", "tarmac_canny", 12))],
    }


def build(inputs, tmp_path, name, keep_without_target=1.0, **experiment):
    settings = {"classes": {"names": list(NAMES), "target": "plane"}, "seed": 0, "experiment": experiment,
                "keep_without_target": keep_without_target}
    out = tmp_path / name
    datasets.main(["--settings", json.dumps(settings), "--experiment", name,
                   "--detect-tiles", inputs["tiles"], "--synthetic", *inputs["synthetic"], "--out", str(out)])
    return json.loads((out / "manifest.json").read_text()), out


def train_images(out):
    return (out / "train.txt").read_text().split()


def test_baseline_holds_every_real_tile(inputs, tmp_path):
    manifest, out = build(inputs, tmp_path, "baseline", kind="baseline")
    counts = manifest["splits"]
    assert [counts[s]["images"] for s in ("train", "val", "test")] == [10, 2, 3]
    assert counts["train"]["instances"]["plane"] == 11
    assert counts["test"]["instances"]["plane"] == 3
    assert counts["train"]["images_by_source"] == {"real": 10, "synthetic": 0}
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(NAMES))
    for split in ("train", "val", "test"):
        assert data[split].startswith("/") and data[split].endswith(f"{split}.txt")
        assert all(p.startswith("/") and "/images/" in p for p in (out / f"{split}.txt").read_text().split())


def test_ablation_keeps_half_the_plane_images_and_all_empty_ones(inputs, tmp_path):
    manifest, out = build(inputs, tmp_path, "ablation_50", kind="ablation", keep=50)
    train = manifest["splits"]["train"]
    assert train["images"] == 3 + 4  # round(3.5) half up
    assert train["images_with_target"] == 4
    assert manifest["removed"]["images"] == 3
    assert train["instances"]["plane"] + manifest["removed"]["targets"] == 11
    assert manifest["splits"]["test"]["images"] == 3  # evaluation splits untouched


def test_ablation_sweep_is_nested(inputs, tmp_path):
    _, small = build(inputs, tmp_path, "ablation_25", kind="ablation", keep=25)
    _, large = build(inputs, tmp_path, "ablation_75", kind="ablation", keep=75)
    _, none = build(inputs, tmp_path, "ablation_0", kind="ablation", keep=0)
    assert set(train_images(small)) < set(train_images(large))
    assert len(train_images(none)) == 3


def test_replacement_restores_the_plane_count_with_synthetic_images(inputs, tmp_path):
    ablation, _ = build(inputs, tmp_path, "ablation_50", kind="ablation", keep=50)
    manifest, out = build(inputs, tmp_path, "replacement_50", kind="replacement", keep=50, set="tarmac_canny")
    removed = manifest["removed"]["targets"]
    train = manifest["splits"]["train"]
    assert manifest["synthetic"] == {"set": "tarmac_canny", "images": removed, "targets": removed}
    assert train["instances"]["plane"] == 11
    assert train["images_by_source"] == {"real": 7, "synthetic": removed}
    real = [p for p in train_images(out) if "/inpaint/" not in p]
    assert real == train_images(tmp_path / "ablation_50")


def test_augmentation_adds_a_share_of_the_real_plane_images(inputs, tmp_path):
    # 7 real training images hold planes: +50 % is round(3.5) = 4 synthetic images, half up
    manifest, out = build(inputs, tmp_path, "augment_50", kind="augmentation", set="tarmac_canny", add=50)
    train = manifest["splits"]["train"]
    assert train["images_by_source"] == {"real": 10, "synthetic": 4}
    assert train["instances"]["plane"] == 11 + 4
    assert sum("/inpaint/" in p for p in train_images(out)) == 4


def test_tiles_without_a_target_are_thinned_alike_in_every_experiment(inputs, tmp_path):
    empty = 3  # training tiles without a plane (some hold cars)
    base, base_out = build(inputs, tmp_path, "b", keep_without_target=0.0, kind="baseline")
    abl, abl_out = build(inputs, tmp_path, "a", keep_without_target=0.0, kind="ablation", keep=0)
    assert base["tiles_without_target_dropped"] == abl["tiles_without_target_dropped"] == empty
    assert base["splits"]["train"]["images"] == 10 - empty
    assert set(train_images(abl_out)) < set(train_images(base_out))
    assert base["splits"]["val"]["images"] == 2  # evaluation splits untouched
    half, half_out = build(inputs, tmp_path, "h", keep_without_target=0.5, kind="baseline")
    assert half["tiles_without_target_dropped"] == empty - int(empty / 2 + 0.5)
    assert set(train_images(base_out)) < set(train_images(half_out))


def test_too_few_synthetic_images_is_an_error(inputs, tmp_path):
    with pytest.raises(ValueError, match="holds 12"):
        build(inputs, tmp_path, "augment_200", kind="augmentation", set="tarmac_canny", add=200)
    with pytest.raises(ValueError, match="synthetic set 'random'"):
        build(inputs, tmp_path, "augment_r", kind="augmentation", set="random", add=1)


@pytest.mark.parametrize("experiment, message", [
    ({"kind": "mixup"}, "allowed"),
    ({"kind": "ablation"}, "requires the key 'keep'"),
    ({"kind": "baseline", "add": 3}, "does not take the key 'add'"),
    ({"kind": "ablation", "keep": 150}, "percentage"),
])
def test_bad_experiments_name_the_key(inputs, tmp_path, experiment, message):
    with pytest.raises(ValueError, match=message):
        build(inputs, tmp_path, "bad", **experiment)


def test_labels_outside_the_ultralytics_layout_are_rejected(inputs, tmp_path):
    import pandas as pd

    frame = pd.read_csv(inputs["tiles"])
    frame.loc[0, "labels"] = frame.loc[0, "labels"].replace("/labels/", "/other/")
    bad = tmp_path / "manifest.csv"
    frame.to_csv(bad, index=False)
    with pytest.raises(ValueError, match="not where ultralytics looks"):
        datasets.load_images(bad, len(NAMES))


def test_declared_counts_must_match_the_label_files(inputs, tmp_path):
    import pandas as pd

    frame = pd.read_csv(inputs["tiles"])
    frame.loc[2, "n_plane"] += 1
    bad = tmp_path / "manifest.csv"
    frame.to_csv(bad, index=False)
    tiles = datasets.load_images(bad, len(NAMES))
    with pytest.raises(ValueError, match="n_plane"):
        datasets.check_declared_counts(tiles, NAMES, bad)


def test_schema_kinds_are_the_modules():
    from pathlib import Path

    schema = yaml.safe_load((Path(__file__).parents[2] / "config" / "schema.yaml").read_text())
    kinds = schema["$defs"]["experiment_run"]["properties"]["kind"]["enum"]
    assert tuple(kinds) == EXPERIMENT_KINDS


# --- images: auto (workflow.datasets.needs) ----------------------------------------------------


def needs_of(inputs, tmp_path, chunks=1, **runs):
    from workflow.datasets import needs

    settings = {"set": "tarmac_canny", "chunks": chunks, "experiments": {
        name: {"classes": {"names": list(NAMES), "target": "plane"}, "seed": 0, "experiment": run,
               "keep_without_target": 0.5} for name, run in runs.items()}}  # fmt: skip
    out = tmp_path / "needs.json"
    needs.main(["--settings", json.dumps(settings), "--detect-tiles", inputs["tiles"], "--out", str(out)])
    return json.loads(out.read_text())


def test_an_auto_set_holds_what_its_largest_experiment_takes(inputs, tmp_path):
    """The needs are what the datasets then take: every plane a replacement removes, the images
    an augmentation adds; the set holds the largest."""
    runs = {"replacement_0": {"kind": "replacement", "keep": 0, "set": "tarmac_canny"},
            "replacement_50": {"kind": "replacement", "keep": 50, "set": "tarmac_canny"},
            "augment_50": {"kind": "augmentation", "add": 50, "set": "tarmac_canny"}}
    written = needs_of(inputs, tmp_path, **runs)
    assert written["needs"]["replacement_0"] == 11  # every real training plane
    for name, run in runs.items():
        manifest, _ = build(inputs, tmp_path, name, keep_without_target=0.5, **run)
        assert written["needs"][name] == manifest["synthetic"]["images"], name
    assert written["images"] == 11
    assert needs_of(inputs, tmp_path, chunks=3, augment_10={"kind": "augmentation", "add": 10,
                                                            "set": "tarmac_canny"})["images"] == 3


def test_set_images_reads_the_needs_only_when_auto(tmp_path):
    from workflow.core.set_size import set_images

    assert set_images(7, None, "s") == 7
    path = tmp_path / "needs.json"
    path.write_text(json.dumps({"set": "s", "images": 12, "needs": {}}))
    assert set_images("auto", path, "s") == 12
    with pytest.raises(ValueError, match="give --needs"):
        set_images("auto", None, "s")
    with pytest.raises(ValueError, match="not 'other'"):
        set_images("auto", path, "other")
    with pytest.raises(ValueError, match="allowed: an integer >= 1 or 'auto'"):
        set_images("many", None, "s")
