"""Each epoch's training images: class-aware weights (detect.train.class_aware), epochs of a
fixed size (detect.train.epoch_size: baseline), the ranks' shares, the loader, the trainer."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.yolo_fixtures import train_args
from workflow.detect import sampling
from workflow.detect.settings import TrainSettings
from workflow.detect.trainer import workflow_trainer

PLANE, CAR, TRUCK = 0, 1, 2


def labels(n_plane_and_car: int, n_car: int, n_truck: int, n_empty: int) -> list[np.ndarray]:
    """Per image, its (n, 1) class ids as ultralytics' YOLODataset.labels[i]['cls'] holds them."""
    images = [np.array([[PLANE], [CAR], [CAR]], np.float32)] * n_plane_and_car
    images += [np.array([[CAR]] * 3, np.float32)] * n_car
    images += [np.array([[TRUCK], [CAR]], np.float32)] * n_truck
    images += [np.zeros((0, 1), np.float32)] * n_empty
    return images


def test_weights_follow_the_rarest_class_of_each_image():
    weights = sampling.image_weights(labels(5, 80, 10, 5), num_classes=4)
    # images holding: plane 5, car 95, truck 10 -> class weights 1/5, 1/95, 1/10
    raw = np.array([1 / 5] * 5 + [1 / 95] * 80 + [1 / 10] * 10 + [1 / 95] * 5)
    np.testing.assert_allclose(weights, raw / raw.sum())
    assert weights[0] / weights[5] == pytest.approx(19.0)  # a plane image 19 x a car-only image
    with pytest.raises(ValueError, match="outside 0..3"):
        sampling.image_weights([np.array([[4]])], num_classes=4)


def test_share_of_plane_images_in_sampled_epochs_matches_the_weights():
    images = labels(6, 150, 30, 14)
    weights = sampling.image_weights(images, num_classes=4)
    sampler = sampling.EpochSampler(len(weights), len(weights), 3, weights)
    drawn = np.concatenate([list(sampler) for _ in range(20)])  # 20 epochs of 200 images
    assert len(drawn) == 20 * len(images)
    has_plane = np.array([(c == PLANE).any() for c in images])
    expected = weights[has_plane].sum()  # 0.35 of the draws, against 6 / 200 when uniform
    share = has_plane[drawn].mean()
    sigma = np.sqrt(expected * (1 - expected) / len(drawn))
    assert abs(share - expected) < 4 * sigma, (share, expected)
    assert expected > 10 * has_plane.mean()
    # epochs differ, and the same seed draws the same epochs
    again = sampling.EpochSampler(len(weights), len(weights), 3, weights)
    first, second = list(again), list(again)
    assert first == drawn[: len(images)].tolist() and first != second


def test_fixed_size_epochs_run_through_shuffled_passes():
    # 30 images, epochs of 45 (a smaller dataset than the baseline's): the stream of passes
    sampler = sampling.EpochSampler(30, 45, seed=5)
    epochs = [list(sampler) for _ in range(4)]
    assert all(len(epoch) == 45 for epoch in epochs)
    stream = np.concatenate(epochs)  # 180 draws: 6 whole passes
    for k in range(6):
        assert sorted(stream[30 * k : 30 * (k + 1)]) == list(range(30))  # each pass shows all once
    assert np.ptp(np.bincount(stream[:45 + 45 + 10], minlength=30)) <= 1  # any prefix: all alike +-1
    assert stream[:30].tolist() != stream[30:60].tolist()  # passes are shuffled anew
    assert sampling.EpochSampler(30, 45, seed=5).epoch_indices(2).tolist() == epochs[2]  # resumable
    # 100 images, epochs of 40 (a larger dataset): every image within three epochs, none twice
    larger = sampling.EpochSampler(100, 40, seed=5)
    first = np.concatenate([larger.epoch_indices(e) for e in range(2)] + [larger.epoch_indices(2)[:20]])
    assert sorted(first) == list(range(100))
    with pytest.raises(ValueError, match="an epoch of 0 draws"):
        sampling.EpochSampler(10, 0, seed=0)


