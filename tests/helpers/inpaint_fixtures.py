"""Small on-disk inputs for the inpainting tests: background tiles, a plane bank, a model file."""

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from workflow.core.io import write_png
from workflow.diffusion.checkpoint import save_model
from workflow.diffusion.cherry_picker import CherryPicker
from workflow.diffusion.presets import build_classifier, build_unet

TILE, WINDOW = 64, 32


def make_background(root: Path) -> Path:
    """Two 64 px tiles (tarmac, other), each with one labelled object in its top-left corner."""
    rng = np.random.default_rng(0)
    rows = []
    for i, context in enumerate(["tarmac", "other"]):
        image = rng.integers(0, 256, size=(TILE, TILE, 3), dtype=np.uint8)
        write_png(root / f"bg{i}.png", image)
        (root / f"bg{i}.txt").write_text("1 0.125 0.125 0.25 0.25\n")  # box 0..16 px
        rows.append(dict(tile_id=f"t{i}", image=str(root / f"bg{i}.png"), labels=str(root / f"bg{i}.txt"),
                         scene_id="s", x0=0, y0=0, size=TILE, context=context))  # fmt: skip
    path = root / "background.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def make_bank(root: Path) -> Path:
    """Two plane masks (ellipses, off-centre so flips matter) and their edges; one flagged."""
    rows = []
    for i, (axes, flagged) in enumerate([((9, 5), False), ((3, 3), True)]):
        mask = np.zeros((WINDOW, WINDOW), np.uint8)
        cv2.ellipse(mask, (14, 17), axes, 30, 0, 360, 255, -1)
        write_png(root / f"mask{i}.png", mask)
        write_png(root / f"edges{i}.png", cv2.Canny(mask, 100, 200))
        rows.append(dict(crop_id=f"c{i}", image=str(root / f"mask{i}.png"), mask=str(root / f"mask{i}.png"),
                         edges=str(root / f"edges{i}.png"), size_class=0, flagged=flagged))  # fmt: skip
    path = root / "bank.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def make_models(root: Path) -> dict[str, Path]:
    """Randomly initialised demo32 U-Nets (none, canny), size classifier and cherry-picker."""
    torch.manual_seed(0)
    paths = {}
    for condition in ("none", "canny"):
        arch = dict(kind="unet", preset="demo32", condition=condition, finetune_mode="attention_adapter",
                    image_size=WINDOW)  # fmt: skip
        net = build_unet("demo32", condition=condition, finetune_mode="attention_adapter")
        paths[condition] = root / f"unet_{condition}.pt"
        save_model(paths[condition], net.state_dict(), arch, dict(schedule="linear", steps=1000), {}, 0, 0)
    picker = CherryPicker(num_classes=2, input_size=WINDOW)
    arch = dict(kind="cherry_picker", image_size=WINDOW, input_size=WINDOW, num_classes=2)
    paths["cherry_picker"] = root / "cherry_picker.pt"
    save_model(paths["cherry_picker"], picker.state_dict(), arch, None, {}, 0, 0)
    arch = dict(kind="classifier", preset="demo32", num_classes=11, image_size=WINDOW)
    paths["classifier"] = root / "classifier.pt"
    save_model(paths["classifier"], build_classifier("demo32", 11).state_dict(), arch,
               dict(schedule="linear", steps=1000), {}, 0, 0)  # fmt: skip
    return paths
