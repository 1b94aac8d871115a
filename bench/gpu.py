"""The GPU path, measured: RePaint inpainting and fine-tuning throughput of one preset.

    python bench/gpu.py [--preset adm256] [--device auto] [--batches 1,8,32] [--steps 10]
                        [--train-batch 16] [--train-steps 5] [--compile] [--threads 1]

Default preset: adm256 on a GPU, demo32 on the CPU (the CI runs it there with tiny counts).

1. Inpainting, for the paper's setting (RePaint 250 / 10 / 10, 2410 network evaluations per
   image) and the `fast` setting of config/full.yaml (DDIM, no jumps), at each batch size:
   seconds per image, network evaluations per image, achieved TFLOP/s against the forward's
   FLOPs (counted by torch.utils.flop_counter on the meta device, linear in the batch), peak
   memory. The sampler's own reverse step (workflow.inpaint.repaint.reverse_step: network under
   bf16 autocast on CUDA, channels-last, fused attention, merge and variance in float32) is
   timed over --steps steps after one warm-up step, and seconds per image are extrapolated as
   (seconds per step) x (evaluations per image) / batch: the re-noising steps of the jumps,
   which evaluate no network, are left out (a few elementwise operations each).
2. Fine-tuning, `attention_adapter` with and without activation checkpointing: training images
   per second and peak memory over --train-steps steps of the real training loop
   (workflow.diffusion.loop.train, hybrid loss, Adam, bf16 autocast on CUDA) after one step.

Times are wall-clock seconds on a GPU (after synchronising it). On the CPU they are the
process's CPU seconds at one thread unless --threads says otherwise (steadier than the wall
clock on a shared machine; with N threads they add up the N threads' time).
Peak memory is torch.cuda.max_memory_allocated on a GPU. On the CPU it is the process's peak
resident set: for the inpainting rows the peak so far (it only grows from row to row); each
training row runs in a process of its own and reports its peak above the resident set of the
built model before its first step (activations, gradients, optimizer state). Goals on one H100-class GPU at the
paper setting (issue 13): at most 10 s per 256 px image at the best batch, and the `fast`
setting at least 20 times faster; the last lines print both ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from workflow.diffusion import distributed, gaussian, loop
from workflow.diffusion.finetune_modes import configure_finetune
from workflow.diffusion.presets import build_unet
from workflow.diffusion.train import make_loss_fn, set_checkpointing
from workflow.inpaint.repaint import Sampler, prepare_network, reverse_step
from workflow.inpaint.timetable import count_evaluations

ROOT = Path(__file__).resolve().parents[1]
PAPER = Sampler(250, 10, 10, "ddpm")  # Lugmayr et al. 2022; method report D.2
GOAL_PAPER_SECONDS = 10.0  # per 256 px image, best batch, one H100-class GPU
GOAL_FAST_SPEEDUP = 20.0


def fast_sampler() -> Sampler:
    """The `fast` setting of config/full.yaml (inpaint.fast, a DDIM step)."""
    fast = yaml.safe_load((ROOT / "config/full.yaml").read_text())["inpaint"]["fast"]
    return Sampler(fast["respacing"], fast["jump_length"], fast["jump_n_sample"], "ddim")


def forward_flops(preset: str, batch: int = 1) -> int:
    """FLOPs of one U-Net forward at `batch`, counted on the meta device (no compute)."""
    with torch.device("meta"):
        model = build_unet(preset).eval()
        x = torch.empty(batch, 3, model.image_size, model.image_size)
        t = torch.zeros(batch, dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x, t)
    return counter.get_total_flops()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """Wall seconds on a GPU; process CPU seconds on the CPU (see the module docstring)."""
    return time.perf_counter() if device.type == "cuda" else time.process_time()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device, above: float = 0.0) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20 - above  # Linux: KiB


def resident_gib() -> float:
    """The process's resident set now (Linux /proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**30


