"""AP tables and plots over architectures, experiments and seeds.

    python -m workflow.report.tables --settings JSON --metrics results/detect/*/*/seed*/metrics.json --out results/report

`ap.csv` holds one row per training; `summary.csv` the mean and sample standard deviation
(ddof 1; empty for a single seed) over seeds. `ap_bars.png`: AP50 and AP50:95 per experiment and
architecture with +- one std. `sweeps.png`: the method report's figures 21 and 22, per arch (a
row each): AP against the % of real plane images kept (ablation, replacement by each inpainted
set and by each copy-paste set; the baseline at 100 %), and AP against the synthetic images
added in % of the real plane images (the baseline at 0). `comparisons.csv` / `.png`: the paired
differences over seeds and their 95 % intervals (workflow.report.comparisons).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.datasets.experiments import Experiment
from workflow.report import comparisons

log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class ReportSettings:
    runs: Mapping[str, Experiment]  # experiments.runs
    focal_gamma: float  # detect.train.focal_gamma, for experiments that do not set their own
    paste_sets: tuple[str, ...] = ()  # the copy-paste sets (copy_paste.sets): the control
    resolve: float = 0.05  # experiments.resolve: the AP difference the sweep should resolve


KEYS = ["arch", "family", "experiment", "kind", "set", "focal_gamma", "sweep_value"]
METRICS = {"ap50": "AP50", "ap50_95": "AP50:95"}
# What each training spent (metrics.json `budget`, workflow.detect.budget): trainings that differ
# in it differ in compute as well as in data.
BUDGET = ["train_images", "epoch_images", "epochs", "optimizer_steps", "images_seen"]


def ap_table(records: list[dict], runs: dict[str, dict], default_gamma: float) -> pd.DataFrame:
    """metrics.json contents -> ap.csv rows (arch, family, experiment, kind, set, focal_gamma,
    sweep_value, seed, ap50, ap50_95, precision, recall, and the training's budget: train_images,
    epoch_images, epochs, optimizer_steps, images_seen), sorted."""
    rows = []
    for record in records:
        name = record["experiment"]
        if name not in runs:
            raise ValueError(f"metrics of experiment {name!r}, which experiments.runs does not define")
        exp = Experiment(**runs[name])
        gamma = default_gamma if exp.focal_gamma is None else exp.focal_gamma
        rows.append(dict(arch=record["arch"], family=record["family"], experiment=name, kind=exp.kind,
                         set=exp.set or "", focal_gamma=float(gamma), sweep_value=exp.sweep_value,
                         seed=int(record["seed"]), ap50=record["ap50"], ap50_95=record["ap50_95"],
                         precision=record["precision"], recall=record["recall"],
                         **{key: record.get("budget", {}).get(key) for key in BUDGET}))
    table = pd.DataFrame(rows, columns=[*KEYS, "seed", "ap50", "ap50_95", "precision", "recall", *BUDGET])
    return table.sort_values(["arch", "kind", "set", "focal_gamma", "sweep_value", "experiment", "seed"],
                             na_position="first", ignore_index=True)


def summarise_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std over seeds per (arch, experiment): ap50_mean, ap50_std, ..."""
    grouped = table.groupby(KEYS, dropna=False, sort=False)
    summary = grouped[list(METRICS)].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary.insert(0, "seeds", grouped.size())
    return summary.reset_index()


def label_of(arch: str, family: str) -> str:
    return f"{family} ({arch})"


