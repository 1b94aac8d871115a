"""Training data of the diffusion models and classifiers, drawn batch by batch from one numpy
Generator so that the data order is part of the resumable training state.

- Base pre-training: random model-size windows of the plane-free background tiles of the
  train split (results/tiles/background/manifest.csv): the ground the planes are later
  inpainted into, without a plane the base would learn to draw unasked.
- Fine-tuning and the size classifier: the plane bank (results/bank/manifest.csv): crop image,
  condition (Canny edges at random thresholds per sample, method report annex G.1, or the bank
  mask) and size class; small planes oversampled by balancing the size classes (annex G.1).
- Random horizontal and vertical flips, applied to an image and its condition together; with
  `dihedral`, also a random transpose, so that all 8 dihedral transforms (flips and 90-degree
  rotations) of an aerial crop are equally likely.

Images leave as float32 (B, 3, S, S) in [-1, 1]; conditions as (B, 1, S, S) in [-1, 1].
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from workflow.bank.edges import canny_random_thresholds
from workflow.core.geometry import flip
from workflow.core.io import read_png
from workflow.core.tensors import to_tensor

log = logging.getLogger(__name__)

# Decoded PNGs kept in memory; bank crops and demo tiles fit, large tile sets are re-read.
_CACHE_SIZE = 2048


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _read_cached(path: str) -> np.ndarray:
    image = read_png(path)
    image.setflags(write=False)
    return image


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PNG; a single-channel or RGBA file is a ValueError naming it."""
    image = _read_cached(str(path))
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{path}: expected an RGB image, got shape {image.shape}")
    return image


def read_map(path: str) -> np.ndarray:
    """(H, W) uint8 single-channel map (mask or edges) of a PNG."""
    image = _read_cached(str(path))
    if image.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel map, got shape {image.shape}")
    return image


