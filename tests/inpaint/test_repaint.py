"""RePaint sampler with dummy models: exact known pixels, matched noise levels, seeds, guidance."""

import math

import pytest
import torch

from workflow.diffusion.gaussian import make_diffusion
from workflow.inpaint import repaint
from workflow.inpaint.repaint import Guidance, Sampler, inpaint
from workflow.inpaint.timetable import count_evaluations, timetable

STEPS = 1000
GOLDEN_MEAN, GOLDEN_STD = 0.1120908, 0.7951472  # test_golden_numbers, recorded once


class ZeroDataOracle:
    """The exact denoiser for data x0 = 0: eps = x_t / sqrt(1 - alphabar_t), v = -1 (posterior
    variance). Records every input, so tests can look at what the network saw."""

    def __init__(self):
        self.base = make_diffusion("linear", STEPS)
        self.inputs, self.timesteps, self.conds = [], [], []

    def __call__(self, x, t, cond=None):
        self.inputs.append(x.clone())
        self.timesteps.append(t.clone())
        self.conds.append(cond)
        a = torch.from_numpy(self.base.alphas_cumprod[t.numpy()]).float().view(-1, 1, 1, 1)
        return torch.cat([x / torch.sqrt(1 - a), -torch.ones_like(x)], dim=1)


class RandomConv(torch.nn.Module):
    """An untrained convolution standing in for the U-Net."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x, t, cond=None):
        return torch.tanh(self.conv(x))


def half_known(batch=2, size=32):
    known = torch.zeros(batch, 1, size, size, dtype=torch.bool)
    known[..., : size // 2] = True
    return known


def run(model, sampler, seed=0, image=None, known=None, cond=None, guide=None):
    d = make_diffusion("linear", STEPS, respacing=sampler.respacing)
    image = torch.zeros(2, 3, 32, 32) if image is None else image
    known = half_known() if known is None else known
    generator = torch.Generator().manual_seed(seed)
    return inpaint(d, model, image, known, sampler, generator, cond=cond, guide=guide)


def test_known_pixels_come_back_bit_for_bit():
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    known = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(2)) > 0.3
    out = run(RandomConv(), Sampler(10, 3, 2), image=image, known=known)
    mask = known.expand_as(image)
    assert torch.equal(out[mask], image[mask])
    assert not torch.equal(out[~mask], image[~mask])


@pytest.mark.parametrize("sampler", [Sampler(20, 4, 2), Sampler(20, 4, 1)])
def test_known_noise_level_matches_unknown_at_every_step(sampler):
    # With x0 = 0 and the exact denoiser, the unknown region of x_t has std sqrt(1 - alphabar_t)
    # (the DDPM posterior preserves the marginals); the known region must be at the same level.
    model = ZeroDataOracle()
    known = half_known(batch=4, size=48)
    run(model, sampler, image=torch.zeros(4, 3, 48, 48), known=known)
    d = make_diffusion("linear", STEPS, respacing=sampler.respacing)
    steps = [t for t, t_next in timetable(sampler.respacing, sampler.jump_length,
                                                  sampler.jump_n_sample) if t_next < t]  # fmt: skip
    assert len(model.inputs) == len(steps)
    mask = known.expand(-1, 3, -1, -1)
    for x, t, t_orig in zip(model.inputs, steps, model.timesteps):
        assert int(t_orig[0]) == int(d.timestep_map[t - 1])
        expected = math.sqrt(1 - repaint.alpha_bar(d, t))
        assert x[mask].std().item() == pytest.approx(expected, rel=0.04), t
        assert x[~mask].std().item() == pytest.approx(expected, rel=0.04), t
    # The test has power: one step's difference in noise level exceeds the tolerance.
    levels = [math.sqrt(1 - repaint.alpha_bar(d, t)) for t in range(1, sampler.respacing + 1)]
    assert max(b / a for a, b in zip(levels, levels[1:])) > 1.2


def test_renoise_and_known_part_are_the_marginals():
    d = make_diffusion("linear", STEPS, respacing=10)
    x0 = torch.full((1, 3, 64, 64), 0.5)
    gen = torch.Generator().manual_seed(0)
    x3 = repaint.known_part(d, x0, 3, torch.randn(x0.shape, generator=gen))
    x7 = repaint.renoise(d, x3, 3, 7, torch.randn(x0.shape, generator=gen))
    a7 = float(d.alphas_cumprod[6])
    assert x7.mean().item() == pytest.approx(math.sqrt(a7) * 0.5, abs=0.03)
    assert x7.std().item() == pytest.approx(math.sqrt(1 - a7), rel=0.03)
    assert torch.equal(repaint.known_part(d, x0, 0, torch.randn(x0.shape)), x0)


def test_deterministic_by_seed():
    sampler = Sampler(8, 2, 2)
    a, b = run(RandomConv(), sampler, seed=3), run(RandomConv(), sampler, seed=3)
    c = run(RandomConv(), sampler, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_condition_reaches_every_model_call():
    model = ZeroDataOracle()
    cond = torch.rand(2, 1, 32, 32) * 2 - 1
    run(model, Sampler(6, 2, 2), cond=cond)
    assert len(model.conds) == count_evaluations(6, 2, 2) == 10
    assert all(c is cond for c in model.conds)


class EpsZero:
    """Predicts no noise: x0 = x_t / sqrt(alphabar_t), so guidance shifts accumulate."""

    def __call__(self, x, t, cond=None):
        return torch.zeros(x.shape[0], 6, *x.shape[2:])


def brightness_classifier(x, t):
    """Two classes: 0 = dark, 1 = bright; grad log p(1 | x) points toward +1 everywhere."""
    m = x.mean(dim=(1, 2, 3))
    return torch.stack([-m, m], dim=1)


@pytest.mark.parametrize("step", ["ddpm", "ddim"])
def test_guidance_moves_toward_the_target_class(step):
    sampler = Sampler(20, 5, 1, step)
    unknown = ~half_known().expand(-1, 3, -1, -1)

    def guided(y):
        guide = None if y is None else Guidance(brightness_classifier, torch.tensor([y, y]), 1000.0)
        return run(EpsZero(), sampler, seed=1, guide=guide)

    dark, plain, bright = guided(0), guided(None), guided(1)
    assert dark[unknown].mean() < plain[unknown].mean() - 0.2
    assert bright[unknown].mean() > plain[unknown].mean() + 0.2
    assert (brightness_classifier(bright, None).argmax(dim=1) == 1).all()
    assert (brightness_classifier(dark, None).argmax(dim=1) == 0).all()


def test_mask_convention_is_checked():
    with pytest.raises(ValueError, match="known must be a bool"):
        run(RandomConv(), Sampler(4, 2, 1), known=half_known().float())
    with pytest.raises(ValueError, match="respacing"):
        d = make_diffusion("linear", STEPS, respacing=5)
        inpaint(d, RandomConv(), torch.zeros(2, 3, 32, 32), half_known(), Sampler(4, 2, 1),
                torch.Generator())  # fmt: skip


def test_golden_numbers():
    # A fixed seed and the untrained convolution: guards the loop against silent changes.
    out = run(RandomConv(), Sampler(6, 2, 2), seed=0)
    unknown = ~half_known().expand(-1, 3, -1, -1)
    values = out[unknown]
    assert values.mean().item() == pytest.approx(GOLDEN_MEAN, abs=1e-5)
    assert values.std().item() == pytest.approx(GOLDEN_STD, abs=1e-5)
