"""How much of the spread between seeds the test split adds: every detector of a finished run
evaluated again on a larger test split drawn by the same scene generator.

    .venv/bin/python bench/test_split_noise.py --configfile config/config.yaml [config/sweep.yaml] \
        [--scenes 24] [--seed 4242] [--threads 2]

A paired difference between two experiments of one seed moves with the training (data order,
augmentation, the head's start) and with which planes the test split happens to hold. The
demo's test split holds a few dozen planes (the index warns under 385); this bench generates
`--scenes` more demo scenes with another generator seed, tiles them all as test tiles with the
config's tiling, evaluates every `results/detect/<arch>/<experiment>/seed<s>/weights/best.pt` of
the run on them, and prints, per comparison of results/report/comparisons.csv and for each test
split, the standard deviation of the paired differences over seeds, the 95 % half-width and the
seeds that would resolve experiments.resolve. The ratio of the two standard deviations is what a
larger test split buys; what is left is the trainings' own spread. Reads the run's ap.csv
(results/report/, written by `make demo` or `make sweep`); writes only under a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.seam import merged  # noqa: E402
from workflow.core.settings import from_dict  # noqa: E402
from workflow.datasets.build import load_images  # noqa: E402
from workflow.detect.metrics import target_metrics  # noqa: E402
from workflow.detect.offline import disable_label_cache, offline_environment  # noqa: E402
from workflow.detect.settings import Runtime, TrainSettings  # noqa: E402
from workflow.report.comparisons import compare  # noqa: E402
from workflow.report.params import paste_sets  # noqa: E402
from workflow.scenes import demo_scenes, index  # noqa: E402
from workflow.scenes.params import index_settings  # noqa: E402
from workflow.tiles import tiling  # noqa: E402
from workflow.tiles.params import tiling_settings  # noqa: E402


def larger_test_split(config: dict, scenes: int, seed: int, root: Path) -> tuple[Path, dict]:
    """`scenes` demo scenes (half per format) of generator `seed`, all tiled as test tiles ->
    (data.yaml, its scenes, tiles and target instances)."""
    config = json.loads(json.dumps(config))
    data = config["data"]
    data["demo"].update(seed=seed, n_xview=scenes // 2, n_dota=scenes - scenes // 2)
    data["xview"].update(images=str(root / "xview" / "images"), labels=str(root / "xview" / "labels.geojson"))
    data["dota"].update(images=str(root / "dota" / "images"), labels=str(root / "dota" / "labelTxt"))
    demo_scenes.main(["--settings", json.dumps(data)])
    scenes_csv, objects_csv = root / "index" / "scenes.csv", root / "index" / "objects.csv"
    index.main(["--settings", json.dumps(index_settings(config)), "--scenes", str(scenes_csv),
                "--objects", str(objects_csv), "--summary", str(root / "index" / "summary.json")])
    table = pd.read_csv(scenes_csv)
    table["split"] = "test"  # every scene of the new draw is test data
    table.to_csv(scenes_csv, index=False)
    manifest = root / "tiles" / "manifest.csv"
    tiling.main(["detect", "--settings", json.dumps(tiling_settings(config, "detect")), "--scenes",
                 str(scenes_csv), "--objects", str(objects_csv), "--manifest", str(manifest)])
    tiles = load_images(manifest, len(config["classes"]["names"]))
    listing = root / "test.txt"
    listing.write_text("".join(f"{path}\n" for path in tiles["image"]))
    names = config["classes"]["names"]
    target = names.index(config["classes"]["target"])
    data_yaml = root / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({"path": str(root), "train": str(listing), "val": str(listing),
                                         "test": str(listing), "names": dict(enumerate(names))}))
    counts = {"scenes": scenes, "tiles": len(tiles), "targets": int(tiles[f"c{target}"].sum())}
    return data_yaml, counts


def evaluate_all(table: pd.DataFrame, results: Path, data_yaml: Path, target: str, root: Path) -> pd.DataFrame:
    """ap.csv rows with ap50 and ap50_95 measured on `data_yaml`'s test list instead."""
    from workflow.detect.train import evaluate

    rows = []
    for row in table.itertuples(index=False):
        run = results / "detect" / row.arch / row.experiment / f"seed{row.seed}"
        settings = from_dict(TrainSettings, json.loads((run / "metrics.json").read_text())["settings"], "settings")
        metrics, names = evaluate(data_yaml, run / "weights" / "best.pt", settings,
                                  root / "eval" / row.arch / row.experiment / f"seed{row.seed}", Runtime("cpu", 0))
        found = target_metrics(metrics, names, target)
        rows.append({**row._asdict(), "ap50": found["ap50"], "ap50_95": found["ap50_95"]})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--scenes", type=int, default=24, help="scenes of the larger test split")
    parser.add_argument("--seed", type=int, default=4242, help="its generator seed (not data.demo.seed)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("YOLO_VERBOSE", "False")  # no progress bar per evaluation
    import torch

    torch.set_num_threads(args.threads)
    config = merged([str(REPO / path) if not Path(path).is_absolute() else path for path in args.configfile])
    if args.seed == config["data"]["demo"]["seed"]:
        parser.error(f"--seed {args.seed}: the demo's own generator seed (data.demo.seed); choose another")
    table = pd.read_csv(args.results / "report" / "ap.csv")
    target = config["classes"]["target"]
    resolve = config["experiments"]["resolve"]
    controls = set(paste_sets(config))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        offline_environment(root / "ultralytics")
        disable_label_cache()
        data_yaml, counts = larger_test_split(config, args.scenes, args.seed, root)
        started = time.perf_counter()
        larger = evaluate_all(table, args.results, data_yaml, target, root)
        seconds = time.perf_counter() - started
    keys = ["arch", "metric", "comparison", "a", "b"]
    own = compare(table, controls, resolve).set_index(keys)
    big = compare(larger, controls, resolve).set_index(keys)
    both = own.merge(big, left_index=True, right_index=True, suffixes=("", "_larger"))
    own_split = json.loads((args.results / "datasets" / "baseline" / "manifest.json").read_text())["splits"]["test"]
    print(f"own test split: {own_split['images']} tiles, {own_split['instances'][target]} {target} instances; "
          f"larger: {counts['scenes']} scenes, {counts['tiles']} tiles, {counts['targets']} {target} instances; "
          f"{len(larger)} detectors evaluated in {seconds:.0f} s (load {os.getloadavg()[0]:.1f})")
    for metric, group in both.groupby(level="metric"):
        print(f"\n{metric}: paired differences over seeds, own test split -> larger one")
        print(f"{'arch':8} {'a - b':42} {'seeds':>5} {'mean diff':>17} {'diff std':>15} {'half-width':>15} "
              f"{'seeds to resolve':>17}")
        for (arch, _, _, a, b), row in group.iterrows():
            print(f"{arch:8} {a + ' - ' + b:42} {row['seeds']:5.0f} {row['mean_diff']:+8.3f} -> "
                  f"{row['mean_diff_larger']:+.3f} {row['diff_std']:6.3f} -> {row['diff_std_larger']:.3f} "
                  f"{row['half_width']:6.3f} -> {row['half_width_larger']:.3f} "
                  f"{row['seeds_to_resolve']:7.0f} -> {row['seeds_to_resolve_larger']:.0f}")
        ratio = (group["diff_std_larger"] / group["diff_std"]).median()
        print(f"median ratio of the spread of paired differences, larger / own test split: {ratio:.2f}")
    spread = {name: frame.groupby(["arch", "experiment"])["ap50"].std().groupby("arch").median()
              for name, frame in (("own", table), ("larger", larger))}
    for arch in spread["own"].index:
        print(f"{arch}: median AP50 std over seeds per experiment {spread['own'][arch]:.3f} (own test split) "
              f"-> {spread['larger'][arch]:.3f} (larger)")


if __name__ == "__main__":
    main()
