"""Class-aware sampling of the detector's training images (`detect.train.class_aware`).

The method report credits a class-aware sampler for the stability of its YOLOv8 runs (D.4,
after figure 21-bis): when planes are rare, most batches hold none. Here each epoch draws as
many images as the training set holds, with replacement, image i with probability w_i / sum w:

    n_c  = number of training images holding class c (at least one instance)
    w_c  = 1 / n_c
    w_i  = max over the classes c present in image i of w_c   (the rarest class it holds)
    w_i  = min over classes of w_c for an image without labels (as the commonest class)

so the images holding a class weigh about as much together as those of any other class, and
images with the rare plane come about as often as those with the commonest class. The draw of
epoch e comes from a numpy Generator seeded by (training seed, e); with DDP every rank draws the
same epoch and takes every world-th index from its rank on. Ultralytics' mosaic (when on) still
picks its three other images uniformly.

`class_aware_trainer(base)` subclasses an ultralytics DetectionTrainer (the focal one, say)
so that its training loader uses `ClassAwareSampler`; validation and test loaders are untouched.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)


def image_weights(classes_per_image, num_classes: int) -> np.ndarray:
    """Sampling probability of each image (module docstring), from each image's class ids.

    classes_per_image: one array of class ids per image (any shape; ultralytics' (n, 1) `cls`).
    """
    present = [np.unique(np.asarray(c, dtype=np.int64).ravel()) for c in classes_per_image]
    if not present:
        raise ValueError("class-aware sampling of an empty training set")
    holding = np.zeros(num_classes, dtype=np.float64)
    for classes in present:
        if len(classes) and (classes.min() < 0 or classes.max() >= num_classes):
            raise ValueError(f"class ids {classes.tolist()} outside 0..{num_classes - 1}")
        holding[classes] += 1
    class_weight = np.divide(1.0, holding, out=np.zeros(num_classes), where=holding > 0)
    empty = class_weight[holding > 0].min() if (holding > 0).any() else 1.0
    weights = np.array([class_weight[c].max() if len(c) else empty for c in present])
    return weights / weights.sum()


class ClassAwareSampler:
    """Indices of one epoch drawn with replacement from `weights` (a torch Sampler: __iter__,
    __len__, set_epoch). Each iteration is the next epoch unless set_epoch names one."""

    def __init__(self, weights: np.ndarray, seed: int, rank: int = 0, world: int = 1):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.seed, self.rank, self.world = int(seed), int(rank), int(world)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """The whole epoch's draw (every rank's share), len(weights) indices."""
        rng = np.random.default_rng([self.seed, epoch])
        return rng.choice(len(self.weights), size=len(self.weights), replace=True, p=self.weights)

    def __iter__(self):
        indices = self.epoch_indices(self.epoch)[self.rank :: self.world]
        self.epoch += 1
        return iter(indices.tolist())

    def __len__(self) -> int:
        return math.ceil((len(self.weights) - self.rank) / self.world)


def class_aware_loader(dataset, batch: int, workers: int, sampler: ClassAwareSampler, device):
    """An ultralytics InfiniteDataLoader over `dataset` drawing from `sampler`, built with the
    arguments of ultralytics' build_dataloader for a shuffled training loader."""
    import os

    import torch
    from ultralytics.data.build import InfiniteDataLoader, seed_worker

    batch = min(batch, len(dataset))
    batches = math.ceil(len(sampler) / batch)
    device_type = getattr(device, "type", str(device).split(":")[0])
    gpus = torch.cuda.device_count() if device_type == "cuda" else 0
    workers = min(os.cpu_count() // max(gpus, 1), workers, 0 if batches <= 1 else batches)
    generator = torch.Generator()
    generator.manual_seed(sampler.seed)
    return InfiniteDataLoader(
        dataset=dataset, batch_size=batch, shuffle=False, num_workers=workers, sampler=sampler,
        prefetch_factor=4 if workers > 0 else None, pin_memory=gpus > 0,
        collate_fn=getattr(dataset, "collate_fn", None), worker_init_fn=seed_worker,
        generator=generator, drop_last=False,
    )


def class_aware_trainer(base):
    """`base` (an ultralytics DetectionTrainer class) whose training loader samples class-aware."""
    from ultralytics.utils.torch_utils import torch_distributed_zero_first

    class ClassAwareTrainer(base):
        def get_dataloader(self, dataset_path, batch_size=16, rank=0, mode="train"):
            if mode != "train":
                return super().get_dataloader(dataset_path, batch_size, rank, mode)
            with torch_distributed_zero_first(rank):
                dataset = self.build_dataset(dataset_path, mode, batch_size)
            weights = image_weights([label["cls"] for label in dataset.labels], len(self.data["names"]))
            world, shard = 1, 0
            if rank != -1:
                import torch.distributed as dist

                world, shard = dist.get_world_size(), dist.get_rank()
            sampler = ClassAwareSampler(weights, self.args.seed, shard, world)
            log.info("class-aware sampling of %d training images: weights %.3g..%.3g",
                     len(weights), weights.min(), weights.max())
            return class_aware_loader(dataset, batch_size, self.args.workers, sampler, self.device)

    return ClassAwareTrainer
