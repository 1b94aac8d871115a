"""How long Snakemake takes to plan the workflow: a full-scale dry run and a no-op rerun.

1. Dry run (`snakemake -n`) of a generated full-scale configuration: 1000 scenes (500 xView
   GeoTIFFs, 500 DOTA PNGs, written as empty placeholders: the DAG only needs them to exist),
   64 inpainting chunks per set, 2 archs x 8 experiments x 5 seeds, a guided-diffusion checkpoint
   and detector weights given by (placeholder) path. Goal: under 10 s.
2. No-op rerun (`snakemake --cores 2`, nothing to do) of the finished tiny workflow
   (config/config.yaml + tests/configs/tiny.yaml). Goal: under 5 s. The tiny workflow is run
   first in a temporary copy unless --tiny-dir names a finished one.

Both include Snakemake's start-up, as a user sees it. Prints each time, its goal and the ratio.

    python bench/dag.py [--tiny-dir DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.helpers.snakemake_run import TINY, copy_workflow, job_counts, snakemake  # noqa: E402

DRY_RUN_GOAL_S = 10.0
NOOP_GOAL_S = 5.0
N_SCENES = 1000
ARCHS = ["yolov8m", "yolov5mu"]
EXPERIMENTS = {
    "baseline": {"kind": "baseline"},
    "baseline_focal": {"kind": "baseline", "focal_gamma": 1.5},
    "ablation_25": {"kind": "ablation", "keep": 25},
    "ablation_50": {"kind": "ablation", "keep": 50},
    "replacement_25": {"kind": "replacement", "keep": 25, "set": "tarmac_canny"},
    "replacement_50": {"kind": "replacement", "keep": 50, "set": "tarmac_canny"},
    "augment_tarmac_canny_1000": {"kind": "augmentation", "set": "tarmac_canny", "add": 1000},
    "augment_random_uncond_1000": {"kind": "augmentation", "set": "random_uncond", "add": 1000},
}


def write_placeholder_data(root: Path) -> dict:
    """Empty scene files and label files in `root`; returns the `data` config section."""
    xview, dota = root / "xview", root / "dota"
    (xview / "train_images").mkdir(parents=True)
    (dota / "images").mkdir(parents=True)
    (dota / "labelTxt").mkdir(parents=True)
    for i in range(N_SCENES // 2):
        (xview / "train_images" / f"{i}.tif").touch()
        (dota / "images" / f"P{i:04d}.png").touch()
        (dota / "labelTxt" / f"P{i:04d}.txt").touch()
    (xview / "xView_train.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    return {
        "demo": None,
        "xview": {
            "images": str(xview / "train_images"),
            "labels": str(xview / "xView_train.geojson"),
        },
        "dota": {"images": str(dota / "images"), "labels": str(dota / "labelTxt")},
    }


def full_scale_config(root: Path) -> dict:
    """config/config.yaml with the full-scale DAG's sizes and placeholder inputs under `root`."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["data"] = write_placeholder_data(root)
    checkpoint = root / "256x256_diffusion_uncond.pt"
    checkpoint.touch()
    config["diffusion"]["pretrained"] = str(checkpoint)
    config["inpaint"]["chunks"] = 64
    for spec in config["inpaint"]["sets"].values():
        spec["images"] = 2500  # the report's ~2500 synthetic planes per set
    config["experiments"]["runs"] = EXPERIMENTS
    weights = {}
    for arch in ARCHS:
        weights[arch] = str(root / f"{arch}.pt")
        Path(weights[arch]).touch()
    config["detect"].update(archs=ARCHS, seeds=[0, 1, 2, 3, 4], start="weights", weights=weights)
    return config


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(workdir: Path, *args: str, repeats: int) -> tuple[list[float], list[float], str]:
    """Wall and CPU times (s) of `snakemake args` in `workdir`, and the last run's output.

    On a shared machine the wall time includes waiting for a core; the CPU time does not.
    """
    walls, cpus, output = [], [], ""
    for _ in range(repeats):
        cpu, start = children_cpu_s(), time.perf_counter()
        result = snakemake(workdir, *args)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu_s() - cpu)
        output = result.stdout + result.stderr
    return walls, cpus, output


def report(name: str, walls: list[float], cpus: list[float], goal: float) -> None:
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(
        f"{name}: wall {wall:.2f} s (median of {len(walls)}), CPU {cpu:.2f} s; goal < {goal:.0f} s;"
        f" wall / goal = {wall / goal:.2f}, CPU / goal = {cpu / goal:.2f}"
    )


def bench_dry_run(tmp: Path, repeats: int) -> None:
    workdir = copy_workflow(tmp / "full")
    # The generated config replaces the copy's config.yaml: a --configfile would merge the
    # default's experiments with ours instead of replacing them.
    config = full_scale_config(tmp / "data")
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    walls, cpus, output = timed(workdir, "-n", "--quiet", "rules", repeats=repeats)
    jobs = job_counts(output)
    listed = ", ".join(f"{rule} {n}" for rule, n in jobs.items())
    print(f"full-scale DAG: {sum(jobs.values())} jobs ({listed})")
    report("dry run, full scale (1000 scenes, 64 chunks, 2 x 8 x 5)", walls, cpus, DRY_RUN_GOAL_S)


def bench_noop_rerun(tmp: Path, tiny_dir: Path | None, repeats: int) -> None:
    if tiny_dir is None:
        tiny_dir = copy_workflow(tmp / "tiny")
        start = time.perf_counter()
        snakemake(tiny_dir, "--cores", "2", *TINY, timeout=3600)
        print(f"tiny workflow run first: {time.perf_counter() - start:.0f} s")
    walls, cpus, output = timed(tiny_dir, "--cores", "2", *TINY, repeats=repeats)
    if job_counts(output):
        raise SystemExit(f"{tiny_dir}: the tiny workflow is not finished, a rerun ran jobs")
    report("no-op rerun of the finished tiny workflow", walls, cpus, NOOP_GOAL_S)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny-dir", type=Path, help="a finished tiny workflow to rerun")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-noop", action="store_true", help="only the full-scale dry run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as tmp:
        bench_dry_run(Path(tmp), args.repeats)
        if not args.skip_noop:
            bench_noop_rerun(Path(tmp), args.tiny_dir, args.repeats)


if __name__ == "__main__":
    main()
