"""The learning curve: drawn against the optimizer steps its training's budget gives."""

import json

import pytest

from workflow.report import curves


def write_run(folder, rows, budget):
    folder.mkdir(parents=True)
    (folder / "target_curve.csv").write_text("epoch,ap50,ap50_95\n" + "".join(rows))
    (folder / "metrics.json").write_text(json.dumps({"budget": budget}))
    return folder


def test_the_curve_is_read_per_epoch_and_drawn_in_steps(tmp_path):
    budget = dict(train_images=90, epoch_images=81, epochs=3, batches=18, optimizer_steps=18, images_seen=243)
    assert curves.steps_per_epoch({"budget": budget}) == 6
    with pytest.raises(ValueError, match="without a budget"):
        curves.steps_per_epoch({})
    # a resumed run validated epoch 2 twice: the last row counts
    run = write_run(tmp_path / "yolov8n" / "learning_curve",
                    ["1,0.1,0.05\n", "2,0.2,0.1\n", "2,0.3,0.15\n", "3,0.4,0.2\n"], budget)
    curve = curves.read_curve(run / "target_curve.csv")
    assert curve["epoch"].tolist() == [1, 2, 3] and curve["ap50"].tolist() == [0.1, 0.3, 0.4]
    out = tmp_path / "learning_curve.png"
    curves.main(["--curves", str(run / "target_curve.csv"), "--metrics", str(run / "metrics.json"),
                 "--epochs", "2", "--out", str(out)])
    assert out.read_bytes()[:4] == b"\x89PNG"
    other = write_run(tmp_path / "yolov5nu" / "learning_curve", ["1,0.1,0.05\n"], budget)
    with pytest.raises(SystemExit):  # every curve needs its training's budget
        curves.main(["--curves", str(run / "target_curve.csv"), str(other / "target_curve.csv"),
                     "--metrics", str(run / "metrics.json"), "--epochs", "2", "--out", str(out)])
