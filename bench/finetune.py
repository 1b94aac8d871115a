"""What limited-data fine-tuning saves (issue 4, item 9).

1. adm256 built on the meta device (no memory): the fraction of parameters that train in each
   mode (full | attention | attention_adapter).
2. On the CPU at a small preset: training-step time (wall and process CPU time; the CPU time is
   the steadier number on a shared machine) and peak memory of each mode relative to `full`.
   Every mode runs in its own subprocess so that its peak RSS is clean.

    python bench/finetune.py [--preset demo32] [--batch 16] [--steps 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from workflow.diffusion.finetune_modes import (
    FINETUNE_MODES,
    configure_finetune,
    count_parameters,
    trainable_names,
)
from workflow.diffusion.presets import build_unet


def trainable_fractions(preset: str = "adm256") -> dict[str, tuple[int, int]]:
    """mode -> (trainable parameters, total parameters), built on the meta device."""
    fractions = {}
    for mode in FINETUNE_MODES:
        with torch.device("meta"):
            model = build_unet(preset, finetune_mode=mode)
        fractions[mode] = (count_parameters(model, trainable_names(model, mode)), count_parameters(model))
    return fractions


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_steps(preset: str, mode: str, batch: int, steps: int, threads: int) -> dict[str, float]:
    """Median seconds per Adam step (after one warm-up step) and peak RSS, in this process."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_unet(preset, finetune_mode=mode)
    optimizer = torch.optim.Adam(configure_finetune(model, mode), lr=2e-4)
    size = model.image_size
    x, t = torch.randn(batch, 3, size, size), torch.randint(0, 1000, (batch,))
    rss_model = peak_rss_mib()
    wall, cpu = [], []
    for _ in range(steps + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        loss = (model(x, t) - 0.1).square().mean()  # stands in for the hybrid loss: same graph shape
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    median = lambda values: sorted(values[1:])[len(values[1:]) // 2]  # noqa: E731 (first step warms up)
    return dict(step_s=median(wall), cpu_s=median(cpu), peak_rss_mib=peak_rss_mib(),
                rss_before_training_mib=rss_model)


def run_child(args: argparse.Namespace, mode: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", mode, "--preset", args.preset, "--batch", str(args.batch),
               "--steps", str(args.steps), "--threads", str(args.threads)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="demo32", help="small preset for the CPU timing")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6, help="timed steps after one warm-up step")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", choices=FINETUNE_MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_steps(args.preset, args.child, args.batch, args.steps, args.threads)))
        return
    print("adm256 (meta device): trainable parameters per mode")
    for mode, (trainable, total) in trainable_fractions("adm256").items():
        print(f"  {mode:18s} {trainable:>12,d} / {total:,d} = {trainable / total:.4f}")
    print(f"{args.preset}, batch {args.batch}, {args.threads} thread(s), median of {args.steps} Adam steps:")
    results = {mode: run_child(args, mode) for mode in FINETUNE_MODES}
    full = results["full"]
    full_growth = full["peak_rss_mib"] - full["rss_before_training_mib"]
    for mode, r in results.items():
        growth = r["peak_rss_mib"] - r["rss_before_training_mib"]
        print(f"  {mode:18s} step {r['step_s']:.3f} s ({r['step_s'] / full['step_s']:.2f} x full), "
              f"CPU {r['cpu_s']:.3f} s ({r['cpu_s'] / full['cpu_s']:.2f} x full), "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB ({r['peak_rss_mib'] / full['peak_rss_mib']:.2f} x full), "
              f"training adds {growth:.0f} MiB ({growth / full_growth:.2f} x full)")

if __name__ == "__main__":
    main()
