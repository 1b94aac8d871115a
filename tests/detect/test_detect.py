"""Detector training helpers: metrics by class index, the focal criterion, one real training."""

import dataclasses
import json
import types

import numpy as np
import pytest
import yaml

from tests.helpers.yolo_fixtures import NAMES, train_args, write_detect_tiles
from workflow.detect import train as detect
from workflow.detect.metrics import target_metrics
from workflow.detect.offline import offline_environment
from workflow.detect.params import RUNTIME_KEYS
from workflow.detect.resume import REQUEST_FILE, resume_state
from workflow.detect.settings import ARCHS, OPTIMIZERS, Runtime, TrainSettings
from workflow.detect.trainer import CURVE_FILE, focal_loss_class, target_row

NAMES_BY_ID = dict(enumerate(NAMES))


def fake_metrics(index, ap50, ap, best=None):
    """The attributes of ultralytics' DetMetrics that target_metrics reads: per class a
    precision and recall curve over 5 confidences, F1 highest at confidence index best[k]."""
    n = len(index)
    best = best or [2] * n
    px = np.linspace(0, 1, 5)
    p_curve, r_curve = np.full((n, 5), 0.05), np.full((n, 5), 0.05)
    for k in range(n):
        p_curve[k, best[k]], r_curve[k, best[k]] = 0.1 + 0.1 * k, 0.5 + 0.1 * k
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve)
    box = types.SimpleNamespace(ap50=np.array(ap50), ap=np.array(ap), px=px, p_curve=p_curve,
                                r_curve=r_curve, f1_curve=f1_curve,
                                p=np.ones(n), r=np.zeros(n))  # ultralytics' all-class threshold
    return types.SimpleNamespace(ap_class_index=np.array(index), box=box)


def test_target_ap_is_read_by_class_index_not_position():
    # plane (id 0) is the second class evaluated; position 0 holds car (id 1)
    metrics = fake_metrics([1, 0, 3], ap50=[0.9, 0.6, 0.3], ap=[0.5, 0.25, 0.1], best=[1, 3, 2])
    result = target_metrics(metrics, NAMES_BY_ID, "plane")
    assert (result["ap50"], result["ap50_95"]) == (0.6, 0.25)
    # precision and recall at the plane's own best-F1 confidence, not the all-class one
    assert result["precision"] == pytest.approx(0.2) and result["recall"] == pytest.approx(0.6)
    assert result["confidence"] == pytest.approx(0.75)
    assert result["per_class"]["car"]["ap50"] == 0.9
    assert result["per_class"]["car"]["confidence"] == pytest.approx(0.25)
    assert set(result["per_class"]) == {"plane", "car", "boat"}


def test_a_test_split_without_the_target_is_an_error():
    with pytest.raises(ValueError, match="no 'plane'"):
        target_metrics(fake_metrics([1, 2], [0.5, 0.5], [0.2, 0.2]), NAMES_BY_ID, "plane")


def test_a_pretraining_without_target_reports_the_mean_over_its_classes():
    metrics = fake_metrics([1, 2], ap50=[0.6, 0.2], ap=[0.3, 0.1])
    result = target_metrics(metrics, NAMES_BY_ID, None)
    assert result["target"] is None and result["ap50"] == pytest.approx(0.4)
    assert result["ap50_95"] == pytest.approx(0.2) and set(result["per_class"]) == {"car", "truck"}


def test_curve_rows_read_the_target_by_class_index():
    metrics = fake_metrics([1, 0], ap50=[0.9, 0.6], ap=[0.5, 0.25])
    assert target_row(metrics, NAMES_BY_ID, "plane", 3) == "3,0.600000,0.250000\n"
    assert target_row(fake_metrics([1], [0.9], [0.5]), NAMES_BY_ID, "plane", 4) == "4,0.0,0.0\n"


def test_train_settings_pin_the_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        TrainSettings(**train_args(optimizer="auto"))
    with pytest.raises(ValueError, match="detect.train.ema_decay"):
        TrainSettings(**train_args(ema_decay=1.0))
    with pytest.raises(ValueError, match="detect.train.ema_tau"):
        TrainSettings(**train_args(ema_tau=0))


