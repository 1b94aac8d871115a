"""The demo's committed starting points (resources/demo_weights/): they load through the same
paths as a user's checkpoints, carry their provenance, and stay under 20 MB."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from tests.helpers import REPO

WEIGHTS = REPO / "resources" / "demo_weights"
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_the_demo_config_points_at_the_committed_files():
    assert CONFIG["diffusion"]["pretrained"] == "resources/demo_weights/demo32_base.pt"
    assert CONFIG["detect"]["start"] == "weights"
    for arch in CONFIG["detect"]["archs"]:
        assert CONFIG["detect"]["weights"][arch] == f"resources/demo_weights/{arch}.pt"
    for name in ["demo32_base.pt", *(f"{arch}.pt" for arch in CONFIG["detect"]["archs"])]:
        assert (WEIGHTS / name).stat().st_size <= 20 * 2**20, name


def test_base_loads_strictly_into_every_fine_tuned_model_and_records_its_making():
    from workflow.diffusion.checkpoint import init_from_base, load
    from workflow.diffusion.presets import build_unet

    path = WEIGHTS / "demo32_base.pt"
    for condition in ("none", "canny", "mask"):
        model = build_unet("demo32", condition=condition, finetune_mode="attention_adapter")
        init_from_base(model, path, "demo32")
    saved = load(path)
    provenance = json.loads(saved["provenance"])
    assert provenance["target"] == "results/diffusion/base/model.pt"
    assert provenance["scene_seed"] not in (CONFIG["data"]["demo"]["seed"],)
    assert saved["arch"]["preset"] == "demo32" and saved["step"] == saved["config"]["pretrain"]["iterations"]


@pytest.mark.parametrize("arch", CONFIG["detect"]["archs"])
def test_detector_weights_are_their_arch_and_record_their_making(arch, tmp_path, monkeypatch):
    from workflow.detect.offline import offline_environment
    from workflow.detect.train import start_model

    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path))
    offline_environment(tmp_path)
    model = start_model(WEIGHTS / f"{arch}.pt", arch)
    assert list(model.names.values()) == CONFIG["classes"]["names"]
    saved = torch.load(WEIGHTS / f"{arch}.pt", map_location="cpu", weights_only=False)
    provenance = json.loads(saved["provenance"])
    assert provenance["target"] == f"results/detect/pretrain/{arch}/weights/best.pt"
    assert provenance["scene_seed"] == CONFIG["detect"]["pretrain"]["scenes"]["seed"] != CONFIG["data"]["demo"]["seed"]


def test_a_base_trained_for_another_schedule_is_refused():
    from workflow.diffusion.checkpoint import init_from_base
    from workflow.diffusion.presets import build_unet

    model = build_unet("demo32", condition="canny", finetune_mode="full")
    init_from_base(model, WEIGHTS / "demo32_base.pt", "demo32", {"schedule": "linear", "steps": 1000})
    with pytest.raises(ValueError, match="trained for .*'linear'.*diffusion.schedule and diffusion.steps are"):
        init_from_base(model, WEIGHTS / "demo32_base.pt", "demo32", {"schedule": "cosine", "steps": 1000})
