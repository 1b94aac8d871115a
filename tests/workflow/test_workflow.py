"""The workflow itself: a clean dry run of the default config, and a tiny run that completes.

The tiny run (conftest.tiny_workflow) goes through every stage whose rules exist; the manifests
it writes are checked against the columns docs/dataflow.md promises, and every file a manifest
points to must exist. To cover a new manifest, add a line to CONTRACTS.
"""

from __future__ import annotations

import csv
import json

import pytest

from tests.helpers import REPO
from tests.helpers.smk_rules import read_rules
from tests.helpers.snakemake_run import copy_workflow, scheduled

# (glob under the working directory, rule file that produces it, required CSV columns)
CONTRACTS = [
    (
        "results/index/scenes.csv",
        "scenes.smk",
        "scene_id source image_path width height split n_objects n_target native_width"
        " native_height native_gsd gsd scale bands stretch",
    ),
    (
        "results/index/objects.csv",
        "scenes.smk",
        "object_id scene_id source_label class_name class_id xmin ymin xmax ymax clipped difficult",
    ),
    (
        "results/tiles/crops/manifest.csv",
        "tiles.smk",
        "crop_id image scene_id object_id x0 y0 xmin ymin xmax ymax size_class scale",
    ),
    (
        "results/tiles/background/manifest.csv",
        "tiles.smk",
        "tile_id image labels scene_id x0 y0 size context",
    ),
    (
        "results/tiles/detect/manifest.csv",
        "tiles.smk",
        "tile_id split image labels scene_id x0 y0 size n_plane n_car n_truck n_boat",
    ),
    (
        "results/bank/manifest.csv",
        "bank.smk",
        "crop_id image mask edges size_class scale mask_xmin mask_ymin mask_xmax mask_ymax"
        " box_xmin box_ymin box_xmax box_ymax area_fraction flagged method",
    ),
    (
        "results/inpaint/*/manifest.csv",
        "inpaint.smk",
        "image labels tile_id crop_id flip x y xmin ymin xmax ymax size_class seed score",
    ),
    (
        "results/selection/*/manifest.csv",
        "selection.smk",
        "image labels tile_id crop_id xmin ymin xmax ymax set index source_set source_index gate_score"
        " accepted",
    ),
    ("results/report/ap.csv", "report.smk",
     "arch experiment kind seed ap50 ap50_95 train_images epoch_images epochs optimizer_steps images_seen"),
    ("results/report/comparisons.csv", "report.smk",
     "arch comparison a b seeds mean_diff ci_low ci_high half_width diff_std seeds_to_resolve"),
    (
        "results/report/synthetic_quality.csv",
        "report.smk",
        "set arch images found found_rate found_low found_high mean_iou_found picker_q1 picker_median"
        " picker_q3 real_planes real_found real_rate real_low real_high",
    ),
    (
        "results/report/synthetic_quality_images.csv",
        "report.smk",
        "set arch image xmin ymin xmax ymax found iou confidence judge_confidence picker_score",
    ),
]
# Columns holding paths (relative to the working directory) that must exist.
PATH_COLUMNS = ("image", "image_path", "labels", "mask", "edges")
# Rules that a default dry run leaves out: the demo loads its base U-Net and detector weights from
# resources/demo_weights/ (diffusion.pretrained, detect.weights), so the rules that train them (and
# the base model's sample grid) run only without those (the tiny run trains them;
# tools/demo_weights.py runs them to make the files). The demo's synthetic sets give their sizes, so
# `synthetic_needs` (sets of `images: auto`, config/real.yaml) is left out too; its DAG is tested
# by tests/workflow/test_config_checks.py. `ground_scores` runs only for sets of context apron
# (config/real.yaml); its DAG is tested by tests/tiles/test_ground.py. The demo selects no set
# (`select_set`: the tiny run gates one and combines another).
OPTIONAL_RULES = {"pretrain", "pretrain_grid", "detect_pretrain_data", "detect_pretrain", "synthetic_needs",
                  "ground_scores", "select_set"}


def test_default_config_dry_run_schedules_every_rule(tmp_path):
    workdir = copy_workflow(tmp_path)
    jobs = scheduled(workdir)
    missing = set(read_rules()) - set(jobs) - OPTIONAL_RULES
    assert not missing, f"rules absent from the default DAG: {sorted(missing)}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "pattern, rule_file, columns", CONTRACTS, ids=[entry[0] for entry in CONTRACTS]
)
def test_tiny_run_writes_the_contracted_manifests(tiny_workflow, pattern, rule_file, columns):
    assert (REPO / "rules" / rule_file).exists(), f"rules/{rule_file} does not exist"
    files = sorted(tiny_workflow.glob(pattern))
    assert files, f"the tiny run wrote no {pattern}"
    for path in files:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows, f"{path.relative_to(tiny_workflow)} has no rows"
        absent = set(columns.split()) - set(rows[0])
        assert not absent, f"{path.relative_to(tiny_workflow)} lacks columns {sorted(absent)}"
        for column in set(PATH_COLUMNS) & set(rows[0]):
            lost = [row[column] for row in rows if not (tiny_workflow / row[column]).exists()]
            assert not lost, f"{path.name}: {len(lost)} {column} paths missing, e.g. {lost[0]}"


