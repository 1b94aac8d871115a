"""Canny edges: fixed thresholds for the bank, random thresholds (annex G.1) for training."""

import cv2
import numpy as np
import pytest

from workflow.bank.edges import canny_fixed, canny_random_thresholds, draw_thresholds


def square_image(size=32, value=200):
    """(S, S, 3) uint8: a bright square on black, whose outline is the only edge."""
    image = np.zeros((size, size, 3), np.uint8)
    image[8:24, 8:24] = value
    return image


def test_fixed_edges_outline_a_square_and_are_binary():
    edges = canny_fixed(square_image(), 100, 200)
    assert edges.shape == (32, 32) and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    ys, xs = np.nonzero(edges)
    # The outline lies on the square's border (one pixel either side), nowhere else.
    assert ys.min() >= 7 and ys.max() <= 24 and xs.min() >= 7 and xs.max() <= 24
    assert not edges[12:20, 12:20].any()  # the flat inside has no edge


def test_fixed_edges_match_opencv_on_grey():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(canny_fixed(image, 50, 120), cv2.Canny(grey, 50, 120))


def test_threshold_density_falls_as_thresholds_rise():
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), (5, 5), 1.5)
    counts = [int(canny_fixed(image, t, t).sum()) for t in (5, 50, 200)]
    assert counts[0] > counts[1] > counts[2]


@pytest.mark.parametrize(
    "low, high", [(0, 100), (100, 256), (150, 100)], ids=["low<1", "high>255", "low>high"]
)
def test_fixed_rejects_bad_thresholds(low, high):
    with pytest.raises(ValueError, match="thresholds"):
        canny_fixed(square_image(), low, high)


@pytest.mark.parametrize("shape", [(32, 32), (32, 32, 4), (32, 32, 1)])
def test_rejects_non_rgb(shape):
    with pytest.raises(ValueError, match="RGB"):
        canny_fixed(np.zeros(shape, np.uint8), 10, 20)
    with pytest.raises(ValueError, match="uint8"):
        canny_fixed(np.zeros((8, 8, 3), np.float32), 10, 20)


def test_random_thresholds_cover_1_to_255_sorted():
    rng = np.random.default_rng(0)
    draws = np.array([draw_thresholds(rng) for _ in range(4000)])
    assert (draws[:, 0] <= draws[:, 1]).all()
    assert draws.min() == 1 and draws.max() == 255  # both ends are reachable
    assert len(np.unique(draws)) > 200  # and spread over the range, not a few values


def test_random_edges_are_deterministic_by_rng_and_vary_per_call():
    rng = np.random.default_rng(2)
    image = cv2.GaussianBlur(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), (5, 5), 1.0)
    first = [canny_random_thresholds(image, np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    same_rng = np.random.default_rng(7)
    maps = [canny_random_thresholds(image, same_rng) for _ in range(8)]
    assert len({m.sum() for m in maps}) > 1  # successive calls draw new thresholds


def test_random_edges_equal_fixed_edges_at_the_drawn_thresholds():
    image = square_image(value=90)
    low, high = draw_thresholds(np.random.default_rng(3))
    edges = canny_random_thresholds(image, np.random.default_rng(3))
    np.testing.assert_array_equal(edges, canny_fixed(image, low, high))
    assert set(np.unique(edges)) <= {0, 255}


def test_edges_near_mask_keeps_only_edges_within_the_margin():
    from workflow.bank.edges import edges_near_mask

    edges = np.zeros((16, 16), np.uint8)
    edges[:, 0] = edges[:, 7] = edges[:, 12] = 255
    mask = np.zeros((16, 16), bool)
    mask[:, 8:10] = True  # columns 8..9; margin 2 reaches columns 6..11
    kept = edges_near_mask(edges, mask, 2)
    assert kept[:, 7].all() and not kept[:, 0].any() and not kept[:, 12].any()
    np.testing.assert_array_equal(edges_near_mask(edges, mask, None), edges)
