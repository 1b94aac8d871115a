"""Paired comparisons over seeds: the interval on known numbers, and which runs are paired."""

import math

import numpy as np
import pandas as pd
import pytest

from workflow.report import comparisons


def test_paired_interval_matches_the_t_interval_by_hand():
    a, b = [0.5, 0.6, 0.7], [0.4, 0.4, 0.5]
    result = comparisons.paired_interval(a, b)
    # differences 0.1, 0.2, 0.2: mean 1/6, sd 1/sqrt(300), t(0.975, 2 dof) = 4.302653
    half = 4.302653 * (1 / math.sqrt(300)) / math.sqrt(3)
    assert result["seeds"] == 3
    assert result["mean_diff"] == pytest.approx(1 / 6)
    assert result["ci_low"] == pytest.approx(1 / 6 - half, abs=1e-6)
    assert result["ci_high"] == pytest.approx(1 / 6 + half, abs=1e-6)
    assert 0 < result["p_value"] < 0.05
    assert result["half_width"] == pytest.approx(half, abs=1e-6)
    assert result["diff_std"] == pytest.approx(1 / math.sqrt(300))


def test_seeds_to_resolve_follow_the_spread_of_differences():
    # sd 0.1: n = 2 ... the first n with t(0.975, n - 1) * 0.1 / sqrt(n) <= 0.05 is 18
    # (t(0.975, 16) = 2.1199 gives 0.0514 at n = 17; t(0.975, 17) = 2.1098 gives 0.0497 at 18)
    assert comparisons.seeds_to_resolve(0.1, 0.05) == 18
    assert comparisons.seeds_to_resolve(0.0, 0.05) == 2  # no spread: the fewest seeds with an interval
    assert comparisons.seeds_to_resolve(0.02, 0.05) == 3  # t(0.975, 1) = 12.7 is too wide at n = 2
    assert comparisons.seeds_to_resolve(10.0, 0.01) == comparisons.MAX_SEEDS
    assert math.isnan(comparisons.seeds_to_resolve(math.nan, 0.05))
    with pytest.raises(ValueError, match="resolve 0"):
        comparisons.seeds_to_resolve(0.1, 0)


def test_paired_interval_is_the_difference_of_pairs_not_of_means():
    # seeds disagree widely (0.2 to 0.8) but a beats b by 0.05 at every seed but one
    a = np.array([0.25, 0.45, 0.65, 0.85, 0.50])
    b = np.array([0.20, 0.40, 0.60, 0.80, 0.44])
    result = comparisons.paired_interval(a, b)
    assert result["ci_low"] > 0  # resolved pairwise, though the means' stds overlap
    assert np.std(a, ddof=1) > 4 * (a.mean() - b.mean())


def test_one_seed_gives_no_interval_and_constant_differences_a_point():
    single = comparisons.paired_interval([0.5], [0.4])
    assert single["mean_diff"] == pytest.approx(0.1) and math.isnan(single["ci_low"])
    constant = comparisons.paired_interval([0.5, 0.6], [0.4, 0.5])
    assert constant["ci_low"] == pytest.approx(0.1) and constant["ci_high"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="paired interval"):
        comparisons.paired_interval([0.5, 0.6], [0.4])


def test_pairs_match_sweep_points_and_the_control():
    runs = pd.DataFrame([
        ("baseline", "baseline", "", 0.0, np.nan),
        ("ablation_25", "ablation", "", 0.0, 25.0),
        ("ablation_50", "ablation", "", 0.0, 50.0),
        ("replacement_25", "replacement", "canny", 0.0, 25.0),
        ("paste_25", "replacement", "paste", 0.0, 25.0),
        ("augment_100", "augmentation", "canny", 0.0, 100.0),
        ("paste_augment_100", "augmentation", "paste", 0.0, 100.0),
        ("paste_augment_25", "augmentation", "paste", 0.0, 25.0),
    ], columns=["experiment", "kind", "set", "focal_gamma", "sweep_value"])
    found = set(comparisons.pairs(runs, {"paste"}))
    assert found == {
        ("replacement_vs_ablation", "replacement_25", "ablation_25"),
        ("replacement_vs_ablation", "paste_25", "ablation_25"),
        ("augmentation_vs_baseline", "augment_100", "baseline"),
        ("augmentation_vs_baseline", "paste_augment_100", "baseline"),
        ("augmentation_vs_baseline", "paste_augment_25", "baseline"),
        ("diffusion_vs_copy_paste", "replacement_25", "paste_25"),
        ("diffusion_vs_copy_paste", "augment_100", "paste_augment_100"),
    }
