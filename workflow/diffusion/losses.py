"""Training losses of the diffusion model: the hybrid loss L_simple + lambda * L_vlb (IDDPM).

L_simple is the mean squared error on eps (DDPM eq. 14) and trains the mean; L_vlb (method report
annex G.2) trains only the learned variance, because the mean it sees is detached (IDDPM
section 3.1). Under the uniform timestep sampler one term L_t stands for the whole sum, so the
per-sample estimate of L_vlb is T * L_t; with lambda = 0.001 and T = 1000 that is weight 1 on L_t.
VLB terms are in bits per dimension.
"""

from __future__ import annotations

import math

import torch

from workflow.diffusion.gaussian import (
    GaussianDiffusion,
    p_mean_variance,
    q_posterior_mean_variance,
)

# Pixel values in [-1, 1] quantised to 256 levels: bin half-width.
BIN_HALF_WIDTH = 1.0 / 255.0


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """Mean over every dimension but the batch: (B, ...) -> (B,)."""
    return x.mean(dim=tuple(range(1, x.ndim)))


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats (broadcasting)."""
    return 0.5 * (
        -1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor
) -> torch.Tensor:
    """log p(x) of the decoder p(x_0 | x_1) for x in [-1, 1] on 256 bins (DDPM section 3.3).

    Each pixel value owns the bin [x - 1/255, x + 1/255]; the two end bins extend to -inf and
    +inf so that the probabilities sum to one. log_scales is the log standard deviation.
    Shapes broadcast to x (B, C, H, W); returns elementwise log-likelihoods in nats.
    """
    centred = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = standard_normal_cdf(inv_std * (centred + BIN_HALF_WIDTH))
    cdf_min = standard_normal_cdf(inv_std * (centred - BIN_HALF_WIDTH))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_bin = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_bin))


def vlb_terms(
    d: GaussianDiffusion, model_output: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) for t > 0 and L_0 = -log p(x_0 | x_1)
    at t = 0 (annex G.2), in bits per dimension -> (B,).

    The model's mean is not clipped: the VLB is a property of the network's distribution.
    """
    true_mean, _, true_log_variance = q_posterior_mean_variance(d, x0, x_t, t)
    out = p_mean_variance(d, model_output, x_t, t, clip_denoised=False)
    kl = mean_flat(normal_kl(true_mean, true_log_variance, out["mean"], out["log_variance"])) / math.log(2.0)
    nll = -discretized_gaussian_log_likelihood(x0, out["mean"], 0.5 * out["log_variance"])
    decoder_nll = mean_flat(nll) / math.log(2.0)
    return torch.where(t == 0, decoder_nll, kl)


def hybrid_loss(
    d: GaussianDiffusion,
    model_output: torch.Tensor,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    vlb_weight: float,
) -> dict[str, torch.Tensor]:
    """L_hybrid = L_simple + lambda * L_vlb per sample (IDDPM eq. 16) -> dict of (B,) tensors.

    model_output (B, 2C, H, W) = [eps, v]; noise is the eps used to make x_t. The VLB term sees
    the eps prediction detached, so it sends gradients only to v (stop-gradient on the mean).
    """
    channels = x_t.shape[1]
    eps, v = model_output[:, :channels], model_output[:, channels:]
    mse = mean_flat((noise - eps) ** 2)
    frozen = torch.cat([eps.detach(), v], dim=1)
    vlb = vlb_terms(d, frozen, x0, x_t, t) * d.num_timesteps  # uniform sampler: L_vlb ~ T * L_t
    return dict(loss=mse + vlb_weight * vlb, mse=mse, vlb=vlb)


def sample_timesteps_uniform(
    num_timesteps: int, batch: int, generator: torch.Generator, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """The uniform timestep sampler (annex G.1): t ~ U{0, ..., T-1} -> int64 (B,) on `device`.

    Drawn on the generator's device so the draw does not depend on where the model runs.
    """
    t = torch.randint(0, num_timesteps, (batch,), generator=generator, device=generator.device)
    return t.to(device)
