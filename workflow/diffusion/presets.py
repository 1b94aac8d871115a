"""Named network architectures: the one place that turns `diffusion.preset` into a network.

- `adm256`: the exact constructor arguments of guided-diffusion's `256x256_diffusion_uncond.pt`
  (552,814,086 parameters) and of `256x256_classifier.pt` (54,096,360 parameters with 1000 classes).
- `demo32`, `demo64`: small CPU models of the same family for the demo (32 and 64 px).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from workflow.core.checks import PRESET_IMAGE_SIZES
from workflow.diffusion.classifier import EncoderUNetModel
from workflow.diffusion.condition import CONDITIONS
from workflow.diffusion.finetune_modes import ADAPTER_MODES, FINETUNE_MODES
from workflow.diffusion.unet import UNetModel

_FAMILY = dict(in_channels=3, dropout=0.0, conv_resample=True, dims=2, use_checkpoint=False, use_fp16=False,
               num_heads_upsample=-1, use_scale_shift_norm=True, resblock_updown=True,
               use_new_attention_order=False)

_UNET = {
    # create_model(image_size=256, num_channels=256, num_res_blocks=2, learn_sigma=True,
    # attention_resolutions="32,16,8", num_head_channels=64, ...) as resolved by guided-diffusion.
    "adm256": dict(image_size=PRESET_IMAGE_SIZES["adm256"], model_channels=256, out_channels=6, num_res_blocks=2,
                   attention_resolutions=(8, 16, 32), channel_mult=(1, 1, 2, 2, 4, 4), num_classes=None,
                   num_heads=4, num_head_channels=64, **_FAMILY),
    # Attention at 16 px (32 ch, 2 heads), 8 px and the middle (64 ch, 4 heads). 32 channels (not 64)
    # at 16 px keeps the full-resolution up block cheap: 19 GFLOP per training step at batch 16
    # instead of 33 with channel_mult (1, 2, 2) (see bench/finetune.py and the module docstring).
    # norm_groups 8, not ADM's 32: with 32 groups on 32 channels every GroupNorm is an instance
    # norm, which erases the mean of each feature map; the network then cannot see (or predict)
    # the mean colour of x_t, and every sample keeps the random mean of its starting noise, which
    # sampling amplifies into a flat saturated colour.
    "demo32": dict(image_size=PRESET_IMAGE_SIZES["demo32"], model_channels=32, out_channels=6, num_res_blocks=1,
                   attention_resolutions=(2, 4), channel_mult=(1, 1, 2), num_classes=None,
                   num_heads=1, num_head_channels=16, norm_groups=8, **_FAMILY),
    # The same at 64 px: attention at 16 and 8 px; 73 GFLOP per step at batch 16.
    "demo64": dict(image_size=PRESET_IMAGE_SIZES["demo64"], model_channels=32, out_channels=6, num_res_blocks=1,
                   attention_resolutions=(4, 8), channel_mult=(1, 1, 2, 2), num_classes=None,
                   num_heads=1, num_head_channels=16, norm_groups=8, **_FAMILY),
}

_CLASSIFIER = {
    # create_classifier defaults: width 128, depth 2, attention "32,16,8", 64 head channels.
    "adm256": dict(image_size=PRESET_IMAGE_SIZES["adm256"], model_channels=128, out_channels=1000, num_res_blocks=2,
                   attention_resolutions=(8, 16, 32), channel_mult=(1, 1, 2, 2, 4, 4), num_heads=1,
                   num_head_channels=64, pool="attention", **_FAMILY),
    # The encoder halves of the demo U-Nets.
    "demo32": dict(image_size=PRESET_IMAGE_SIZES["demo32"], model_channels=32, out_channels=11, num_res_blocks=1,
                   attention_resolutions=(2, 4), channel_mult=(1, 1, 2), num_heads=1,
                   num_head_channels=16, pool="attention", norm_groups=8, **_FAMILY),
    "demo64": dict(image_size=PRESET_IMAGE_SIZES["demo64"], model_channels=32, out_channels=11, num_res_blocks=1,
                   attention_resolutions=(4, 8), channel_mult=(1, 1, 2, 2), num_heads=1,
                   num_head_channels=16, pool="attention", norm_groups=8, **_FAMILY),
}

# The presets `diffusion.preset` may name.
CONFIG_PRESETS = tuple(_UNET)


def _lookup(table: dict[str, dict], preset: str, what: str) -> dict[str, Any]:
    if preset not in table:
        raise ValueError(f"unknown {what} preset {preset!r}; allowed: {tuple(table)}")
    return dict(table[preset])


def unet_kwargs(preset: str) -> MappingProxyType:
    """The UNetModel constructor arguments of `preset` (read-only)."""
    return MappingProxyType(_lookup(_UNET, preset, "U-Net"))


def classifier_kwargs(preset: str) -> MappingProxyType:
    """The EncoderUNetModel constructor arguments of `preset` (read-only; out_channels = its default)."""
    return MappingProxyType(_lookup(_CLASSIFIER, preset, "classifier"))


def image_size(preset: str) -> int:
    return _lookup(_UNET, preset, "U-Net")["image_size"]


def build_unet(preset: str, condition: str = "none", finetune_mode: str | None = None) -> UNetModel:
    """The U-Net of `preset`; a condition encoder for condition != 'none'; the zero-initialised
    time-aware adapter when `finetune_mode` is 'attention_adapter'. None means a base model.

    Build under `with torch.device("meta"):` to get shapes without allocating.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"condition {condition!r} is not one of {CONDITIONS}")
    if finetune_mode is not None and finetune_mode not in FINETUNE_MODES:
        raise ValueError(f"finetune_mode {finetune_mode!r} is not one of {FINETUNE_MODES} (or None)")
    kwargs = _lookup(_UNET, preset, "U-Net")
    return UNetModel(**kwargs, condition=condition, time_adapter=finetune_mode in ADAPTER_MODES)


def build_classifier(preset: str, num_classes: int) -> EncoderUNetModel:
    """The noisy classifier of `preset` with `num_classes` outputs (1000 for the released 256 model)."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    kwargs = _lookup(_CLASSIFIER, preset, "classifier")
    kwargs["out_channels"] = num_classes
    return EncoderUNetModel(**kwargs)
