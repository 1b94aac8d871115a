"""Benchmark of the plane bank (issue 3): the demo's GrabCut bank for ~150 planes of 32 px.

    .venv/bin/python bench/masks.py [--planes 150] [--crop 32] [--chunks 2]

Draws demo scenes with the project's generator (workflow.scenes.demo.scene) until it has `planes`
plane-centred crops (the tiling stage's crops/manifest.csv format), then runs the bank's chunk
and merge commands in this process as the workflow would (chunks one after the other, so the
sum is the cost of the stage on one core). Prints wall and CPU seconds against the demo budget
(goal: under 60 s for 150 planes, ratio < 1), and the bank's flagged count.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from workflow import io, masks  # noqa: E402
from workflow.core.labels import size_class  # noqa: E402
from workflow.scenes.demo.scene import make_scene  # noqa: E402

BUDGET_S = 60.0


def demo_crops(folder: Path, planes: int, crop: int) -> Path:
    """Plane-centred crops of generated 1024 px scenes -> crops/manifest.csv path."""
    rows, seed = [], 0
    while len(rows) < planes:
        image, objects = make_scene(np.random.default_rng(1000 + seed), 1024, True, False)
        for index, obj in enumerate(o for o in objects if o.kind == "plane"):
            xmin, ymin, xmax, ymax = obj.box
            x0 = int(np.clip(round((xmin + xmax - crop) / 2), 0, 1024 - crop))
            y0 = int(np.clip(round((ymin + ymax - crop) / 2), 0, 1024 - crop))
            path = folder / "images" / f"s{seed}_{index}.png"
            io.write_png(path, np.ascontiguousarray(image[y0 : y0 + crop, x0 : x0 + crop]))
            box = [max(xmin - x0, 0), max(ymin - y0, 0), min(xmax - x0, crop), min(ymax - y0, crop)]
            rows.append({"crop_id": f"s{seed}_{index}", "image": str(path), "scene_id": f"s{seed}",
                         "object_id": index, "x0": x0, "y0": y0, **dict(zip(masks.BOX, box)),
                         "size_class": size_class(box[3] - box[1], box[2] - box[0], crop)})  # fmt: skip
        seed += 1
    io.write_csv(folder / "manifest.csv", pd.DataFrame(rows[:planes]))
    return folder / "manifest.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--planes", type=int, default=150)
    parser.add_argument("--crop", type=int, default=32)
    parser.add_argument("--chunks", type=int, default=2)
    args = parser.parse_args()
    section = yaml.safe_load((ROOT / "config/config.yaml").read_text())["masks"]
    section.update(chunks=args.chunks)
    settings = json.dumps({"masks": section, "tiling": {"crop_size": args.crop}})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        crops = demo_crops(tmp / "crops", args.planes, args.crop)
        wall, cpu = time.perf_counter(), time.process_time()
        folders = [tmp / f"bank/chunk{i}" for i in range(args.chunks)]
        for i, folder in enumerate(folders):
            masks.main(["chunk", "--settings", settings, "--crops", str(crops), "--chunk", str(i),
                        "--out", str(folder)])  # fmt: skip
        masks.main(["merge", "--settings", settings, "--crops", str(crops), "--chunks",
                    *map(str, folders), "--manifest", str(tmp / "bank/manifest.csv"),
                    "--summary", str(tmp / "bank/summary.json")])  # fmt: skip
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        summary = json.loads((tmp / "bank/summary.json").read_text())
    print(
        f"{section['method']} bank of {summary['crops']} planes of {args.crop} px: "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU; flagged {summary['flagged']} {summary['flag_reasons']}"
    )
    print(f"ratio to the demo budget ({BUDGET_S:.0f} s): {wall / BUDGET_S:.2f} wall, "
          f"{cpu / BUDGET_S:.2f} CPU (goal < 1)")  # fmt: skip


if __name__ == "__main__":
    main()
