"""Diversity: a pasted set sits on the bank; planes shaded otherwise than any bank plane do not."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from workflow.core.geometry import flip
from workflow.core.io import read_png, write_png
from workflow.report import diversity


def write_bank(root, n: int = 6) -> pd.DataFrame:
    """Bright planes (ellipses of different shapes) with a dark stripe along them."""
    rows = []
    for i in range(n):
        image = np.full((32, 32, 3), 100, np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        cv2.ellipse(mask, (16, 16), (6 + 2 * i, 3 + i % 3), 25 * i, 0, 360, 255, -1)
        image[mask > 0] = 150 + 15 * i
        cv2.line(image, (8, 16 + i % 3), (24, 16 - i % 3), (40, 40, 40), 1)
        write_png(root / f"crop{i}.png", image)
        write_png(root / f"mask{i}.png", mask)
        rows.append(dict(crop_id=f"c{i}", image=str(root / f"crop{i}.png"), mask=str(root / f"mask{i}.png")))
    return pd.DataFrame(rows)


def synthetic(root, bank: pd.DataFrame, how: str, change) -> pd.DataFrame:
    """One 64 px image per bank plane: its crop flipped `how`, passed through change(crop,
    mask), in the window at (16, 8) of a grey tile."""
    rows = []
    for entry in bank.itertuples():
        tile = np.full((64, 64, 3), 100, np.uint8)
        crop, mask = flip(read_png(entry.image), how), flip(read_png(entry.mask) > 0, how)
        tile[8:40, 16:48] = change(crop, mask)
        path = root / f"syn_{entry.crop_id}_{how}.png"
        write_png(path, tile)
        rows.append(dict(image=str(path), crop_id=entry.crop_id, flip=how, window_x=16, window_y=8))
    return pd.DataFrame(rows)


def shaded_across(crop, mask):
    """The plane's outline kept, its shading a ramp across it: no bank plane is shaded so."""
    out = crop.copy()
    ramp = np.linspace(30, 250, 32, dtype=np.float32)[None, :].repeat(32, axis=0)
    out[mask] = ramp[mask][:, None].astype(np.uint8)
    return out


def test_pasted_planes_lie_on_the_bank_and_planes_shaded_otherwise_do_not(tmp_path):
    bank = write_bank(tmp_path)
    spread = diversity.bank_spread(bank)
    assert (spread > 0.1).all()
    pasted = diversity.set_distances(synthetic(tmp_path, bank, "th", lambda crop, mask: crop), bank, 32)
    assert pasted == pytest.approx(np.zeros(len(bank)), abs=1e-3)  # a bank plane, in any flip
    other = diversity.set_distances(synthetic(tmp_path, bank, "none", shaded_across), bank, 32)
    assert np.median(other) > np.median(spread)
