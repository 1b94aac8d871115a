"""The ADM U-Net (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs"), only the network.

`UNetModel(x_t, t, cond=None) -> (B, out_channels, H, W)`. Module and parameter names follow the
guided-diffusion checkpoints key for key (`time_embed.*`, `input_blocks.*`, `middle_block.*`,
`output_blocks.*`, `out.*`), so `256x256_diffusion_uncond.pt` loads strictly. The two optional
extras of this project live under their own prefixes and exist only when requested:
`adapter.*` (time-aware adapter, workflow.diffusion.adapter) and `cond_encoder.*` (condition
encoder, workflow.diffusion.condition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from workflow.diffusion.adapter import attach_adapter
from workflow.diffusion.condition import CONDITIONS, attach_condition_encoder
from workflow.diffusion.nn import (
    Downsample,
    GroupNorm32,
    Upsample,
    conv3x3,
    qkv_attention,
    timestep_embedding,
    zero_module,
)

EXTRA_PREFIXES = ("adapter.", "cond_encoder.")


class ResBlock(nn.Module):
    """Residual block with timestep conditioning: (B, C, H, W), (B, E) -> (B, C', H', W').

    With scale-shift norm the embedding gives (scale, shift), scale first, and
    h = GN(h) * (1 + scale) + shift (AdaGN, ADM paper section 3). With up/down, GN and SiLU run
    first, then both the h path and the skip are resampled, then the first conv.
    """

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, up: bool = False, down: bool = False,
                 use_checkpoint: bool = False, norm_groups: int = 32):
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.use_checkpoint = use_checkpoint
        self.in_layers = nn.Sequential(GroupNorm32(channels, norm_groups), nn.SiLU(), conv3x3(channels, out_channels))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        emb_out = 2 * out_channels if use_scale_shift_norm else out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(
            GroupNorm32(out_channels, norm_groups), nn.SiLU(), nn.Dropout(p=dropout),
            zero_module(conv3x3(out_channels, out_channels)),
        )
        if out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, use_reentrant=False)
        return self._forward(x, emb)

    def _forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.in_layers[:-1](x)
            h, x = self.h_upd(h), self.x_upd(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[..., None, None]  # (B, E', 1, 1)
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Residual spatial self-attention: (B, C, H, W) -> (B, C, H, W), x + proj_out(attn(GN(x))).

    When a time-aware adapter is passed, it acts between the attention operation and proj_out
    (Moon et al. 2022, Fig. 2); `emb` (B, E) is the timestep embedding it needs.
    """

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1,
                 use_new_attention_order: bool = False, use_checkpoint: bool = False, norm_groups: int = 32):
        super().__init__()
        self.channels = channels
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"attention channels {channels} not divisible by head channels {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.legacy_order = not use_new_attention_order
        self.use_checkpoint = use_checkpoint
        self.norm = GroupNorm32(channels, norm_groups)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None, adapter: nn.Module | None = None):
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, adapter, use_reentrant=False)
        return self._forward(x, emb, adapter)

    def _forward(self, x, emb, adapter):
        batch, channels, *spatial = x.shape
        x = x.reshape(batch, channels, -1)  # (B, C, T)
        h = qkv_attention(self.qkv(self.norm(x)), self.num_heads, legacy=self.legacy_order)
        if adapter is not None:
            h = adapter(h, emb)
        h = self.proj_out(h)
        return (x + h).reshape(batch, channels, *spatial)


