"""Detection stage speed: one fine-tuning the size of the demo's, against its share of the budget.

    .venv/bin/python bench/detect.py [--threads 2] [--train 567 --val 243 --test 162]

Draws tiles like the demo's (128 px, planes and cars; tests/helpers/yolo_fixtures.py), runs one
`python -m workflow.detect.train` with config/config.yaml's detect.train (from the arch's yaml: speed
only, no AP), and prints its wall time and the ratio to the demo's target: all trainings of
detect.archs x experiments.runs x detect.seeds inside ~12 minutes with the pre-training, i.e.
about 20 s each. A ratio above 1 means the demo's detection stage overruns. The load of the
machine is printed beside it (the measurement is pessimistic on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET_S = 20.0  # seconds per fine-tuning that keep the demo's detection within ~12 minutes


def main(argv=None):
    from tests.helpers.yolo_fixtures import NAMES, write_detect_tiles
    from workflow.detect.params import train_settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", type=int, default=567)
    parser.add_argument("--val", type=int, default=243)
    parser.add_argument("--test", type=int, default=162)
    parser.add_argument("--arch", default="yolov8n")
    args = parser.parse_args(argv)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    size = config["tiling"]["detect_size"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plan = {split: [i % 3 == 0 for i in range(n)] for split, n in
                (("train", args.train), ("val", args.val), ("test", args.test))}
        tiles = write_detect_tiles(tmp / "tiles", plan, size=size)
        settings = {"classes": {"names": list(NAMES), "target": "plane"}, "seed": 0,
                    "experiment": {"kind": "baseline"}}
        run = [sys.executable, "-m"]
        subprocess.run([*run, "workflow.datasets.build", "--settings", json.dumps(settings), "--experiment", "bench",
                        "--detect-tiles", str(tiles), "--out", str(tmp / "ds")], check=True, cwd=REPO,
                       capture_output=True)
        train = train_settings(config, "baseline")  # what the rule passes: less device, workers
        started = time.perf_counter()
        subprocess.run([*run, "workflow.detect.train", "--settings", json.dumps(train), "--data",
                        str(tmp / "ds" / "data.yaml"), "--arch", args.arch, "--seed", "0",
                        "--config-dir", str(tmp / "cfg"), "--threads", str(args.threads),
                        "--out", str(tmp / "run")], check=True, cwd=REPO, capture_output=True)
        wall = time.perf_counter() - started
        metrics = json.loads((tmp / "run" / "metrics.json").read_text())
    n_runs = len(config["detect"]["archs"]) * len(config["experiments"]["runs"]) * len(config["detect"]["seeds"])
    print(f"one fine-tuning ({args.train} tiles of {size} px, {config['detect']['train']['epochs']} epoch(s), "
          f"{args.threads} threads): {wall:.1f} s wall (train {metrics['train_seconds']} s, "
          f"test {metrics['eval_seconds']} s); load average {os.getloadavg()[0]:.1f}")
    print(f"demo: {n_runs} trainings -> {n_runs * wall / 60:.1f} min; ratio to the {TARGET_S:.0f} s target: "
          f"{wall / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
