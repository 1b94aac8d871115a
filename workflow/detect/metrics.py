"""What metrics.json reports of a test evaluation: the AP, precision and recall of every class
from ultralytics' DetMetrics, the target's picked by class index (`target_metrics`).
"""

from __future__ import annotations

import numpy as np


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
