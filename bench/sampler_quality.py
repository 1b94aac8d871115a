"""Sampler quality against cost, on the demo's own models (run after `make demo`).

    python bench/sampler_quality.py [--set tarmac_canny] [--images 48] [--respacing 25]

Inpaints the same placements of one synthetic set (the set's own plan: same tiles, bank planes,
flips and windows) with several sampler settings: RePaint at a fixed respacing with several
jump_length x jump_n_sample (no jumps included), and the `fast` sampler (DDIM) at several
respacings. Each result is judged as the synthetic-quality stage does (the yolov8n baseline
training of the first seed, workflow.report.quality). Prints per setting: network evaluations
per image, seconds per image (wall, this machine, for the whole chunk: networks loaded,
placements planned, windows sampled, images written), found rate with its 95 % Wilson interval
and the cherry-picker median; then the cheapest setting whose found rate lies within the
interval of the most expensive one and whose cherry-picker median is within 0.1 of its, and the
ratio of their evaluations (goal: at least 5).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from workflow.core.settings import from_dict
from workflow.detect.offline import disable_label_cache, offline_environment
from workflow.diffusion.checkpoint import load_model
from workflow.inpaint import run
from workflow.inpaint.repaint import Sampler
from workflow.inpaint.settings import InpaintSettings
from workflow.inpaint.timetable import count_evaluations
from workflow.detect.finder import load_finder, predict
from workflow.report.quality import (
    judge_synthetic,
    picker_scores,
    wilson_interval,
)

REPAINT = [(1, 1), (5, 2), (5, 5), (10, 5), (10, 10)]  # (jump_length, jump_n_sample)
FAST = [5, 10, 20, 50]  # DDIM respacings
PICKER_MARGIN = 0.1


def settings_of(base: InpaintSettings, sampler: Sampler) -> InpaintSettings:
    if sampler.step == "ddpm":
        return dataclasses.replace(base, sampler="repaint", respacing=sampler.respacing,
                                   jump_length=sampler.jump_length, jump_n_sample=sampler.jump_n_sample)
    fast = dataclasses.replace(base.fast, respacing=sampler.respacing, jump_length=1, jump_n_sample=1)
    return dataclasses.replace(base, sampler="fast", fast=fast)


def evaluations(sampler: Sampler) -> int:
    return count_evaluations(sampler.respacing, sampler.jump_length, sampler.jump_n_sample)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="tarmac_canny")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--respacing", type=int, default=25, help="t_T of the RePaint settings")
    parser.add_argument("--judge", default="results/detect/yolov8n/baseline/seed0")
    parser.add_argument("--config", default="config/config.yaml", help="the config the demo ran with")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    cfg = yaml.safe_load(Path(args.config).read_text())
    inpaint = from_dict(InpaintSettings, cfg["inpaint"], "inpaint")
    spec = inpaint.sets[args.set]
    inpaint = dataclasses.replace(inpaint, chunks=1, sets={args.set: dataclasses.replace(spec, images=args.images,
                                                                                          candidates=1)})
    files = run.ChunkFiles(bank=Path("results/bank/manifest.csv"),
                           background=Path("results/tiles/background/manifest.csv"),
                           model=Path(f"results/diffusion/models/{spec.model}/model.pt"),
                           classifier=Path("results/diffusion/size_classifier/model.pt"))
    device = "cpu"
    offline_environment("results/detect/ultralytics")
    disable_label_cache()
    judge = load_finder(Path(args.judge))
    picker, picker_spec = load_model("results/diffusion/cherry_picker/model.pt", device)
    target_id = cfg["classes"]["names"].index(cfg["classes"]["target"])
    samplers = [Sampler(args.respacing, r, j, "ddpm") for r, j in REPAINT] + [Sampler(n, 1, 1, "ddim") for n in FAST]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in samplers:
            s = settings_of(inpaint, sampler)
            name = f"{s.sampler}_{sampler.respacing}_{sampler.jump_length}_{sampler.jump_n_sample}"
            out = Path(tmp) / name
            started = time.perf_counter()
            table = run.rooted(run.run_chunk(run.Chunk(s, args.set, 0), files, target_id, out, device), out)
            seconds = (time.perf_counter() - started) / len(table)
            judged = judge_synthetic(judge, table, predict(judge, table["image"].tolist(), target_id, 32, device))
            scores = picker_scores(picker, picker_spec.image_size, table, device)
            found = int(judged["found"].sum())
            low, high = wilson_interval(found, len(table))
            rows.append(dict(setting=name, evaluations=evaluations(sampler), seconds_per_image=round(seconds, 3),
                             found=found, images=len(table), found_rate=found / len(table), low=low, high=high,
                             picker_median=float(np.median(scores))))
            print(rows[-1], flush=True)
    frame = pd.DataFrame(rows).sort_values("evaluations", kind="stable")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    top = frame.iloc[-1]
    # Equal quality: a found rate within the most expensive setting's interval, and a cherry-picker
    # median within PICKER_MARGIN of its own (the second measure of the same windows).
    within = frame[(frame["found_rate"] >= top["low"]) & (frame["found_rate"] <= top["high"])
                   & (frame["picker_median"] >= top["picker_median"] - PICKER_MARGIN)]
    cheapest = within.iloc[0]
    print(f"most expensive: {top['setting']} ({top['evaluations']} evaluations, found {top['found_rate']:.3f} "
          f"[{top['low']:.3f}, {top['high']:.3f}])")
    print(f"cheapest of equal quality (found rate in its interval, picker median within {PICKER_MARGIN}): {cheapest['setting']} ({cheapest['evaluations']} evaluations, found "
          f"{cheapest['found_rate']:.3f}); evaluations ratio {top['evaluations'] / cheapest['evaluations']:.1f} "
          "(goal >= 5)")


if __name__ == "__main__":
    main()
