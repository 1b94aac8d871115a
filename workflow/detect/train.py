"""Train one ultralytics detector (YOLOv8 or YOLOv5u) for one seed; evaluate it on the test split.

The method report (D.4) trains YOLOv5 with and without focal loss and YOLOv8-m from COCO weights,
five runs each, and reports the plane AP50 and AP50:95 on real test images. Here each run is one
call: train with a pinned optimizer and `deterministic=True`, then evaluate `weights/best.pt` on
the dataset's `test` list and write `metrics.json` beside ultralytics' `results.csv`.

--settings holds what the run learns from (detect.train less the device and the workers, and
focal_alpha only with a focal loss: workflow/detect/params.py); --device and --workers say where
and how it runs, so that the rules can change them without rerunning the training.

Ultralytics must never reach the network: `offline_environment` sets YOLO_OFFLINE and a config
folder holding a font copied from matplotlib before ultralytics is imported.

`detect.train.device` may list GPUs ("0,1,2,3"): ultralytics then trains with its own DDP, in
processes it starts from the trainer's class (pickled with cloudpickle); the rule asks for as
many GPUs as the list names (workflow.core.checks.gpu_count), and the trainer class installs
what this module changes in ultralytics in each of those processes too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from workflow.core import io
from workflow.core.checks import device_ids
from workflow.core.device import pick_device
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.detect.sampling import class_aware_trainer

# arch -> family as reported (the anchor-free `u` variants of YOLOv5 are "YOLOv5u")
ARCHS = {
    "yolov8n": "YOLOv8", "yolov8s": "YOLOv8", "yolov8m": "YOLOv8",
    "yolov5nu": "YOLOv5u", "yolov5su": "YOLOv5u", "yolov5mu": "YOLOv5u",
}
# what metrics.json repeats about the run that made its starting weights
ORIGIN_KEYS = ("arch", "experiment", "data", "seed", "ap50", "ap50_95", "dataset_note")
OPTIMIZERS = ("SGD", "Adam", "AdamW")  # pinned: ultralytics' "auto" picks by iteration count

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The `detect.train` config section (see config/schema.yaml) less `device` and `workers`
    (the command line's --device, --workers); `focal_alpha` is needed only with focal_gamma > 0."""

    epochs: int
    imgsz: int
    batch: int
    optimizer: str
    lr0: float
    nbs: int = 64  # nominal batch: ultralytics accumulates gradients over nbs / batch batches
    lrf: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 0.0005
    warmup_epochs: float = 3.0
    mosaic: float = 1.0
    close_mosaic: int = 10
    flipud: float = 0.0
    freeze: int = 0  # first N layers frozen (0: none)
    patience: int = 100
    val: bool = True  # validate after every epoch (false: never; best.pt is the last epoch)
    focal_gamma: float = 0.0  # 0: ultralytics' BCE; > 0: FocalLoss(gamma, alpha) instead
    focal_alpha: float | None = None
    class_aware: bool = False  # training images drawn by class weights (workflow.detect.sampling)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"config key 'detect.train.optimizer': {self.optimizer!r}; allowed {OPTIMIZERS}")
        if self.focal_gamma < 0:
            raise ValueError(f"config key 'detect.train.focal_gamma': {self.focal_gamma} must be >= 0")
        if not isinstance(self.class_aware, bool):
            raise ValueError(f"config key 'detect.train.class_aware': {self.class_aware!r}; need "
                             "true or false")
        if self.focal_gamma > 0 and self.focal_alpha is None:
            raise ValueError(f"config key 'detect.train.focal_alpha': missing (focal_gamma is "
                             f"{self.focal_gamma}, so the focal loss needs its alpha)")

    def overrides(self) -> dict:
        """Keyword arguments of ultralytics' `train` taken from these settings."""
        skip = {"focal_gamma", "focal_alpha", "class_aware"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


@dataclasses.dataclass(frozen=True)
class Runtime:
    """Where and how a run goes (--device, --workers), not what it learns."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N | GPU ids "0,1" (train_device)
    workers: int = 0  # data-loader processes; 0 loads in the training process


@dataclasses.dataclass(frozen=True)
class DetectSettings:
    """--settings: the training arguments and the target class whose AP is reported (None for
    the pre-training, whose scenes hold no target: metrics.json then gives every class's AP and
    their mean)."""

    train: TrainSettings
    target: str | None


def disable_label_cache() -> None:
    """Keep ultralytics from reading or writing `labels.cache` beside each label folder.

    Those folders belong to the tiling and inpainting stages (a cache written there would change
    their outputs after their rules finished), and trainings running side by side would write
    the same file. The labels are parsed anew by each training instead.
    """
    import ultralytics.data.dataset as dataset

    def no_cache(path):
        raise FileNotFoundError(f"label cache {path} is not used")

    def keep_in_memory(prefix, path, x, version):
        x["version"] = version  # what the labels loader expects of a cache, written or not

    dataset.load_dataset_cache_file = no_cache
    dataset.save_dataset_cache_file = keep_in_memory


def offline_environment(config_dir: str | os.PathLike) -> Path:
    """Point ultralytics at a local config folder with a font; call before importing it.

    Ultralytics downloads Arial.ttf into $YOLO_CONFIG_DIR/Ultralytics when it plots; no network
    here, so matplotlib's DejaVuSans.ttf is copied under that name (plots stay off anyway).
    """
    import matplotlib

    config_dir = Path(config_dir).resolve()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        if not source.exists():
            raise FileNotFoundError(f"no font to copy for ultralytics: {source} is missing")
        with io.atomic_path(font) as tmp:
            shutil.copyfile(source, tmp)
    return font


def focal_loss_class():
    """v8DetectionLoss whose classification term is ultralytics' FocalLoss.

    v8DetectionLoss computes `self.bce(pred_scores, target_scores)` elementwise over
    (B, anchors, nc), sums it and divides by the sum of the target scores. FocalLoss reduces
    with `.mean(1).sum()`, so it is fed (B * anchors * nc, 1) columns: the mean over one column is
    the element itself and the result is the same sum, with each element weighted by
    alpha_t * (1 - p_t) ** gamma (Lin et al. 2017, eq. 5). gamma = alpha = 0 gives the BCE back.
    """
    import torch
    from ultralytics.utils.loss import FocalLoss, v8DetectionLoss

    class ColumnFocal(torch.nn.Module):
        def __init__(self, gamma: float, alpha: float):
            super().__init__()
            self.focal = FocalLoss(gamma=gamma, alpha=alpha)

        def forward(self, pred, label):  # (B, A, nc) logits and soft targets -> () summed loss
            return self.focal(pred.reshape(-1, 1), label.reshape(-1, 1))

    class FocalDetectionLoss(v8DetectionLoss):
        def __init__(self, model, gamma: float, alpha: float):
            super().__init__(model)
            if self.class_weights is not None:
                raise ValueError("focal loss with ultralytics class weights is not supported")
            self.bce = ColumnFocal(gamma, alpha)

    return FocalDetectionLoss


CURVE_FILE = "target_curve.csv"  # in a training's folder: the target's AP at each validation


def target_row(metrics, names: dict[int, str], target: str, epoch: int) -> str:
    """One CURVE_FILE line: epoch (1-based), the target's AP50 and AP50:95 on the val split
    (0 when the target drew no detection there)."""
    index = [int(c) for c in metrics.ap_class_index]
    ids = [k for k, name in names.items() if name == target]
    if ids and ids[0] in index:
        position = index.index(ids[0])
        return f"{epoch},{float(metrics.box.ap50[position]):.6f},{float(metrics.box.ap[position]):.6f}\n"
    return f"{epoch},0.0,0.0\n"


def workflow_trainer(settings: TrainSettings, target: str | None = None):
    """The DetectionTrainer of every training here: no label cache (disable_label_cache), the
    focal criterion when focal_gamma > 0 (installed once the model has its args), class-aware
    sampling with `class_aware` (workflow.detect.sampling), and the target's validation AP
    appended to CURVE_FILE after each validation (the learning curve). All of it happens in the
    trainer class itself, so ultralytics' DDP processes, which rebuild the trainer from its
    class, get it as well."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    gamma, alpha = settings.focal_gamma, settings.focal_alpha
    loss_class = focal_loss_class() if gamma > 0 else None
    base = class_aware_trainer(DetectionTrainer) if settings.class_aware else DetectionTrainer

    class WorkflowTrainer(base):
        def __init__(self, *args, **kwargs):
            disable_label_cache()
            super().__init__(*args, **kwargs)

        def set_model_attributes(self):
            super().set_model_attributes()
            if loss_class is not None:
                # v8DetectionLoss reads model.args (the box/cls/dfl gains), set just above; the EMA
                # copy made later inherits the criterion, and checkpoints strip it.
                self.model.criterion = loss_class(self.model, gamma, alpha)

        def validate(self):
            if not self.args.val:
                # val false: no validation at all, not even after the last epoch (ultralytics'
                # default); best.pt is then the last epoch's weights (fitness None each epoch)
                return dict(self.metrics), None
            metrics, fitness = super().validate()
            if target is not None and metrics is not None:
                curve = Path(self.save_dir) / CURVE_FILE
                if not curve.exists():
                    curve.write_text("epoch,ap50,ap50_95\n")
                with curve.open("a") as handle:
                    handle.write(target_row(self.validator.metrics, self.data["names"], target, self.epoch + 1))
            return metrics, fitness

        def final_eval(self):
            if self.args.val:
                return super().final_eval()
            from ultralytics.utils.torch_utils import strip_optimizer

            for path in (self.last, self.best):  # what the base class does, less its validation
                if path.exists():
                    strip_optimizer(path)

    return WorkflowTrainer


def train_device(requested: str) -> str:
    """ultralytics' `device` for training: one device (workflow.core.device.pick_device), or a
    list of GPU ids for its DDP, each of which this job must see."""
    ids = device_ids("detect.train.device", requested)
    if ids is None:
        return pick_device(requested)
    import torch

    visible = torch.cuda.device_count()
    if max(ids) >= visible:
        raise ValueError(f"config key 'detect.train.device': {requested!r} names GPU {max(ids)}, but this "
                         f"job sees {visible} GPU(s) (CUDA_VISIBLE_DEVICES="
                         f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); a job given n GPUs "
                         "sees them as 0..n-1")
    return ",".join(str(i) for i in ids)


