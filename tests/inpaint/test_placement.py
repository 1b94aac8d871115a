"""Placement: pools, flips, windows inside the tile, labels around the placed mask, exact paste."""

import numpy as np
import pandas as pd
import pytest

from tests.helpers.inpaint_fixtures import TILE, WINDOW, make_background, make_bank
from workflow.core.geometry import dilate, flip, overlapping, tight_box
from workflow.core.io import read_png
from workflow.core.labels import size_class, yolo_lines
from workflow.inpaint import placement as pl


@pytest.fixture()
def pools(tmp_path):
    background = pd.read_csv(make_background(tmp_path))
    bank = pd.read_csv(make_bank(tmp_path))
    return background, bank


def test_pools_filter_context_and_flags(pools):
    background, bank = pools
    assert list(pl.tile_pool(background, "tarmac")["tile_id"]) == ["t0"]
    assert list(pl.tile_pool(background, "random")["tile_id"]) == ["t0", "t1"]
    assert list(pl.bank_pool(bank)["crop_id"]) == ["c0"]
    with pytest.raises(ValueError, match="context"):
        pl.tile_pool(background, "airport")
    with pytest.raises(ValueError, match="no background tile"):
        pl.tile_pool(background[background["context"] == "other"], "tarmac")


def test_flip_and_tight_box():
    mask = np.zeros((4, 6), bool)
    mask[0, 1] = True
    assert tight_box(mask) == (1, 0, 2, 1)
    assert tight_box(flip(mask, "h")) == (4, 0, 5, 1)
    assert tight_box(flip(mask, "v")) == (1, 3, 2, 4)
    assert tight_box(flip(mask, "hv")) == (4, 3, 5, 4)
    assert dilate(mask, 1).sum() > mask.sum()


@pytest.mark.parametrize("seed", range(6))
def test_label_is_the_placed_mask_inside_the_tile(pools, seed):
    background, bank = pools
    rng = np.random.default_rng(seed)
    p = pl.plan(rng, pl.tile_pool(background, "random"), pl.bank_pool(bank), WINDOW, dilation=2)
    xmin, ymin, xmax, ymax = p.box
    assert 0 <= xmin < xmax <= TILE and 0 <= ymin < ymax <= TILE
    assert p.x <= xmin and xmax <= p.x + WINDOW and p.y <= ymin and ymax <= p.y + WINDOW
    # The box is tight around the flipped mask placed at the window origin.
    mask = flip(read_png(p.mask_path) > 0, p.flip)
    in_tile = np.zeros((TILE, TILE), bool)
    in_tile[p.y : p.y + WINDOW, p.x : p.x + WINDOW] = mask
    assert tight_box(in_tile) == p.box
    assert p.size_class == size_class(ymax - ymin, xmax - xmin, WINDOW)
    # The unknown region misses the existing object (box 0..16 px) when a free window exists.
    assert not p.overlaps
    _, unknown, _ = pl.window_inputs(p, 2, "none")
    region = tight_box(unknown)
    shifted = (region[0] + p.x, region[1] + p.y, region[2] + p.x, region[3] + p.y)
    assert not overlapping(shifted, np.array([[0, 0, 16, 16]])).any()
    line = yolo_lines([0], [p.box], TILE).split()
    cx, cy, w, h = (float(v) * TILE for v in line[1:])
    assert (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2) == pytest.approx(p.box, abs=1e-3)


def test_overlap_is_reported_when_no_window_is_free():
    rng = np.random.default_rng(0)
    x, y, overlaps = pl.choose_window(rng, 64, 32, (0, 0, 32, 32), np.array([[0, 0, 64, 64]]), tries=5)
    assert overlaps and 0 <= x <= 32 and 0 <= y <= 32


def test_window_inputs_condition(pools):
    background, bank = pools
    p = pl.plan(np.random.default_rng(1), pl.tile_pool(background, "random"), pl.bank_pool(bank), WINDOW, 0)
    image, unknown, edges = pl.window_inputs(p, 0, "canny")
    assert image.shape == (WINDOW, WINDOW, 3) and edges.shape == (WINDOW, WINDOW)
    _, _, mask = pl.window_inputs(p, 0, "mask")
    assert np.array_equal(mask > 0, unknown)
    assert pl.window_inputs(p, 0, "none")[2] is None


def painted_window(pools, seed=0):
    """A placement, its placed mask, a grey textured ground, the unknown region, and a window
    the model could have painted: the plane white, the rest of the unknown region repainted
    6 grey levels lighter (the disc a seam shows)."""
    background, bank = pools
    p = pl.plan(np.random.default_rng(seed), pl.tile_pool(background, "random"), pl.bank_pool(bank),
                WINDOW, dilation=4)
    mask = pl.placed_mask(p)
    unknown = dilate(mask, 4)
    ground = np.random.default_rng(seed).integers(110, 150, (WINDOW, WINDOW, 3), dtype=np.uint8)
    window = ground.copy()
    window[unknown] += 6
    window[mask] = 255
    return p, mask, unknown, ground, window


