"""The synthetic-quality measure: the found/missed rule at its IoU and confidence edges, the
Wilson interval against closed-form values, and the per-set table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workflow.detect.finder import match_plane
from workflow.report.quality import summarise_quality, wilson_interval

BOX = (10, 10, 20, 20)  # 100 px


def shifted(dx: float) -> np.ndarray:
    """A 10 x 10 box shifted right by dx: IoU = (10 - dx) / (10 + dx)."""
    return np.array([[10 + dx, 10, 20 + dx, 20]], dtype=np.float64)


def test_found_at_exactly_iou_one_half_and_exactly_the_confidence():
    taller = np.array([[10, 10, 20, 30]], dtype=np.float64)  # IoU = 100 / 200, exactly 0.5
    found, iou, confidence = match_plane(BOX, taller, np.array([0.4]), threshold=0.4)
    assert found and iou == 0.5 and confidence == 0.4


def test_missed_just_below_the_iou_or_the_confidence():
    assert not match_plane(BOX, shifted(3.4), np.array([0.9]), 0.4)[0]  # IoU 0.493
    found, iou, confidence = match_plane(BOX, shifted(0), np.array([0.399]), 0.4)
    assert (found, iou) == (False, 0.0) and math.isnan(confidence)


def test_the_best_prediction_above_the_confidence_decides():
    boxes = np.concatenate([shifted(0), shifted(5)])  # IoU 1 (low confidence) and 1/3
    found, iou, confidence = match_plane(BOX, boxes, np.array([0.2, 0.8]), 0.5)
    assert not found and iou == pytest.approx(1 / 3) and confidence == 0.8
    found, iou, _ = match_plane(BOX, boxes, np.array([0.6, 0.8]), 0.5)
    assert found and iou == pytest.approx(1.0)
    assert match_plane(BOX, np.zeros((0, 4)), np.zeros(0), 0.1)[:2] == (False, 0.0)


@pytest.mark.parametrize("found,n,low,high", [
    # z = 1.959964: p = 0.5, n = 10 -> 0.5 -+ 0.2634; p = 0, n = 10 -> [0, z^2 / (n + z^2)]
    (5, 10, 0.236593, 0.763407), (0, 10, 0.0, 0.277533), (10, 10, 0.722467, 1.0), (1, 4, 0.045587, 0.699358),
])
def test_wilson_interval_closed_form(found, n, low, high):
    assert wilson_interval(found, n) == pytest.approx((low, high), abs=1e-6)


def test_wilson_interval_of_nothing_is_undefined():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_summary_per_set_and_arch():
    images = pd.DataFrame({
        "set": ["a"] * 4 + ["b"] * 2, "arch": ["yolov8n"] * 6,
        "found": [True, True, False, True, False, False], "iou": [0.9, 0.7, 0.2, 0.8, 0.1, 0.0],
        "picker_score": [0.9, 0.8, 0.1, 0.6, 0.2, 0.3],
        "ring_mad": [0.0, 1.0, 2.0, 9.0, 0.5, 0.5], "ring_contrast": [1.0] * 6,
        "bank_distance": [0.1, 0.2, 0.3, 0.4, 0.0, 0.0],
    })
    summary = summarise_quality(images, {"yolov8n": (8, 10)}).set_index("set")
    assert summary.loc["a", "found"] == 3 and summary.loc["a", "found_rate"] == 0.75
    assert summary.loc["a", "mean_iou_found"] == pytest.approx(0.8)
    assert summary.loc["a", ["found_low", "found_high"]].tolist() == pytest.approx(wilson_interval(3, 4))
    assert summary.loc["a", "picker_median"] == pytest.approx(0.7)
    assert summary.loc["a", "ring_mad_median"] == pytest.approx(1.5)
    assert summary.loc["a", "bank_distance_median"] == pytest.approx(0.25)
    assert summary.loc["b", "found_rate"] == 0 and math.isnan(summary.loc["b", "mean_iou_found"])
    assert (summary["real_rate"] == 0.8).all() and (summary["real_planes"] == 10).all()
