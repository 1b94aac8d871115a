"""The seam measure: the ring around a plane's box, against its background tile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workflow.core.io import write_png
from workflow.report import seam


def test_ring_lies_between_inner_and_outer_px_of_the_box():
    ring = seam.ring_mask((40, 40), (10, 12, 20, 18), inner=2, outer=8)
    assert ring[12 - 8, 10] and ring[12 - 3, 10]  # 8 and 3 px above the box
    assert not ring[12 - 2, 10] and not ring[12 - 9, 10] and not ring[15, 15]
    assert ring[12, 10 - 8] and not ring[12, 10 - 2]


def test_a_pasted_plane_leaves_its_ring_untouched_and_a_repainted_disc_does_not():
    rng = np.random.default_rng(0)
    tile = rng.integers(60, 200, (48, 48, 3), dtype=np.uint8)
    box = (18, 18, 30, 30)
    pasted = tile.copy()
    pasted[18:30, 18:30] = 240
    assert seam.ring_metrics(pasted, tile, box) == (0.0, pytest.approx(1.0))
    smoothed = pasted.copy()  # ground repainted smoother and 3 levels lighter 6 px around the box
    smoothed[12:36, 12:36] = np.where(np.arange(24)[:, None, None] >= 0, 133, 0).astype(np.uint8)
    smoothed[18:30, 18:30] = 240
    mad, contrast = seam.ring_metrics(smoothed, tile, box)
    assert mad > 10 and contrast < 0.7


def test_seam_sheet_draws_output_tile_and_difference(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(2):
        tile = rng.integers(60, 200, (64, 64, 3), dtype=np.uint8)
        image = tile.copy()
        image[20:30, 24:40] = 250
        write_png(tmp_path / f"tile{i}.png", tile)
        write_png(tmp_path / f"image{i}.png", image)
        rows.append(dict(image=str(tmp_path / f"image{i}.png"), background=str(tmp_path / f"tile{i}.png"),
                         xmin=24, ymin=20, xmax=40, ymax=30))
    sheet = seam.seam_sheet(pd.DataFrame(rows), 2, scale=1)
    side = 16 + 2 * seam.RING[1] + 8
    assert sheet.shape[1] == 6 * (side + 2) + 2  # 2 planes x (output, tile, difference)
