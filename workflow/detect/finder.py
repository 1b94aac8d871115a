"""Does a trained detector find a labelled plane? The rule shared by the synthetic-quality judge
(workflow.report.quality) and the quality gate (workflow.selection.select).

A plane is *found* when a plane prediction at or above a confidence overlaps its label box at
IoU >= 0.5. Predictions come from an ultralytics checkpoint at the image size it trained on.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

IOU_FOUND = 0.5


@dataclasses.dataclass(frozen=True)
class Finder:
    """A detector trained on real images, and the confidence at which it is read."""

    arch: str
    weights: Path
    confidence: float
    imgsz: int


def load_finder(folder: Path, confidence: float | None = None) -> Finder:
    """The detector of a baseline training folder (weights/best.pt and metrics.json), read at
    `confidence`, or without one at its best-F1 plane confidence (on the test split: the judge)."""
    folder = Path(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    if metrics.get("experiment") != "baseline":
        raise ValueError(f"{folder}: the detector must be a baseline training (real images only), "
                         f"got {metrics.get('experiment')!r}")
    read_at = float(metrics["confidence"]) if confidence is None else float(confidence)
    return Finder(metrics["arch"], folder / "weights" / "best.pt", read_at, int(metrics["settings"]["imgsz"]))


def box_iou(box, boxes: np.ndarray) -> np.ndarray:
    """IoU of one pixel box with each of (N, 4) boxes -> (N,)."""
    import torch
    from torchvision.ops import box_iou as iou

    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    return iou(torch.as_tensor([list(map(float, box))], dtype=torch.float64), boxes)[0].numpy()


def match_plane(box, pred_boxes: np.ndarray, pred_confidences: np.ndarray, threshold: float):
    """(found, best IoU, its confidence) of one labelled plane among plane predictions.

    Only predictions with confidence >= threshold count; found when the best of them overlaps the
    box at IoU >= 0.5 (both edges included). No such prediction: (False, 0.0, nan).
    """
    keep = np.asarray(pred_confidences, dtype=np.float64) >= threshold
    if not keep.any():
        return False, 0.0, math.nan
    ious = box_iou(box, np.asarray(pred_boxes)[keep])
    best = int(np.argmax(ious))
    return bool(ious[best] >= IOU_FOUND), float(ious[best]), float(np.asarray(pred_confidences)[keep][best])


def best_overlap_confidence(box, pred_boxes: np.ndarray, pred_confidences: np.ndarray) -> float:
    """The highest confidence among the predictions overlapping `box` at IoU >= 0.5 (0 without
    one): the plane is found at every confidence up to this score."""
    if len(pred_confidences) == 0:
        return 0.0
    overlapping = box_iou(box, pred_boxes) >= IOU_FOUND
    return float(np.asarray(pred_confidences)[overlapping].max()) if overlapping.any() else 0.0


def predict(finder: Finder, images: list, target_id: int, batch: int, device: str):
    """Plane predictions of every image (paths or (H, W, 3) RGB arrays) -> list of ((N, 4) pixel
    boxes, (N,) confidences)."""
    from ultralytics import YOLO

    model = YOLO(str(finder.weights))
    found = []
    for start in range(0, len(images), batch):
        chunk = [image[..., ::-1].copy() if isinstance(image, np.ndarray) else image  # ultralytics reads BGR arrays
                 for image in images[start:start + batch]]
        results = model.predict(chunk, imgsz=finder.imgsz, conf=0.001, device=device, verbose=False)
        for result in results:
            boxes = result.boxes
            plane = boxes.cls.cpu().numpy().astype(int) == target_id
            found.append((boxes.xyxy.cpu().numpy()[plane], boxes.conf.cpu().numpy()[plane]))
    return found
