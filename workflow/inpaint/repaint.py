"""RePaint inpainting (Lugmayr et al. 2022, Algorithm 1 and Section 4), guided and conditioned.

Mask convention, the one place it is written: `known` is a bool tensor (B, 1, H, W), True where
the pixel is known (kept from the image: the paper's m), False where the model inpaints.

States count noise steps over the respaced schedule (see `timetable`): x_t at state t, the
network for the step t -> t - 1 evaluated at respaced index t - 1, whose original timestep is
`d.timestep_map[t - 1]`. Images are float32 in [-1, 1], (B, 3, H, W).

On CUDA the networks run under bf16 autocast (`network_output`): their convolutions and
attention on Tensor Cores, their outputs cast back to float32, while the schedule arithmetic,
the merge, the variance and the noise stay in float32 as on the CPU (where nothing changes).
`prepare_network` puts a U-Net in channels-last memory on CUDA and compiles it on request.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import torch

from workflow.diffusion import gaussian
from workflow.inpaint.timetable import timetable

SAMPLERS = ("repaint", "fast")  # config inpaint.sampler
STEPS = ("ddpm", "ddim")  # reverse step of the unknown region


@dataclasses.dataclass(frozen=True)
class Sampler:
    """respacing = t_T; `step` ddpm: ancestral with learned variance; ddim: deterministic (eta 0)."""

    respacing: int
    jump_length: int
    jump_n_sample: int
    step: str = "ddpm"

    def __post_init__(self):
        if self.step not in STEPS:
            raise ValueError(f"sampler step {self.step!r} is not one of {STEPS}")


@dataclasses.dataclass(frozen=True)
class Guidance:
    """Classifier guidance toward class y (B,) with scale s: classifier(x_t, t) -> logits."""

    classifier: Callable
    y: torch.Tensor
    scale: float


def alpha_bar(d, t: int) -> float:
    """alphabar at state t (1.0 at t = 0, the clean image)."""
    return 1.0 if t == 0 else float(d.alphas_cumprod[t - 1])


def known_part(d, x0: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
    """x_t ~ q(x_t | x_0) = N(sqrt(alphabar_t) x0, (1 - alphabar_t) I) (Algorithm 1, line 5)."""
    a = alpha_bar(d, t)
    return math.sqrt(a) * x0 + math.sqrt(1.0 - a) * noise


def renoise(d, x: torch.Tensor, t: int, t_next: int, noise: torch.Tensor) -> torch.Tensor:
    """x_{t_next} ~ q(x_{t_next} | x_t), t_next > t: the jump back of Section 4 (line 10).

    q(x_s | x_t) = N(sqrt(alphabar_s / alphabar_t) x_t, (1 - alphabar_s / alphabar_t) I).
    """
    ratio = alpha_bar(d, t_next) / alpha_bar(d, t)
    return math.sqrt(ratio) * x + math.sqrt(1.0 - ratio) * noise


def merge(known: torch.Tensor, x_known: torch.Tensor, x_unknown: torch.Tensor) -> torch.Tensor:
    """m * x_known + (1 - m) * x_unknown (Algorithm 1, line 8), exact in the known pixels."""
    return torch.where(known, x_known, x_unknown)


def network_output(network: Callable, *args, **kwargs) -> torch.Tensor:
    """network(*args, **kwargs) in float32; on CUDA computed under bf16 autocast (Tensor Cores),
    on the CPU exactly as called."""
    on_cuda = any(isinstance(a, torch.Tensor) and a.is_cuda for a in args)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_cuda):
        return network(*args, **kwargs).float()


def prepare_network(model: torch.nn.Module, device: str | torch.device, compile: bool = False):
    """The U-Net as the sampler runs it: on CUDA in channels-last memory (the layout of Tensor
    Core convolutions), with `compile` wrapped by torch.compile (compiled at its first call, once
    per batch shape). On the CPU without `compile` the model itself."""
    if torch.device(device).type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if compile else model


def log_prob_gradient(guide: Guidance, x: torch.Tensor, t_orig: torch.Tensor) -> torch.Tensor:
    """grad_x log p(y | x_t), (B, 3, H, W); each image's gradient depends on its own row only."""
    with torch.enable_grad():
        x_in = x.detach().requires_grad_(True)
        log_probs = torch.log_softmax(network_output(guide.classifier, x_in, t_orig), dim=-1)
        chosen = log_probs.gather(1, guide.y.view(-1, 1)).sum()
        return torch.autograd.grad(chosen, x_in)[0]