def to_unit_range(array: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> (3, H, W) or (H, W) -> (1, H, W), float32 in [-1, 1]."""
    return to_tensor([np.asarray(array)])[0]


def random_flip(arrays: list[np.ndarray], rng: np.random.Generator, dihedral: bool = False) -> list[np.ndarray]:
    """The same random horizontal and vertical flips applied to every (H, W[, C]) square array;
    with `dihedral` also a random transpose (flips and transpose: the 8 dihedral transforms)."""
    flip_h, flip_v = rng.random(2) < 0.5
    transpose = dihedral and rng.random() < 0.5
    how = ("h" if flip_h else "") + ("v" if flip_v else "") or "none"
    return [flip(array.swapaxes(0, 1) if transpose else array, how) for array in arrays]


def read_manifest(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """A manifest CSV with the given columns present and at least one row, else ValueError."""
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{path}: no rows")
    return frame


class TileWindows:
    """Random `size` x `size` windows of a list of images (pre-training, cherry-picker negatives)."""

    def __init__(self, paths: list[str], size: int, what: str, dihedral: bool = False):
        if not paths:
            raise ValueError(f"no images for {what}")
        self.paths, self.size, self.dihedral = list(paths), size, dihedral

    @classmethod
    def from_manifest(cls, path: str | Path, size: int, dihedral: bool = False) -> "TileWindows":
        """Windows of every image of a tiles manifest (the background tiles: train split only)."""
        frame = read_manifest(path, ["image"])
        log.info("%s: %d tiles", path, len(frame))
        return cls(frame["image"].tolist(), size, str(path), dihedral)

    def window(self, rng: np.random.Generator) -> np.ndarray:
        """One random window with random flips -> (size, size, 3) uint8."""
        path = self.paths[int(rng.integers(len(self.paths)))]
        image = read_rgb(path)
        height, width = image.shape[:2]
        if height < self.size or width < self.size:
            raise ValueError(f"{path}: image {width}x{height} is smaller than the {self.size} px window")
        y0, x0 = int(rng.integers(height - self.size + 1)), int(rng.integers(width - self.size + 1))
        return random_flip([image[y0 : y0 + self.size, x0 : x0 + self.size]], rng, self.dihedral)[0]

    def batch(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """(n, 3, size, size) float32 in [-1, 1]."""
        return torch.stack([to_unit_range(self.window(rng)) for _ in range(n)])


def size_class_weights(size_classes: np.ndarray, balance: bool) -> np.ndarray:
    """Sampling probabilities (N,): each size class equally likely when `balance` (so the rare
    small planes are oversampled), else uniform."""
    size_classes = np.asarray(size_classes)
    if not balance:
        return np.full(len(size_classes), 1.0 / len(size_classes))
    _, inverse, counts = np.unique(size_classes, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    return weights / weights.sum()


def bank_crop_size(manifest: str | Path) -> int:
    """Side of the bank's square crops, read from its first image."""
    return read_rgb(read_manifest(manifest, ["image"])["image"].iloc[0]).shape[0]


class PlaneBank:
    """Bank crops with their size class and, for conditioned models, their condition map."""

    def __init__(self, manifest: str | Path, size: int, condition: str = "none", balance: bool = False,
                 dihedral: bool = False):
        # The grid of a conditioned model uses the bank's stored maps (fixed-threshold edges).
        map_column = {"canny": "edges", "mask": "mask"}.get(condition)
        columns = ["image", "size_class"] + ([map_column] if map_column else [])
        frame = read_manifest(manifest, columns)
        if condition == "mask" and "flagged" in frame.columns:
            flagged = frame["flagged"].astype(str).str.lower().isin(["true", "1"])
            log.info("%s: skipped %d flagged masks of %d", manifest, int(flagged.sum()), len(frame))
            frame = frame[~flagged]
            if frame.empty:
                raise ValueError(f"{manifest}: every mask is flagged; nothing to train the mask model on")
        self.manifest, self.size, self.condition = str(manifest), size, condition
        self.dihedral = dihedral
        self.images = frame["image"].tolist()
        self.maps = frame[map_column].tolist() if map_column else []
        self.size_classes = frame["size_class"].to_numpy(dtype=np.int64)
        self.weights = size_class_weights(self.size_classes, balance)
        shape = read_rgb(self.images[0]).shape
        if shape[:2] != (size, size):
            raise ValueError(
                f"{self.images[0]} (from {manifest}): crop is {shape[1]}x{shape[0]}, the model's "
                f"image size is {size}; make tiling.crop_size match the diffusion preset"
            )

    def __len__(self) -> int:
        return len(self.images)

    def item(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Image (S, S, 3) uint8 and condition map (S, S) uint8 or None, flipped together."""
        image = read_rgb(self.images[index])
        if self.condition == "canny":
            cond = canny_random_thresholds(image, rng)  # fresh thresholds per sample (annex G.1)
        elif self.condition == "mask":
            cond = read_map(self.maps[index])
        else:
            return random_flip([image], rng, self.dihedral)[0], None
        image, cond = random_flip([image, cond], rng, self.dihedral)
        return image, cond

    def batch(
        self, rng: np.random.Generator, n: int
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """x0 (n, 3, S, S), cond (n, 1, S, S) or None, size class (n,) int64."""
        indices = rng.choice(len(self), size=n, p=self.weights)
        items = [self.item(int(i), rng) for i in indices]
        x0 = torch.stack([to_unit_range(image) for image, _ in items])
        cond = None if self.condition == "none" else torch.stack([to_unit_range(c) for _, c in items])
        return x0, cond, torch.from_numpy(self.size_classes[indices])

    def stored_conditions(self, n: int) -> torch.Tensor:
        """The bank's own maps (edges at fixed thresholds, or masks) of the first n crops, for
        sample grids -> (n, 1, S, S) in [-1, 1]; cycles when the bank is smaller than n."""
        if self.condition == "none":
            raise ValueError("an unconditional model has no condition maps")
        return torch.stack([to_unit_range(read_map(self.maps[i % len(self)])) for i in range(n)])