class TimestepEmbedSequential(nn.Sequential):
    """A sequence of layers that hands the timestep embedding (and adapter) to the layers using it."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor, adapter: nn.Module | None = None):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, AttentionBlock):
                x = layer(x, emb, adapter)
            else:
                x = layer(x)
        return x


def check_family_kwargs(dims: int, use_fp16: bool, num_classes: int | None = None) -> None:
    """Reject guided-diffusion options this reimplementation deliberately leaves out."""
    if dims != 2:
        raise ValueError(f"dims={dims}: only 2-D images are supported")
    if use_fp16:
        raise ValueError("use_fp16=True is not supported: keep float32 weights and use autocast on CUDA")
    if num_classes is not None:
        raise ValueError("num_classes: class-conditional ADM is not supported (use classifier guidance)")


@dataclass(frozen=True)
class BlockFactory:
    """The per-model settings shared by every ResBlock and AttentionBlock of an ADM network."""

    emb_channels: int
    dropout: float
    use_scale_shift_norm: bool
    use_checkpoint: bool
    num_head_channels: int
    use_new_attention_order: bool
    resblock_updown: bool
    conv_resample: bool
    norm_groups: int = 32

    def res(self, channels: int, out_channels: int | None = None, up: bool = False, down: bool = False):
        return ResBlock(channels, self.emb_channels, self.dropout, out_channels, self.use_scale_shift_norm,
                        up=up, down=down, use_checkpoint=self.use_checkpoint, norm_groups=self.norm_groups)

    def attention(self, channels: int, num_heads: int) -> AttentionBlock:
        return AttentionBlock(channels, num_heads, self.num_head_channels, self.use_new_attention_order,
                              self.use_checkpoint, self.norm_groups)

    def down(self, channels: int) -> nn.Module:
        return self.res(channels, down=True) if self.resblock_updown else Downsample(channels, self.conv_resample)

    def up(self, channels: int) -> nn.Module:
        return self.res(channels, up=True) if self.resblock_updown else Upsample(channels, self.conv_resample)


def time_embedding_mlp(model_channels: int) -> nn.Sequential:
    """Linear(mc, 4mc), SiLU, Linear(4mc, 4mc): sinusoid (B, mc) -> emb (B, 4mc)."""
    return nn.Sequential(nn.Linear(model_channels, 4 * model_channels), nn.SiLU(),
                         nn.Linear(4 * model_channels, 4 * model_channels))


def encoder_blocks(make: BlockFactory, in_channels: int, model_channels: int, channel_mult: Sequence[int],
                   num_res_blocks: int, attention_ds: set[int], num_heads: int):
    """The downsampling half: input conv, then per level `num_res_blocks` ResBlocks (+ attention
    where ds is listed) and a down block between levels.
    Returns (blocks, channels of every block's output, final channels, final ds)."""
    ch = int(channel_mult[0] * model_channels)
    blocks = nn.ModuleList([TimestepEmbedSequential(conv3x3(in_channels, ch))])
    skip_channels, ds = [ch], 1
    for level, mult in enumerate(channel_mult):
        for _ in range(num_res_blocks):
            layers: list[nn.Module] = [make.res(ch, int(mult * model_channels))]
            ch = int(mult * model_channels)
            if ds in attention_ds:
                layers.append(make.attention(ch, num_heads))
            blocks.append(TimestepEmbedSequential(*layers))
            skip_channels.append(ch)
        if level != len(channel_mult) - 1:
            blocks.append(TimestepEmbedSequential(make.down(ch)))
            skip_channels.append(ch)
            ds *= 2
    return blocks, skip_channels, ch, ds


def middle_block(make: BlockFactory, ch: int, num_heads: int) -> TimestepEmbedSequential:
    return TimestepEmbedSequential(make.res(ch), make.attention(ch, num_heads), make.res(ch))


def decoder_blocks(make: BlockFactory, ch: int, ds: int, skip_channels: list[int], model_channels: int,
                   channel_mult: Sequence[int], num_res_blocks: int, attention_ds: set[int], num_heads: int):
    """The upsampling half: per level `num_res_blocks + 1` ResBlocks on cat([h, skip]) (+ attention)
    and an up block closing every level but the first. Returns (blocks, final channels)."""
    blocks = nn.ModuleList()
    for level, mult in reversed(list(enumerate(channel_mult))):
        for i in range(num_res_blocks + 1):
            layers = [make.res(ch + skip_channels.pop(), int(model_channels * mult))]
            ch = int(model_channels * mult)
            if ds in attention_ds:
                layers.append(make.attention(ch, num_heads))
            if level and i == num_res_blocks:
                layers.append(make.up(ch))
                ds //= 2
            blocks.append(TimestepEmbedSequential(*layers))
    return blocks, ch


class UNetModel(nn.Module):
    """ADM U-Net. Arguments are guided-diffusion's `UNetModel` arguments (the golden JSON's
    `model_kwargs` pass straight through), plus `condition` (workflow.diffusion.condition.CONDITIONS)
    and `time_adapter` (attach the zero-initialised time-aware adapter).

    attention_resolutions are downsample rates ds (ds = image_size // resolution).
    forward(x (B, in_channels, H, W), timesteps (B,) int64 original timesteps,
            cond (B, 1, H, W) in [-1, 1] or None) -> (B, out_channels, H, W).
    """

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int,
                 num_res_blocks: int, attention_resolutions: Iterable[int], dropout: float = 0.0,
                 channel_mult: Sequence[int] = (1, 2, 4, 8), conv_resample: bool = True, dims: int = 2,
                 num_classes: int | None = None, use_checkpoint: bool = False, use_fp16: bool = False,
                 num_heads: int = 1, num_head_channels: int = -1, num_heads_upsample: int = -1,
                 use_scale_shift_norm: bool = False, resblock_updown: bool = False,
                 use_new_attention_order: bool = False, condition: str = "none", time_adapter: bool = False,
                 norm_groups: int = 32):
        super().__init__()
        check_family_kwargs(dims, use_fp16, num_classes)
        if condition not in CONDITIONS:
            raise ValueError(f"condition {condition!r} is not one of {CONDITIONS}")
        self.image_size, self.in_channels, self.out_channels = image_size, in_channels, out_channels
        self.model_channels, self.time_embed_dim = model_channels, 4 * model_channels
        make = BlockFactory(self.time_embed_dim, dropout, use_scale_shift_norm, use_checkpoint, num_head_channels,
                            use_new_attention_order, resblock_updown, conv_resample, norm_groups)
        attention_ds = set(attention_resolutions)
        heads_up = num_heads if num_heads_upsample == -1 else num_heads_upsample
        self.time_embed = time_embedding_mlp(model_channels)
        self.input_blocks, skips, ch, ds = encoder_blocks(make, in_channels, model_channels, channel_mult,
                                                          num_res_blocks, attention_ds, num_heads)
        self.middle_block = middle_block(make, ch, num_heads)
        self.output_blocks, ch = decoder_blocks(make, ch, ds, skips, model_channels, channel_mult,
                                                num_res_blocks, attention_ds, heads_up)
        self.out = nn.Sequential(GroupNorm32(ch, norm_groups), nn.SiLU(), zero_module(conv3x3(ch, out_channels)))
        self.adapter: nn.Module | None = None
        self.cond_encoder: nn.Module | None = None
        self.condition = "none"
        if condition != "none":
            attach_condition_encoder(self, condition)
        if time_adapter:
            attach_adapter(self)

    def attention_blocks(self) -> list[AttentionBlock]:
        """Every AttentionBlock, in forward order."""
        return [m for m in self.modules() if isinstance(m, AttentionBlock)]

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, cond: torch.Tensor | None = None):
        if timesteps.shape != (x.shape[0],):
            raise ValueError(f"timesteps must have shape ({x.shape[0]},), got {tuple(timesteps.shape)}")
        if (cond is None) != (self.cond_encoder is None):
            raise ValueError(
                f"this model has condition {self.condition!r}: pass cond (B, 1, H, W) exactly when the "
                f"condition is not 'none' (got cond={'None' if cond is None else tuple(cond.shape)})"
            )
        t_emb = timestep_embedding(timesteps, self.model_channels)  # float32, like the checkpoints
        emb = self.time_embed(t_emb.to(self.time_embed[0].weight.dtype))  # (B, 4 * model_channels)
        skips, h = [], x
        for index, module in enumerate(self.input_blocks):
            h = module(h, emb, self.adapter)
            if index == 0 and self.cond_encoder is not None:
                h = h + self.cond_encoder(cond)  # zero-initialised: starts as the base model
            skips.append(h)
        h = self.middle_block(h, emb, self.adapter)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb, self.adapter)
        return self.out(h)


