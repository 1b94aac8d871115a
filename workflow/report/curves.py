"""The baseline's learning curve: the target's validation AP after every epoch, per arch.

    python -m workflow.report.curves --curves results/detect/{arch}/learning_curve/target_curve.csv ...
        --epochs N --out results/report/learning_curve.png

Each curve is a training of the baseline (first seed) validated after every epoch
(workflow.detect.train writes target_curve.csv); the dotted line marks detect.train.epochs, the
budget every experiment trains for. A resumed training may have validated an epoch twice: the
last row of an epoch counts.
"""

from __future__ import annotations

import argparse
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


def plot(curves: dict[str, pd.DataFrame], epochs: int, path: Path) -> None:
    """AP50 and AP50:95 of the target on the val split against the epoch, one line per arch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (metric, title) in zip(axes, {"ap50": "AP50", "ap50_95": "AP50:95"}.items()):
        for arch, curve in curves.items():
            ax.plot(curve["epoch"], curve[metric], marker="o", markersize=3, label=arch)
        ax.axvline(epochs, color="grey", linestyle="dotted", label=f"detect.train.epochs = {epochs}")
        ax.set_xlabel("epoch")
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
    parser.add_argument("--epochs", required=True, type=int, help="detect.train.epochs")
    parser.add_argument("--out", required=True, type=Path, help="results/report/learning_curve.png")
    args = parser.parse_args(argv)
    curves = {path.parent.parent.name: read_curve(path) for path in args.curves}
    plot(curves, args.epochs, args.out)
    for arch, curve in curves.items():
        log.info("%s learning curve:\n%s", arch, curve.to_string(index=False))


if __name__ == "__main__":
    main()
