"""One chunk of one synthetic set: plan placements, inpaint K candidates each in GPU batches,
keep the cherry-picker's best, paste into the tiles, write images, labels and metadata.csv.

    python -m workflow.inpaint.run --settings JSON --set NAME --chunk I --bank MANIFEST
        --background MANIFEST --model MODEL.pt [--classifier MODEL.pt] [--cherry-picker MODEL.pt]
        --out results/inpaint/{set}/chunk{i} [--device auto]

Deterministic from inpaint.seed, the set name and the chunk index: placement i draws from a
numpy Generator seeded by (seed, set, i); batch b of the chunk from a torch.Generator seeded by
(seed, set, chunk, b). The chunk folder appears whole (workflow.core.io.atomic_dir).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from workflow.core.device import pick_device
from workflow.core.io import atomic_dir, read_png, write_png
from workflow.core.labels import yolo_lines
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.core.tensors import to_tensor, to_uint8
from workflow.diffusion.checkpoint import load_model
from workflow.diffusion.gaussian import make_diffusion
from workflow.inpaint import placement as pl
from workflow.inpaint.repaint import Guidance, inpaint, prepare_network
from workflow.inpaint.settings import ChunkSettings, InpaintSettings, chunk_indices

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Networks:
    model: torch.nn.Module
    condition: str
    diffusion: object  # respaced GaussianDiffusion
    window: int
    classifier: torch.nn.Module | None
    picker: torch.nn.Module | None


def set_key(name: str) -> int:
    return zlib.crc32(name.encode())


def load_networks(args, s: InpaintSettings, spec_set, device) -> Networks:
    model, spec = load_model(args.model, device)
    model = prepare_network(model, device, s.compile)
    sampler = s.make_sampler()
    d = make_diffusion(spec.schedule, spec.steps, respacing=sampler.respacing)
    classifier = picker = None
    if spec.condition == "none" and s.guidance_scale is None:
        raise ValueError(f"{args.model} is unconditional: --settings must hold inpaint.guidance_scale "
                         "(0 for no guidance)")
    if spec.condition == "none" and s.guidance_scale != 0:
        if args.classifier is None:
            raise ValueError(f"{args.model} is unconditional and inpaint.guidance_scale is "
                             f"{s.guidance_scale}: give --classifier (the size classifier)")  # fmt: skip
        classifier, _ = load_model(args.classifier, device)
    if spec_set.candidates > 1:
        if args.cherry_picker is None:
            raise ValueError(
                f"inpaint set {args.set} has {spec_set.candidates} candidates: give --cherry-picker"
            )
        picker, _ = load_model(args.cherry_picker, device)
    return Networks(model, spec.condition, d, spec.image_size, classifier, picker)


def inpaint_batch(nets: Networks, s: InpaintSettings, windows, generator, device):
    """windows: list of (image, unknown, cond, size_class) -> (B, S, S, 3) uint8, scores (B,)."""
    image = to_tensor([w[0] for w in windows], device)
    known = torch.from_numpy(np.stack([~w[1] for w in windows]))[:, None].to(device)
    cond = to_tensor([w[2] for w in windows], device) if nets.condition != "none" else None
    guide = None
    if nets.classifier is not None:
        y = torch.tensor([w[3] for w in windows], device=device)
        guide = Guidance(nets.classifier, y, s.guidance_scale)
    out = inpaint(nets.diffusion, nets.model, image, known, s.make_sampler(), generator, cond, guide)
    # Cherry-picking (method report D.2): P(plane) of each window; the best of K is kept.
    scores = nets.picker.plane_probability(out) if nets.picker is not None else torch.zeros(len(out))
    return to_uint8(out), scores.cpu().numpy()


def plan_chunk(args, s: InpaintSettings, window: int) -> tuple[range, list[pl.Placement]]:
    """The chunk's image indices and their placements (placement i seeded by (seed, set, i))."""
    spec_set = s.sets[args.set]
    tiles = pl.tile_pool(pd.read_csv(args.background), spec_set.context)
    bank = pl.bank_pool(pd.read_csv(args.bank))
    indices = chunk_indices(spec_set.images, s.chunks, args.chunk)
    placements = [
        pl.plan(np.random.default_rng([s.seed, set_key(args.set), i]), tiles, bank, window,
                s.mask_dilation, s.placement_tries)
        for i in indices
    ]  # fmt: skip
    log.info("%d placements, %d without a free window (they overlap an existing object)",
             len(placements), sum(p.overlaps for p in placements))  # fmt: skip
    return indices, placements