def eval_device(requested: str) -> str:
    """One device for the test evaluation: the first GPU of a device list."""
    ids = device_ids("detect.train.device", requested)
    return pick_device(requested) if ids is None else str(ids[0])


def target_metrics(metrics, names: dict[int, str], target: str | None) -> dict:
    """AP, precision and recall of every class from ultralytics' DetMetrics, the target's
    picked by class index.

    `metrics.box.ap50`, `.ap` and the (classes, 1000) confidence curves `.p_curve`, `.r_curve`,
    `.f1_curve` are ordered like `metrics.ap_class_index` (the classes present in the evaluated
    labels), not by class id. Precision and recall are read at each class's own best-F1
    confidence: ultralytics' `.p` / `.r` sit at one confidence chosen by the F1 averaged over all
    classes, where a rare class often has no detection left (precision 1, recall 0).
    """
    index = [int(c) for c in metrics.ap_class_index]
    box = metrics.box
    per_class = {}
    for position, class_id in enumerate(index):
        best = int(np.argmax(box.f1_curve[position]))
        per_class[names[class_id]] = {
            "ap50": float(box.ap50[position]),
            "ap50_95": float(box.ap[position]),
            "precision": float(box.p_curve[position][best]),
            "recall": float(box.r_curve[position][best]),
            "confidence": float(box.px[best]),
        }
    if target is None:  # a pre-training: the mean over its classes stands for the run
        mean = {key: float(np.mean([c[key] for c in per_class.values()])) for key in ("ap50", "ap50_95")}
        return {"target": None, **mean, "precision": None, "recall": None, "confidence": None,
                "per_class": per_class}
    if target not in per_class:
        raise ValueError(f"the test split holds no {target!r} instance: its AP is undefined "
                         f"(classes present: {sorted(per_class)})")
    return {"target": target, **per_class[target], "per_class": per_class}


