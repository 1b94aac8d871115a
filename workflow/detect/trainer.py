"""The DetectionTrainer of every training here (`workflow_trainer`): no label cache, the focal
criterion (`focal_loss_class`), each epoch's draw of training images (workflow.detect.sampling),
the weights' moving average at the configured decay (`ema_decay`) and the target's validation AP
after each epoch (CURVE_FILE, `target_row`: the learning curve).

`detect.train.device` may list GPUs ("0,1,2,3"): ultralytics then trains with its own DDP, in
processes it starts from the trainer's class (pickled with cloudpickle), so everything this
module changes in ultralytics is installed by the trainer class itself.
"""

from __future__ import annotations

import math
from pathlib import Path

from workflow.detect.offline import disable_label_cache
from workflow.detect.sampling import epoch_trainer
from workflow.detect.settings import TrainSettings


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


def ema_decay(decay: float, tau: float):
    """The decay of the weights' moving average at optimizer step k, decay * (1 - exp(-k / tau)):
    ultralytics' ModelEMA form, whose own 0.9999 and 2000 steps average nothing in a training of a
    few hundred steps (at step 180 its decay is 0.09, so the saved weights are the last step's)."""

    def at(updates: int) -> float:
        return decay * (1 - math.exp(-updates / tau))

    return at


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


def workflow_trainer(settings: TrainSettings, target: str | None = None, epoch_images: int | None = None):
    """The DetectionTrainer of every training here: no label cache (disable_label_cache), the
    focal criterion when focal_gamma > 0 (installed once the model has its args), the training
    images drawn by workflow.detect.sampling when sampling class-aware or in epochs of
    `epoch_images` images (else ultralytics' shuffled loader), the moving average of the weights
    at settings.ema_decay and ema_tau (set at every epoch's start, so that a resumed run or
    ultralytics' NaN recovery, which rebuild the average, keep it), and the target's validation AP
    appended to CURVE_FILE after each validation (the learning curve). All of it happens in the
    trainer class itself, so ultralytics' DDP processes, which rebuild the trainer from its
    class, get it as well."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    gamma, alpha = settings.focal_gamma, settings.focal_alpha
    decay = ema_decay(settings.ema_decay, settings.ema_tau)

    def set_ema_decay(trainer):
        if trainer.ema is not None:
            trainer.ema.decay = decay

    loss_class = focal_loss_class() if gamma > 0 else None
    base = DetectionTrainer
    if settings.class_aware or epoch_images is not None:
        base = epoch_trainer(DetectionTrainer, settings.class_aware, epoch_images)

    class WorkflowTrainer(base):
        def __init__(self, *args, **kwargs):
            disable_label_cache()
            super().__init__(*args, **kwargs)
            self.add_callback("on_train_epoch_start", set_ema_decay)

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