def best_candidates(args, s: InpaintSettings, nets: Networks, inputs: list, device) -> list:
    """K candidates of each placement's window, sampled in batches -> per placement the best
    (image, score) and every candidate's score. inputs[j] = (image, unknown, cond, size_class);
    batch b is seeded by (seed, set, chunk, b)."""
    k = s.sets[args.set].candidates
    rows = [j for j in range(len(inputs)) for _ in range(k)]
    best, scored = [None] * len(inputs), [[] for _ in inputs]
    for b, start in enumerate(range(0, len(rows), s.batch_size)):
        batch = rows[start : start + s.batch_size]
        seed = np.random.SeedSequence([s.seed, set_key(args.set), args.chunk, b]).generate_state(1)[0]
        generator = torch.Generator(device).manual_seed(int(seed))
        started = time.perf_counter()
        images, scores = inpaint_batch(nets, s, [inputs[j] for j in batch], generator, device)
        log.info("batch %d: %d windows in %.1f s", b, len(batch), time.perf_counter() - started)
        for j, image, score in zip(batch, images, scores):
            scored[j].append(float(score))
            if best[j] is None or score > best[j][1]:
                best[j] = (image, float(score))
    return [(image, score, scores) for (image, score), scores in zip(best, scored)]


def run_chunk(args, s: InpaintSettings, class_id: int, out: Path, device) -> pd.DataFrame:
    """Plan, inpaint and write the chunk into `out`; returns its metadata table."""
    nets = load_networks(args, s, s.sets[args.set], device)
    indices, placements = plan_chunk(args, s, nets.window)
    windows = [pl.window_inputs(p, s.mask_dilation, nets.condition) for p in placements]
    inputs = [(*w, p.size_class) for w, p in zip(windows, placements)]
    best = best_candidates(args, s, nets, inputs, device)
    records = [
        write_image(out, args.set, i, p, w[1], image, score, class_id)
        | dict(candidate_scores=";".join(f"{v:.4f}" for v in scores))
        for i, p, w, (image, score, scores) in zip(indices, placements, windows, best)
    ]
    guidance = s.guidance_scale if nets.classifier is not None else 0.0
    return pd.DataFrame(records).assign(guidance_scale=guidance)


def write_image(out: Path, set_name: str, i: int, p: pl.Placement, unknown, window, score, class_id):
    """Paste, write the image and its labels; return the metadata row."""
    name = f"{set_name}_{i:05d}"
    tile = read_png(p.background)
    write_png(out / "images" / f"{name}.png", pl.paste(tile, window, unknown, p.x, p.y))
    labels = [line for line in Path(p.labels).read_text().splitlines() if line.strip()]
    labels.append(yolo_lines([class_id], [p.box], p.tile_size).rstrip("\n"))
    (out / "labels" / f"{name}.txt").write_text("\n".join(labels) + "\n")
    return dict(image=f"images/{name}.png", labels=f"labels/{name}.txt", index=i, tile_id=p.tile_id,
                background=p.background, crop_id=p.crop_id, flip=p.flip, x=p.box[0], y=p.box[1],
                xmin=p.box[0], ymin=p.box[1], xmax=p.box[2], ymax=p.box[3], window_x=p.x, window_y=p.y,
                size_class=p.size_class, overlaps=p.overlaps, score=score)  # fmt: skip


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settings", required=True, help="JSON of the inpaint and classes sections")
    parser.add_argument("--set", required=True)
    parser.add_argument("--chunk", type=int, required=True)
    for flag in ("--bank", "--background", "--model", "--out"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--classifier")
    parser.add_argument("--cherry-picker")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, ChunkSettings)
    s = settings.inpaint
    if args.set not in s.sets:
        raise ValueError(f"--set {args.set!r} is not a key of inpaint.sets {sorted(s.sets)}")
    class_id = settings.classes.target_id
    device = pick_device(args.device)
    started = time.perf_counter()
    with atomic_dir(args.out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        table = run_chunk(args, s, class_id, tmp, device)
        table = add_sampler_columns(table, s, args)
        table["image"] = [str(Path(args.out) / v) for v in table["image"]]
        table["labels"] = [str(Path(args.out) / v) for v in table["labels"]]
        table.to_csv(tmp / "metadata.csv", index=False)
    log.info("wrote %d images to %s in %.1f s on %s", len(table), args.out,
             time.perf_counter() - started, device)  # fmt: skip


def add_sampler_columns(table: pd.DataFrame, s: InpaintSettings, args) -> pd.DataFrame:
    sampler = s.make_sampler()
    spec_set = s.sets[args.set]
    extra = dict(set=args.set, chunk=args.chunk, model=spec_set.model, context=spec_set.context,
                 seed=s.seed, sampler=s.sampler, step=sampler.step, respacing=sampler.respacing,
                 jump_length=sampler.jump_length, jump_n_sample=sampler.jump_n_sample,
                 candidates=spec_set.candidates)  # fmt: skip
    return table.assign(**extra)


if __name__ == "__main__":
    main()