REQUEST_FILE = "request.json"  # in a training's folder: everything that shaped the run


def resume_state(out: Path, request: dict) -> str:
    """'resume' a killed run made with this same `request`, 'done' if it finished, else 'fresh'.

    The request (data, seed, arch, starting weights, every training setting, focal loss
    included) is written beside the run when it starts; a run started with anything else is
    redone from the start rather than resumed with its old arguments.
    """
    import torch

    last = out / "weights" / "last.pt"
    saved = out / REQUEST_FILE
    if not (last.exists() and saved.exists()):
        return "fresh"
    if json.loads(saved.read_text()) != json.loads(json.dumps(request, default=str)):
        return "fresh"
    # ultralytics strips finished checkpoints to epoch -1
    if torch.load(last, map_location="cpu", weights_only=False).get("epoch", -1) == -1:
        return "done" if (out / "weights" / "best.pt").exists() else "fresh"
    return "resume"


def start_model(weights: Path, arch: str):
    """The model of a weights file, checked to be `arch`.

    Loaded as is, not into `YOLO(arch.yaml)`: that model has 80 classes, so `.load()` would drop
    the class convolutions of a detector trained on other classes (the trainer then restarts
    them at random).
    """
    from ultralytics import YOLO

    model = YOLO(str(weights))
    built = Path(str(model.model.yaml.get("yaml_file", ""))).stem
    if built != arch:
        raise ValueError(f"--weights {weights} holds a {built or 'unknown'} model, not --arch {arch}")
    return model


