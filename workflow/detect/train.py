"""Train one ultralytics detector (YOLOv8 or YOLOv5u) for one seed; evaluate it on the test split.

The method report (D.4) trains YOLOv5 with and without focal loss and YOLOv8-m from COCO weights,
five runs each, and reports the plane AP50 and AP50:95 on real test images. Here each run is one
call: train with a pinned optimizer and `deterministic=True`, then evaluate `weights/best.pt` on
the dataset's `test` list and write `metrics.json` beside ultralytics' `results.csv`.

--settings holds what the run learns from (detect.train less the device and the workers, and
focal_alpha only with a focal loss: workflow/detect/params.py; workflow.detect.settings); --device
and --workers say where and how it runs (workflow.detect.devices), so that the rules can change
them without rerunning the training.

The pieces: ultralytics kept offline and away from other stages' label folders
(workflow.detect.offline), the trainer class with the focal loss, class-aware sampling and the
learning curve (workflow.detect.trainer), the resume decision (workflow.detect.resume) and the
metrics read from the test evaluation (workflow.detect.metrics).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path

from workflow.core import io
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.detect.budget import budget, list_images
from workflow.detect.devices import eval_device, train_device
from workflow.detect.metrics import target_metrics
from workflow.detect.offline import disable_label_cache, offline_environment
from workflow.detect.resume import REQUEST_FILE, resume_state
from workflow.detect.settings import ARCHS, DetectSettings, Runtime, TrainSettings
from workflow.detect.trainer import workflow_trainer

# what metrics.json repeats about the run that made its starting weights
ORIGIN_KEYS = ("arch", "experiment", "data", "seed", "ap50", "ap50_95", "dataset_note")

log = logging.getLogger(__name__)


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


def training_request(requested: dict, settings: TrainSettings, arch: str, weights: Path | None,
                     epoch_images: int | None) -> dict:
    """What shapes a run (REQUEST_FILE, workflow.detect.resume): ultralytics' arguments and every
    training setting, ours as well (a run made with another ema_decay or focal loss is redone,
    never resumed or kept), the arch, the starting weights and the images per epoch."""
    return {**requested, **dataclasses.asdict(settings), "arch": arch,
            "weights": str(weights) if weights else None, "epoch_images": epoch_images}


def train(data: Path, arch: str, seed: int, settings: TrainSettings, weights: Path | None,
          out: Path, threads: int, runtime: Runtime = Runtime(), target: str | None = None,
          epoch_images: int | None = None) -> tuple[str, str]:
    """ultralytics training into `out` (weights/best.pt, results.csv); resumes a killed run.
    `epoch_images`: the images each epoch shows (None: the training set's own count).

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
    request = training_request(requested, settings, arch, weights, epoch_images)
    state = resume_state(out, request)
    log.info("training %s seed %d into %s: %s", arch, seed, out, state)
    if state == "done":
        unseen = "not observed: training had finished before this call"
        return unseen, unseen
    trainer = workflow_trainer(settings, target, epoch_images)
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
    parser.add_argument("--epoch-data", type=Path, help="with epoch_size baseline: the baseline's "
                        "data.yaml, whose training images set each epoch's size")
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
    if (settings.epoch_size == "baseline") != (args.epoch_data is not None):
        parser.error(f"--epoch-data {args.epoch_data}: needed exactly when detect.train.epoch_size is "
                     f"baseline (here {settings.epoch_size})")
    epoch_images = list_images(args.epoch_data) if args.epoch_data else None
    offline_environment(args.config_dir)
    disable_label_cache()
    import torch

    torch.set_num_threads(args.threads)
    out = args.out.resolve()
    started = time.time()
    criterion, sampler = train(args.data.resolve(), args.arch, args.seed, settings, args.weights, out,
                               args.threads, runtime, target, epoch_images)
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
        budget=budget(list_images(args.data), settings.epochs, settings.batch, settings.nbs, epoch_images),
    )
    io.write_json(out / "metrics.json", result)
    log.info("%s %s seed %d: %s AP50 %.3f AP50:95 %.3f (train %.0f s)", args.arch, args.experiment,
             args.seed, target or "mean over classes", result["ap50"], result["ap50_95"],
             result["train_seconds"])


if __name__ == "__main__":
    main()
