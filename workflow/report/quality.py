"""Synthetic quality: does a detector trained on real data only see a plane where one was inpainted?

    python -m workflow.report.quality --settings JSON --sets results/inpaint/*/manifest.csv
        --judges results/detect/{arch}/baseline/seed0 ... --detect-tiles results/tiles/detect/manifest.csv
        [--cherry-picker results/diffusion/cherry_picker/model.pt] --out results/report

The judge of an architecture is its `baseline` training (real images only) of the first seed. A
synthetic plane is *found* when a plane prediction with a confidence of at least the judge's
best-F1 plane confidence (its metrics.json) overlaps the plane's label box at IoU >= 0.5; the same
rule on every plane of the real test tiles gives the ceiling. Per image: found, best IoU (over the
predictions at or above that confidence), the confidence of that prediction, and, when a
cherry-picker is trained (some set draws several candidates), its P(plane) of the model-size
window that was inpainted.

Writes `synthetic_quality.csv` (per set and arch: found rate with a 95 % Wilson interval, mean IoU
of the found planes, cherry-picker quartiles, the real-plane ceiling), `synthetic_quality_images.csv`
(per image and arch), `synthetic_quality.png`, and `judged_<set>.png` contact sheets (green box:
found, red: missed, with the IoU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from workflow.core import io
from workflow.core.device import pick_device
from workflow.core.images import draw_box, grid, titled
from workflow.core.labels import ClassSettings, read_yolo
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.core.tensors import to_tensor
from workflow.detect.finder import Finder, load_finder, match_plane, predict
from workflow.report import diversity, seam

log = logging.getLogger(__name__)

FOUND, MISSED = (0, 200, 0), (230, 0, 0)


@dataclasses.dataclass(frozen=True)
class QualitySettings:
    classes: ClassSettings
    contact_sheet_images: int = 16
    batch: int = 32  # images per prediction batch


def wilson_interval(found: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion found / n (nan, nan when n is 0)."""
    from scipy.stats import binomtest

    if n == 0:
        return math.nan, math.nan
    interval = binomtest(found, n).proportion_ci(confidence_level=level, method="wilson")
    return float(interval.low), float(interval.high)


def picker_scores(picker, size: int, table: pd.DataFrame, device) -> np.ndarray:
    """The cherry-picker's P(plane) of each image's inpainted window (window_x, window_y; its
    window_side, or `size` px), brought to `size` px."""
    windows = []
    for row in table.itertuples():
        image = io.read_png(row.image)
        side = int(getattr(row, "window_side", 0) or size)
        window = image[row.window_y:row.window_y + side, row.window_x:row.window_x + side]
        windows.append(cv2.resize(window, (size, size), interpolation=cv2.INTER_AREA) if side != size else window)
    with torch.no_grad():
        return np.concatenate([picker.plane_probability(to_tensor(windows[i:i + 64], device)).cpu().numpy()
                               for i in range(0, len(windows), 64)]) if windows else np.zeros(0)


def judge_synthetic(judge: Finder, table: pd.DataFrame, predictions) -> pd.DataFrame:
    """Per synthetic image: found, best IoU and confidence of its inpainted plane."""
    rows = []
    for row, (boxes, confidences) in zip(table.itertuples(), predictions):
        found, iou, confidence = match_plane((row.xmin, row.ymin, row.xmax, row.ymax), boxes,
                                             confidences, judge.confidence)
        rows.append(dict(found=found, iou=iou, confidence=confidence))
    return pd.DataFrame(rows, index=table.index)


def real_test_planes(manifest: str | Path, target_id: int) -> tuple[list[str], list[np.ndarray]]:
    """Test tiles holding the target and, per tile, its target boxes in pixels."""
    tiles = pd.read_csv(manifest)
    tiles = tiles[tiles["split"] == "test"]
    images, boxes = [], []
    for tile in tiles.itertuples():
        class_ids, tile_boxes = read_yolo(tile.labels, int(tile.size))
        if (class_ids == target_id).any():
            images.append(tile.image)
            boxes.append(tile_boxes[class_ids == target_id])
    return images, boxes