def _randn(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def unknown_step(
    d, model, x: torch.Tensor, t: int, sampler: Sampler, generator, cond, guide
) -> torch.Tensor:
    """x_{t-1} of the unknown region from p_theta(x_{t-1} | x_t) (Algorithm 1, lines 6-7)."""
    index = torch.full((len(x),), t - 1, dtype=torch.long, device=x.device)
    t_orig = torch.full_like(index, int(d.timestep_map[t - 1]))
    output = network_output(model, x, t_orig, cond=cond)
    out = gaussian.p_mean_variance(d, output, x, index, clip_denoised=True)
    grad = None
    if guide is not None and guide.scale != 0:
        grad = log_prob_gradient(guide, x, t_orig)
    if sampler.step == "ddim":
        return _ddim(d, x, t, out["pred_xstart"], grad, guide)
    mean = out["mean"]
    if grad is not None:
        # Classifier guidance (Dhariwal & Nichol 2021, Algorithm 1): mean + s * Sigma * grad.
        mean = mean + guide.scale * out["variance"] * grad
    if t == 1:
        return mean  # z = 0 at the last step (Algorithm 1, line 6)
    return mean + torch.exp(0.5 * out["log_variance"]) * _randn(x, generator)


def _ddim(d, x, t, pred_xstart, grad, guide) -> torch.Tensor:
    """Deterministic DDIM step (Song et al. 2021, eta = 0), guided through eps (D&N Alg. 2)."""
    a_t, a_prev = alpha_bar(d, t), alpha_bar(d, t - 1)
    eps = (x - math.sqrt(a_t) * pred_xstart) / math.sqrt(1.0 - a_t)
    if grad is not None:
        eps = eps - math.sqrt(1.0 - a_t) * guide.scale * grad
        # Not re-clipped: clipping would cancel the shift of x0 and leave only that of eps.
        pred_xstart = (x - math.sqrt(1.0 - a_t) * eps) / math.sqrt(a_t)
    return math.sqrt(a_prev) * pred_xstart + math.sqrt(1.0 - a_prev) * eps


def reverse_step(d, model, x, t, image, known, sampler, generator, cond=None, guide=None):
    """One RePaint step x_t -> x_{t-1}: both regions end at exactly the noise level of t - 1."""
    x_unknown = unknown_step(d, model, x, t, sampler, generator, cond, guide)
    x_known = known_part(d, image, t - 1, _randn(x, generator))
    return merge(known, x_known, x_unknown)


@torch.no_grad()
def inpaint(
    d,
    model,
    image: torch.Tensor,
    known: torch.Tensor,
    sampler: Sampler,
    generator: torch.Generator,
    cond: Optional[torch.Tensor] = None,
    guide: Optional[Guidance] = None,
) -> torch.Tensor:
    """Inpaint the unknown pixels of `image` (B, 3, H, W) in [-1, 1]; returns (B, 3, H, W).

    `d` is the respaced GaussianDiffusion with sampler.respacing steps; `cond` (B, 1, H, W) in
    [-1, 1] for conditioned models. The known pixels come back bit for bit unchanged.
    """
    _check_inputs(d, image, known, sampler, cond)
    x = _randn(image, generator)  # x_T ~ N(0, I) (Algorithm 1, line 1)
    for t, t_next in timetable(sampler.respacing, sampler.jump_length, sampler.jump_n_sample):
        if t_next < t:
            x = reverse_step(d, model, x, t, image, known, sampler, generator, cond, guide)
        else:
            x = renoise(d, x, t, t_next, _randn(x, generator))
    return merge(known, image, x)  # the final paste


def _check_inputs(d, image, known, sampler, cond) -> None:
    if len(d.timestep_map) != sampler.respacing:
        raise ValueError(
            f"diffusion has {len(d.timestep_map)} steps, sampler respacing is {sampler.respacing}"
        )
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be (B, 3, H, W), got {tuple(image.shape)}")
    expected = (image.shape[0], 1, *image.shape[2:])
    if known.dtype != torch.bool or tuple(known.shape) != expected:
        raise ValueError(f"known must be a bool tensor {expected}, got {known.dtype} {tuple(known.shape)}")
    if cond is not None and tuple(cond.shape) != expected:
        raise ValueError(f"cond must be {expected}, got {tuple(cond.shape)}")
