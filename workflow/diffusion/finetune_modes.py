"""Which parameters train in each limited-data fine-tuning mode (Moon et al. 2022; method report C.2).

- `full`: every parameter (naive fine-tuning).
- `attention`: only the AttentionBlocks (their GroupNorm, qkv and proj_out). Residual blocks are
  frozen, and so is everything else of the base network: `time_embed`, the input conv
  (`input_blocks.0`) and the output head (`out`). Moon et al. tune the attention blocks alone;
  keeping the time embedding frozen also keeps the residual blocks' inputs exactly as pretrained.
- `attention_adapter`: `attention` plus the shared time-aware adapter (workflow.diffusion.adapter),
  the only new module that sees the timestep.
A condition encoder, when the model has one, is new and always trains (zero-initialised, so the
frozen base is unchanged at step 0).
"""

from __future__ import annotations

from torch import nn

from workflow.diffusion.unet import AttentionBlock

FINETUNE_MODES = ("full", "attention", "attention_adapter")
ADAPTER_MODES = ("attention_adapter",)


def trainable_names(model: nn.Module, mode: str) -> list[str]:
    """Names (in named_parameters order) of the parameters that train in `mode`; no side effects."""
    if mode not in FINETUNE_MODES:
        raise ValueError(f"fine-tuning mode {mode!r} is not one of {FINETUNE_MODES}")
    has_adapter = getattr(model, "adapter", None) is not None
    if has_adapter != (mode in ADAPTER_MODES) and mode != "full":
        raise ValueError(
            f"fine-tuning mode {mode!r} {'needs' if mode in ADAPTER_MODES else 'must not have'} a "
            f"time-aware adapter; build the model with finetune_mode={mode!r}"
        )
    names = [name for name, _ in model.named_parameters()]
    if mode == "full":
        return names
    prefixes = [f"{name}." for name, module in model.named_modules() if isinstance(module, AttentionBlock)]
    prefixes += ["cond_encoder.", "adapter."]
    return [name for name in names if name.startswith(tuple(prefixes))]


def configure_finetune(model: nn.Module, mode: str) -> list[nn.Parameter]:
    """Set requires_grad for `mode` and return the trainable parameters (give these to the optimizer)."""
    keep = set(trainable_names(model, mode))
    trainable = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in keep)
        if name in keep:
            trainable.append(parameter)
    return trainable


def count_parameters(model: nn.Module, names: list[str] | None = None) -> int:
    """Number of scalars in the named parameters (all of them when `names` is None); meta-safe."""
    selected = None if names is None else set(names)
    return sum(p.numel() for n, p in model.named_parameters() if selected is None or n in selected)
