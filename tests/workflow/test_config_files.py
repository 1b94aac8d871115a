"""config/full.yaml, the method report's scale: complete, valid, and planning the report's DAG;
config/real.yaml complete over the demo's; config/sweep.yaml a superset of the demo's runs.

Snakemake merges a --configfile over config/config.yaml key by key, so a key or a map entry
(an experiment, a synthetic set) that full.yaml forgets would silently come from the demo. The
first test makes that impossible; the second plans the full-scale workflow with placeholder
files at full.yaml's paths, which runs the schema validation and the cross-checks of
rules/validate.smk on it.
"""

from __future__ import annotations

import copy

import yaml

from tests.helpers import REPO
from tests.helpers.snakemake_run import copy_workflow, scheduled
from tests.helpers.yolo_fixtures import write_detector_description

FULL = yaml.safe_load((REPO / "config/full.yaml").read_text())
DEMO = yaml.safe_load((REPO / "config/config.yaml").read_text())


def merged(base: dict, override: dict) -> dict:
    """Snakemake's update_config: nested dicts merge, anything else is replaced."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def test_full_config_needs_nothing_from_the_demo_config():
    result = merged(DEMO, FULL)
    # The demo's detector weights stay in the merged map under their own archs, which
    # full.yaml's detect.archs do not train: nothing of them is used.
    unused = set(DEMO["detect"]["weights"]) - set(FULL["detect"]["archs"])
    result["detect"]["weights"] = {k: v for k, v in result["detect"]["weights"].items() if k not in unused}
    assert result == FULL, (
        "config/full.yaml lacks keys or entries that config/config.yaml has; merged over it, "
        "they would come from the demo"
    )


def test_real_config_needs_nothing_from_the_demo_config():
    """config/real.yaml, layered over the demo's, keeps none of the demo's values: the demo's own
    runs, sets and models it does not use are nulled (removed when the workflow loads)."""
    from workflow.core.checks import drop_removed_entries

    real = yaml.safe_load((REPO / "config/real.yaml").read_text())
    result = merged(DEMO, real)
    drop_removed_entries(result)
    drop_removed_entries(real)
    assert result == real, "config/real.yaml lacks keys or entries that config/config.yaml has"
    assert real["data"]["demo"] is None and real["classes"]["names"] == ["plane"]


def test_full_config_holds_the_reports_scale():
    assert FULL["data"]["demo"] is None
    assert FULL["tiling"]["crop_size"] == 256 and FULL["diffusion"]["preset"] == "adm256"
    assert FULL["diffusion"]["steps"] == 1000 and FULL["diffusion"]["finetune"]["iterations"] == 25000
    finetune = FULL["diffusion"]["finetune"]
    assert finetune["batch_size"] * finetune["accumulation"] == 128  # annex G.1's global batch
    assert (FULL["inpaint"]["respacing"], FULL["inpaint"]["jump_length"]) == (250, 10)
    assert FULL["detect"]["seeds"] == [0, 1, 2, 3, 4] and "yolov8m" in FULL["detect"]["archs"]


def placeholders(root) -> dict:
    """A config override that points full.yaml's input paths at empty files under `root`."""
    xview, dota = root / "xview", root / "dota"
    for folder in (xview / "images", dota / "images", dota / "labelTxt"):
        folder.mkdir(parents=True)
    for i in range(3):
        (xview / "images" / f"{i}.tif").touch()
        (dota / "images" / f"P{i:04d}.png").touch()
        # DOTA files carry their GSD; without it (and data.dota.gsd null) the load would stop
        (dota / "labelTxt" / f"P{i:04d}.txt").write_text("gsd:0.146\n")
    (xview / "labels.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    models = {}
    for name in ("sam", "adm", "resnet"):
        models[name] = str(root / f"{name}.pt")
        (root / f"{name}.pt").touch()
    for arch in FULL["detect"]["archs"]:  # read at load: their architecture is checked
        models[arch] = str(write_detector_description(root / f"{arch}.pt", arch))
    return {
        "data": {
            "xview": {"images": str(xview / "images"), "labels": str(xview / "labels.geojson")},
            "dota": {"images": str(dota / "images"), "labels": str(dota / "labelTxt")},
        },
        "masks": {"sam": {"checkpoint": models["sam"]}},
        "diffusion": {"pretrained": models["adm"], "cherry_picker": {"weights": models["resnet"]}},
        "detect": {"weights": {arch: models[arch] for arch in FULL["detect"]["archs"]}},
    }


def test_full_config_plans_the_reports_workflow(tmp_path):
    workdir = copy_workflow(tmp_path / "work")
    override = tmp_path / "paths.yaml"
    override.write_text(yaml.safe_dump(placeholders(tmp_path / "inputs")))
    jobs = scheduled(workdir, "--configfile", "config/full.yaml", str(override))
    archs, runs, seeds = FULL["detect"]["archs"], FULL["experiments"]["runs"], FULL["detect"]["seeds"]
    assert jobs["detect_train"] == len(archs) * len(runs) * len(seeds)
    assert jobs["inpaint_chunk"] == len(FULL["inpaint"]["sets"]) * FULL["inpaint"]["chunks"]
    assert jobs["finetune"] == len(FULL["diffusion"]["models"])
    assert jobs["mask_chunk"] == FULL["masks"]["chunks"]
    # a given checkpoint and given detector weights replace the demo's own pre-trainings
    assert not {"pretrain", "detect_pretrain", "detect_pretrain_data", "demo_scenes"} & set(jobs)


def test_the_sweep_extends_the_demo_and_plans_its_trainings(tmp_path):
    """config/sweep.yaml (`make sweep`) keeps every run of the demo as it is, so that the demo's
    trainings are reused, adds the 25 % point and the augmentation amounts, and trains each arch
    on 5 seeds: every training of one arch runs the baseline's steps (epoch_size baseline)."""
    sweep = yaml.safe_load((REPO / "config/sweep.yaml").read_text())
    result = merged(DEMO, sweep)
    runs = result["experiments"]["runs"]
    assert all(runs[name] == run for name, run in DEMO["experiments"]["runs"].items())
    assert {run.get("keep") for run in runs.values() if run["kind"] == "replacement"} == {0, 25, 50}
    assert {run["add"] for run in runs.values() if run["kind"] == "augmentation"} == {25, 100}
    assert len(result["detect"]["seeds"]) >= 5 and set(DEMO["detect"]["seeds"]) <= set(result["detect"]["seeds"])
    assert result["detect"]["train"]["epoch_size"] == "baseline"
    jobs = scheduled(copy_workflow(tmp_path / "work"), "--configfile", "config/sweep.yaml")
    assert jobs["detect_train"] == len(runs) * len(result["detect"]["archs"]) * len(result["detect"]["seeds"])
