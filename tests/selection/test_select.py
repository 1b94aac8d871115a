"""Selected sets: equal shares interleaved over the sources, the gate's acceptance in draw order
with its fill-in and costs, the sizes asked of auto-sized sources, and the settings' checks."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from workflow.datasets import needs
from workflow.selection import select
from workflow.selection.select import GateSettings, SelectedSet, SelectSettings

CLASSES = {"names": ["plane", "car"], "target": "plane"}


def source(name: str, n: int, scores=None, seconds: float = 1.0, evaluations: int = 50) -> pd.DataFrame:
    """A source manifest of n images; `scores` (the gate's, per image) rides in a column the
    test's scorer reads back."""
    return pd.DataFrame({"image": [f"{name}/{i}.png" for i in range(n)], "index": range(n), "set": name,
                         "xmin": 1, "ymin": 1, "xmax": 9, "ymax": 9, "cpu_seconds": seconds,
                         "evaluations": evaluations,
                         "test_score": scores if scores is not None else np.zeros(n)})  # fmt: skip


class ColumnScorer:
    """Scores each row by its `test_score` column and counts the rows scored: the gate's
    bookkeeping without a detector."""

    def __init__(self):
        self.cpu_seconds, self.scored = 0.0, 0

    def __call__(self, rows: pd.DataFrame) -> np.ndarray:
        self.scored += len(rows)
        self.cpu_seconds += 0.5 * len(rows)
        return rows["test_score"].to_numpy()


def settings(sources, images, threshold=None, draws=4) -> SelectSettings:
    gate = GateSettings("yolov8n", 1, draws) if threshold is not None else None
    return SelectSettings("chosen", SelectedSet(tuple(sources), images, threshold), _classes(), gate)


def _classes():
    from workflow.core.labels import ClassSettings

    return ClassSettings(**CLASSES)


def test_shares_are_equal_the_first_ones_one_more():
    assert select.shares(7, 2) == [4, 3]
    assert select.shares(6, 3) == [2, 2, 2]
    assert sum(select.shares(11, 4)) == 11


def test_combined_set_interleaves_its_sources_so_every_prefix_is_shared_alike():
    table, rejected, summary = select.select(settings(["a", "b"], 5), {"a": source("a", 9), "b": source("b", 9)}, 5)
    assert list(table["source_set"]) == ["a", "b", "a", "b", "a"]
    assert list(table["source_index"]) == [0, 0, 1, 1, 2]
    assert list(table["index"]) == [0, 1, 2, 3, 4] and set(table["set"]) == {"chosen"}
    assert table["accepted"].all() and table["gate_score"].isna().all()
    assert summary["a"]["drawn"] == 3 and summary["b"]["drawn"] == 2


def test_a_source_too_small_for_its_share_names_the_set_and_the_size_needed():
    with pytest.raises(ValueError, match="takes 3 images from set 'b', which holds 2.*at least 3"):
        select.select(settings(["a", "b"], 6), {"a": source("a", 9), "b": source("b", 2)}, 6)
    with pytest.raises(ValueError, match=r"\(4 draws per image\).*at least 12"):
        select.select(settings(["a"], 3, threshold=0.5), {"a": source("a", 11)}, 3, ColumnScorer())


def test_gate_takes_the_first_accepted_in_draw_order_and_stops_scoring():
    scores = np.array([0.1, 0.9, 0.2, 0.5, 0.7] + [0.9] * 75)  # accepted: 1, 3, 4, ...
    scorer = ColumnScorer()
    table, rejected, summary = select.select(settings(["a"], 3, threshold=0.5), {"a": source("a", 80, scores)}, 3, scorer)
    assert list(table["source_index"]) == [1, 3, 4]
    assert list(rejected["index"]) == [0, 2] and list(rejected["gate_score"]) == [0.1, 0.2]  # left out    assert table["accepted"].all() and list(table["gate_score"]) == [0.9, 0.5, 0.7]  # 0.5: at the threshold
    assert scorer.scored == select.BATCH  # one batch held the three; the rest was never scored
    a = summary["a"]
    assert (a["drawn"], a["accepted"], a["filled"]) == (5, 3, 0)  # drawn up to the last one taken
    assert a["acceptance_rate"] == pytest.approx(3 / 5)
    assert a["evaluations_per_accepted"] == pytest.approx(5 * 50 / 3)
    # generating the 5 drawn (1 CPU-s each) and gating the batch scored (0.5 CPU-s per image)
    assert a["cpu_seconds_per_accepted"] == pytest.approx((5 * 1.0 + 0.5 * select.BATCH) / 3)


def test_a_source_that_runs_out_fills_its_share_with_its_best_rejected():
    scores = np.array([0.1, 0.6, 0.3, 0.2, 0.05, 0.4, 0.0, 0.0])
    table, rejected, summary = select.select(settings(["a"], 2, threshold=0.5, draws=4), {"a": source("a", 8, scores)}, 2,
                                   ColumnScorer())  # fmt: skip
    assert list(table["source_index"]) == [1, 5] and list(table["accepted"]) == [True, False]
    assert list(rejected["index"]) == [0, 2, 3, 4, 6, 7]  # the best rejected (5) fills the share
    assert (summary["a"]["drawn"], summary["a"]["accepted"], summary["a"]["filled"]) == (8, 1, 1)


def test_nothing_accepted_leaves_the_cost_per_accepted_plane_undefined():
    table, rejected, summary = select.select(settings(["a"], 1, threshold=0.5, draws=2), {"a": source("a", 2)}, 1,
                                   ColumnScorer())  # fmt: skip
    assert len(table) == 1 and not table["accepted"].any()
    assert summary["a"]["accepted"] == 0 and math.isnan(summary["a"]["cpu_seconds_per_accepted"])


def test_a_gated_set_needs_the_gate_and_a_plain_one_refuses_it():
    with pytest.raises(ValueError, match="exactly when the set has a threshold"):
        SelectSettings("s", SelectedSet(("a",), 3, 0.5), _classes(), None)
    with pytest.raises(ValueError, match="exactly when the set has a threshold"):
        SelectSettings("s", SelectedSet(("a",), 3), _classes(), GateSettings("yolov8n", 1, 4))
    with pytest.raises(ValueError, match="name a set twice"):
        SelectedSet(("a", "a"), 3)


def test_main_writes_manifest_summary_and_sheet_of_a_combined_set(tmp_path):
    from tests.helpers.yolo_fixtures import write_synthetic_set

    manifests = [write_synthetic_set(tmp_path, name, 4, seed=k) for k, name in enumerate(("a", "b"))]
    for path in manifests:  # the placement columns a set's manifest has
        table = pd.read_csv(path).assign(index=range(4), xmin=2, ymin=2, xmax=20, ymax=20)
        table.to_csv(path, index=False)
    out = tmp_path / "chosen"
    values = {"set": "chosen", "entry": {"sources": ["a", "b"], "images": 6}, "classes": CLASSES}
    select.main(["--settings", json.dumps(values), "--sources", *map(str, manifests),
                 "--manifest", str(out / "manifest.csv"), "--summary", str(out / "summary.json"),
                 "--contact-sheet", str(out / "sheet.png")])
    table = pd.read_csv(out / "manifest.csv")
    assert list(table["source_set"]) == ["a", "b"] * 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 6 and summary["threshold"] is None and summary["gate"] is None
    assert (out / "sheet.png").stat().st_size > 0
    with pytest.raises(ValueError, match=r"--sources \['b', 'a'\]: selected set 'chosen' draws from \['a', 'b'\]"):
        select.main(["--settings", json.dumps(values), "--sources", *map(str, manifests[::-1]),
                     "--manifest", str(out / "m.csv"), "--summary", str(out / "s.json"),
                     "--contact-sheet", str(out / "s.png")])


def test_a_source_holds_its_share_times_the_draws_of_each_selected_set():
    tiles = None  # explicit image counts: the detection tiles are not read
    assert needs.selection_need({"images": 7, "sources": 2, "draws": 1, "experiments": {}}, tiles) == 4
    assert needs.selection_need({"images": 7, "sources": 1, "draws": 4, "experiments": {}}, tiles) == 28