@pytest.fixture(scope="module")
def model_and_batch():
    import torch
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel("yolov8n.yaml", nc=len(NAMES), verbose=False)
    model.args = get_cfg()
    batch = {
        "img": torch.rand(2, 3, 64, 64),
        "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
        "cls": torch.tensor([[0.0], [1.0], [0.0]]),
        "bboxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.1, 0.1], [0.5, 0.5, 0.4, 0.3]]),
    }
    return model, batch


def cls_loss(model, batch, criterion):
    model.criterion = criterion
    _, items = model.loss(batch)
    return float(items["cls_loss"]), float(items["box_loss"])


def test_focal_loss_with_gamma_and_alpha_zero_is_ultralytics_bce(model_and_batch):
    from ultralytics.utils.loss import v8DetectionLoss

    model, batch = model_and_batch
    focal = focal_loss_class()
    plain = cls_loss(model, batch, v8DetectionLoss(model))
    same = cls_loss(model, batch, focal(model, gamma=0.0, alpha=0.0))
    down = cls_loss(model, batch, focal(model, gamma=2.0, alpha=0.25))
    assert same == pytest.approx(plain, rel=1e-5)
    assert down[0] < 0.5 * plain[0]  # easy negatives are down-weighted by (1 - p_t) ** gamma
    assert down[1] == pytest.approx(plain[1], rel=1e-5)  # the box term is untouched


def test_offline_environment_places_a_font(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "0")
    monkeypatch.setenv("YOLO_CONFIG_DIR", "")
    font = offline_environment(tmp_path / "cfg")
    assert font == (tmp_path / "cfg" / "Ultralytics" / "Arial.ttf").resolve()
    assert font.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType file