def train(data: Path, arch: str, seed: int, settings: TrainSettings, weights: Path | None,
          out: Path, threads: int, runtime: Runtime = Runtime(), target: str | None = None) -> tuple[str, str]:
    """ultralytics training into `out` (weights/best.pt, results.csv); resumes a killed run.

    Returns the class names of the loss and of the training images' sampler the trainer used.
    """
    import ultralytics.utils.torch_utils as torch_utils
    from ultralytics import YOLO

    # select_device() resets torch's threads to os.cpu_count() - 1; keep the scheduler's count
    torch_utils.NUM_THREADS = threads
    device = train_device(runtime.device)
    requested = dict(data=str(data), seed=seed, deterministic=True, project=str(out.parent),
                     name=out.name, exist_ok=True, amp=device != "cpu", device=device,
                     workers=runtime.workers, plots=False, verbose=False, **settings.overrides())
    request = dict(requested, arch=arch, weights=str(weights) if weights else None,
                   focal_gamma=settings.focal_gamma, focal_alpha=settings.focal_alpha,
                   class_aware=settings.class_aware)
    state = resume_state(out, request)
    log.info("training %s seed %d into %s: %s", arch, seed, out, state)
    if state == "done":
        unseen = "not observed: training had finished before this call"
        return unseen, unseen
    trainer = workflow_trainer(settings, target)
    if state == "resume":
        model = YOLO(str(out / "weights" / "last.pt"))
        model.train(resume=True, device=device, trainer=trainer)
    else:
        if out.exists():
            shutil.rmtree(out)
        io.write_json(out / REQUEST_FILE, request)
        model = YOLO(f"{arch}.yaml") if weights is None else start_model(weights, arch)
        model.train(trainer=trainer, **requested)
    criterion = getattr(torch_utils.unwrap_model(model.trainer.model), "criterion", None)
    if criterion is None:  # built in ultralytics' DDP processes, not in this one
        unseen = "not observed: trained by ultralytics' DDP processes"
        return unseen, unseen
    return type(criterion).__name__, type(model.trainer.train_loader.sampler).__name__


