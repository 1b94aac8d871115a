"""Closed-form and gradient checks of the diffusion losses (workflow.diffusion.losses)."""

import math

import pytest
import torch

from workflow.diffusion import gaussian as g
from workflow.diffusion import losses as L


def test_normal_kl_closed_form():
    m, lv = torch.randn(5), torch.randn(5)
    assert torch.allclose(L.normal_kl(m, lv, m, lv), torch.zeros(5), atol=1e-7)
    # KL(N(0,1) || N(1,1)) = 1/2; KL(N(0,1) || N(0,e^2)) = (-1 + 2 + e^-2) / 2.
    assert L.normal_kl(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0)).item() == pytest.approx(0.5)
    kl = L.normal_kl(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0), torch.tensor(2.0)).item()
    assert kl == pytest.approx(0.5 * (-1 + 2 + math.exp(-2)))


def test_discretized_likelihood_sums_to_one_over_the_bins():
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, log_scale in ((0.1, -2.0), (-0.95, -4.0), (0.99, 0.0)):
        log_p = L.discretized_gaussian_log_likelihood(
            levels, torch.tensor(mean, dtype=torch.float64), torch.tensor(log_scale, dtype=torch.float64))
        assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-6)


def _noisy_batch(d, t):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand((len(t), 3, 8, 8), generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    return x0, noise, g.q_sample(d, x0, t, noise)


def test_vlb_term_sends_no_gradient_to_the_mean():
    d = g.make_diffusion("linear", 1000)
    t = torch.tensor([0, 3, 500, 999])
    x0, noise, x_t = _noisy_batch(d, t)
    output = torch.randn((4, 6, 8, 8), requires_grad=True)
    terms = L.hybrid_loss(d, output, x0, x_t, t, noise, vlb_weight=0.001)
    terms["vlb"].sum().backward()
    assert torch.count_nonzero(output.grad[:, :3]) == 0
    assert torch.count_nonzero(output.grad[:, 3:]) > 0
    output.grad = None
    terms = L.hybrid_loss(d, output, x0, x_t, t, noise, vlb_weight=0.001)
    terms["mse"].sum().backward()
    assert torch.count_nonzero(output.grad[:, 3:]) == 0
    assert torch.allclose(terms["loss"], terms["mse"] + 0.001 * terms["vlb"])


def test_vlb_uses_the_decoder_at_t0_and_is_zero_for_the_true_posterior():
    d = g.make_diffusion("linear", 1000)
    t = torch.tensor([0, 200])
    x0, noise, x_t = _noisy_batch(d, t)
    output = torch.cat([noise, -torch.ones_like(noise)], 1)  # true eps, posterior variance
    vlb = L.vlb_terms(d, output.double(), x0.double(), x_t.double(), t)
    assert vlb[1].item() == pytest.approx(0.0, abs=1e-5)
    nll = -L.discretized_gaussian_log_likelihood(x0.double(), x0.double(), torch.full_like(x0.double(), -5.0))
    assert vlb[0].item() > 0 and nll.mean().item() > 0


def test_uniform_sampler_covers_the_range_and_is_seeded():
    a = L.sample_timesteps_uniform(10, 2000, torch.Generator().manual_seed(5))
    b = L.sample_timesteps_uniform(10, 2000, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.dtype == torch.int64
    assert a.min() == 0 and a.max() == 9 and torch.bincount(a).min() > 150


class _TinyEpsNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(4, 16, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(16, 6, 3, padding=1)
        )

    def forward(self, x, t, cond=None):
        tt = (t.float() / 1000).reshape(-1, 1, 1, 1).expand(-1, 1, *x.shape[2:])
        return self.net(torch.cat([x, tt], 1))


def test_hybrid_loss_decreases_on_a_tiny_model():
    torch.manual_seed(0)
    d = g.make_diffusion("linear", 1000)
    model = _TinyEpsNet()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.zeros((16, 3, 8, 8))
    x0[:, :, 2:6, 2:6] = 0.8
    losses = []
    for _ in range(40):
        t = L.sample_timesteps_uniform(1000, 16, gen)
        noise = torch.randn(x0.shape, generator=gen)
        x_t = g.q_sample(d, x0, t, noise)
        loss = L.hybrid_loss(d, model(x_t, t), x0, x_t, t, noise, 0.001)["loss"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