@pytest.mark.slow
def test_every_training_of_an_arch_runs_the_baselines_steps(tiny_workflow):
    """detect.train.epoch_size baseline: whatever its dataset holds, every training shows the
    baseline's training images per epoch, so all run the same optimizer steps."""
    with (tiny_workflow / "results/report/ap.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    baseline = next(row for row in rows if row["kind"] == "baseline")
    assert len({row["train_images"] for row in rows}) > 1  # the datasets differ in size ...
    for row in rows:  # ... not in what they train for
        assert row["epoch_images"] == baseline["train_images"], row
        assert (row["epochs"], row["optimizer_steps"], row["images_seen"]) == (
            baseline["epochs"], baseline["optimizer_steps"], baseline["images_seen"]), row


@pytest.mark.slow
def test_tiny_run_index_summary_counts_scenes(tiny_workflow):
    summary = json.loads((tiny_workflow / "results/index/summary.json").read_text())
    with (tiny_workflow / "results/index/scenes.csv").open(newline="") as handle:
        scenes = list(csv.DictReader(handle))
    with (tiny_workflow / "results/index/objects.csv").open(newline="") as handle:
        objects = list(csv.DictReader(handle))
    assert summary["total"]["scenes"] == len(scenes) > 0
    assert summary["total"]["objects"] == len(objects) > 0
    for source, counts in summary["sources"].items():
        assert counts["scenes"] == sum(row["source"] == source for row in scenes), source
    for split, counts in summary["splits"].items():
        assert counts["scenes"] == sum(row["split"] == split for row in scenes), split
    assert sum(c["scenes"] for c in summary["splits"].values()) == len(scenes)
    planes = sum(row["class_name"] == summary["target"] for row in objects)
    assert summary["total"]["objects_per_class"][summary["target"]] == planes > 0
    assert {row["source"] for row in scenes} == {"xview", "dota"}
    assert {row["split"] for row in scenes} <= {"train", "val", "test"}


@pytest.mark.slow
def test_trainings_leave_the_tiles_and_inpainting_folders_as_written(tiny_workflow):
    """Every file of a tiles or inpainting folder is older than the manifest its rule wrote
    last: nothing (such as ultralytics' labels.cache) is added after the rule finished."""
    results = tiny_workflow / "results"
    assert list((results / "detect").rglob("metrics.json")), "the tiny run trained no detector"
    folders = [results / "tiles" / kind for kind in ("crops", "background", "detect")]
    folders += [path.parent for path in (results / "inpaint").glob("*/manifest.csv")]
    for folder in folders:
        written = (folder / "manifest.csv").stat().st_mtime
        later = [str(p.relative_to(results)) for p in folder.rglob("*")
                 if p.is_file() and p.stat().st_mtime > written]
        assert not later, f"written after {folder / 'manifest.csv'}: {later[:5]}"
    caches = [str(p.relative_to(results)) for p in results.rglob("*.cache")]
    assert not caches, f"label caches written: {caches}"


@pytest.mark.slow
def test_tiny_run_quality_table_judges_every_synthetic_image(tiny_workflow):
    import pandas as pd

    report = tiny_workflow / "results/report"
    summary = pd.read_csv(report / "synthetic_quality.csv")
    images = pd.read_csv(report / "synthetic_quality_images.csv")
    sets = {p.parent.name: len(pd.read_csv(p)) for stage in ("inpaint", "copy_paste", "selection")
            for p in (tiny_workflow / "results" / stage).glob("*/manifest.csv")}
    assert {"tarmac_paste", "tarmac_gated", "tarmac_mix"} <= set(sets)
    assert set(summary["set"]) == set(sets) and set(summary["arch"]) == {"yolov8n"}
    for row in summary.itertuples():
        assert row.images == sets[row.set] == len(images[(images["set"] == row.set) & (images["arch"] == row.arch)])
        assert row.found == images.loc[(images["set"] == row.set) & (images["arch"] == row.arch), "found"].sum()
        assert 0 <= row.found_low <= row.found_rate <= row.found_high <= 1
        assert row.picker_q1 <= row.picker_median <= row.picker_q3
        assert 0 <= row.real_found <= row.real_planes and row.real_planes > 0
    assert images["picker_score"].between(0, 1).all() and images["iou"].between(0, 1).all()
    metrics = json.loads((tiny_workflow / "results/detect/yolov8n/baseline/seed0/metrics.json").read_text())
    assert (images["judge_confidence"] == metrics["confidence"]).all()
    for name in sets:
        assert (report / f"judged_{name}_yolov8n.png").stat().st_size > 0


@pytest.mark.slow
def test_tiny_run_gates_with_the_baseline_detector_and_combines_half_and_half(tiny_workflow):
    import pandas as pd

    results = tiny_workflow / "results"
    gated = pd.read_csv(results / "selection/tarmac_gated/manifest.csv")
    summary = json.loads((results / "selection/tarmac_gated/summary.json").read_text())
    source = summary["sources"]["tarmac_canny"]
    assert len(gated) == 4 and set(gated["source_set"]) == {"tarmac_canny"}
    assert source["accepted"] + source["filled"] == 4 == len(gated)
    assert int(gated["accepted"].sum()) == source["accepted"]
    assert gated["gate_score"].between(0, 1).all() and source["gate_cpu_seconds"] > 0
    assert (gated.loc[gated["accepted"], "gate_score"] >= 0.01).all()
    # read in draw order until 4 are accepted, or to the end of the source (then the best fill in)
    assert source["drawn"] == 40 if source["filled"] else source["drawn"] <= 40
    mixed = pd.read_csv(results / "selection/tarmac_mix/manifest.csv")
    assert list(mixed["source_set"][:4]) == ["tarmac_canny", "tarmac_paste"] * 2
    dataset = json.loads((results / "datasets/mix_replacement_50/manifest.json").read_text())
    assert dataset["synthetic"]["set"] == "tarmac_mix"
