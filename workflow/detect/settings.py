"""The settings of a detector training: what `--settings` holds (DetectSettings: the
`detect.train` arguments and the target) and where and how the run goes (Runtime: --device,
--workers), with the allowed archs and optimizers.
"""

from __future__ import annotations

import dataclasses

# arch -> family as reported (the anchor-free `u` variants of YOLOv5 are "YOLOv5u")
ARCHS = {
    "yolov8n": "YOLOv8", "yolov8s": "YOLOv8", "yolov8m": "YOLOv8",
    "yolov5nu": "YOLOv5u", "yolov5su": "YOLOv5u", "yolov5mu": "YOLOv5u",
}
OPTIMIZERS = ("SGD", "Adam", "AdamW")  # pinned: ultralytics' "auto" picks by iteration count
# dataset: an epoch shows the training's own images once (the method report's protocol);
# baseline: as many images as the baseline's training split holds (equal steps across a sweep)
EPOCH_SIZES = ("dataset", "baseline")


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The `detect.train` config section (see config/schema.yaml, which requires every key) less
    `device` and `workers` (the command line's --device, --workers); `focal_alpha` is passed and
    needed only with focal_gamma > 0."""

    epochs: int
    imgsz: int
    batch: int
    nbs: int  # nominal batch: ultralytics accumulates gradients over nbs / batch batches
    optimizer: str
    lr0: float
    lrf: float
    momentum: float
    weight_decay: float
    warmup_epochs: float
    mosaic: float
    close_mosaic: int
    flipud: float
    freeze: int  # first N layers frozen (0: none)
    patience: int
    val: bool  # validate after every epoch (false: never; best.pt is the last epoch)
    focal_gamma: float  # 0: ultralytics' BCE; > 0: FocalLoss(gamma, alpha) instead
    class_aware: bool  # training images drawn by class weights (workflow.detect.sampling)
    epoch_size: str  # EPOCH_SIZES: what one epoch shows (workflow.detect.sampling)
    # The weights' exponential moving average, which best.pt and last.pt hold: at optimizer step
    # k its decay is ema_decay * (1 - exp(-k / ema_tau)) (ultralytics' ModelEMA: 0.9999, 2000)
    ema_decay: float
    ema_tau: float
    focal_alpha: float | None = None  # passed only with focal_gamma > 0 (workflow/detect/params.py)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"config key 'detect.train.optimizer': {self.optimizer!r}; allowed {OPTIMIZERS}")
        if self.focal_gamma < 0:
            raise ValueError(f"config key 'detect.train.focal_gamma': {self.focal_gamma} must be >= 0")
        if not isinstance(self.class_aware, bool):
            raise ValueError(f"config key 'detect.train.class_aware': {self.class_aware!r}; need "
                             "true or false")
        if self.epoch_size not in EPOCH_SIZES:
            raise ValueError(f"config key 'detect.train.epoch_size': {self.epoch_size!r}; allowed {EPOCH_SIZES}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"config key 'detect.train.ema_decay': {self.ema_decay}; need 0 <= decay < 1")
        if not self.ema_tau > 0:
            raise ValueError(f"config key 'detect.train.ema_tau': {self.ema_tau}; need > 0 (optimizer steps)")
        if self.focal_gamma > 0 and self.focal_alpha is None:
            raise ValueError(f"config key 'detect.train.focal_alpha': missing (focal_gamma is "
                             f"{self.focal_gamma}, so the focal loss needs its alpha)")

    def overrides(self) -> dict:
        """Keyword arguments of ultralytics' `train` taken from these settings."""
        skip = {"focal_gamma", "focal_alpha", "class_aware", "epoch_size", "ema_decay", "ema_tau"}
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