def base_keys(model: nn.Module) -> list[str]:
    """State-dict keys of the checkpoint-compatible network, without the extras' prefixes."""
    return [key for key in model.state_dict() if not key.startswith(EXTRA_PREFIXES)]


def load_base_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], assign: bool = False) -> None:
    """Load a guided-diffusion (or base-model) state dict strictly into the base network.

    Every base key must be present with its shape and no other key may appear; the extras
    (`adapter.*`, `cond_encoder.*`) keep their (zero) initialisation. Raises ValueError listing the
    missing, unexpected and mis-shaped keys.
    """
    own = {key: value for key, value in model.state_dict().items() if not key.startswith(EXTRA_PREFIXES)}
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    mis_shaped = [f"{key}: checkpoint {tuple(state_dict[key].shape)} != model {tuple(own[key].shape)}"
                  for key in own if key in state_dict and state_dict[key].shape != own[key].shape]
    if missing or unexpected or mis_shaped:
        raise ValueError(
            f"state dict does not match the base network: {len(missing)} missing {missing[:5]}, "
            f"{len(unexpected)} unexpected {unexpected[:5]}, {len(mis_shaped)} mis-shaped {mis_shaped[:5]}"
        )
    result = model.load_state_dict(dict(state_dict), strict=False, assign=assign)
    assert not result.unexpected_keys and all(k.startswith(EXTRA_PREFIXES) for k in result.missing_keys)
