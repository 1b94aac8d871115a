"""Closed-form checks of the Gaussian diffusion (workflow.diffusion.gaussian)."""

import math

import numpy as np
import pytest
import torch

from workflow.diffusion import gaussian as g


def test_linear_schedule_endpoints_and_scaling():
    betas = g.linear_betas(1000)
    assert betas.dtype == np.float64 and betas.shape == (1000,)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    short = g.linear_betas(250)  # scaled by 1000 / steps
    assert short[0] == pytest.approx(4e-4) and short[-1] == pytest.approx(0.08)


def test_cosine_schedule_matches_alpha_bar_formula():
    steps, s = 1000, 0.008
    d = g.make_diffusion("cosine", steps)
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 10, 500, 900):
        assert d.alphas_cumprod[t] == pytest.approx(f((t + 1) / steps) / f(0), rel=1e-9)
    assert d.betas.max() <= 0.999 and d.alphas_cumprod[-1] < 1e-4


def test_unknown_schedule_names_the_allowed_ones():
    with pytest.raises(ValueError, match="linear"):
        g.make_diffusion("quadratic", 10)


def test_arrays_are_read_only_float64():
    d = g.make_diffusion("linear", 100)
    assert d.posterior_variance.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        d.betas[0] = 0.5


def test_q_sample_moments():
    d = g.make_diffusion("linear", 1000)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 2, 2), 0.7, dtype=torch.float64)
    t = torch.full((20000,), 300)
    noise = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    x_t = g.q_sample(d, x0, t, noise)
    ab = d.alphas_cumprod[300]
    assert x_t.mean().item() == pytest.approx(math.sqrt(ab) * 0.7, abs=0.01)
    assert x_t.var().item() == pytest.approx(1 - ab, rel=0.02)
    assert torch.allclose(g.q_sample(d, x0[:2], t[:2], torch.zeros_like(x0[:2])), math.sqrt(ab) * x0[:2])


def test_posterior_coefficients_match_bayes_rule():
    d = g.make_diffusion("cosine", 200)
    for t in (1, 50, 199):
        ab_prev, alpha, beta = d.alphas_cumprod[t - 1], 1 - d.betas[t], d.betas[t]
        # q(x_{t-1} | x0) q(x_t | x_{t-1}): product of two Gaussians in x_{t-1}.
        precision = 1 / (1 - ab_prev) + alpha / beta
        assert d.posterior_variance[t] == pytest.approx(1 / precision, rel=1e-10)
        assert d.posterior_mean_coef1[t] == pytest.approx(math.sqrt(ab_prev) / (1 - ab_prev) / precision, rel=1e-10)
        assert d.posterior_mean_coef2[t] == pytest.approx(math.sqrt(alpha) / beta / precision, rel=1e-10)
    assert d.posterior_variance[0] == 0
    assert d.posterior_log_variance_clipped[0] == d.posterior_log_variance_clipped[1]


def test_respacing_keeps_alphas_cumprod_at_kept_steps():
    base = g.make_diffusion("linear", 1000)
    d = g.make_diffusion("linear", 1000, respacing=50)
    assert d.num_timesteps == 50
    assert d.timestep_map[0] == 0 and d.timestep_map[-1] == 999
    np.testing.assert_allclose(d.alphas_cumprod, base.alphas_cumprod[d.timestep_map], rtol=1e-12)
    explicit = g.make_diffusion("linear", 1000, respacing=[0, 499, 999])
    np.testing.assert_allclose(explicit.alphas_cumprod, base.alphas_cumprod[[0, 499, 999]], rtol=1e-12)
    assert g.model_timesteps(d, torch.tensor([0, 49])).tolist() == [0, 999]
    with pytest.raises(ValueError, match="respacing"):
        g.make_diffusion("linear", 100, respacing=101)


def test_learned_range_variance_hits_the_bounds():
    d = g.make_diffusion("linear", 1000)
    t = torch.tensor([5, 700])
    low = g.learned_range_log_variance(d, -torch.ones(2, 3, 4, 4, dtype=torch.float64), t)
    high = g.learned_range_log_variance(d, torch.ones(2, 3, 4, 4, dtype=torch.float64), t)
    for i, step in enumerate((5, 700)):
        assert torch.allclose(low[i], torch.tensor(d.posterior_log_variance_clipped[step], dtype=torch.float64))
        assert torch.allclose(high[i], torch.tensor(math.log(d.betas[step]), dtype=torch.float64))


def test_p_mean_variance_with_true_noise_recovers_x0():
    d = g.make_diffusion("linear", 1000)
    gen = torch.Generator().manual_seed(1)
    x0 = torch.rand((2, 3, 8, 8), generator=gen, dtype=torch.float64) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    t = torch.tensor([10, 400])
    x_t = g.q_sample(d, x0, t, noise)
    out = g.p_mean_variance(d, torch.cat([noise, torch.zeros_like(noise)], 1), x_t, t, clip_denoised=False)
    assert torch.allclose(out["pred_xstart"], x0, atol=1e-9)
    mean, _, _ = g.q_posterior_mean_variance(d, x0, x_t, t)
    assert torch.allclose(out["mean"], mean, atol=1e-9)
    with pytest.raises(ValueError, match="channels"):
        g.p_mean_variance(d, noise, x_t, t)


def _point_mass_model(d_train, target):
    """The exact eps-predictor of data concentrated at `target`, with v = -1 (posterior variance)."""

    def model(x, t, cond=None):
        ab = torch.from_numpy(d_train.alphas_cumprod[t.numpy()]).float().reshape(-1, 1, 1, 1)
        eps = (x - ab.sqrt() * target) / (1 - ab).sqrt()
        return torch.cat([eps, -torch.ones_like(x)], 1)

    return model


def test_ddpm_sample_is_seeded_and_reaches_the_data():
    train = g.make_diffusion("linear", 1000)
    d = g.make_diffusion("linear", 1000, respacing=25)
    model = _point_mass_model(train, 0.25)
    a = g.ddpm_sample(d, model, (2, 3, 4, 4), torch.Generator().manual_seed(3))
    b = g.ddpm_sample(d, model, (2, 3, 4, 4), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.allclose(a, torch.full_like(a, 0.25), atol=1e-3)
    calls = []
    g.ddpm_sample(d, lambda x, t, cond=None: calls.append(t[0].item()) or model(x, t), (1, 3, 4, 4),
                  torch.Generator().manual_seed(0))
    assert len(calls) == 25 and calls[0] == 999 and calls[-1] == 0
