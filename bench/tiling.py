"""Benchmark of the detection tiling on one large GeoTIFF (issue 2, item 8; issue 12).

    .venv/bin/python bench/tiling.py [--size 16384] [--tile 512] [--overlap 64] [--repeats 2]
        [--case native|resampled|both]

Writes a tiled, deflate-compressed RGB GeoTIFF of size x size px strip by strip (the bench never
holds the scene either), with a few labelled objects, then times in separate subprocesses (so
each peak RSS is clean):
  - ours: `workflow.tiles.tiling.make_tiles("detect", ...)` (index checks, labels, manifest included);
  - bare: a rasterio windowed read + cv2 PNG write loop over the same windows.
Two cases: `native`, the scene tiled at its own pixels; `resampled`, the scene at 0.15 m tiled at
a working 0.3 m (`tiling.gsd`): each `tile` px working window is a native window twice as large,
read with `out_shape` and area averaging, by ours and by the bare loop alike.
Prints, per case, tiles per second of both (wall clock, and per CPU second, steadier on a shared
machine) and their ratio (goal >= 0.8), and our peak RSS (the largest over the repeats) against
the scene's size in memory, size * size * 3 bytes (goal < 0.5).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STRIP = 512  # rows generated and written at a time


def scene_strip(y0: int, rows: int, width: int, noise: np.ndarray) -> np.ndarray:
    """(3, rows, width) uint8: smooth fields (tarmac, grass) with sensor-like noise.

    noise: (3, STRIP, 1024) float32, tiled across the strip and rolled per strip (drawing fresh
    noise for 16384^2 px would dominate the bench's set-up time).
    """
    y = np.arange(y0, y0 + rows, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    field = 110 + 40 * np.sin(x / 310.0) * np.cos(y / 270.0)
    reps = -(-width // noise.shape[2])
    grain = np.roll(np.tile(noise, (1, 1, reps)), y0 // STRIP * 37, axis=2)[:, :rows, :width]
    tint = np.array([1.0, 1.1, 0.9], np.float32)[:, None, None]
    return np.clip(field[None] * tint + grain, 0, 255).astype(np.uint8)


def write_scene(path: Path, size: int, objects: list[dict]) -> None:
    import rasterio
    from rasterio.windows import Window

    noise = np.random.default_rng(0).normal(0, 4, (3, STRIP, 1024)).astype(np.float32)
    profile = dict(driver="GTiff", width=size, height=size, count=3, dtype="uint8", tiled=True,
                   blockxsize=512, blockysize=512, compress="deflate", zlevel=1, crs="EPSG:4326",
                   transform=rasterio.Affine(1e-6, 0, 10.0, 0, -1e-6, 50.0))
    with rasterio.open(path, "w", **profile) as dst:
        for y0 in range(0, size, STRIP):
            rows = min(STRIP, size - y0)
            strip = scene_strip(y0, rows, size, noise)
            for obj in objects:  # paint the boxes that cross this strip
                top, bottom = max(int(obj["ymin"]), y0), min(int(obj["ymax"]), y0 + rows)
                if top < bottom:
                    strip[:, top - y0:bottom - y0, int(obj["xmin"]):int(obj["xmax"])] = 220
            dst.write(strip, window=Window(0, y0, size, rows))


CASES = {"native": (0.3, None), "resampled": (0.15, 0.3)}  # case -> (scene GSD, tiling.gsd)


def make_index(work: Path, size: int, case: str) -> None:
    """scenes.csv with the one scene and objects.csv with a few objects of every class, at the
    working GSD of `case` (the scene itself is the same for both cases)."""
    import pandas as pd
    import yaml

    from workflow.scenes.index import OBJECT_COLUMNS, SCENE_COLUMNS

    names = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["classes"]["names"]
    rng = np.random.default_rng(1)
    objects = []
    for i in range(24):
        w, h = rng.integers(12, 80, 2)
        x, y = rng.integers(0, size - 80, 2)
        objects.append(dict(object_id=i, scene_id="xview_bench", source_label="x",
                            class_name=names[i % len(names)], class_id=i % len(names),
                            xmin=float(x), ymin=float(y), xmax=float(x + w), ymax=float(y + h),
                            clipped=False, difficult=0))
    if not (work / "scene.tif").exists():
        write_scene(work / "scene.tif", size, objects)
    from workflow.scenes.resolution import scene_size, to_working

    native_gsd, working_gsd = CASES[case]
    geometry = scene_size(size, size, native_gsd, working_gsd)
    for obj in objects:
        box = to_working([obj[k] for k in ("xmin", "ymin", "xmax", "ymax")], geometry.scale)
        obj.update(zip(("xmin", "ymin", "xmax", "ymax"), box))
    scene = dict(scene_id="xview_bench", source="xview", image_path=str(work / "scene.tif"),
                 width=geometry.width, height=geometry.height, split="train",
                 n_objects=len(objects), n_target=sum(o["class_id"] == 0 for o in objects),
                 native_width=size, native_height=size, native_gsd=native_gsd, gsd=geometry.gsd,
                 scale=geometry.scale, bands="1,2,3", stretch="")
    pd.DataFrame([scene], columns=SCENE_COLUMNS).to_csv(work / "scenes.csv", index=False)
    pd.DataFrame(objects, columns=OBJECT_COLUMNS).to_csv(work / "objects.csv", index=False)


def settings_json(tile: int, overlap: int) -> str:
    import yaml

    from workflow.tiles.params import tiling_settings

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["tiling"] = dict(config["tiling"], detect_size=tile, detect_overlap=overlap)
    return json.dumps(tiling_settings(config, "detect"))


def run_ours(work: Path, tile: int, overlap: int) -> int:
    from workflow.tiles.tiling import make_tiles, settings_from_json

    settings = settings_from_json(settings_json(tile, overlap), "detect")
    table = make_tiles("detect", work / "scenes.csv", work / "objects.csv", settings,
                       work / "ours" / "manifest.csv")
    return len(table)


def run_bare(work: Path, tile: int, overlap: int) -> int:
    import cv2
    import pandas as pd
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    from workflow.tiles.windows import grid_windows

    out = work / "bare"
    out.mkdir()
    scene = pd.read_csv(work / "scenes.csv").iloc[0]
    scale, width, height = float(scene["scale"]), int(scene["width"]), int(scene["height"])
    resample = {} if scale == 1 else dict(out_shape=(3, tile, tile), resampling=Resampling.average)
    with rasterio.open(work / "scene.tif") as src:
        windows = grid_windows(width, height, tile, tile - overlap)
        for x0, y0 in windows:
            window = Window(x0 * scale, y0 * scale, tile * scale, tile * scale)
            data = src.read(window=window, boundless=False, **resample)
            cv2.imwrite(str(out / f"{x0}_{y0}.png"), cv2.cvtColor(data.transpose(1, 2, 0), cv2.COLOR_RGB2BGR))
    return len(windows)


def peak_rss() -> int:
    """Peak resident set of this process in bytes: VmHWM of /proc (Linux).

    Not getrusage's ru_maxrss: Linux carries the parent's high-water mark across fork + exec, so
    a child would report the bench parent's peak (the scene writer's) as its own.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB; not Linux


