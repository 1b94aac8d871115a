"""Small drawn data for the diffusion training tests: a plane bank manifest (crops, masks, edges,
size classes) and tile manifests, written under a temporary folder; and the golden weights and
input of the ADM reference cases (tests/reference/adm/)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from workflow.bank.edges import canny_fixed
from workflow.core.io import write_png


def draw_plane(size: int, span: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A grey ground with a light cross-shaped plane of wingspan `span` -> image (S, S, 3), mask (S, S)."""
    ground = rng.integers(60, 120)
    image = np.clip(rng.normal(ground, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    c, half, body = size // 2, span // 2, max(1, span // 6)
    cv2.rectangle(mask, (c - body, c - half), (c + body, c + half), 255, -1)  # fuselage
    cv2.rectangle(mask, (c - half, c - body), (c + half, c + body), 255, -1)  # wings
    image[mask > 0] = (220, 220, 225)
    return image, mask


def write_bank(root: Path, n: int = 12, size: int = 32, seed: int = 0) -> Path:
    """results/bank/manifest.csv-like table of n drawn planes of several size classes."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        span = int(rng.integers(6, size - 4))
        image, mask = draw_plane(size, span, rng)
        paths = {kind: root / "bank" / kind / f"{i:04d}.png" for kind in ("image", "mask", "edges")}
        write_png(paths["image"], image)
        write_png(paths["mask"], mask)
        write_png(paths["edges"], canny_fixed(image, 100, 200))
        ys, xs = np.nonzero(mask)
        h, w = ys.max() + 1 - ys.min(), xs.max() + 1 - xs.min()
        rows.append(dict(crop_id=i, image=str(paths["image"]), mask=str(paths["mask"]), edges=str(paths["edges"]),
                         size_class=min(10, int(10 * (h + w) / (2 * size))), flagged=(i == 0)))
    manifest = root / "bank" / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def write_tiles(root: Path, n: int = 4, size: int = 64, seed: int = 0, kind: str = "detect") -> Path:
    """A detect (with split) or background tile manifest of n textured tiles."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        image = cv2.GaussianBlur(rng.integers(0, 255, (size, size, 3)).astype(np.uint8), (7, 7), 0)
        path = root / kind / f"{i:04d}.png"
        write_png(path, image)
        rows.append(dict(tile_id=i, image=str(path), split="train" if i < n - 1 else "val", size=size))
    manifest = root / kind / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def write_base(path: Path, preset: str = "demo32", schedule: str = "linear", steps: int = 100) -> Path:
    """A base model file of `preset` whose zero-initialised layers (output head, attention and
    residual output convolutions) got random weights: the output then depends on every weight,
    so a fine-tuning's gradients reach every trainable parameter (from a fresh U-Net's zero head
    they would all be zero and nothing would train)."""
    from workflow.diffusion import checkpoint
    from workflow.diffusion.presets import build_unet

    torch.manual_seed(0)
    model = build_unet(preset)
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
            torch.nn.init.normal_(module.weight, std=0.05)
    arch = dict(kind="unet", preset=preset, image_size=model.image_size, condition="none", finetune_mode=None)
    checkpoint.save_model(path, model.state_dict(), arch, dict(schedule=schedule, steps=steps), {}, 0, 0)
    return path


def fill_weights(model: torch.nn.Module, amplitude: float) -> None:
    """The golden fill of tests/reference/adm/: entry k of the state dict gets
    float32(A * sin(0.37 i + k)), i = 0..n-1."""
    filled = {}
    for k, (name, tensor) in enumerate(model.state_dict().items()):
        values = amplitude * np.sin(0.37 * np.arange(tensor.numel(), dtype=np.float64) + k)
        filled[name] = torch.from_numpy(values.astype(np.float32).reshape(tensor.shape))
    model.load_state_dict(filled, strict=True)


def golden_input() -> tuple[torch.Tensor, torch.Tensor]:
    """The golden cases' input: x (2, 3, 32, 32) and timesteps (2,)."""
    x = (0.5 * np.cos(0.11 * np.arange(2 * 3 * 32 * 32, dtype=np.float64))).astype(np.float32)
    return torch.from_numpy(x.reshape(2, 3, 32, 32)), torch.tensor([3, 600], dtype=torch.int64)
