"""The seam of inpainted planes against how often a real-trained detector finds them, per way of
laying the painted plane into its tile (run after a workflow run that made the set and trained
the judge: the yolov8n baseline of the first seed).

    python bench/seam.py --configfile config/config.yaml [more files] [--set tarmac_canny] [--images 96]
        [--context apron] [--paste-set tarmac_paste] [--true-size yes|no]

Paints the windows of one synthetic set's own placements once (its model, sampler and seeds,
one candidate each), then lays them into their tiles in several ways: the whole unknown region
(the disc of repainted ground that workflows before inpaint.feather wrote), and the plane's
feathered mask with and without the shadow the model drew (workflow.inpaint.placement.lay_in).
Prints per way: the median mean absolute difference (grey levels) and the median ratio of
local contrast in the ring 2-8 px around each plane's box against its tile
(workflow.report.seam), the judge's found rate with its 95 % Wilson interval, and, for the
same judge, the copy-paste set's and the real test planes' found rates. `--context` places the
set's planes on another context than its own (`apron` reads results/tiles/ground/).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from snakemake.utils import update_config

from workflow.core.checks import drop_removed_entries
from workflow.core.io import write_png
from workflow.core.settings import from_dict
from workflow.detect.offline import disable_label_cache, offline_environment
from workflow.inpaint import placement as pl
from workflow.inpaint import run
from workflow.inpaint.settings import InpaintSettings
from workflow.report import seam
from workflow.detect.finder import load_finder, predict
from workflow.report.quality import (
    ceiling,
    judge_synthetic,
    real_test_planes,
    wilson_interval,
)

# (name, feather, shadow); None as feather: the whole unknown region, as painted.
WAYS = [("disc (unknown region)", None, None), ("plane, feather 1", 1, None), ("plane, feather 2", 2, None),
        ("plane+shadow 16, feather 2", 2, 16.0), ("plane+shadow 24, feather 2", 2, 24.0)]


def merged(paths: list[str]) -> dict:
    """Config files merged key by key, as Snakemake merges --configfile files, less the entries a
    layered file removes (null)."""
    config: dict = {}
    for path in paths:
        update_config(config, yaml.safe_load(Path(path).read_text()))
    drop_removed_entries(config)
    return config


def painted(chunk: run.Chunk, files: run.ChunkFiles, device):
    """The chunk's placements, their window inputs and their painted windows (one each)."""
    nets = run.load_networks(chunk, files, device)
    _, placements = run.plan_chunk(chunk, files, nets.window)
    s = chunk.settings
    inputs = []
    for p in placements:
        ground, unknown, cond = pl.window_inputs(p, s.mask_dilation, nets.condition)
        inputs.append(run.WindowInputs(p, ground, unknown, cond, p.size_class))
    windows = []
    for b, start in enumerate(range(0, len(inputs), s.batch_size)):
        seed = np.random.SeedSequence([s.seed, pl.set_key(chunk.name), chunk.index, b]).generate_state(1)[0]
        generator = torch.Generator(device).manual_seed(int(seed))
        windows.extend(run.inpaint_batch(nets, s, inputs[start:start + s.batch_size], generator, device))
        print(f"painted {len(windows)} of {len(inputs)}", flush=True)
    return placements, inputs, windows


def lay(inputs, windows, feather, shadow) -> list[np.ndarray]:
    """The final windows at tile resolution, laid in one way (WAYS)."""
    if feather is None:
        finals = []
        for w, window in zip(inputs, windows):
            side = w.placement.window_side(window.shape[0])
            final = pl.tile_window(w.placement, window.shape[0]).copy()
            unknown = pl.resized(w.unknown, side)
            final[unknown] = pl.resized(window, side)[unknown]
            finals.append(final)
        return finals
    return [pl.lay_in_tile(w.placement, window, w.unknown, feather, shadow) for w, window in zip(inputs, windows)]


def judged_row(name, table, judge, target_id, device) -> dict:
    found = int(judge_synthetic(judge, table, predict(judge, table["image"].tolist(), target_id, 32, device))["found"].sum())
    low, high = wilson_interval(found, len(table))
    mads, ratios = seam.measure(table)
    return dict(way=name, images=len(table), ring_mad=float(np.nanmedian(mads)),
                ring_contrast=float(np.nanmedian(ratios)), found_rate=found / len(table), low=low, high=high)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--set", default="tarmac_canny")
    parser.add_argument("--paste-set", default=None, help="the copy-paste set to compare with")
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--judge", default="results/detect/yolov8n/baseline/seed0")
    parser.add_argument("--context", help="place on this context instead of the set's own")
    parser.add_argument("--true-size", choices=("yes", "no"), help="override inpaint.true_size")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    cfg = merged(args.configfile)
    inpaint = from_dict(InpaintSettings, cfg["inpaint"], "inpaint")
    spec = dataclasses.replace(inpaint.sets[args.set], images=args.images, candidates=1)
    if args.context:
        spec = dataclasses.replace(spec, context=args.context)
    inpaint = dataclasses.replace(inpaint, chunks=1, sets={args.set: spec})
    if args.true_size:
        inpaint = dataclasses.replace(inpaint, true_size=args.true_size == "yes")
    files = run.ChunkFiles(bank=Path("results/bank/manifest.csv"),
                           background=Path("results/tiles/background/manifest.csv"),
                           model=Path(f"results/diffusion/models/{spec.model}/model.pt"),
                           classifier=Path("results/diffusion/size_classifier/model.pt"),
                           **({"ground": Path("results/tiles/ground/scores.csv"),
                               "planes": Path("results/tiles/ground/planes.csv")}
                              if spec.context == "apron" else {}))
    device = "cpu"
    offline_environment("results/detect/ultralytics")
    disable_label_cache()
    judge = load_finder(Path(args.judge))
    target_id = cfg["classes"]["names"].index(cfg["classes"]["target"])
    placements, inputs, windows = painted(run.Chunk(inpaint, args.set, 0), files, device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, feather, shadow in WAYS:
            records = []
            for i, (p, final) in enumerate(zip(placements, lay(inputs, windows, feather, shadow))):
                path = Path(tmp) / f"{len(rows)}_{i}.png"
                write_png(path, pl.place_window(p, final))
                records.append(dict(image=str(path), background=p.background, xmin=p.box[0], ymin=p.box[1],
                                    xmax=p.box[2], ymax=p.box[3]))
            rows.append(judged_row(name, pd.DataFrame(records), judge, target_id, device))
            if name == WAYS[-2][0]:
                write_png(Path("results") / "bench_seam_sheet.png", seam.seam_sheet(pd.DataFrame(records), 16))
            print(rows[-1], flush=True)
    if args.paste_set:
        table = pd.read_csv(f"results/copy_paste/{args.paste_set}/manifest.csv").head(args.images)
        rows.append(judged_row(f"copy-paste {args.paste_set}", table, judge, target_id, device))
    images, boxes = real_test_planes("results/tiles/detect/manifest.csv", target_id)
    found, n = ceiling(judge, boxes, predict(judge, images, target_id, 32, device))
    low, high = wilson_interval(found, n)
    rows.append(dict(way="real test planes", images=n, ring_mad=np.nan, ring_contrast=np.nan,
                     found_rate=found / n, low=low, high=high))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
