"""One selected set: planes taken from synthetic sets, through the quality gate or not.

    python -m workflow.selection.select --settings JSON --sources results/inpaint/{a}/manifest.csv ...
        [--needs results/datasets/needs/{set}.json] [--gate results/detect/{arch}/baseline/seed{s}
        --config-dir results/detect/ultralytics] --manifest results/selection/{set}/manifest.csv
        --summary .../summary.json --contact-sheet .../contact_sheet.png

A selected set of `selection.sets` names its sources (sets of inpaint.sets or copy_paste.sets)
and takes an equal share of its images from each, interleaved (image i from source i mod k),
so that every prefix an experiment takes is shared alike (two sources: the combined set, half
diffusion and half copy-paste planes).

With a `threshold` the set is gated (Gen2Det's filter): a source image is accepted when the
gate's detector, a baseline training (the training split's real images only; it never sees the
test split), predicts a plane overlapping the image's synthetic plane at IoU >= 0.5 with a
confidence of at least the threshold. Each source is read in its draw order and its first
accepted images are taken; the source holds `selection.gate.draws` planes per plane the set
takes from it, which is how far the gate may draw. A source that runs out fills its share with
its highest-scoring rejected images (counted as `filled` in the summary). The summary gives per
source the acceptance rate and the cost per accepted plane: the network evaluations and CPU
seconds of every plane drawn up to the last one taken (from the source manifest's
`evaluations` and `cpu_seconds`), plus the gate's own CPU seconds.

The images stay in their source's folder (the manifest points at them, as a set's manifest
does); the manifest adds `source_set`, `source_index`, `gate_score` and `accepted` to the source
columns, and `set` names the selected set.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.images import draw_box, grid, titled
from workflow.core.labels import ClassSettings
from workflow.core.logs import setup_logging
from workflow.core.set_size import set_images
from workflow.core.settings import read_settings

log = logging.getLogger(__name__)
ACCEPTED, REJECTED = (0, 200, 0), (230, 0, 0)
BATCH = 32  # images per gate prediction batch


@dataclasses.dataclass(frozen=True)
class SelectedSet:
    """One entry of selection.sets."""

    sources: tuple[str, ...]
    images: int | str  # or "auto": as many as the experiments drawing from the set need
    threshold: float | None = None  # the gate's confidence; None: no gate

    def __post_init__(self):
        if not self.sources:
            raise ValueError("a selected set needs at least one source")
        if len(set(self.sources)) != len(self.sources):
            raise ValueError(f"sources {list(self.sources)} name a set twice")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ValueError(f"threshold {self.threshold}: allowed a confidence in (0, 1) or null")


@dataclasses.dataclass(frozen=True)
class GateSettings:
    """selection.gate: the baseline training (arch, seed) that gates, and how far it draws."""

    arch: str
    seed: int
    draws: int


@dataclasses.dataclass(frozen=True)
class SelectSettings:
    set: str
    entry: SelectedSet
    classes: ClassSettings
    gate: GateSettings | None = None

    def __post_init__(self):
        if (self.entry.threshold is None) != (self.gate is None):
            raise ValueError(f"selected set {self.set!r}: --settings must hold `gate` exactly when the "
                             "set has a threshold")


def shares(images: int, sources: int) -> list[int]:
    """Images taken from each of `sources` sources: equal, the first ones one more."""
    return [images // sources + (k < images % sources) for k in range(sources)]


@dataclasses.dataclass
class Scorer:
    """The gate's detector scores images in batches, counting its CPU seconds."""

    finder: object  # workflow.detect.finder.Finder
    target_id: int
    device: str
    cpu_seconds: float = 0.0

    def __call__(self, rows: pd.DataFrame) -> np.ndarray:
        from workflow.detect.finder import best_overlap_confidence, predict

        started = time.process_time()
        predictions = predict(self.finder, rows["image"].tolist(), self.target_id, BATCH, self.device)
        self.cpu_seconds += time.process_time() - started
        return np.array([best_overlap_confidence((r.xmin, r.ymin, r.xmax, r.ymax), boxes, confidences)
                         for r, (boxes, confidences) in zip(rows.itertuples(), predictions)])  # fmt: skip


def gate_source(table: pd.DataFrame, share: int, threshold: float, score: Scorer):
    """The first `share` images of `table` (in draw order) the gate accepts, scoring in batches
    only as far as needed; short of them, its best rejected ones -> (taken rows with gate_score
    and accepted, the rejected rows left out with their gate_score, the source's counts and
    costs)."""
    scores = np.full(len(table), np.nan)
    before = score.cpu_seconds
    drawn = 0
    while drawn < len(table) and (scores[:drawn] >= threshold).sum() < share:
        scores[drawn:drawn + BATCH] = score(table.iloc[drawn:drawn + BATCH])
        drawn = min(drawn + BATCH, len(table))
    accepted = np.flatnonzero(scores[:drawn] >= threshold)[:share]
    if len(accepted) == share and share:
        drawn = int(accepted[-1]) + 1  # the planes drawn up to the last one taken
    rejected = np.flatnonzero(~(scores[:drawn] >= threshold))
    filled = rejected[np.argsort(-scores[rejected], kind="stable")][: share - len(accepted)]
    taken = table.iloc[np.sort(np.concatenate([accepted, filled]))].assign(
        gate_score=lambda t: scores[t.index], accepted=lambda t: scores[t.index] >= threshold)
    left_out = table.iloc[np.setdiff1d(rejected, filled)].assign(gate_score=lambda t: scores[t.index])
    counts = costs(table.iloc[:drawn], len(accepted), score.cpu_seconds - before)
    return taken, left_out, counts | dict(filled=int(len(filled)))