def time_reverse_steps(model, size: int, sampler: Sampler, batch: int, steps: int, device: torch.device) -> float:
    """Seconds per reverse step (network evaluation, merge, noise) at `batch`, after one warm-up."""
    d = gaussian.make_diffusion("linear", 1000, respacing=sampler.respacing)
    generator = torch.Generator(device).manual_seed(0)
    image = torch.rand(batch, 3, size, size, generator=generator, device=device) * 2 - 1
    known = torch.ones(batch, 1, size, size, dtype=torch.bool, device=device)
    known[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = False
    x = torch.randn(image.shape, generator=generator, device=device)
    with torch.no_grad():
        x = reverse_step(d, model, x, sampler.respacing, image, known, sampler, generator)  # warm-up
        synchronize(device)
        started = clock(device)
        for t in range(sampler.respacing - 1, sampler.respacing - 1 - steps, -1):
            x = reverse_step(d, model, x, max(t, 1), image, known, sampler, generator)
        synchronize(device)
    return (clock(device) - started) / steps


def inpainting_rows(preset, batches, steps, device, compile_model) -> list[dict]:
    torch.manual_seed(0)
    unet = build_unet(preset).to(device).eval()
    model = prepare_network(unet, device, compile_model)
    flops_1 = forward_flops(preset)
    rows = []
    for name, sampler in (("paper", PAPER), ("fast", fast_sampler())):
        evaluations = count_evaluations(sampler.respacing, sampler.jump_length, sampler.jump_n_sample)
        for batch in batches:
            reset_peak(device)
            step_s = time_reverse_steps(model, unet.image_size, sampler, batch, steps, device)
            rows.append(dict(setting=name, sampler=f"{sampler.respacing}/{sampler.jump_length}/"
                             f"{sampler.jump_n_sample} {sampler.step}", batch=batch,
                             s_per_image=step_s * evaluations / batch, evaluations=evaluations,
                             tflops=flops_1 * batch / step_s / 1e12, peak_gib=peak_gib(device)))
    return rows


def training_row(preset: str, batch: int, steps: int, device: torch.device, checkpointing: bool) -> dict:
    """Images per second and peak memory of `steps` fine-tuning steps, after one warm-up step."""
    world = distributed.World(rank=0, size=1, local_rank=0, device=device)
    loss_fn = make_loss_fn(gaussian.make_diffusion("linear", 1000), 0.001, device)
    torch.manual_seed(0)
    model = build_unet(preset, finetune_mode="attention_adapter")
    set_checkpointing(model, checkpointing)
    parameters = configure_finetune(model.to(device), "attention_adapter")
    x0 = torch.rand(batch, 3, model.image_size, model.image_size) * 2 - 1

    def run(iterations):
        settings = loop.LoopSettings(iterations, 2e-4, batch, checkpoint_every=10**9)
        loop.train(model, parameters, lambda rng: (x0, None), loss_fn, settings, {}, 0, None, world)

    before = resident_gib() if device.type == "cpu" else 0.0
    try:
        run(1)  # warm-up: kernels chosen, memory allocated
        reset_peak(device)
        synchronize(device)
        started = clock(device)
        run(steps)
        synchronize(device)
    except torch.OutOfMemoryError:  # a result too: this batch does not fit without checkpointing
        return dict(checkpointing=checkpointing, batch=batch, images_per_s=float("nan"),
                    step_s=float("nan"), peak_gib=float("nan"))
    seconds = clock(device) - started
    return dict(checkpointing=checkpointing, batch=batch, images_per_s=batch * steps / seconds,
                step_s=seconds / steps, peak_gib=peak_gib(device, above=before))


def training_rows(preset, batch, steps, device, threads) -> list[dict]:
    """training_row without and with checkpointing, each in a fresh process (clean peaks)."""
    rows = []
    for checkpointing in (False, True):
        command = [sys.executable, __file__, "--child-train", str(int(checkpointing)), "--preset", preset,
                   "--device", str(device), "--train-batch", str(batch), "--train-steps", str(steps)]
        command += ["--threads", str(threads or torch.get_num_threads())]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return rows


def print_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """Markdown table: (key, header, format)."""
    print("| " + " | ".join(h for _, h, _ in columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(format(row[k], f) for k, _, f in columns) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", help="default: adm256 on a GPU, demo32 on the CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--steps", type=int, default=10, help="timed reverse steps per row")
    parser.add_argument("--train-batch", type=int, help="fine-tuning batch (default 16, full.yaml's)")
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile the U-Net (inpaint.compile)")
    parser.add_argument("--threads", type=int, help="CPU threads (default 1 on the CPU)")
    parser.add_argument("--child-train", type=int, choices=(0, 1), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else "cpu" if args.device == "auto" else args.device)
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    preset = args.preset or ("adm256" if device.type == "cuda" else "demo32")
    train_batch = args.train_batch or 16
    if args.child_train is not None:
        print(json.dumps(training_row(preset, train_batch, args.train_steps, device, bool(args.child_train))))
        return
    batches = [int(b) for b in args.batches.split(",")]
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU, {torch.get_num_threads()} thread(s), CPU seconds")
    memory = "GiB allocated" if device.type == "cuda" else "GiB process peak RSS"
    print(f"{preset} on {name}; torch {torch.__version__}; forward {forward_flops(preset) / 1e12:.4f} TFLOP "
          f"per image; {args.steps} timed reverse steps per row{', compiled' if args.compile else ''}")
    rows = inpainting_rows(preset, batches, args.steps, device, args.compile)
    print_table(rows, [("setting", "setting", "s"), ("sampler", "t_T/r/j step", "s"), ("batch", "batch", "d"),
                       ("s_per_image", "s / image", ".3f"), ("evaluations", "evaluations / image", "d"),
                       ("tflops", "TFLOP/s", ".3f"), ("peak_gib", memory, ".2f")])
    train = training_rows(preset, train_batch, args.train_steps, device, args.threads)
    print(f"\nfine-tuning attention_adapter, {args.train_steps} timed steps:")
    train_memory = memory if device.type == "cuda" else "GiB peak RSS above the built model"
    print_table(train, [("checkpointing", "checkpointing", "")] + [
        ("batch", "batch", "d"), ("images_per_s", "images / s", ".2f"), ("step_s", "s / step", ".3f"),
        ("peak_gib", train_memory, ".3f")])
    best = {s: min(r["s_per_image"] for r in rows if r["setting"] == s) for s in ("paper", "fast")}
    print(f"\nbest paper setting: {best['paper']:.3f} s / image ({best['paper'] / GOAL_PAPER_SECONDS:.3f} x the "
          f"{GOAL_PAPER_SECONDS:.0f} s goal, which is set for adm256 on an H100-class GPU)")
    print(f"fast / paper speed-up: {best['paper'] / best['fast']:.1f} x (goal >= {GOAL_FAST_SPEEDUP:.0f} x)")
    plain, checkpointed = train
    print(f"checkpointing: {checkpointed['images_per_s'] / plain['images_per_s']:.2f} x the images / s, "
          f"{checkpointed['peak_gib'] / plain['peak_gib']:.2f} x the peak memory")


if __name__ == "__main__":
    main()
