"""Building blocks of the ADM network family (Dhariwal & Nichol 2021): timestep embedding,
float32 GroupNorm, zero initialisation and the parameter-free resamplers.

Numerical conventions follow the released guided-diffusion checkpoints, because the weights were
trained with them (see shared/reference/adm/README.md, "Implementation details"):
the sinusoidal embedding is built in float32 with cos first, and GroupNorm runs in float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

GROUPNORM_GROUPS = 32
MAX_PERIOD = 10000


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: int = MAX_PERIOD) -> torch.Tensor:
    """Sinusoidal embedding of (B,) timesteps -> (B, dim) float32.

    freqs_j = exp(-ln(max_period) * j / half), j = 0..half-1 (divisor `half`, not half-1), and the
    embedding is [cos(t * freqs), sin(t * freqs)] (cos first), zero-padded when `dim` is odd.
    Always float32, whatever the model dtype: the checkpoints were trained with this rounding, and
    at t ~ 600 the float32 rounding of t * freq is visible in the outputs.
    """
    if timesteps.ndim != 1:
        raise ValueError(f"timesteps must be 1-D (B,), got shape {tuple(timesteps.shape)}")
    half = dim // 2
    exponent = torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    freqs = torch.exp(-math.log(max_period) * exponent)
    args = timesteps.float()[:, None] * freqs[None]  # (B, half)
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


class GroupNorm32(nn.GroupNorm):
    """GroupNorm(32, C), eps 1e-5, affine, computed in float32 (float64 stays float64).

    `groups` (default 32, as every released ADM model) is lowered by the small demo presets: with
    32 groups on 32 channels each group is one channel, the norm is an instance norm, and the
    network cannot see the mean colour of its input (see presets.py, demo32).

    Half-precision inputs are normalised in float32 and cast back, as in the released models.
    """

    def __init__(self, num_channels: int, groups: int = GROUPNORM_GROUPS):
        if num_channels % groups:
            raise ValueError(
                f"GroupNorm32 needs a channel count divisible by {groups} groups, got {num_channels}"
            )
        super().__init__(groups, num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        compute = torch.float64 if x.dtype == torch.float64 else torch.float32
        weight = self.weight.to(compute) if self.weight is not None else None
        bias = self.bias.to(compute) if self.bias is not None else None
        out = F.group_norm(x.to(compute), self.num_groups, weight, bias, self.eps)
        return out.to(x.dtype)


def zero_module(module: nn.Module) -> nn.Module:
    """Set every parameter of `module` to zero and return it (residual branches start as identity)."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    return module


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class Upsample(nn.Module):
    """Nearest-neighbour x2, optionally followed by a 3x3 conv (named `conv`, as in checkpoints).

    (B, C, H, W) -> (B, out_channels, 2H, 2W)
    """

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        self.channels = channels
        out_channels = out_channels or channels
        self.conv = conv3x3(channels, out_channels) if use_conv else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.conv is not None else x


class Downsample(nn.Module):
    """Stride-2 3x3 conv (named `op`) or 2x2 average pooling. (B, C, H, W) -> (B, C', H/2, W/2)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        else:
            if out_channels != channels:
                raise ValueError("average-pool downsampling cannot change the channel count")
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


# Score matrices larger than this many elements are computed in slices of the batch*heads axis,
# so a 256 px model at 32x32 tokens does not allocate one (B*H, 1024, 1024) block at once.
ATTENTION_CHUNK_ELEMENTS = 1 << 26


def qkv_attention(qkv: torch.Tensor, num_heads: int, legacy: bool = True) -> torch.Tensor:
    """Multi-head self-attention on packed q, k, v: (B, 3*H*ch, T) -> (B, H*ch, T).

    `legacy=True` is guided-diffusion's QKVAttentionLegacy layout (every released AttentionBlock):
    the 3C rows are head-major, q/k/v interleaved per head. `legacy=False` is QKVAttention
    (the attention pool): the rows are q | k | v, each split into heads.
    softmax(q k^T / sqrt(ch)) v with q and k each scaled by ch^-1/4 and the softmax in float32.
    On CUDA torch's fused scaled_dot_product_attention is used (same function, other rounding;
    its default scale 1 / sqrt(ch) is the two ch^-1/4), fed (N, T, ch) tensors contiguous in ch,
    which its flash and memory-efficient kernels need (else it falls back to the unfused one).
    """
    batch, width, length = qkv.shape
    if width % (3 * num_heads):
        raise ValueError(f"qkv width {width} is not divisible by 3 * {num_heads} heads")
    ch = width // (3 * num_heads)
    if legacy:
        q, k, v = qkv.reshape(batch * num_heads, 3 * ch, length).split(ch, dim=1)
    else:
        q, k, v = (part.reshape(batch * num_heads, ch, length) for part in qkv.chunk(3, dim=1))
    if qkv.is_cuda:
        q, k, v = (part.transpose(1, 2).contiguous() for part in (q, k, v))  # (N, T, ch)
        out = F.scaled_dot_product_attention(q, k, v)
        return out.transpose(1, 2).reshape(batch, num_heads * ch, length)
    step = max(1, ATTENTION_CHUNK_ELEMENTS // (length * length))
    parts = [_attend(q[i : i + step], k[i : i + step], v[i : i + step]) for i in range(0, q.shape[0], step)]
    out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
    return out.reshape(batch, num_heads * ch, length)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(N, ch, T) each -> (N, ch, T); the explicit path the CPU golden tests check."""
    scale = 1.0 / math.sqrt(math.sqrt(q.shape[1]))
    weight = torch.einsum("nct,ncs->nts", q * scale, k * scale)  # (N, T query, S key)
    compute = torch.float64 if weight.dtype == torch.float64 else torch.float32
    weight = torch.softmax(weight.to(compute), dim=-1).to(weight.dtype)
    return torch.einsum("nts,ncs->nct", weight, v)
