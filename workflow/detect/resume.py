"""Resuming a killed training: the request that shaped a run (REQUEST_FILE, written beside it
when it starts) decides whether its last checkpoint is resumed, taken as finished, or redone.
"""

from __future__ import annotations

import json
from pathlib import Path


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