def costs(drawn: pd.DataFrame, accepted: int, gate_seconds: float) -> dict:
    """Counts of a source and its cost per accepted plane (nan when none is accepted)."""
    per = (lambda total: total / accepted if accepted else math.nan)
    evaluations = float(drawn["evaluations"].sum()) if "evaluations" in drawn else math.nan
    generated = float(drawn["cpu_seconds"].sum()) if "cpu_seconds" in drawn else math.nan
    return dict(drawn=len(drawn), accepted=accepted,
                acceptance_rate=accepted / len(drawn) if len(drawn) else math.nan,
                evaluations_per_accepted=per(evaluations),
                cpu_seconds_per_accepted=per(generated + gate_seconds),
                gate_cpu_seconds=round(gate_seconds, 3))  # fmt: skip


def select(s: SelectSettings, sources: dict[str, pd.DataFrame], images: int,
           score: Scorer | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The selected set's rows, interleaved over its sources; the rows the gate rejected and
    left out (with their source_set and gate_score); per source its summary."""
    taken, left_out, summary = [], [], {}
    for name, share in zip(s.entry.sources, shares(images, len(s.entry.sources))):
        table = sources[name].reset_index(drop=True)
        draws = s.gate.draws if s.gate else 1
        if len(table) < share * draws:
            raise ValueError(f"selected set {s.set!r} takes {share} images from set {name!r}, which holds "
                             f"{len(table)}{f' ({draws} draws per image)' if s.gate else ''}: "
                             f"give {name} images: auto or at least {share * draws}")
        if s.gate is None:
            rows = table.iloc[:share].assign(gate_score=math.nan, accepted=True)
            summary[name] = costs(table.iloc[:share], share, 0.0) | dict(filled=0)
        else:
            rows, rejected, summary[name] = gate_source(table, share, s.entry.threshold, score)
            left_out.append(rejected.assign(source_set=name))
            log.info("%s from %s: %s", s.set, name, summary[name])
        taken.append(rows.assign(source_set=name, source_index=rows["index"], rank=np.arange(len(rows)),
                                 order=len(taken)))  # fmt: skip
    table = pd.concat(taken, ignore_index=True).sort_values(["rank", "order"], kind="stable")
    table = table.drop(columns=["rank", "order"]).reset_index(drop=True)
    rejected = pd.concat(left_out, ignore_index=True) if left_out else table.iloc[:0]
    return table.assign(set=s.set, index=np.arange(len(table))), rejected, summary


def sheet(table: pd.DataFrame, rejected: pd.DataFrame, max_images: int) -> np.ndarray:
    """The first taken images (green box: accepted, red: a rejected one filling a share), then
    the first rejected ones the gate left out (red), with their source and gate score."""
    cells, captions = [], []
    shown = pd.concat([table.head(max_images), rejected.head(max_images).assign(accepted=False)])
    for row in shown.itertuples():
        colour = ACCEPTED if row.accepted else REJECTED
        cells.append(draw_box(io.read_png(row.image), (row.xmin, row.ymin, row.xmax, row.ymax), colour))
        score = "" if pd.isna(row.gate_score) else f" {row.gate_score:.2f}"
        captions.append(f"{row.source_set}{score}")
    return grid(cells, captions, columns=8, scale=max(1, 256 // cells[0].shape[0]))


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="JSON: set, entry, classes[, gate]")
    parser.add_argument("--sources", nargs="+", required=True, help="the source sets' manifest.csv")
    parser.add_argument("--needs", help="the set's size when its images is auto")
    parser.add_argument("--gate", type=Path, help="the gate's baseline training folder, for a threshold")
    parser.add_argument("--config-dir", type=Path, help="YOLO_CONFIG_DIR, with --gate")
    for flag in ("--manifest", "--summary", "--contact-sheet"):
        parser.add_argument(flag, required=True, type=Path)
    parser.add_argument("--contact-sheet-images", type=int, default=24)
    args = parser.parse_args(argv)
    s = read_settings(args.settings, SelectSettings)
    sources = {Path(path).parent.name: pd.read_csv(path) for path in args.sources}
    if list(sources) != list(s.entry.sources):
        raise ValueError(f"--sources {list(sources)}: selected set {s.set!r} draws from {list(s.entry.sources)}")
    score = None
    if s.gate is not None:
        if args.gate is None or args.config_dir is None:
            raise ValueError(f"selected set {s.set!r} has a threshold: give --gate and --config-dir")
        from workflow.core.device import pick_device
        from workflow.detect.finder import load_finder
        from workflow.detect.offline import disable_label_cache, offline_environment

        offline_environment(args.config_dir)
        disable_label_cache()
        score = Scorer(load_finder(args.gate, s.entry.threshold), s.classes.target_id, pick_device("auto"))
    images = set_images(s.entry.images, args.needs, s.set)
    table, rejected, summary = select(s, sources, images, score)
    io.write_csv(args.manifest, table)
    io.write_json(args.summary, dict(set=s.set, images=len(table), threshold=s.entry.threshold,
                                     gate=dataclasses.asdict(s.gate) if s.gate else None, sources=summary))
    taken = int(table["accepted"].sum())
    title = (f"{s.set}: {len(table)} images, {taken} accepted"
             + (f"; then {min(len(rejected), args.contact_sheet_images)} the gate left out" if len(rejected) else ""))
    io.write_png(args.contact_sheet, titled(sheet(table, rejected, args.contact_sheet_images), title))
    log.info("%s: %d images from %s (%d accepted)", s.set, len(table), list(sources), taken)


if __name__ == "__main__":
    main()