def test_ranks_share_one_epoch():
    weights = sampling.image_weights(labels(3, 20, 4, 2), num_classes=4)
    whole = sampling.EpochSampler(len(weights), len(weights), 1, weights).epoch_indices(0)
    parts = [sampling.EpochSampler(len(weights), len(weights), 1, weights, rank=r, world=3) for r in range(3)]
    assert sum(len(p) for p in parts) == len(weights)
    merged = np.empty(len(weights), np.int64)
    for rank, part in enumerate(parts):
        merged[rank::3] = list(part)
    assert merged.tolist() == whole.tolist()
    uniform = sampling.EpochSampler(7, 12, seed=2).epoch_indices(1)
    shares = [list(sampling.EpochSampler(7, 12, seed=2, rank=r, world=2).epoch_indices(1)[r::2]) for r in range(2)]
    assert sorted(shares[0] + shares[1]) == sorted(uniform.tolist())


class FakeDataset:
    """What the loader reads of a YOLODataset: len, items, labels, collate_fn."""

    def __init__(self, images):
        self.labels = [{"cls": c} for c in images]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return index

    @staticmethod
    def collate_fn(items):
        return list(items)


def test_loader_yields_one_sampled_epoch_per_pass():
    images = labels(4, 60, 10, 6)
    dataset = FakeDataset(images)
    weights = sampling.image_weights([label["cls"] for label in dataset.labels], 4)
    sampler = sampling.EpochSampler(len(weights), len(weights), 0, weights)
    loader = sampling.epoch_loader(dataset, batch=16, workers=0, sampler=sampler, device="cpu")
    epochs = [[i for batch in loader for i in batch] for _ in range(2)]
    reference = sampling.EpochSampler(len(weights), len(weights), 0, weights)
    assert epochs == [reference.epoch_indices(0).tolist(), reference.epoch_indices(1).tolist()]
    assert len(loader) == 5  # ceil(80 / 16) batches per epoch
    # epochs of a fixed size: as many batches whatever the dataset holds, none wider than it
    small = sampling.epoch_loader(FakeDataset(labels(1, 5, 0, 0)), batch=16, workers=0,
                                  sampler=sampling.EpochSampler(6, 81, seed=0), device="cpu")
    assert len(small) == 6 and sum(len(batch) for batch in small) == 81
    tiny = sampling.epoch_loader(FakeDataset(labels(1, 5, 0, 0)), batch=16, workers=0,
                                 sampler=sampling.EpochSampler(6, 4, seed=0), device="cpu")
    assert len(tiny) == 1 and [len(batch) for batch in tiny] == [4]


def test_the_trainer_draws_its_epochs_only_when_asked():
    base = train_args(focal_gamma=0.0, class_aware=False, epoch_size="dataset")
    plain = workflow_trainer(TrainSettings(**base))
    assert [cls.__name__ for cls in plain.__mro__][:2] == ["WorkflowTrainer", "DetectionTrainer"]
    both = workflow_trainer(TrainSettings(**{**base, "focal_gamma": 2.0, "focal_alpha": 0.25,
                                             "class_aware": True}))
    names = [cls.__name__ for cls in both.__mro__]
    assert names[:3] == ["WorkflowTrainer", "EpochTrainer", "DetectionTrainer"]
    sized = workflow_trainer(TrainSettings(**{**base, "epoch_size": "baseline"}), epoch_images=81)
    assert [cls.__name__ for cls in sized.__mro__][:3] == ["WorkflowTrainer", "EpochTrainer", "DetectionTrainer"]
    with pytest.raises(ValueError, match="detect.train.epoch_size"):
        TrainSettings(**{**base, "epoch_size": "steps"})
    with pytest.raises(ValueError, match="detect.train.class_aware"):
        TrainSettings(**{**base, "class_aware": "yes"})
