"""What a training spends: its images, epochs, batches, optimizer steps and images seen.

An epoch shows as many images as the training set holds (`detect.train.epoch_size: dataset`:
ultralytics' shuffled loader, or the class-aware sampler's draw), or as many as the baseline's
training split holds (`baseline`: workflow.detect.sampling), in batches of `batch` with the last
one short; ultralytics accumulates gradients over `nbs / batch` batches (rounded, at least 1) before
an optimizer step (its warmup ramps that count up from 1, which this leaves out). Two trainings
of one sweep that differ in these numbers differ in compute as well as in data.
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml


def list_images(data: Path, split: str = "train") -> int:
    """Images of a dataset's split: the lines of its image list (data.yaml's `split` entry)."""
    spec = yaml.safe_load(Path(data).read_text())
    listed = Path(spec["path"]) / spec[split] if "path" in spec else Path(spec[split])
    return sum(1 for line in listed.read_text().splitlines() if line.strip())


def budget(images: int, epochs: int, batch: int, nbs: int, epoch_images: int | None = None) -> dict:
    """{train_images, epoch_images, epochs, batches, optimizer_steps, images_seen} of a training
    on `images` images for `epochs` epochs of `epoch_images` images (None: `images`)."""
    if images < 1:
        raise ValueError(f"a training set of {images} images")
    epoch = epoch_images or images
    batches = epochs * math.ceil(epoch / batch)
    accumulate = max(round(nbs / batch), 1)
    return dict(train_images=images, epoch_images=epoch, epochs=epochs, batches=batches,
                optimizer_steps=batches // accumulate, images_seen=epochs * epoch)
