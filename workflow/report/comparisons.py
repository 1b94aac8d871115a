"""Paired comparisons of experiments over seeds: the mean AP difference and its 95 % interval.

Every training of one arch and seed shares its seed with the trainings of the other
experiments (same initial head, same batch order), so two experiments are compared seed by
seed: the differences d_s = AP(a, s) - AP(b, s) over the seeds both ran, their mean and the
Student-t 95 % interval of that mean (scipy.stats.ttest_rel; n - 1 degrees of freedom; no
interval with one seed). The comparisons, per arch and metric:
- `replacement_vs_ablation`: replacement at keep k against the ablation at the same k;
- `augmentation_vs_baseline`: each augmentation against the baseline;
- `diffusion_vs_copy_paste`: a replacement (or augmentation) from an inpainted set against the
  one from a copy-paste set at the same keep (or add).
Runs are matched on their focal gamma as well.

What a sweep can tell: `half_width` is half the 95 % interval, the smallest difference these
seeds resolve; `diff_std` the sample standard deviation of the paired differences; and
`seeds_to_resolve` the fewest seeds n >= 2 whose interval, t(0.975, n - 1) * diff_std / sqrt(n),
would be at most `resolve` (experiments.resolve, 0.05 AP) if the differences spread as measured
(capped at MAX_SEEDS; nan with fewer than two seeds).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

METRICS = {"ap50": "AP50", "ap50_95": "AP50:95"}
COLUMNS = ["arch", "family", "metric", "comparison", "a", "b", "sweep_value", "seeds", "a_mean",
           "b_mean", "mean_diff", "ci_low", "ci_high", "half_width", "p_value", "diff_std",
           "seeds_to_resolve"]
MAX_SEEDS = 1000  # seeds_to_resolve beyond this is reported as this


def paired_interval(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict:
    """Mean of a - b over pairs, its Student-t interval and the two-sided p-value (paired t);
    nan interval and p-value with fewer than two pairs."""
    from scipy.stats import ttest_rel

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired interval: {a.shape} against {b.shape} values")
    diff = a - b
    out = {"seeds": len(diff), "mean_diff": float(diff.mean()) if len(diff) else math.nan,
           "ci_low": math.nan, "ci_high": math.nan, "half_width": math.nan, "p_value": math.nan,
           "diff_std": math.nan}
    if len(diff) < 2:
        return out
    out["diff_std"] = float(diff.std(ddof=1))
    if np.all(diff == diff[0]):  # no spread: the interval is the point itself
        return {**out, "ci_low": float(diff[0]), "ci_high": float(diff[0]), "half_width": 0.0,
                "p_value": 1.0 if diff[0] == 0 else 0.0, "diff_std": 0.0}
    result = ttest_rel(a, b)
    interval = result.confidence_interval(confidence_level=level)
    return {**out, "ci_low": float(interval.low), "ci_high": float(interval.high),
            "half_width": float(interval.high - interval.low) / 2, "p_value": float(result.pvalue)}


def seeds_to_resolve(diff_std: float, resolve: float, level: float = 0.95) -> float:
    """The fewest seeds n >= 2 whose paired t interval, t(level, n - 1) * diff_std / sqrt(n), is
    at most `resolve` wide on each side (module docstring); nan for an unknown spread."""
    from scipy.stats import t

    if resolve <= 0:
        raise ValueError(f"resolve {resolve}: need > 0")
    if not np.isfinite(diff_std):
        return math.nan
    for n in range(2, MAX_SEEDS + 1):
        if t.ppf(0.5 + level / 2, n - 1) * diff_std / math.sqrt(n) <= resolve:
            return float(n)
    return float(MAX_SEEDS)


def pairs(runs: pd.DataFrame, paste_sets: set[str]) -> list[tuple[str, str, str]]:
    """(comparison, a, b) experiment pairs from one row per experiment (experiment, kind, set,
    focal_gamma, sweep_value)."""
    found = []
    by_kind = {kind: group for kind, group in runs.groupby("kind")}
    empty = runs.iloc[:0]
    ablations, baselines = by_kind.get("ablation", empty), by_kind.get("baseline", empty)
    for row in by_kind.get("replacement", empty).itertuples():
        match = ablations[(ablations["sweep_value"] == row.sweep_value)
                          & (ablations["focal_gamma"] == row.focal_gamma)]
        found += [("replacement_vs_ablation", row.experiment, b) for b in match["experiment"]]
    for row in by_kind.get("augmentation", empty).itertuples():
        match = baselines[baselines["focal_gamma"] == row.focal_gamma]
        found += [("augmentation_vs_baseline", row.experiment, b) for b in match["experiment"]]
    for kind in ("replacement", "augmentation"):
        group = by_kind.get(kind, empty)
        inpainted = group[~group["set"].isin(paste_sets)]
        pasted = group[group["set"].isin(paste_sets)]
        for row in inpainted.itertuples():
            match = pasted[(pasted["sweep_value"] == row.sweep_value)
                           & (pasted["focal_gamma"] == row.focal_gamma)]
            found += [("diffusion_vs_copy_paste", row.experiment, b) for b in match["experiment"]]
    return found


def compare(table: pd.DataFrame, paste_sets: set[str], resolve: float = 0.05) -> pd.DataFrame:
    """ap.csv rows (one per training) -> one row per arch x metric x experiment pair, with the
    seeds that would resolve `resolve` AP."""
    runs = table.drop_duplicates("experiment")[["experiment", "kind", "set", "focal_gamma", "sweep_value"]]
    rows = []
    for (arch, family), trainings in table.groupby(["arch", "family"], sort=True):
        for comparison, a, b in pairs(runs, paste_sets):
            left = trainings[trainings["experiment"] == a].set_index("seed")
            right = trainings[trainings["experiment"] == b].set_index("seed")
            seeds = sorted(set(left.index) & set(right.index))
            if not seeds:
                continue
            for metric in METRICS:
                x, y = left.loc[seeds, metric].to_numpy(), right.loc[seeds, metric].to_numpy()
                paired = paired_interval(x, y)
                rows.append(dict(arch=arch, family=family, metric=metric, comparison=comparison, a=a,
                                 b=b, sweep_value=left["sweep_value"].iloc[0], a_mean=float(x.mean()),
                                 b_mean=float(y.mean()), **paired,
                                 seeds_to_resolve=seeds_to_resolve(paired["diff_std"], resolve)))
    return pd.DataFrame(rows, columns=COLUMNS)


def plot(comparisons: pd.DataFrame, path, resolve: float = 0.05) -> None:
    """One panel per metric: each comparison's mean paired difference with its 95 % interval,
    one marker per arch; the dashed line at 0 is 'no difference', the dotted lines at +-resolve
    the effect the sweep should resolve. Beside each marker: the interval's half-width and the
    seeds that would bring it to `resolve` (n)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workflow.core import io

    labels = list(dict.fromkeys(f"{r.a} - {r.b}" for r in comparisons.itertuples())) or ["(none)"]
    archs = sorted(comparisons["arch"].unique())
    fig, axes = plt.subplots(1, len(METRICS), figsize=(13, 1.2 + 0.42 * len(labels)), sharey=True)
    for ax, (metric, title) in zip(axes, METRICS.items()):
        for k, arch in enumerate(archs):
            rows = comparisons[(comparisons["arch"] == arch) & (comparisons["metric"] == metric)]
            y = np.array([labels.index(f"{r.a} - {r.b}") for r in rows.itertuples()]) + (k - (len(archs) - 1) / 2) * 0.3
            err = np.array([rows["mean_diff"] - rows["ci_low"], rows["ci_high"] - rows["mean_diff"]])
            drawn = ax.errorbar(rows["mean_diff"], y, xerr=np.nan_to_num(err), fmt="o", capsize=3, label=arch)
            for row, height in zip(rows.itertuples(), y):
                if np.isfinite(row.half_width):
                    ax.annotate(f"\u00b1{row.half_width:.3f}, n={row.seeds_to_resolve:.0f}",
                                (row.ci_high, height), xytext=(4, 0), textcoords="offset points",
                                va="center", fontsize=6, color=drawn[0].get_color())
        ax.axvline(0, color="grey", linestyle="dashed", linewidth=1)
        for side in (-resolve, resolve):
            ax.axvline(side, color="grey", linestyle="dotted", linewidth=1)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
        ax.set_xlabel(f"paired difference of plane {title} (a - b): mean over seeds, 95 % t interval\n"
                      f"(\u00b1half-width, n = seeds to resolve {resolve:g}: dotted)", fontsize=9)
        ax.set_title(title)
        if archs:
            ax.legend(fontsize=8)
    axes[0].invert_yaxis()  # the first comparison on top (the axes share y: once for both)
    io.save_figure(fig, path)
