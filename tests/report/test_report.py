"""Aggregation over seeds and the plots, from a hand-made ap.csv and a few metrics.json files."""

import io as stdio
import json

import cv2
import numpy as np
import pandas as pd
import pytest

from workflow.report import tables as report

AP_CSV = """arch,family,experiment,kind,set,focal_gamma,sweep_value,seed,ap50,ap50_95
yolov8n,YOLOv8,baseline,baseline,,0.0,,0,0.80,0.40
yolov8n,YOLOv8,baseline,baseline,,0.0,,1,0.60,0.30
yolov8n,YOLOv8,ablation_50,ablation,,0.0,50,0,0.50,0.20
yolov8n,YOLOv8,ablation_50,ablation,,0.0,50,1,0.30,0.10
yolov8n,YOLOv8,replacement_50,replacement,tarmac_canny,0.0,50,0,0.70,0.35
yolov8n,YOLOv8,paste_50,replacement,tarmac_paste,0.0,50,0,0.60,0.30
yolov8n,YOLOv8,augment_24,augmentation,tarmac_canny,0.0,24,0,0.90,0.45
yolov8n,YOLOv8,augment_24,augmentation,tarmac_canny,0.0,24,1,0.70,0.35
yolov5nu,YOLOv5u,baseline,baseline,,0.0,,0,0.55,0.25
yolov5nu,YOLOv5u,baseline,baseline,,0.0,,1,0.45,0.15
"""


@pytest.fixture
def table():
    return pd.read_csv(stdio.StringIO(AP_CSV), keep_default_na=False, na_values={"sweep_value": ""})


def row(summary, arch, experiment):
    return summary[(summary["arch"] == arch) & (summary["experiment"] == experiment)].iloc[0]


def test_summary_is_mean_and_sample_std_over_seeds(table):
    summary = report.summarise_seeds(table)
    assert len(summary) == 6
    base = row(summary, "yolov8n", "baseline")
    assert base["seeds"] == 2
    assert base["ap50_mean"] == pytest.approx(0.70)
    assert base["ap50_std"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert base["ap50_95_mean"] == pytest.approx(0.35)
    single = row(summary, "yolov8n", "replacement_50")
    assert single["seeds"] == 1 and np.isnan(single["ap50_std"])


def test_sweep_lines_join_the_baseline_at_100_and_0(table):
    summary = report.summarise_seeds(table)
    v8 = summary[summary["arch"] == "yolov8n"]
    lines = dict(report.sweep_lines(v8, ("ablation", "replacement"), 100.0, {"tarmac_paste"}))
    ablation = lines["ablation"]
    assert list(ablation["sweep_value"]) == [50.0, 100.0]
    assert list(ablation["ap50_mean"]) == pytest.approx([0.40, 0.70])
    assert set(lines) == {"ablation", "replacement diffusion (tarmac_canny)",
                          "replacement copy-paste (tarmac_paste)"}
    augment = dict(report.sweep_lines(v8, ("augmentation",), 0.0, set()))
    assert list(augment["augmentation diffusion (tarmac_canny)"]["sweep_value"]) == [0.0, 24.0]
    v5 = summary[summary["arch"] == "yolov5nu"]
    assert report.sweep_lines(v5, ("ablation", "replacement"), 100.0, set()) == []


def test_plots_are_written(table, tmp_path):
    summary = report.summarise_seeds(table)
    report.plot_bars(summary, tmp_path / "bars.png")
    report.plot_sweeps(summary, tmp_path / "sweeps.png", {"tarmac_paste"})
    for name in ("bars.png", "sweeps.png"):
        image = cv2.imread(str(tmp_path / name))
        assert image is not None and image.shape[0] > 300 and image.std() > 5
    # a config without augmentation (the demo's) draws no empty augmentation row
    report.plot_sweeps(summary[summary["kind"] != "augmentation"], tmp_path / "kept.png", {"tarmac_paste"})
    both, kept = cv2.imread(str(tmp_path / "sweeps.png")), cv2.imread(str(tmp_path / "kept.png"))
    assert kept.shape[0] < 0.6 * both.shape[0]


def metrics_json(path, arch, experiment, seed, ap50):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"arch": arch, "family": "YOLOv8", "experiment": experiment, "seed": seed,
                                "ap50": ap50, "ap50_95": ap50 / 2, "precision": 0.5, "recall": 0.5}))
    return str(path)


def test_main_reads_metrics_and_writes_the_tables(tmp_path):
    runs = {"baseline": {"kind": "baseline"}, "ablation_50": {"kind": "ablation", "keep": 50},
            "focal_base": {"kind": "baseline", "focal_gamma": 1.5},
            "replacement_50": {"kind": "replacement", "keep": 50, "set": "tarmac_canny"}}
    paths = [metrics_json(tmp_path / "m" / f"{e}{s}.json", "yolov8n", e, s, 0.5 + 0.1 * s)
             for e in runs for s in (0, 1)]
    out = tmp_path / "report"
    report.main(["--settings", json.dumps({"runs": runs, "focal_gamma": 0.0}), "--metrics", *paths,
                 "--out", str(out)])
    ap = pd.read_csv(out / "ap.csv")
    assert len(ap) == 8
    assert list(ap.columns[:8]) == [*report.KEYS, "seed"]
    assert sorted(ap.loc[ap["experiment"] == "focal_base", "focal_gamma"]) == [1.5, 1.5]
    summary = pd.read_csv(out / "summary.csv")
    assert summary.loc[summary["experiment"] == "ablation_50", "ap50_mean"].item() == pytest.approx(0.55)
    assert (out / "ap_bars.png").exists() and (out / "sweeps.png").exists()
    paired = pd.read_csv(out / "comparisons.csv")
    ap50 = paired[paired["metric"] == "ap50"].iloc[0]
    assert (ap50["comparison"], ap50["a"], ap50["b"], ap50["seeds"]) == (
        "replacement_vs_ablation", "replacement_50", "ablation_50", 2)
    assert ap50["mean_diff"] == pytest.approx(0.0)  # the same AP per seed in both
    assert (out / "comparisons.png").exists()


def test_metrics_of_an_unknown_experiment_are_an_error():
    with pytest.raises(ValueError, match="'gone'"):
        report.ap_table([{"experiment": "gone"}], {"baseline": {"kind": "baseline"}}, 0.0)


def test_sets_of_one_family_get_their_own_style():
    from workflow.report.tables import family_positions, line_style

    labels = ["ablation", "replacement diffusion (a)", "replacement copy-paste (p)",
              "replacement diffusion (b)", "replacement copy-paste (q)"]
    assert family_positions(labels) == [0, 0, 0, 1, 1]
    styles = [line_style(label, k) for label, k in zip(labels, family_positions(labels))]
    assert styles[1] != styles[3] and styles[2] != styles[4]
    assert styles[2]["linestyle"] == styles[4]["linestyle"] == "dashed"
