"""The Gaussian diffusion process: schedules, q-sample, posterior, learned-range variance, DDPM.

Ho et al. 2020 (DDPM) with the learned variance of Nichol & Dhariwal 2021 (IDDPM). The process is
a frozen dataclass of float64 numpy arrays; every operation is a pure function taking it first.
The network is passed in as a callable and knows nothing about betas.

Timesteps `t` given to these functions index the (possibly respaced) arrays. The network was
trained on the original 0..T-1 timesteps, so callers map `t` through `d.timestep_map`
(`model_timesteps`) before calling it; `ddpm_sample` does this itself.

Network output convention (guided-diffusion checkpoints): (B, 6, H, W) = eps (3 channels) then
v (3 channels) in [-1, 1]; the fraction f = (v + 1) / 2 interpolates the log variance between the
posterior variance (f = 0) and beta_t (f = 1), IDDPM eq. 15.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
import torch

SCHEDULES = ("linear", "cosine")

# The network: (x_t (B, C, H, W), t (B,) original timesteps, cond) -> (B, 2C, H, W).
Model = Callable[..., torch.Tensor]


def linear_betas(steps: int) -> np.ndarray:
    """DDPM's linear schedule, 1e-4 .. 0.02 for 1000 steps, scaled so that other step counts
    keep the same total noise (IDDPM section 2.2) -> (steps,) float64."""
    scale = 1000.0 / steps
    return np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)


def cosine_betas(steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """IDDPM eq. 17: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), betas clipped at 0.999
    to avoid the singularity at t = T -> (steps,) float64."""

    def alpha_bar(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), max_beta) for i in range(steps)]
    return np.array(betas, dtype=np.float64)


def make_betas(schedule: str, steps: int) -> np.ndarray:
    if schedule not in SCHEDULES:
        raise ValueError(f"diffusion schedule {schedule!r} is not one of {list(SCHEDULES)}")
    if steps < 1:
        raise ValueError(f"diffusion steps must be >= 1, got {steps}")
    return linear_betas(steps) if schedule == "linear" else cosine_betas(steps)


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianDiffusion:
    """Derived arrays of one (possibly respaced) process, all float64 of shape (T,)."""

    betas: np.ndarray
    alphas_cumprod: np.ndarray
    alphas_cumprod_prev: np.ndarray
    sqrt_alphas_cumprod: np.ndarray
    sqrt_one_minus_alphas_cumprod: np.ndarray
    sqrt_recip_alphas_cumprod: np.ndarray
    sqrt_recipm1_alphas_cumprod: np.ndarray
    posterior_variance: np.ndarray
    posterior_log_variance_clipped: np.ndarray
    posterior_mean_coef1: np.ndarray
    posterior_mean_coef2: np.ndarray
    timestep_map: np.ndarray  # (T,) int64: respaced index -> original timestep

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)


def diffusion_from_betas(betas: np.ndarray, timestep_map: np.ndarray | None = None) -> GaussianDiffusion:
    """All derived arrays of DDPM eqs. 4, 6 and 7 from (T,) betas."""
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or not np.all((betas > 0) & (betas <= 1)):
        raise ValueError("betas must be a 1-D array with values in (0, 1]")
    alphas_cumprod = np.cumprod(1.0 - betas)
    prev = np.append(1.0, alphas_cumprod[:-1])
    # Posterior q(x_{t-1} | x_t, x_0), DDPM eq. 7: beta~_t and the two mean coefficients.
    posterior_variance = betas * (1.0 - prev) / (1.0 - alphas_cumprod)
    # beta~_0 is 0: the log is clipped to beta~_1 there (the value is never used for sampling).
    if len(betas) > 1:
        clipped = np.log(np.append(posterior_variance[1], posterior_variance[1:]))
    else:
        clipped = np.log(betas)
    if timestep_map is None:
        timestep_map = np.arange(len(betas), dtype=np.int64)
    arrays = dict(
        betas=betas,
        alphas_cumprod=alphas_cumprod,
        alphas_cumprod_prev=prev,
        sqrt_alphas_cumprod=np.sqrt(alphas_cumprod),
        sqrt_one_minus_alphas_cumprod=np.sqrt(1.0 - alphas_cumprod),
        sqrt_recip_alphas_cumprod=np.sqrt(1.0 / alphas_cumprod),
        sqrt_recipm1_alphas_cumprod=np.sqrt(1.0 / alphas_cumprod - 1.0),
        posterior_variance=posterior_variance,
        posterior_log_variance_clipped=clipped,
        posterior_mean_coef1=betas * np.sqrt(prev) / (1.0 - alphas_cumprod),
        posterior_mean_coef2=(1.0 - prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod),
        timestep_map=np.asarray(timestep_map, dtype=np.int64),
    )
    for array in arrays.values():
        array.setflags(write=False)
    return GaussianDiffusion(**arrays)


def respaced_timesteps(steps: int, respacing: int | Sequence[int]) -> np.ndarray:
    """Original timesteps kept by a respacing -> sorted (K,) int64.

    An int K keeps K timesteps evenly spread over 0..steps-1, both ends included; a sequence is
    taken as the explicit list of kept timesteps.
    """
    if isinstance(respacing, (int, np.integer)):
        if not 1 <= respacing <= steps:
            raise ValueError(f"respacing must be between 1 and {steps} steps, got {respacing}")
        if respacing == 1:
            return np.array([0], dtype=np.int64)
        kept = np.round(np.linspace(0, steps - 1, int(respacing))).astype(np.int64)
    else:
        kept = np.array(sorted(set(int(t) for t in respacing)), dtype=np.int64)
        if len(kept) == 0 or kept[0] < 0 or kept[-1] >= steps:
            raise ValueError(f"respacing timesteps must lie in 0..{steps - 1}, got {list(respacing)}")
    if len(np.unique(kept)) != len(kept):
        raise ValueError(f"respacing {respacing} repeats timesteps for {steps} steps")
    return kept


def make_diffusion(
    schedule: str, steps: int, respacing: int | Sequence[int] | None = None
) -> GaussianDiffusion:
    """The process of `steps` training steps, optionally respaced to fewer sampling steps.

    Respacing keeps alphas_cumprod at the kept timesteps and recomputes betas from consecutive
    kept values (IDDPM section 4: beta_i = 1 - alpha_bar_{S_i} / alpha_bar_{S_{i-1}}).
    """
    base = diffusion_from_betas(make_betas(schedule, steps))
    if respacing is None:
        return base
    kept = respaced_timesteps(steps, respacing)
    kept_cumprod = base.alphas_cumprod[kept]
    betas = 1.0 - kept_cumprod / np.append(1.0, kept_cumprod[:-1])
    return diffusion_from_betas(betas, timestep_map=kept)


def extract(array: np.ndarray, t: torch.Tensor, shape: torch.Size, dtype=torch.float32) -> torch.Tensor:
    """array[t] (float64 lookup, then cast) broadcast to `shape` (B, 1, 1, ...) on t's device."""
    values = torch.from_numpy(np.asarray(array)[t.detach().cpu().numpy()]).to(device=t.device, dtype=dtype)
    return values.reshape(-1, *([1] * (len(shape) - 1)))