def test_lay_in_drops_the_repainted_ground_around_the_plane(pools):
    p, mask, unknown, ground, window = painted_window(pools)
    final = pl.lay_in(ground, window, mask, unknown, feather=2, shadow=None)
    near = dilate(mask, 3)  # the matte reaches under feather + 1 px
    assert np.array_equal(final[~near], ground[~near])  # the tile's own ground, bit for bit
    assert (final[mask] == 255).all()
    assert (final[near & ~mask] != ground[near & ~mask]).any()  # the feathered edge
    # the final window replaces the tile's window, nothing else
    out, tile = pl.place_window(p, final), read_png(p.background)
    outside = np.ones(tile.shape[:2], bool)
    outside[p.y : p.y + WINDOW, p.x : p.x + WINDOW] = False
    assert np.array_equal(out[outside], tile[outside])
    assert np.array_equal(out[p.y : p.y + WINDOW, p.x : p.x + WINDOW], final)


def test_lay_in_keeps_the_shadow_the_model_drew_beside_the_plane(pools):
    p, mask, unknown, ground, window = painted_window(pools)
    band = unknown & ~mask & dilate(mask, 3)  # a dark band on one side, touching the plane
    ys, xs = np.nonzero(band)
    shadow = np.zeros_like(mask)
    right = xs > np.median(xs)
    shadow[ys[right], xs[right]] = True
    window[shadow] = 40
    drawn = pl.generated_plane(mask, window, ground, unknown, shadow=16)
    assert drawn[shadow].all() and drawn[mask].all()
    assert not drawn[unknown & ~mask & ~shadow].any()  # the lighter disc is not kept
    assert (pl.generated_plane(mask, window, ground, unknown, shadow=None) == mask).all()
    # a dark patch that does not touch the plane is ground, not its shadow
    lone = np.zeros_like(mask)
    lone[0:2, 0:2] = True
    assert not (lone & dilate(mask, 2)).any()
    window[lone] = 0
    assert not pl.generated_plane(mask, window, ground, unknown | lone, shadow=16)[lone].any()
    final = pl.lay_in(ground, window, mask, unknown, feather=1, shadow=16)
    assert (final[shadow] < ground[shadow]).all()


def test_on_apron_ground_the_free_window_of_least_ground_distance_is_chosen():
    existing = np.array([[0, 0, 40, 40]], float)  # an object in the top-left corner
    region = (0, 0, 8, 8)
    seen = []

    def ground(x, y):  # closest ground at the bottom-right
        seen.append((x, y))
        return -(x + y)

    x, y, overlaps = pl.choose_window(np.random.default_rng(0), 64, 16, region, existing, 30, ground)
    assert not overlaps and (x, y) == max(seen, key=lambda xy: xy[0] + xy[1])
    assert all(not (px < 40 and py < 40) for px, py in seen)  # only free windows are scored
    first = pl.choose_window(np.random.default_rng(0), 64, 16, region, existing, 30)
    assert first[:2] == seen[0]  # without ground: the first free draw, as before


def test_a_shrunk_plane_is_placed_at_the_size_it_had(pools):
    """Bank scale 1.5: a 48 px window in the 64 px tile, the box 1.5 times the mask's; the
    sampler sees the window shrunk to the model's 32 px; the painted plane is enlarged back and
    laid into the tile's own pixels."""
    background, bank = pools
    bank = bank.assign(scale=1.5)
    p = pl.plan(np.random.default_rng(2), pl.tile_pool(background, "random"), pl.bank_pool(bank), WINDOW,
                dilation=2, true_size=True)
    assert p.side == 48 and p.window_side(WINDOW) == 48
    assert p.x + 48 <= TILE and p.y + 48 <= TILE
    xmin, ymin, xmax, ymax = tight_box(pl.placed_mask(p))
    width, height = p.box[2] - p.box[0], p.box[3] - p.box[1]
    assert abs(width - 1.5 * (xmax - xmin)) <= 2 and abs(height - 1.5 * (ymax - ymin)) <= 2
    ground, unknown, _ = pl.window_inputs(p, 2, "none")
    assert ground.shape == (WINDOW, WINDOW, 3) and unknown.shape == (WINDOW, WINDOW)
    painted = ground.copy()
    painted[pl.placed_mask(p)] = 255
    final = pl.lay_in_tile(p, painted, unknown, feather=1, shadow=None)
    assert final.shape == (48, 48, 3)
    tile = read_png(p.background)[p.y : p.y + 48, p.x : p.x + 48]
    far = ~dilate(pl.resized(pl.placed_mask(p), 48), 3)
    assert np.array_equal(final[far], tile[far])  # the tile's own pixels, not the 32 px round trip
    box_in_window = (p.box[0] - p.x, p.box[1] - p.y, p.box[2] - p.x, p.box[3] - p.y)
    enlarged = pl.resized(pl.placed_mask(p), 48)
    assert tight_box(enlarged) == box_in_window  # the label is the mask as laid in
    inside = enlarged & ~dilate(~enlarged, 2)  # bicubic reaches 2 px
    assert (final[inside] >= 250).all()
    # the same placement without true_size keeps the crop's size
    q = pl.plan(np.random.default_rng(2), pl.tile_pool(background, "random"), pl.bank_pool(bank), WINDOW,
                dilation=2)
    assert q.side is None and pl.record(q, "n", 0)["window_side"] == 0
