"""Where a detector trains and is evaluated: `detect.train.device` (--device) as ultralytics'
`device`, one device or the GPU ids of its DDP (workflow.core.checks.device_ids).
"""

from __future__ import annotations

import os

from workflow.core.checks import device_ids
from workflow.core.device import pick_device


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
