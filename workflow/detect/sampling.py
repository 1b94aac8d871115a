"""Which training images each epoch shows: class-aware sampling (`detect.train.class_aware`) and
epochs of a fixed size (`detect.train.epoch_size: baseline`).

Class-aware sampling. The method report credits a class-aware sampler for the stability of its
YOLOv8 runs (D.4, after figure 21-bis): when planes are rare, most batches hold none. Each epoch
then draws its images with replacement, image i with probability w_i / sum w:

    n_c  = number of training images holding class c (at least one instance)
    w_c  = 1 / n_c
    w_i  = max over the classes c present in image i of w_c   (the rarest class it holds)
    w_i  = min over classes of w_c for an image without labels (as the commonest class)

so the images holding a class weigh about as much together as those of any other class, and
images with the rare plane come about as often as those with the commonest class.

Epochs of a fixed size. With `epoch_size: baseline` every training of a sweep runs epochs of as
many images as the baseline's training split holds, whatever its own dataset holds: the same
batches, optimizer steps and learning-rate schedule (ultralytics steps its rate per epoch and
warms up over epochs x batches), so that a dataset with more images buys no extra training. The
uniform draw is a stream of shuffled passes over the dataset (pass k is a permutation seeded by
(training seed, k)); epoch e takes the stream's images e * size .. (e + 1) * size - 1, so every
image comes equally often, give or take one, and no image twice before all came once.

Every draw depends on (training seed, epoch) only; with DDP every rank draws the same epoch and
takes every world-th index from its rank on. Ultralytics' mosaic (when on) still picks its three
other images uniformly.

`epoch_trainer(base, epoch_images)` subclasses an ultralytics DetectionTrainer (the focal one,
say) so that its training loader draws from `EpochSampler`; validation and test loaders are
untouched.
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


class EpochSampler:
    """Indices of one epoch (a torch Sampler: __iter__, __len__, set_epoch): `size` draws, class-
    aware from `weights` (with replacement) when given, else the uniform stream of shuffled
    passes over `count` images (module docstring). Each iteration is the next epoch unless
    set_epoch names one."""

    def __init__(self, count: int, size: int, seed: int, weights: np.ndarray | None = None,
                 rank: int = 0, world: int = 1):
        if count < 1 or size < 1:
            raise ValueError(f"an epoch of {size} draws from {count} images")
        if weights is not None and len(weights) != count:
            raise ValueError(f"{len(weights)} weights for {count} images")
        self.count, self.size = int(count), int(size)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.seed, self.rank, self.world = int(seed), int(rank), int(world)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """The whole epoch's draw (every rank's share): `size` indices."""
        if self.weights is not None:
            rng = np.random.default_rng([self.seed, epoch])
            return rng.choice(self.count, size=self.size, replace=True, p=self.weights)
        first, last = epoch * self.size, (epoch + 1) * self.size  # positions in the stream
        passes = range(first // self.count, (last - 1) // self.count + 1)
        stream = np.concatenate([np.random.default_rng([self.seed, k]).permutation(self.count)
                                 for k in passes])
        offset = first - passes[0] * self.count
        return stream[offset : offset + self.size]

    def __iter__(self):
        indices = self.epoch_indices(self.epoch)[self.rank :: self.world]
        self.epoch += 1
        return iter(indices.tolist())

    def __len__(self) -> int:
        return math.ceil((self.size - self.rank) / self.world)


def epoch_loader(dataset, batch: int, workers: int, sampler: EpochSampler, device):
    """An ultralytics InfiniteDataLoader over `dataset` drawing from `sampler`, built with the
    arguments of ultralytics' build_dataloader for a shuffled training loader."""
    import os

    import torch
    from ultralytics.data.build import InfiniteDataLoader, seed_worker

    batch = min(batch, len(sampler))  # a batch never wider than the epoch (this rank's share)
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


def align_sampler(trainer) -> None:
    """At the first epoch a run trains (a resumed run's too), point the sampler at that epoch.
    The loader may have drawn ahead (workers prefetch from the moment it is built, before a
    resume sets the start epoch); it is then rebuilt, so that epoch e always shows draw e.
    Later epochs follow by themselves: each pass over the sampler is the next epoch."""
    loader = trainer.train_loader
    if trainer.epoch == trainer.start_epoch and loader.sampler.epoch != trainer.epoch:
        loader.sampler.set_epoch(trainer.epoch)
        loader.reset()


def epoch_trainer(base, class_aware: bool, epoch_images: int | None):
    """`base` (an ultralytics DetectionTrainer class) whose training loader draws from an
    EpochSampler: class-aware when `class_aware`, epochs of `epoch_images` images when given
    (else of as many as the training set holds)."""
    from ultralytics.utils.torch_utils import torch_distributed_zero_first

    class EpochTrainer(base):
        def get_dataloader(self, dataset_path, batch_size=16, rank=0, mode="train"):
            if mode != "train":
                return super().get_dataloader(dataset_path, batch_size, rank, mode)
            with torch_distributed_zero_first(rank):
                dataset = self.build_dataset(dataset_path, mode, batch_size)
            weights = None
            if class_aware:
                weights = image_weights([label["cls"] for label in dataset.labels], len(self.data["names"]))
                log.info("class-aware sampling of %d training images: weights %.3g..%.3g",
                         len(weights), weights.min(), weights.max())
            world, shard = 1, 0
            if rank != -1:
                import torch.distributed as dist

                world, shard = dist.get_world_size(), dist.get_rank()
            size = epoch_images or len(dataset)
            log.info("epochs of %d images drawn from %d", size, len(dataset))
            sampler = EpochSampler(len(dataset), size, self.args.seed, weights, shard, world)
            self.add_callback("on_train_epoch_start", align_sampler)
            return epoch_loader(dataset, batch_size, self.args.workers, sampler, self.device)

    return EpochTrainer
