"""Images between numpy (uint8, channels last) and torch (float in [-1, 1], channels first)."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(images, device="cpu") -> torch.Tensor:
    """(B, S, S, C) or (B, S, S) uint8 arrays (or a list of them) -> (B, C, S, S) float32 in
    [-1, 1]."""
    array = np.stack([im if im.ndim == 3 else im[..., None] for im in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2).float().to(device) / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, C, S, S) in [-1, 1] -> (B, S, S, 3) uint8 (one channel repeated to three)."""
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return x.permute(0, 2, 3, 1).numpy()
