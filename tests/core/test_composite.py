"""The feathered matte both synthesis stages lay a plane in by (workflow.core.composite)."""

from __future__ import annotations

import numpy as np
import pytest

from workflow.core import composite


def test_alpha_is_one_on_the_mask_and_falls_to_zero_past_the_feather():
    mask = np.zeros((16, 16), bool)
    mask[6:10, 6:10] = True
    alpha = composite.alpha_matte(mask, 2)
    assert (alpha[mask] == 1).all()
    assert alpha[5, 7] == pytest.approx(1 - 1 / 3)  # 1 px outside
    assert alpha[4, 7] == pytest.approx(1 - 2 / 3)  # 2 px outside
    assert alpha[3, 7] == 0 and alpha[0, 0] == 0
    assert (composite.alpha_matte(mask, 0) == mask).all()


def test_blend_keeps_every_pixel_outside_the_matte():
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    crop = np.full((8, 8, 3), 255, np.uint8)
    alpha = np.zeros((8, 8), np.float32)
    alpha[2:6, 2:6] = 1.0
    alpha[1, 2] = 0.5
    out = composite.blend(tile, crop, alpha, 10, 12)
    changed = np.argwhere((out != tile).any(axis=2))
    assert (out[14:18, 12:16] == 255).all()
    assert out[13, 12].tolist() == np.rint(0.5 * 255 + 0.5 * tile[13, 12].astype(float)).tolist()
    assert changed.min(axis=0).tolist() >= [13, 12] and changed.max(axis=0).tolist() <= [17, 15]
