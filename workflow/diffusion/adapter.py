"""Time-aware adapter for limited-data fine-tuning (Moon et al. 2022, "Fine-tuning Diffusion
Models with Limited Data", the A3FT adapter; method report section C.2, Fig. 8).

Inside every AttentionBlock the adapter acts between the attention operation and its output
projection: z_out = z + s(t) * F(z, t), then proj_out(z_out).
- Time fusion F: a bottleneck MLP over channels whose hidden state also receives the timestep
  embedding: F(z, t) = W_up SiLU(W_down z + W_t SiLU(e_t)).
- Time scaling s(t) = 1 + w_s . SiLU(e_t): one scalar per sample that lets the adapter's weight
  depend on the noise level.
One adapter module is shared by all attention blocks (weight sharing keeps the overhead small).
Blocks of a different width cannot share a (C x d) matrix, so W_down / W_up exist once per
distinct attention width (512 and 1024 in adm256; a single width in the small presets, where
everything is shared); W_t, w_s and the bottleneck are common to all blocks.
W_up and w_s start at zero, so a freshly attached adapter leaves the model's output unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from workflow.diffusion.nn import zero_module


def default_bottleneck(widths: list[int]) -> int:
    """Hidden width d of the fusion MLP: a quarter of the narrowest attention width, at least 8."""
    return max(8, min(widths) // 4)


class TimeAwareAdapter(nn.Module):
    """forward(z (B, C, T), emb (B, E)) -> (B, C, T) for any C in `widths`."""

    def __init__(self, emb_channels: int, widths: list[int], bottleneck: int | None = None):
        super().__init__()
        if not widths:
            raise ValueError("the time-aware adapter needs at least one attention block")
        self.widths = sorted(set(widths))
        self.bottleneck = bottleneck or default_bottleneck(self.widths)
        d = self.bottleneck
        self.time_proj = nn.Linear(emb_channels, d)  # W_t, shared
        self.down = nn.ModuleDict({str(c): nn.Conv1d(c, d, 1) for c in self.widths})  # W_down
        self.up = nn.ModuleDict({str(c): zero_module(nn.Conv1d(d, c, 1)) for c in self.widths})  # W_up
        self.time_scale = zero_module(nn.Linear(emb_channels, 1))  # w_s, shared
        self.act = nn.SiLU()

    def forward(self, z: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if emb is None:
            raise ValueError("the time-aware adapter needs the timestep embedding")
        key = str(z.shape[1])
        if key not in self.down:
            raise ValueError(f"adapter has no projections for width {z.shape[1]}; widths {self.widths}")
        e = self.act(emb).to(z.dtype)  # (B, E)
        hidden = self.down[key](z) + self.time_proj(e)[..., None]  # (B, d, T)
        fused = self.up[key](self.act(hidden))  # (B, C, T)
        scale = 1 + self.time_scale(e)[..., None]  # (B, 1, 1)
        return z + scale * fused


def attach_adapter(model: nn.Module, bottleneck: int | None = None) -> TimeAwareAdapter:
    """Create the shared zero-initialised adapter as `model.adapter` (state-dict prefix `adapter.`).

    Built on the device and dtype of the model's weights (also the meta device). The model must
    expose `attention_blocks()`, `time_embed_dim` and an `adapter` attribute (UNetModel does).
    """
    if getattr(model, "adapter", None) is not None:
        raise ValueError("the model already has a time-aware adapter")
    widths = [block.channels for block in model.attention_blocks()]
    reference = model.time_embed[0].weight
    with torch.device(reference.device):
        adapter = TimeAwareAdapter(model.time_embed_dim, widths, bottleneck).to(reference.dtype)
    model.adapter = adapter
    return adapter
