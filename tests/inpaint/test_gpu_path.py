"""The sampler's GPU path (bf16 autocast, channels-last, fused attention, torch.compile) and
bench/gpu.py: on the CPU nothing of the path changes and the bench runs with tiny counts; the
CUDA checks (marked gpu) run where a GPU is at hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO
from workflow.diffusion.gaussian import make_diffusion
from workflow.diffusion.presets import build_unet
from workflow.inpaint.repaint import Sampler, inpaint, network_output, prepare_network
from workflow.inpaint.timetable import count_evaluations

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def random_unet():
    torch.manual_seed(0)
    model = build_unet("demo32").eval()
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
            torch.nn.init.normal_(module.weight, std=0.05)
    return model


def inputs(device, batch=2):
    generator = torch.Generator().manual_seed(1)
    image = (torch.rand(batch, 3, 32, 32, generator=generator) * 2 - 1).to(device)
    known = torch.ones(batch, 1, 32, 32, dtype=torch.bool)
    known[..., 8:24, 10:20] = False
    return image, known.to(device)


@pytest.mark.slow
def test_on_the_cpu_the_network_runs_as_it_is():
    model = random_unet()
    assert prepare_network(model, "cpu") is model
    compiled = prepare_network(model, "cpu", compile=True)
    assert isinstance(compiled, torch._dynamo.eval_frame.OptimizedModule) and compiled._orig_mod is model
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([5, 700])
    with torch.no_grad():
        assert torch.equal(network_output(model, x, t), model(x, t))


@pytest.mark.slow
def test_bench_gpu_runs_on_the_cpu_preset():
    command = [sys.executable, "bench/gpu.py", "--device", "cpu", "--batches", "1,2", "--steps", "1",
               "--train-steps", "1", "--train-batch", "2", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in out.stdout.splitlines() if re.match(r"\| (paper|fast|True|False) ", line)]
    inpainting = [[c.strip() for c in r] for r in rows if r[0].strip() in ("paper", "fast")]
    training = [[c.strip() for c in r] for r in rows if r[0].strip() in ("True", "False")]
    assert [(r[0], r[2]) for r in inpainting] == [("paper", "1"), ("paper", "2"), ("fast", "1"), ("fast", "2")]
    assert {r[4] for r in inpainting if r[0] == "paper"} == {str(count_evaluations(250, 10, 10))}
    assert all(float(v) > 0 for r in inpainting for v in (r[3], r[5], r[6]))
    assert [r[0] for r in training] == ["False", "True"] and all(float(r[2]) > 0 for r in training)
    assert "demo32 on CPU" in out.stdout and "fast / paper speed-up" in out.stdout


@pytest.mark.gpu
@cuda
def test_the_cuda_path_runs_bf16_channels_last_and_keeps_known_pixels():
    model = prepare_network(random_unet().cuda(), "cuda")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    seen = []
    convs[1].register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    image, known = inputs("cuda")
    d = make_diffusion("linear", 1000, respacing=10)
    out = inpaint(d, model, image, known, Sampler(10, 2, 2), torch.Generator("cuda").manual_seed(0))
    assert set(seen) == {torch.bfloat16}
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.equal(out[known.expand_as(out)], image[known.expand_as(image)])  # bit for bit


@pytest.mark.gpu
@cuda
def test_compiled_network_gives_the_outputs_of_the_plain_one():
    model = random_unet().cuda()
    x, t = torch.randn(2, 3, 32, 32, device="cuda"), torch.tensor([5, 700], device="cuda")
    with torch.no_grad():
        plain = network_output(prepare_network(model, "cuda"), x, t)
        compiled = network_output(prepare_network(model, "cuda", compile=True), x, t)
    torch.testing.assert_close(compiled, plain, rtol=2e-2, atol=2e-2)  # bf16 rounding
