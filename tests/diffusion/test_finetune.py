"""Limited-data fine-tuning: the zero-initialised adapter and condition encoder start as the base
model, training moves them, and the frozen parameters of each mode stay put."""

from __future__ import annotations

import pytest
import torch
import yaml

from tests.helpers import REPO
from tests.helpers.diffusion_fixtures import fill_weights, golden_input
from workflow.diffusion.adapter import attach_adapter
from workflow.diffusion.condition import CONDITIONS, attach_condition_encoder
from workflow.diffusion.finetune_modes import (
    FINETUNE_MODES,
    configure_finetune,
    count_parameters,
    trainable_names,
)
from workflow.diffusion.presets import CONFIG_PRESETS, build_unet
from workflow.diffusion.unet import AttentionBlock, base_keys, load_base_state_dict

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def filled_base(amplitude: float = 0.3) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_unet("demo32")
    fill_weights(model, amplitude)
    return model.eval()


def edge_map(batch: int = 2, size: int = 32) -> torch.Tensor:
    """A deterministic (B, 1, H, W) map in [-1, 1]."""
    grid = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    return torch.sin(0.3 * grid).sign().expand(batch, 1, size, size).contiguous()


def test_zero_initialised_extras_leave_the_output_unchanged():
    model = filled_base()
    x, t = golden_input()
    with torch.no_grad():
        base = model(x, t)
        attach_adapter(model)
        attach_condition_encoder(model, "canny")
        extended = model(x, t, edge_map())
    assert torch.equal(base, extended)
    assert base_keys(model) == [k for k in model.state_dict() if not k.startswith(("adapter.", "cond_encoder."))]


def test_base_checkpoint_loads_into_a_model_with_extras():
    base = filled_base()
    model = build_unet("demo32", condition="mask", finetune_mode="attention_adapter")
    load_base_state_dict(model, base.state_dict())
    x, t = golden_input()
    with torch.no_grad():
        assert torch.equal(base(x, t), model.eval()(x, t, edge_map()))


def one_step(model: torch.nn.Module, mode: str, cond: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """One Adam step on a regression target; returns the parameters before the step."""
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = torch.optim.Adam(configure_finetune(model, mode), lr=1e-3)
    x, t = golden_input()
    loss = (model.train()(x, t, cond) - 0.1).square().mean()
    loss.backward()
    optimizer.step()
    return before


@pytest.mark.parametrize("mode,condition", [("attention_adapter", "canny"), ("attention", "mask"),
                                            ("full", "none")])
def test_one_step_moves_trainable_and_keeps_frozen(mode, condition):
    base = filled_base()
    model = build_unet("demo32", condition=condition, finetune_mode=mode)
    load_base_state_dict(model, base.state_dict())
    cond = None if condition == "none" else edge_map()
    x, t = golden_input()
    with torch.no_grad():
        start = model.eval()(x, t, cond)
    before = one_step(model, mode, cond)
    trainable = set(trainable_names(model, mode))
    for name, parameter in model.named_parameters():
        if name not in trainable:
            assert torch.equal(parameter, before[name]), f"{name} is frozen in {mode} but changed"
    for name in ("out.2.weight", "input_blocks.3.1.qkv.weight", "middle_block.1.proj_out.weight"):
        changed = not torch.equal(model.get_parameter(name), before[name])
        assert changed == (name in trainable), name
    extras = [n for n in trainable if n.startswith(("adapter.up.", "cond_encoder.layers.4."))]
    assert all(not torch.equal(model.get_parameter(n), before[n]) for n in extras)
    with torch.no_grad():
        assert not torch.allclose(model.eval()(x, t, cond), start, rtol=0, atol=1e-6)


def test_attention_mode_trains_exactly_the_attention_blocks():
    model = build_unet("demo32", condition="canny", finetune_mode="attention_adapter")
    attention = {f"{m}.{p}" for m, module in model.named_modules() if isinstance(module, AttentionBlock)
                 for p, _ in module.named_parameters()}
    extras = {n for n, _ in model.named_parameters() if n.startswith(("adapter.", "cond_encoder."))}
    assert set(trainable_names(model, "attention_adapter")) == attention | extras
    assert len(attention) == 7 * 6  # 2 down, 1 middle, 4 up blocks: norm, qkv, proj_out (w, b)
    assert not any(n.startswith(("time_embed.", "input_blocks.0.", "out.")) for n in attention)
    assert count_parameters(model, trainable_names(model, "full")) == count_parameters(model)


def test_mode_and_adapter_must_agree():
    with pytest.raises(ValueError, match="needs a time-aware adapter"):
        trainable_names(build_unet("demo32"), "attention_adapter")
    with pytest.raises(ValueError, match="must not have"):
        trainable_names(build_unet("demo32", finetune_mode="attention_adapter"), "attention")
    with pytest.raises(ValueError, match="not one of"):
        build_unet("demo32", finetune_mode="lora")
    with pytest.raises(ValueError, match="condition"):
        build_unet("demo32", condition="depth")


def test_cond_must_match_the_model():
    model = build_unet("demo32", condition="canny")
    x, t = golden_input()
    with pytest.raises(ValueError, match="pass cond"):
        model(x, t)
    with pytest.raises(ValueError, match="pass cond"):
        build_unet("demo32")(x, t, edge_map())


def test_adapter_is_one_shared_module():
    with torch.device("meta"):
        model = build_unet("adm256", finetune_mode="attention_adapter")
    adapter_params = [n for n, _ in model.named_parameters() if "adapter" in n]
    assert all(n.startswith("adapter.") for n in adapter_params)
    assert sorted(model.adapter.down) == ["1024", "512"]  # one projection pair per attention width


def schema_enum(*path: str):
    node = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    for key in path:
        node = (node.get("properties") or {}).get(key) if key != "*" else node.get("additionalProperties")
        if node is None:
            return None
    return node.get("enum")


@pytest.mark.parametrize("path,allowed", [
    (("diffusion", "preset"), CONFIG_PRESETS),
    (("diffusion", "finetune", "mode"), FINETUNE_MODES),
    (("diffusion", "models", "*"), CONDITIONS),
])
def test_schema_enums_match_the_code(path, allowed):
    enum = schema_enum(*path)
    assert enum is not None, f"config/schema.yaml has no enum at {'.'.join(path)}; allowed: {allowed}"
    assert tuple(enum) == tuple(allowed)
