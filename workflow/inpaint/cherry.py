"""Cherry-picking (method report D.2): the plane-vs-background classifier's score of each
inpainted window; the run keeps the best of K candidates per placement."""

from __future__ import annotations

import torch


@torch.no_grad()
def plane_scores(picker, images: torch.Tensor) -> torch.Tensor:
    """P(plane) for windows (B, 3, H, W) in [-1, 1] -> (B,) float32 on the images' device.

    The picker (workflow.diffusion.train_classifier.CherryPicker) maps such images to logits
    (B, 2) with class 1 = plane, or (B, 1) plane logits.
    """
    logits = picker(images)
    if logits.ndim != 2 or logits.shape[1] not in (1, 2):
        raise ValueError(f"cherry-picker logits must be (B, 1) or (B, 2), got {tuple(logits.shape)}")
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0]).float()
    return torch.softmax(logits.float(), dim=1)[:, 1]