def model_timesteps(d: GaussianDiffusion, t: torch.Tensor) -> torch.Tensor:
    """Respaced indices (B,) -> the original timesteps the network was trained on, int64 (B,)."""
    mapped = d.timestep_map[t.detach().cpu().numpy()]
    return torch.from_numpy(mapped).to(device=t.device, dtype=torch.int64)


def q_sample(d: GaussianDiffusion, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (DDPM eq. 4). x0, noise: (B, C, H, W)."""
    return (
        extract(d.sqrt_alphas_cumprod, t, x0.shape, x0.dtype) * x0
        + extract(d.sqrt_one_minus_alphas_cumprod, t, x0.shape, x0.dtype) * noise
    )


def q_posterior_mean_variance(
    d: GaussianDiffusion, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, variance and clipped log variance of q(x_{t-1} | x_t, x_0) (DDPM eqs. 6-7), each
    broadcastable to (B, C, H, W)."""
    mean = (
        extract(d.posterior_mean_coef1, t, x_t.shape, x_t.dtype) * x0
        + extract(d.posterior_mean_coef2, t, x_t.shape, x_t.dtype) * x_t
    )
    variance = extract(d.posterior_variance, t, x_t.shape, x_t.dtype)
    log_variance = extract(d.posterior_log_variance_clipped, t, x_t.shape, x_t.dtype)
    return mean, variance, log_variance


def predict_xstart_from_eps(
    d: GaussianDiffusion, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t), inverting DDPM eq. 4."""
    return (
        extract(d.sqrt_recip_alphas_cumprod, t, x_t.shape, x_t.dtype) * x_t
        - extract(d.sqrt_recipm1_alphas_cumprod, t, x_t.shape, x_t.dtype) * eps
    )


def learned_range_log_variance(d: GaussianDiffusion, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """IDDPM eq. 15: log Sigma = f log beta_t + (1 - f) log beta~_t with f = (v + 1) / 2.

    v (B, C, H, W) in [-1, 1]: v = -1 gives the posterior variance beta~_t, v = 1 gives beta_t.
    """
    min_log = extract(d.posterior_log_variance_clipped, t, v.shape, v.dtype)
    max_log = extract(np.log(d.betas), t, v.shape, v.dtype)
    fraction = (v + 1) / 2
    return fraction * max_log + (1 - fraction) * min_log


def p_mean_variance(
    d: GaussianDiffusion,
    model_output: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    clip_denoised: bool = True,
) -> dict[str, torch.Tensor]:
    """p(x_{t-1} | x_t) from the network output (B, 2C, H, W) = [eps, v].

    Returns mean, variance, log_variance and pred_xstart, each (B, C, H, W). The mean is the
    posterior mean at the predicted x_0 (clipped to [-1, 1] when `clip_denoised`), which equals
    DDPM eq. 11.
    """
    channels = x_t.shape[1]
    if model_output.shape[1] != 2 * channels:
        raise ValueError(
            f"model output has {model_output.shape[1]} channels, expected {2 * channels} (eps and v)"
        )
    eps, v = model_output[:, :channels], model_output[:, channels:]
    log_variance = learned_range_log_variance(d, v, t)
    pred_xstart = predict_xstart_from_eps(d, x_t, t, eps)
    if clip_denoised:
        pred_xstart = pred_xstart.clamp(-1, 1)
    mean, _, _ = q_posterior_mean_variance(d, pred_xstart, x_t, t)
    variance = torch.exp(log_variance)
    return dict(mean=mean, variance=variance, log_variance=log_variance, pred_xstart=pred_xstart)


def p_sample_step(
    d: GaussianDiffusion, out: dict[str, torch.Tensor], t: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """One ancestral step x_{t-1} = mean + sigma z (Algorithm 2 line 4); no noise at t = 0."""
    mean = out["mean"]
    noise = torch.randn(mean.shape, generator=generator, device=generator.device, dtype=mean.dtype)
    nonzero = (t != 0).to(mean.dtype).reshape(-1, *([1] * (mean.ndim - 1)))
    return mean + nonzero * torch.exp(0.5 * out["log_variance"]) * noise.to(mean.device)


@torch.no_grad()
def ddpm_sample(
    d: GaussianDiffusion,
    model: Model,
    shape: tuple[int, ...],
    generator: torch.Generator,
    cond: torch.Tensor | None = None,
    device: str | torch.device = "cpu",
    clip_denoised: bool = True,
) -> torch.Tensor:
    """DDPM ancestral sampling (Ho et al. Algorithm 2) over the respaced steps -> (B, C, H, W).

    `model(x_t, t_original, cond=cond)`; all noise comes from `generator` (drawn on its device
    and moved to `device`), so a grid is reproducible given the generator's seed.
    """
    x = torch.randn(shape, generator=generator, device=generator.device).to(device)
    for index in reversed(range(d.num_timesteps)):
        t = torch.full((shape[0],), index, dtype=torch.int64, device=device)
        output = model(x, model_timesteps(d, t), cond=cond).float()
        out = p_mean_variance(d, output, x, t, clip_denoised=clip_denoised)
        x = p_sample_step(d, out, t, generator)
    return x