def evaluate(data: Path, best: Path, settings: TrainSettings, out: Path,
             runtime: Runtime = Runtime()) -> tuple[object, dict]:
    """Validate `best` on the dataset's `test` list -> (DetMetrics, class names)."""
    from ultralytics import YOLO

    model = YOLO(str(best))
    metrics = model.val(
        data=str(data), split="test", imgsz=settings.imgsz, batch=settings.batch,
        device=eval_device(runtime.device), workers=runtime.workers, plots=False,
        project=str(out), name="test", exist_ok=True, verbose=False,
    )
    return metrics, dict(model.names)


def dataset_note(data: Path) -> str:
    """The `note` of the dataset's manifest.json (workflow.detect.pretrain_data writes one), or ''."""
    manifest = data.parent / "manifest.json"
    return json.loads(manifest.read_text()).get("note", "") if manifest.exists() else ""


def main(argv=None):
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="JSON: {train: detect.train, target}")
    parser.add_argument("--data", required=True, type=Path, help="results/datasets/{experiment}/data.yaml")
    parser.add_argument("--arch", required=True, choices=sorted(ARCHS))
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--experiment", default="", help="recorded in metrics.json")
    parser.add_argument("--weights", type=Path, help="starting weights (.pt); omitted: from scratch")
    parser.add_argument("--weights-meta", type=Path, help="metrics.json of the run that made --weights")
    parser.add_argument("--config-dir", required=True, type=Path, help="YOLO_CONFIG_DIR (under results/)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (detect.train.device)")
    parser.add_argument("--workers", type=int, default=0, help="data-loader processes (detect.train.workers)")
    parser.add_argument("--out", required=True, type=Path, help="results/detect/{arch}/{experiment}/seed{seed}")
    args = parser.parse_args(argv)
    job = read_settings(args.settings, DetectSettings)
    settings, target = job.train, job.target
    if args.workers < 0:
        parser.error(f"--workers {args.workers}: need >= 0")
    runtime = Runtime(args.device, args.workers)
    offline_environment(args.config_dir)
    disable_label_cache()
    import torch

    torch.set_num_threads(args.threads)
    out = args.out.resolve()
    started = time.time()
    criterion, sampler = train(args.data.resolve(), args.arch, args.seed, settings, args.weights, out,
                               args.threads, runtime, target)
    trained = time.time()
    metrics, names = evaluate(args.data.resolve(), out / "weights" / "best.pt", settings, out, runtime)
    result = target_metrics(metrics, names, target)
    origin = json.loads(args.weights_meta.read_text()) if args.weights_meta else None
    loss = "bce" if settings.focal_gamma == 0 else f"focal(gamma={settings.focal_gamma}, alpha={settings.focal_alpha})"
    result.update(
        arch=args.arch, family=ARCHS[args.arch], experiment=args.experiment, seed=args.seed,
        data=str(args.data), dataset_note=dataset_note(args.data),
        weights=str(args.weights) if args.weights else None,
        weights_origin=origin and {k: origin.get(k) for k in ORIGIN_KEYS},
        loss=loss, criterion=criterion, sampler=sampler, settings=dataclasses.asdict(settings),
        threads=args.threads, runtime=dataclasses.asdict(runtime),
        train_seconds=round(trained - started, 1), eval_seconds=round(time.time() - trained, 1),
    )
    io.write_json(out / "metrics.json", result)
    log.info("%s %s seed %d: %s AP50 %.3f AP50:95 %.3f (train %.0f s)", args.arch, args.experiment,
             args.seed, target or "mean over classes", result["ap50"], result["ap50_95"],
             result["train_seconds"])


if __name__ == "__main__":
    main()
