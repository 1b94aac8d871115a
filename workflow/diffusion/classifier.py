"""The noisy-image classifier of guided-diffusion: the encoder half of the ADM U-Net followed by
an attention pool (Dhariwal & Nichol 2021, section 4 "classifier guidance").

`EncoderUNetModel(x_t, t) -> logits (B, out_channels)`; parameter names match the released
`256x256_classifier.pt` key for key.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

from workflow.diffusion.nn import GroupNorm32, qkv_attention, timestep_embedding
from workflow.diffusion.unet import (
    BlockFactory,
    check_family_kwargs,
    encoder_blocks,
    middle_block,
    time_embedding_mlp,
)


class AttentionPool2d(nn.Module):
    """Attention pooling (CLIP style): (B, C, H, W) -> (B, output_dim).

    The spatial mean is prepended as token 0, a learned positional embedding (C, HW + 1) is added,
    multi-head attention runs with the q | k | v row layout (always the new order here), and
    token 0 after `c_proj` is the output.
    """

    def __init__(self, spatial_dim: int, embed_dim: int, num_head_channels: int, output_dim: int):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.empty(embed_dim, spatial_dim**2 + 1))
        if not self.positional_embedding.is_meta:  # meta tensors have no values (and the op imports sympy)
            nn.init.normal_(self.positional_embedding, std=embed_dim**-0.5)  # N(0, 1/C), as released
        self.qkv_proj = nn.Conv1d(embed_dim, 3 * embed_dim, 1)
        self.c_proj = nn.Conv1d(embed_dim, output_dim, 1)
        self.num_heads = embed_dim // num_head_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[:2]
        x = x.reshape(batch, channels, -1)  # (B, C, HW)
        x = torch.cat([x.mean(dim=-1, keepdim=True), x], dim=-1)  # (B, C, HW + 1), mean first
        x = x + self.positional_embedding[None].to(x.dtype)
        x = qkv_attention(self.qkv_proj(x), self.num_heads, legacy=False)
        return self.c_proj(x)[:, :, 0]


class EncoderUNetModel(nn.Module):
    """Arguments are guided-diffusion's `EncoderUNetModel` arguments; only pool='attention'.

    forward(x (B, in_channels, H, W), timesteps (B,) original timesteps) -> (B, out_channels) logits.
    """

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int,
                 num_res_blocks: int, attention_resolutions: Iterable[int], dropout: float = 0.0,
                 channel_mult: Sequence[int] = (1, 2, 4, 8), conv_resample: bool = True, dims: int = 2,
                 use_checkpoint: bool = False, use_fp16: bool = False, num_heads: int = 1,
                 num_head_channels: int = -1, num_heads_upsample: int = -1, use_scale_shift_norm: bool = False,
                 resblock_updown: bool = False, use_new_attention_order: bool = False, pool: str = "attention",
                 norm_groups: int = 32):
        super().__init__()
        check_family_kwargs(dims, use_fp16)
        if pool != "attention":
            raise ValueError(f"pool={pool!r}: only 'attention' (the released classifiers' pool) is supported")
        if num_head_channels == -1:
            raise ValueError("the attention pool needs num_head_channels (heads = channels // num_head_channels)")
        self.model_channels, self.time_embed_dim = model_channels, 4 * model_channels
        make = BlockFactory(self.time_embed_dim, dropout, use_scale_shift_norm, use_checkpoint, num_head_channels,
                            use_new_attention_order, resblock_updown, conv_resample, norm_groups)
        self.time_embed = time_embedding_mlp(model_channels)
        self.input_blocks, _, ch, ds = encoder_blocks(make, in_channels, model_channels, channel_mult,
                                                      num_res_blocks, set(attention_resolutions), num_heads)
        self.middle_block = middle_block(make, ch, num_heads)
        self.out = nn.Sequential(
            GroupNorm32(ch, norm_groups), nn.SiLU(), AttentionPool2d(image_size // ds, ch, num_head_channels, out_channels),
        )

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        if timesteps.shape != (x.shape[0],):
            raise ValueError(f"timesteps must have shape ({x.shape[0]},), got {tuple(timesteps.shape)}")
        t_emb = timestep_embedding(timesteps, self.model_channels)
        emb = self.time_embed(t_emb.to(self.time_embed[0].weight.dtype))  # (B, 4 * model_channels)
        h = x
        for module in self.input_blocks:
            h = module(h, emb)
        h = self.middle_block(h, emb)
        return self.out(h)
