"""Light condition encoder: an edge (Canny) or mask map steers the U-Net through its first
feature map (method report section D.2; a small zero-initialised branch, not a ControlNet copy).

cond (B, 1, H, W) in [-1, 1] -> a few 3x3 convs at full resolution -> (B, C0, H, W), added to the
output of `input_blocks.0`. The last conv is zero-initialised, so a fresh encoder leaves the
base model's output unchanged and fine-tuning starts from the pretrained function.
"""

from __future__ import annotations

import torch
from torch import nn

from workflow.diffusion.nn import conv3x3, zero_module

CONDITIONS = ("none", "canny", "mask")
CONDITION_CHANNELS = 1


class ConditionEncoder(nn.Module):
    """forward(cond (B, 1, H, W)) -> (B, out_channels, H, W)."""

    def __init__(self, out_channels: int, hidden: tuple[int, ...] = (16, 32)):
        super().__init__()
        layers: list[nn.Module] = []
        channels = CONDITION_CHANNELS
        for width in hidden:
            layers += [conv3x3(channels, width), nn.SiLU()]
            channels = width
        layers.append(zero_module(conv3x3(channels, out_channels)))
        self.layers = nn.Sequential(*layers)

    def forward(self, cond: torch.Tensor) -> torch.Tensor:
        if cond.ndim != 4 or cond.shape[1] != CONDITION_CHANNELS:
            raise ValueError(f"cond must have shape (B, 1, H, W), got {tuple(cond.shape)}")
        return self.layers(cond)


def attach_condition_encoder(model: nn.Module, condition: str) -> ConditionEncoder:
    """Create `model.cond_encoder` (state-dict prefix `cond_encoder.`) for `condition`.

    The model must expose `input_blocks` (whose block 0 is the input conv), `condition` and
    `cond_encoder` attributes, as UNetModel does. Built on the model's device and dtype.
    """
    if condition not in CONDITIONS or condition == "none":
        raise ValueError(f"condition {condition!r}: an encoder is attached for one of {CONDITIONS[1:]}")
    if getattr(model, "cond_encoder", None) is not None:
        raise ValueError(f"the model already has a condition encoder ({model.condition!r})")
    first_conv = model.input_blocks[0][0]
    with torch.device(first_conv.weight.device):
        encoder = ConditionEncoder(first_conv.out_channels).to(first_conv.weight.dtype)
    model.cond_encoder = encoder
    model.condition = condition
    return encoder