@pytest.mark.slow
def test_one_epoch_training_writes_metrics(tmp_path):
    import torch

    from workflow.datasets import build as datasets

    tiles = write_detect_tiles(tmp_path / "tiles", {"train": [1, 2, 1, 0], "val": [1, 1], "test": [1, 2]})
    settings = {"classes": {"names": list(NAMES), "target": "plane"}, "seed": 0,
                "experiment": {"kind": "baseline"}}
    datasets.main(["--settings", json.dumps(settings), "--experiment", "baseline",
                   "--detect-tiles", str(tiles), "--out", str(tmp_path / "ds")])
    train = train_args(epochs=1, imgsz=64, batch=4, nbs=64, lr0=0.01, lrf=0.01, warmup_epochs=0,
                       mosaic=0.0, close_mosaic=10, flipud=0.0, freeze=0, val=True, focal_gamma=1.5,
                       focal_alpha=0.25, class_aware=True, epoch_size="dataset")
    out = tmp_path / "run"
    detect.main(["--settings", json.dumps({"train": train, "target": "plane"}),
                 "--data", str(tmp_path / "ds" / "data.yaml"), "--arch", "yolov8n", "--seed", "0",
                 "--experiment", "baseline", "--config-dir", str(tmp_path / "cfg"), "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "weights" / "best.pt").exists() and (out / "results.csv").exists()
    assert metrics["target"] == "plane" and 0 <= metrics["ap50"] <= 1
    assert metrics["seed"] == 0 and metrics["family"] == "YOLOv8"
    # 4 tiles in one batch of 4; nbs 64 accumulates 16 batches per optimizer step: none in one
    assert metrics["budget"] == dict(train_images=4, epoch_images=4, epochs=1, batches=1, optimizer_steps=0,
                                     images_seen=4)
    assert metrics["loss"].startswith("focal(gamma=1.5")
    assert metrics["criterion"] == "FocalDetectionLoss"
    assert metrics["sampler"] == "EpochSampler"  # focal loss and class-aware sampling together
    curve = (out / CURVE_FILE).read_text().splitlines()  # the target's AP per validation
    assert curve[0] == "epoch,ap50,ap50_95" and len(curve) == 2 and curve[1].startswith("1,")
    assert yaml.safe_load((out / "args.yaml").read_text())["optimizer"] == "SGD"
    request = json.loads((out / REQUEST_FILE).read_text())
    assert (request["arch"], request["focal_gamma"], request["mosaic"]) == ("yolov8n", 1.5, 0.0)
    # a detector trained here is the starting point of later trainings: its class head (4
    # classes, not the yaml's 80) must survive, and its arch must match the one asked for
    start = detect.start_model(out / "weights" / "best.pt", "yolov8n")
    assert start.model.model[-1].nc == len(NAMES)
    with pytest.raises(ValueError, match="not --arch yolov5nu"):
        detect.start_model(out / "weights" / "best.pt", "yolov5nu")
    # and a training from it starts from those weights: with a vanishing rate the class head
    # after one epoch is still the starting one (ultralytics' pretrained=False would drop it)
    # (in epochs of a baseline's 10 images: three batches of 4 from the 4 training tiles)
    again = tmp_path / "again"
    frozen = {**train, "lr0": 1e-12, "focal_gamma": 0.0, "class_aware": False, "epoch_size": "baseline"}
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    (baseline / "train.txt").write_text("".join(f"/tile{i}.png\n" for i in range(10)))
    (baseline / "data.yaml").write_text(yaml.safe_dump({"path": str(baseline), "train": "train.txt"}))
    args = ["--settings", json.dumps({"train": frozen, "target": "plane"}),
            "--data", str(tmp_path / "ds" / "data.yaml"), "--arch", "yolov8n", "--seed", "1",
            "--weights", str(out / "weights" / "best.pt"), "--config-dir", str(tmp_path / "cfg"),
            "--out", str(again)]
    with pytest.raises(SystemExit):  # epoch_size baseline names the baseline's dataset
        detect.main(args)
    detect.main(args + ["--epoch-data", str(baseline / "data.yaml")])
    metrics = json.loads((again / "metrics.json").read_text())
    assert metrics["sampler"] == "EpochSampler"
    assert metrics["budget"] == dict(train_images=4, epoch_images=10, epochs=1, batches=3, optimizer_steps=0,
                                     images_seen=10)
    head = "model.22.cv3.0.2.weight"
    before = start.model.state_dict()[head].float()
    after = detect.start_model(again / "weights" / "best.pt", "yolov8n").model.state_dict()[head].float()
    assert torch.allclose(before, after, atol=1e-3)


def test_the_saved_weights_average_at_the_configured_decay(tmp_path):
    """ema_decay 0: best.pt holds the last step's weights; 0.99 from the first step (ema_tau
    tiny): the average moves a hundredth of the way, so the class head stays near its start."""
    from workflow.datasets import build as datasets

    tiles = write_detect_tiles(tmp_path / "tiles", {"train": [1, 2, 1, 1], "val": [1], "test": [1]})
    settings = {"classes": {"names": list(NAMES), "target": "plane"}, "seed": 0,
                "experiment": {"kind": "baseline"}}
    datasets.main(["--settings", json.dumps(settings), "--experiment", "baseline",
                   "--detect-tiles", str(tiles), "--out", str(tmp_path / "ds")])
    start = tmp_path / "start"
    head = "model.22.cv3.0.2.weight"
    moved = {}
    for name, decay in (("start", 0.0), ("last", 0.0), ("averaged", 0.99)):
        # each batch of 2 is an optimizer step (nbs 2): 4 steps in 2 epochs
        train = train_args(epochs=2, imgsz=64, batch=2, nbs=2, lr0=0.05, warmup_epochs=0, val=False,
                           epoch_size="dataset", ema_decay=decay, ema_tau=1e-6)
        out = tmp_path / name
        args = ["--settings", json.dumps({"train": train, "target": "plane"}), "--data",
                str(tmp_path / "ds" / "data.yaml"), "--arch", "yolov8n", "--seed", "0",
                "--config-dir", str(tmp_path / "cfg"), "--out", str(out)]
        detect.main(args + (["--weights", str(start / "weights" / "best.pt")] if name != "start" else []))
        if name != "start":
            before = detect.start_model(start / "weights" / "best.pt", "yolov8n").model.state_dict()[head].float()
            after = detect.start_model(out / "weights" / "best.pt", "yolov8n").model.state_dict()[head].float()
            moved[name] = float((after - before).norm())
    assert moved["last"] > 0
    assert moved["averaged"] < 0.1 * moved["last"]


def test_schema_enums_are_the_modules():
    from pathlib import Path

    schema = yaml.safe_load((Path(__file__).parents[2] / "config" / "schema.yaml").read_text())
    detect_schema = schema["properties"]["detect"]["properties"]
    assert detect_schema["archs"]["items"]["enum"] == list(ARCHS)
    assert tuple(schema["$defs"]["train_args"]["properties"]["optimizer"]["enum"]) == OPTIMIZERS
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    runtime = {f.name for f in dataclasses.fields(Runtime)}
    # the runtime keys reach the command line (--device, --workers), the others --settings
    assert runtime == set(RUNTIME_KEYS) and not fields & runtime
    assert set(schema["$defs"]["train_args"]["properties"]) == fields | runtime


def test_focal_alpha_is_needed_only_with_a_focal_loss():
    base = {k: v for k, v in train_args(focal_gamma=0.0).items() if k != "focal_alpha"}
    assert TrainSettings(**base).focal_alpha is None  # BCE: no alpha
    with pytest.raises(ValueError, match="detect.train.focal_alpha': missing"):
        TrainSettings(**{**base, "focal_gamma": 1.5})
    assert TrainSettings(**{**base, "focal_gamma": 1.5, "focal_alpha": 0.5}).focal_alpha == 0.5


def test_every_training_setting_shapes_the_request(tmp_path):
    """A finished run is kept only for the very settings it was made with: changing any
    TrainSettings field, ultralytics' or the workflow's own, redoes it."""
    import dataclasses

    import torch

    def request_of(settings):  # as detect.train builds it
        requested = {"data": "d.yaml", "seed": 0, **settings.overrides()}
        return detect.training_request(requested, settings, "yolov8n", None, 81)

    settings = TrainSettings(**train_args(focal_alpha=0.25))
    request = request_of(settings)
    (tmp_path / "weights").mkdir()
    torch.save({"epoch": -1}, tmp_path / "weights" / "last.pt")
    (tmp_path / "weights" / "best.pt").touch()
    (tmp_path / REQUEST_FILE).write_text(json.dumps(request))
    assert resume_state(tmp_path, request) == "done"
    changed = {"optimizer": "Adam", "val": True, "class_aware": True, "epoch_size": "dataset"}
    for field in dataclasses.fields(TrainSettings):
        value = getattr(settings, field.name)
        if field.name in changed:
            other = changed[field.name]
        elif isinstance(value, float):
            other = value * 0.5 if value else 0.5
        else:
            other = value + 1
        assert other != value, field.name
        again = dataclasses.replace(settings, **{field.name: other})
        assert resume_state(tmp_path, request_of(again)) == "fresh", field.name


def test_a_killed_run_resumes_only_with_the_same_request(tmp_path):
    import torch

    request = {"data": "d.yaml", "seed": 0, "arch": "yolov8n", "mosaic": 0.0, "focal_gamma": 0.0}
    (tmp_path / "weights").mkdir()
    assert resume_state(tmp_path, request) == "fresh"  # nothing to resume
    torch.save({"epoch": 3}, tmp_path / "weights" / "last.pt")
    assert resume_state(tmp_path, request) == "fresh"  # no request recorded beside it
    (tmp_path / REQUEST_FILE).write_text(json.dumps(request))
    assert resume_state(tmp_path, request) == "resume"
    # any changed setting, ultralytics' or ours, restarts rather than resumes with old values
    assert resume_state(tmp_path, {**request, "mosaic": 1.0}) == "fresh"
    assert resume_state(tmp_path, {**request, "focal_gamma": 1.5}) == "fresh"
    torch.save({"epoch": -1}, tmp_path / "weights" / "last.pt")  # ultralytics' finished run
    assert resume_state(tmp_path, request) == "fresh"  # ... without its best.pt
    (tmp_path / "weights" / "best.pt").touch()
    assert resume_state(tmp_path, request) == "done"
