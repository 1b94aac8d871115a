"""The baseline's learning curve: the target's validation AP after every epoch, per arch, against
the optimizer steps taken.

    python -m workflow.report.curves --curves results/detect/{arch}/learning_curve/target_curve.csv ...
        --metrics results/detect/{arch}/learning_curve/metrics.json ... --epochs N
        --out results/report/learning_curve.png

Each curve is a training of the baseline (first seed) validated after every epoch
(workflow.detect.train writes target_curve.csv); its metrics.json `budget` gives the optimizer
steps of an epoch. The dotted line marks the budget every experiment trains for:
detect.train.epochs of those steps (with epoch_size baseline, every experiment's). A resumed
training may have validated an epoch twice: the last row of an epoch counts.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from workflow.core import io
from workflow.core.logs import setup_logging

log = logging.getLogger(__name__)


def read_curve(path: str | Path) -> pd.DataFrame:
    """target_curve.csv -> one row per epoch (the last written), sorted."""
    curve = pd.read_csv(path)
    missing = {"epoch", "ap50", "ap50_95"} - set(curve.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    return curve.drop_duplicates("epoch", keep="last").sort_values("epoch", ignore_index=True)


def steps_per_epoch(metrics: dict) -> float:
    """Optimizer steps of one epoch, from a training's metrics.json `budget`."""
    budget = metrics.get("budget")
    if not budget or not budget.get("epochs"):
        raise ValueError("metrics.json without a budget (workflow.detect.budget): retrain it")
    return budget["optimizer_steps"] / budget["epochs"]


def plot(curves: dict[str, pd.DataFrame], steps: dict[str, float], epochs: int, path: Path) -> None:
    """AP50 and AP50:95 of the target on the val split against the optimizer steps, one line
    per arch; the dotted line at each arch's training budget (`epochs` epochs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (metric, title) in zip(axes, {"ap50": "AP50", "ap50_95": "AP50:95"}.items()):
        for arch, curve in curves.items():
            line, = ax.plot(curve["epoch"] * steps[arch], curve[metric], marker="o", markersize=3, label=arch)
            ax.axvline(epochs * steps[arch], color=line.get_color(), linestyle="dotted",
                       label=f"{arch}: detect.train.epochs = {epochs} ({epochs * steps[arch]:.0f} steps)")
        ax.set_xlabel("optimizer steps (a marker after each epoch)")
        ax.set_ylabel(f"plane {title} (val)")
        ax.set_ylim(0, 1)
        ax.set_title(f"baseline learning curve: {title}")
        ax.legend(fontsize=8)
    io.save_figure(fig, path)


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--curves", nargs="+", required=True, type=Path,
                        help="results/detect/{arch}/learning_curve/target_curve.csv")
    parser.add_argument("--metrics", nargs="+", required=True, type=Path,
                        help="results/detect/{arch}/learning_curve/metrics.json, as --curves")
    parser.add_argument("--epochs", required=True, type=int, help="detect.train.epochs")
    parser.add_argument("--out", required=True, type=Path, help="results/report/learning_curve.png")
    args = parser.parse_args(argv)
    curves = {path.parent.parent.name: read_curve(path) for path in args.curves}
    steps = {path.parent.parent.name: steps_per_epoch(json.loads(path.read_text())) for path in args.metrics}
    if set(steps) != set(curves):
        parser.error(f"--metrics of {sorted(steps)} against --curves of {sorted(curves)}")
    plot(curves, steps, args.epochs, args.out)
    for arch, curve in curves.items():
        log.info("%s learning curve (%.0f steps an epoch):\n%s", arch, steps[arch], curve.to_string(index=False))


if __name__ == "__main__":
    main()