def measure(variant: str, work: Path, tile: int, overlap: int) -> None:
    """Child process: run one variant, print JSON (tiles, seconds, peak RSS in bytes)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    start, cpu = time.perf_counter(), time.process_time()
    tiles = {"ours": run_ours, "bare": run_bare}[variant](work, tile, overlap)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_rss()
    print(json.dumps({"tiles": tiles, "seconds": seconds, "cpu": cpu, "peak_rss": peak}))


def child(variant: str, work: Path, args) -> dict:
    for folder in ("ours", "bare"):
        shutil.rmtree(work / folder, ignore_errors=True)
    command = [sys.executable, __file__, "--child", variant, "--work", str(work),
               "--tile", str(args.tile), "--overlap", str(args.overlap)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--case", choices=[*CASES, "both"], default="both")
    parser.add_argument("--workdir", type=Path, default=None, help="where the scene is written (temp)")
    parser.add_argument("--child", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.child:
        measure(args.child, args.work, args.tile, args.overlap)
        return
    work = Path(tempfile.mkdtemp(prefix="bench_tiling_", dir=args.workdir))
    try:
        for case in CASES if args.case == "both" else [args.case]:
            start = time.perf_counter()
            make_index(work, args.size, case)
            native_gsd, working_gsd = CASES[case]
            print(f"case {case}: scene {args.size} x {args.size} px at {native_gsd} m, tiled at "
                  f"{working_gsd or native_gsd} m ({(work / 'scene.tif').stat().st_size / 2**20:.0f} "
                  f"MiB on disk, ready in {time.perf_counter() - start:.1f} s)")
            bench_case(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_case(work: Path, args) -> None:
    best = {}
    for _ in range(args.repeats):  # alternate, keep the best of each (a shared machine)
        for variant in ("bare", "ours"):
            result = child(variant, work, args)
            rate, cpu_rate = result["tiles"] / result["seconds"], result["tiles"] / result["cpu"]
            print(f"  {variant}: {result['tiles']} tiles in {result['seconds']:.1f} s wall "
                  f"({rate:.1f} tiles/s), {result['cpu']:.1f} s CPU ({cpu_rate:.1f} tiles/CPU-s), "
                  f"peak RSS {result['peak_rss'] / 2**20:.0f} MiB")
            old = best.get(variant, (0, 0, 0))
            best[variant] = (max(rate, old[0]), max(cpu_rate, old[1]),
                             max(result["peak_rss"], old[2]))
    scene_bytes = args.size * args.size * 3
    print(f"  tiles/s ratio ours / bare: {best['ours'][0] / best['bare'][0]:.2f} wall, "
          f"{best['ours'][1] / best['bare'][1]:.2f} CPU (goal >= 0.8; best of {args.repeats})")
    print(f"  peak RSS ours / scene in memory: {best['ours'][2] / 2**20:.0f} MiB / "
          f"{scene_bytes / 2**20:.0f} MiB = {best['ours'][2] / scene_bytes:.2f} (goal < 0.5; "
          f"bare loop: {best['bare'][2] / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