def ceiling(judge: Finder, boxes: list[np.ndarray], predictions) -> tuple[int, int]:
    """(found, planes) over the real test planes, by the same rule."""
    found = n = 0
    for tile_boxes, (pred_boxes, confidences) in zip(boxes, predictions):
        for box in tile_boxes:
            n += 1
            found += match_plane(box, pred_boxes, confidences, judge.confidence)[0]
    return found, n


def summarise_quality(images: pd.DataFrame, real: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Per set and arch: the found rate and its interval, IoU of the found, picker quartiles,
    and the real-plane ceiling of the same judge."""
    rows = []
    for (name, arch), group in images.groupby(["set", "arch"], sort=True):
        n, found = len(group), int(group["found"].sum())
        low, high = wilson_interval(found, n)
        real_found, real_n = real[arch]
        real_low, real_high = wilson_interval(real_found, real_n)
        scores = group["picker_score"].dropna()
        q1, median, q3 = (np.quantile(scores, [0.25, 0.5, 0.75]) if len(scores)
                          else (math.nan,) * 3)
        rows.append(dict(set=name, arch=arch, images=n, found=found, found_rate=found / n,
                         found_low=low, found_high=high,
                         mean_iou_found=group.loc[group["found"], "iou"].mean() if found else math.nan,
                         picker_q1=q1, picker_median=median, picker_q3=q3,
                         ring_mad_median=group["ring_mad"].median(),
                         ring_contrast_median=group["ring_contrast"].median(),
                         bank_distance_median=group["bank_distance"].median(),
                         real_planes=real_n, real_found=real_found,
                         real_rate=real_found / real_n if real_n else math.nan,
                         real_low=real_low, real_high=real_high))
    return pd.DataFrame(rows)


def plot(summary: pd.DataFrame, images: pd.DataFrame, path: Path) -> None:
    """Found rate per set and judge (95 % Wilson bars, the real ceiling as a dashed line) and the
    cherry-picker scores per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets, archs = sorted(summary["set"].unique()), sorted(summary["arch"].unique())
    width = 0.8 / len(archs)
    scored = images["picker_score"].notna().any()  # without a cherry-picker: the found rates only
    fig, axes = plt.subplots(1, 2 if scored else 1, figsize=(11 if scored else 6, 4.2), squeeze=False)
    ax = axes[0, 0]
    for k, arch in enumerate(archs):
        rows = summary[summary["arch"] == arch].set_index("set").reindex(sets)
        x = np.arange(len(sets)) + (k - (len(archs) - 1) / 2) * width
        err = np.clip([rows["found_rate"] - rows["found_low"], rows["found_high"] - rows["found_rate"]], 0, None)
        bars = ax.bar(x, rows["found_rate"], width, yerr=err, capsize=3, label=f"judge {arch}")
        ax.hlines(rows["real_rate"], x - width / 2, x + width / 2, colors=bars.patches[0].get_facecolor(),
                  linestyles="dashed")
    ax.set_xticks(np.arange(len(sets)), sets, rotation=30, ha="right", fontsize=8)  # long set names
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("found rate (IoU >= 0.5 at best-F1 confidence)")
    ax.set_title("synthetic planes found; dashed: real test planes")
    ax.legend(fontsize=8)
    if not scored:
        io.save_figure(fig, path)
        return
    bx = axes[0, 1]
    first = images[images["arch"] == archs[0]]
    bx.boxplot([first.loc[first["set"] == s, "picker_score"] for s in sets], tick_labels=sets)
    bx.tick_params(axis="x", labelrotation=30, labelsize=8)
    bx.set_ylim(0, 1.05)
    bx.set_ylabel("cherry-picker P(plane)")
    bx.set_title("cherry-picker score of the inpainted window")
    io.save_figure(fig, path)


def judged_sheet(images: pd.DataFrame, n: int) -> np.ndarray:
    """The first n images of a set, the plane's box green when found, red when missed; caption:
    'found' or 'miss' and the best IoU of the judge."""
    cells, captions = [], []
    for row in images.head(n).itertuples():
        image = io.read_png(row.image)
        cells.append(draw_box(image, (row.xmin, row.ymin, row.xmax, row.ymax), FOUND if row.found else MISSED))
        captions.append(f"{'found' if row.found else 'miss'} {row.iou:.2f}")
    return grid(cells, captions, columns=8, scale=max(1, 192 // cells[0].shape[0]))


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="JSON: classes, contact_sheet_images, batch")
    parser.add_argument("--sets", nargs="+", required=True, help="results/inpaint/{set}/manifest.csv")
    parser.add_argument("--judges", nargs="+", required=True, type=Path,
                        help="baseline training folders, one per arch")
    parser.add_argument("--detect-tiles", required=True, help="results/tiles/detect/manifest.csv")
    parser.add_argument("--bank", required=True, help="results/bank/manifest.csv (diversity)")
    parser.add_argument("--cherry-picker", help="results/diffusion/cherry_picker/model.pt, when trained")
    parser.add_argument("--config-dir", required=True, type=Path, help="YOLO_CONFIG_DIR")
    parser.add_argument("--out", required=True, type=Path, help="results/report")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, QualitySettings)
    from workflow.detect.offline import disable_label_cache, offline_environment
    from workflow.diffusion.checkpoint import load_model

    offline_environment(args.config_dir)
    disable_label_cache()
    device = pick_device("auto")
    target_id = settings.classes.target_id
    picker, picker_spec = load_model(args.cherry_picker, device) if args.cherry_picker else (None, None)
    sets = {Path(path).parent.name: pd.read_csv(path) for path in args.sets}
    bank = pd.read_csv(args.bank)
    bank = bank[~bank["flagged"].astype(bool)]
    descriptors = diversity.bank_descriptors(bank)  # once, for the bank and every set
    spread = float(np.median(diversity.bank_spread(bank, descriptors)))
    model_side = io.read_png(bank["mask"].iloc[0]).shape[0]  # the crops' side: the model's
    for name, table in sets.items():
        table["set"] = name
        table["ring_mad"], table["ring_contrast"] = seam.measure(table)
        table["bank_distance"] = diversity.set_distances(table, bank, model_side, descriptors)
        table["picker_score"] = (picker_scores(picker, picker_spec.image_size, table, device)
                                 if picker is not None else math.nan)
    test_images, test_boxes = real_test_planes(args.detect_tiles, target_id)
    frames, real = [], {}
    for judge in map(load_finder, args.judges):
        real[judge.arch] = ceiling(judge, test_boxes, predict(judge, test_images, target_id,
                                                              settings.batch, device))
        for name, table in sets.items():
            predictions = predict(judge, table["image"].tolist(), target_id, settings.batch, device)
            judged = judge_synthetic(judge, table, predictions)
            frames.append(pd.concat([table, judged], axis=1).assign(arch=judge.arch,
                                                                     judge_confidence=judge.confidence))
        log.info("judge %s (confidence %.3f): real test planes found %d of %d", judge.arch,
                 judge.confidence, *real[judge.arch])
    images = pd.concat(frames, ignore_index=True)
    columns = ["set", "arch", "image", "index", "crop_id", "xmin", "ymin", "xmax", "ymax", "found", "iou",
               "confidence", "judge_confidence", "picker_score", "ring_mad", "ring_contrast", "bank_distance"]
    summary = summarise_quality(images, real).assign(bank_spread_median=spread)
    io.write_csv(args.out / "synthetic_quality_images.csv", images[columns])
    io.write_csv(args.out / "synthetic_quality.csv", summary)
    plot(summary, images, args.out / "synthetic_quality.png")
    for name, table in sets.items():
        title = (f"{name}: output, tile, |difference| x{seam.DIFFERENCE_GAIN}; ring {seam.RING[0]}-"
                 f"{seam.RING[1]} px around the box: median {table['ring_mad'].median():.2f} grey "
                 f"levels, contrast ratio {table['ring_contrast'].median():.2f}")
        io.write_png(args.out / f"seam_{name}.png",
                     titled(seam.seam_sheet(table, settings.contact_sheet_images), title))
    for arch, (real_found, real_n) in real.items():
        for name in sets:
            judged = images[(images["set"] == name) & (images["arch"] == arch)]
            title = (f"{name} judged by {arch} (baseline, first seed): {int(judged['found'].sum())} of "
                     f"{len(judged)} found; real test planes {real_found} of {real_n}")
            sheet = titled(judged_sheet(judged, settings.contact_sheet_images), title)
            io.write_png(args.out / f"judged_{name}_{arch}.png", sheet)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        log.info("synthetic quality:\n%s", summary)


if __name__ == "__main__":
    main()
