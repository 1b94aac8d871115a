"""A training's budget: batches with a short last one, optimizer steps over accumulated
batches, images seen, epochs of the baseline's size, and the image count read from a dataset's
list."""

import pytest
import yaml

from workflow.detect.budget import budget, list_images


def test_batches_steps_and_images_seen():
    assert budget(986, 10, 16, 16) == dict(train_images=986, epoch_images=986, epochs=10, batches=620,
                                           optimizer_steps=620, images_seen=9860)  # 62 batches, the last of 10
    assert budget(1501, 10, 16, 16)["optimizer_steps"] == 940  # a replacement: 1.5 times the steps
    # epochs of the baseline's 986 images: the replacement trains as long as the baseline
    equal = budget(1501, 10, 16, 16, epoch_images=986)
    assert equal == dict(budget(986, 10, 16, 16), train_images=1501)
    assert budget(100, 3, 16, 64)["optimizer_steps"] == 21 // 4  # 4 batches accumulated per step
    with pytest.raises(ValueError, match="0 images"):
        budget(0, 1, 16, 16)


def test_images_are_the_lines_of_the_datasets_list(tmp_path):
    (tmp_path / "train.txt").write_text("/a.png\n/b.png\n\n/c.png\n")
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"path": str(tmp_path), "train": "train.txt"}))
    assert list_images(tmp_path / "data.yaml") == 3