def plot_bars(summary: pd.DataFrame, path: Path) -> None:
    """Grouped bars: experiments on x, one bar per architecture, +- one std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    experiments = list(dict.fromkeys(summary["experiment"]))
    archs = list(dict.fromkeys(zip(summary["arch"], summary["family"])))
    width = 0.8 / len(archs)
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.6 * len(experiments)) * 2, 4.5))
    for ax, (metric, title) in zip(axes, METRICS.items()):
        for k, (arch, family) in enumerate(archs):
            rows = summary[summary["arch"] == arch].set_index("experiment").reindex(experiments)
            x = np.arange(len(experiments)) + (k - (len(archs) - 1) / 2) * width
            ax.bar(x, rows[f"{metric}_mean"], width, yerr=rows[f"{metric}_std"].fillna(0), capsize=3,
                   label=label_of(arch, family))
        ax.set_xticks(np.arange(len(experiments)), experiments, rotation=20, ha="right")
        ax.set_ylabel(f"plane {title} (test)")
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}: mean +- std over seeds")
        ax.legend(fontsize=8)
    io.save_figure(fig, path)


PANELS = {  # sweep kinds -> (x of the baseline, x label)
    ("ablation", "replacement"): (100.0, "% of real plane images kept"),
    ("augmentation",): (0.0, "synthetic images added, % of the real plane images"),
}


def sweep_lines(summary: pd.DataFrame, kinds: tuple[str, ...], baseline_x: float,
                paste_sets: set[str]) -> list[tuple[str, pd.DataFrame]]:
    """One (label, rows sorted by x) per kind x set x focal gamma of one arch's summary; the
    baseline of the same focal gamma joins each line at `baseline_x`."""
    lines = []
    baselines = summary[summary["kind"] == "baseline"]
    sweeps = summary[summary["kind"].isin(kinds)]
    for (kind, name, gamma), rows in sweeps.groupby(["kind", "set", "focal_gamma"], sort=True):
        base = baselines[baselines["focal_gamma"] == gamma]
        rows = pd.concat([rows, base.iloc[:1].assign(sweep_value=baseline_x)])
        focal = f", focal {gamma:g}" if gamma > 0 else ""
        source = "" if not name else f" copy-paste ({name})" if name in paste_sets else f" diffusion ({name})"
        lines.append((f"{kind}{source}{focal}", rows.sort_values("sweep_value")))
    return lines


# Shades and markers of the k-th line of a family, so that several sets of one kind stay apart.
DIFFUSION_STYLES = [("tab:blue", "o"), ("navy", "D"), ("tab:cyan", "v"), ("tab:purple", "P")]
PASTE_STYLES = [("tab:orange", "^"), ("tab:red", "s"), ("tab:brown", "X")]


def line_style(label: str, k: int = 0) -> dict:
    """Ablation grey, diffusion sets blue (solid), copy-paste sets orange (dashed); the k-th set
    of a family in its own shade and marker."""
    if label.startswith("ablation"):
        return dict(color="0.45", marker="s")
    if "copy-paste" in label:
        color, marker = PASTE_STYLES[k % len(PASTE_STYLES)]
        return dict(color=color, marker=marker, linestyle="dashed")
    color, marker = DIFFUSION_STYLES[k % len(DIFFUSION_STYLES)]
    return dict(color=color, marker=marker)


def family_positions(labels: list[str]) -> list[int]:
    """Each label's position among the labels of its family (ablation, diffusion, copy-paste)."""
    seen: dict[str, int] = {}
    positions = []
    for label in labels:
        family = "ablation" if label.startswith("ablation") else "paste" if "copy-paste" in label else "diffusion"
        positions.append(seen.get(family, 0))
        seen[family] = positions[-1] + 1
    return positions


def plot_sweeps(summary: pd.DataFrame, path: Path, paste_sets: set[str]) -> None:
    """Rows: arch x (% real kept | synthetic added), the sweeps the config runs (both rows when it
    runs neither); columns: AP50 | AP50:95; mean +- std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = list(dict.fromkeys(zip(summary["arch"], summary["family"])))
    run = [kinds for kinds in PANELS if summary["kind"].isin(kinds[-1:]).any()] or list(PANELS)
    panels = [(arch, family, kinds) for arch, family in archs for kinds in run]
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 3.6 * len(panels)), squeeze=False)
    for row, (arch, family, kinds) in enumerate(panels):
        baseline_x, xlabel = PANELS[kinds]
        lines = sweep_lines(summary[summary["arch"] == arch], kinds, baseline_x, paste_sets)
        for col, (metric, title) in enumerate(METRICS.items()):
            ax = axes[row, col]
            for (label, rows), k in zip(lines, family_positions([label for label, _ in lines])):
                ax.errorbar(rows["sweep_value"], rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0),
                            capsize=3, label=label, **line_style(label, k))
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"plane {title} (test)")
            ax.set_ylim(0, 1)
            ax.set_title(f"{label_of(arch, family)}: {title}, mean +- std over seeds", fontsize=10)
            if lines:
                ax.legend(fontsize=7)
            else:
                ax.text(0.5, 0.5, "no such experiment in the config", ha="center", transform=ax.transAxes)
    io.save_figure(fig, path)


def main(argv=None):
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="JSON: runs (experiments.runs), focal_gamma")
    parser.add_argument("--metrics", nargs="+", required=True, type=Path, help="metrics.json of each training")
    parser.add_argument("--out", required=True, type=Path, help="results/report")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, ReportSettings)
    records = [json.loads(path.read_text()) for path in args.metrics]
    runs = {name: dataclasses.asdict(run) for name, run in settings.runs.items()}
    table = ap_table(records, runs, settings.focal_gamma)
    summary = summarise_seeds(table)
    io.write_csv(args.out / "ap.csv", table)
    io.write_csv(args.out / "summary.csv", summary)
    plot_bars(summary, args.out / "ap_bars.png")
    paste_sets = set(settings.paste_sets)
    plot_sweeps(summary, args.out / "sweeps.png", paste_sets)
    paired = comparisons.compare(table, paste_sets, settings.resolve)
    io.write_csv(args.out / "comparisons.csv", paired)
    comparisons.plot(paired, args.out / "comparisons.png", settings.resolve)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        log.info("summary over seeds:\n%s", summary)
        log.info("paired comparisons:\n%s", paired)


if __name__ == "__main__":
    main()
