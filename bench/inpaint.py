"""Benchmark of the RePaint sampler at a small preset (demo32, randomly initialised).

    python bench/inpaint.py [--threads 1] [--batch 8]

Prints three ratios (numbers: the closing note of issue 5):
1. sampler overhead: wall time of `inpaint` over (network evaluations x bare forward time) at
   the same batch (goal <= 1.10);
2. batching: time per image at batch 8 over time per image at batch 1;
3. the paper's setting, scaled down (t_T 50, r 5, j 10 instead of 250, 10, 10) against the
   `fast` sampler (DDIM, 20 steps, no jumps): network evaluations and time per image.
Times are CPU process times with a fixed thread count (the machine is shared: wall clock
depends on the neighbours; CPU time of a 1-thread run does not), and wall times beside them.
"""

from __future__ import annotations

import argparse
import time

import torch

from workflow.diffusion.gaussian import make_diffusion
from workflow.diffusion.presets import build_unet
from workflow.inpaint.repaint import Sampler, inpaint
from workflow.inpaint.timetable import count_evaluations

SIZE = 32


class Counting(torch.nn.Module):
    """Counts network evaluations (calls) of the wrapped model and the CPU time spent in them."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls, self.cpu = model, 0, 0.0

    def forward(self, x, t, cond=None):
        self.calls += 1
        started = time.process_time()
        out = self.model(x, t, cond=cond)
        self.cpu += time.process_time() - started
        return out


def clock(fn, repeats=1):
    """(cpu seconds, wall seconds) per call of fn, after one warm-up call."""
    fn()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.process_time() - cpu) / repeats, (time.perf_counter() - wall) / repeats


def inputs(batch):
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(batch, 3, SIZE, SIZE, generator=gen) * 2 - 1
    known = torch.ones(batch, 1, SIZE, SIZE, dtype=torch.bool)
    known[..., 8:24, 8:24] = False
    return image, known


def sample_time(model, sampler, batch):
    d = make_diffusion("linear", 1000, respacing=sampler.respacing)
    image, known = inputs(batch)
    counting = Counting(model)

    def go():
        inpaint(d, counting, image, known, sampler, torch.Generator().manual_seed(0))

    cpu, wall = clock(go)
    evaluations = count_evaluations(sampler.respacing, sampler.jump_length, sampler.jump_n_sample)
    assert counting.calls == 2 * evaluations  # warm-up + timed call
    inside = counting.cpu / 2  # CPU time inside the network per call of go
    return cpu, wall, evaluations, inside


def forward_time(model, batch, repeats):
    x, t = torch.randn(batch, 3, SIZE, SIZE), torch.full((batch,), 500)
    with torch.no_grad():
        return clock(lambda: model(x, t), repeats)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_unet("demo32", condition="none", finetune_mode="attention_adapter").eval()

    sampler = Sampler(50, 5, 2)
    cpu, wall, n, inside = sample_time(model, sampler, args.batch)
    f_cpu, f_wall = forward_time(model, args.batch, 20)
    print(f"1. overhead at batch {args.batch}, {sampler}: {n} evaluations, sampler {cpu:.2f} s cpu"
          f" ({wall:.2f} s wall), bare forward {f_cpu * 1000:.1f} ms cpu ({f_wall * 1000:.1f} ms wall)")
    print(f"   ratio sampler / (evaluations x forward): {cpu / (n * f_cpu):.3f} cpu,"
          f" {wall / (n * f_wall):.3f} wall (goal <= 1.10); sampler / time inside its own network"
          f" calls: {cpu / inside:.3f} cpu (insensitive to the neighbours' load)")

    short = Sampler(20, 5, 1)
    per_image = {b: [v / b for v in sample_time(model, short, b)[:2]] for b in (1, args.batch)}
    print(f"2. per-image time, {short}: batch 1 {per_image[1][0]:.3f} s cpu, batch {args.batch}"
          f" {per_image[args.batch][0]:.3f} s cpu; ratio batch {args.batch} / batch 1:"
          f" {per_image[args.batch][0] / per_image[1][0]:.3f} cpu,"
          f" {per_image[args.batch][1] / per_image[1][1]:.3f} wall")

    paper, fast = Sampler(50, 5, 10, "ddpm"), Sampler(20, 5, 1, "ddim")
    rows = {name: sample_time(model, s, args.batch) for name, s in (("paper", paper), ("fast", fast))}
    for name, s in (("paper", paper), ("fast", fast)):
        cpu, wall, n, _ = rows[name]
        print(f"3. {name} {s}: {n} evaluations per image, {cpu / args.batch:.3f} s cpu per image"
              f" ({wall / args.batch:.3f} s wall)")
    print(f"   ratio paper / fast: evaluations {rows['paper'][2] / rows['fast'][2]:.1f},"
          f" time {rows['paper'][0] / rows['fast'][0]:.1f} cpu (full scale 250/10/10: "
          f"{count_evaluations(250, 10, 10)} evaluations per image)")


if __name__ == "__main__":
    main()
