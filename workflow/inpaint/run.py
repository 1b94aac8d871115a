"""One chunk of one synthetic set: plan placements, inpaint K candidates each in GPU batches,
keep the cherry-picker's best, lay each plane into its tile by its feathered mask, write images,
labels and metadata.csv.

    python -m workflow.inpaint.run --settings JSON --set NAME --chunk I --bank MANIFEST
        --background MANIFEST --model MODEL.pt [--classifier MODEL.pt] [--cherry-picker MODEL.pt]
        [--needs results/datasets/needs/{set}.json] [--ground results/tiles/ground/scores.csv
        --planes results/tiles/ground/planes.csv] --out results/inpaint/{set}/chunk{i} [--device auto]

Deterministic from inpaint.seed, the set name and the chunk index: placement i draws from a
numpy Generator seeded by (seed, set, i); batch b of the chunk from a torch.Generator seeded by
(seed, set, chunk, b). The chunk folder appears whole (workflow.core.io.atomic_dir).

The library functions take a `Chunk` (the settings, the set and the chunk index) and the
`ChunkFiles` it reads; only `main` sees the command line (bench/sampler_quality.py calls them).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from workflow.core.checks import check_chunks_filled
from workflow.core.device import pick_device
from workflow.core.io import atomic_dir, write_png
from workflow.core.logs import setup_logging
from workflow.core.set_size import set_images
from workflow.core.settings import read_settings
from workflow.core.tensors import to_tensor, to_uint8
from workflow.diffusion.checkpoint import load_model
from workflow.diffusion.gaussian import make_diffusion
from workflow.inpaint import placement as pl
from workflow.inpaint.repaint import Guidance, inpaint, prepare_network
from workflow.inpaint.settings import ChunkSettings, InpaintSettings, SetSpec, chunk_indices
from workflow.inpaint.timetable import count_evaluations
from workflow.tiles.ground import PlaneGround

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Chunk `index` of the synthetic set `name`, under the inpaint settings that hold its entry."""

    settings: InpaintSettings
    name: str
    index: int

    def __post_init__(self):
        if self.name not in self.settings.sets:
            raise ValueError(f"set {self.name!r} is not a key of inpaint.sets {sorted(self.settings.sets)}")

    @property
    def spec(self) -> SetSpec:
        return self.settings.sets[self.name]


@dataclasses.dataclass(frozen=True)
class ChunkFiles:
    """What a chunk reads: the bank and background manifests, the model that inpaints, the size
    classifier (guidance of an unconditional model) and the cherry-picker (sets with K > 1)."""

    bank: Path
    background: Path
    model: Path
    classifier: Path | None = None
    cherry_picker: Path | None = None
    needs: Path | None = None  # the set's size when its `images` is auto (workflow.datasets.needs)
    ground: Path | None = None  # the ground scores, for a set of context apron (workflow.tiles.ground)
    planes: Path | None = None  # the plane grounds, for a set of context apron


@dataclasses.dataclass(frozen=True)
class Networks:
    model: torch.nn.Module
    condition: str
    diffusion: object  # respaced GaussianDiffusion
    window: int
    classifier: torch.nn.Module | None
    picker: torch.nn.Module | None


@dataclasses.dataclass(frozen=True)
class WindowInputs:
    """What the sampler and the lay-in read of one placement's window: the placement, the
    tile's ground (S, S, 3) uint8, the unknown region (S, S) bool, the condition (S, S) uint8
    or None, and the size class (guidance)."""

    placement: pl.Placement
    ground: np.ndarray
    unknown: np.ndarray
    cond: np.ndarray | None
    size_class: int


@dataclasses.dataclass(frozen=True)
class Inpainted:
    """One placement inpainted: its unknown region (S, S) bool, the kept final window (S, S, 3)
    uint8 (the plane laid into the tile's ground), the kept candidate's cherry-picker score,
    every candidate's, and the CPU seconds its candidates took (their share of each batch)."""

    placement: pl.Placement
    unknown: np.ndarray
    window: np.ndarray
    score: float
    scores: list[float]
    cpu_seconds: float


def load_networks(chunk: Chunk, files: ChunkFiles, device) -> Networks:
    s = chunk.settings
    model, spec = load_model(files.model, device)
    model = prepare_network(model, device, s.compile)
    d = make_diffusion(spec.schedule, spec.steps, respacing=s.make_sampler().respacing)
    classifier = picker = None
    if spec.condition == "none" and s.guidance_scale is None:
        raise ValueError(f"{files.model} is unconditional: --settings must hold inpaint.guidance_scale "
                         "(0 for no guidance)")
    if spec.condition == "none" and s.guidance_scale != 0:
        if files.classifier is None:
            raise ValueError(f"{files.model} is unconditional and inpaint.guidance_scale is "
                             f"{s.guidance_scale}: give --classifier (the size classifier)")  # fmt: skip
        classifier, _ = load_model(files.classifier, device)
    if chunk.spec.candidates > 1:
        if files.cherry_picker is None:
            raise ValueError(
                f"inpaint set {chunk.name} has {chunk.spec.candidates} candidates: give --cherry-picker"
            )
        picker, _ = load_model(files.cherry_picker, device)
    return Networks(model, spec.condition, d, spec.image_size, classifier, picker)


def inpaint_batch(nets: Networks, s: InpaintSettings, windows, generator, device) -> np.ndarray:
    """windows: list of WindowInputs -> the painted windows (B, S, S, 3) uint8."""
    image = to_tensor([w.ground for w in windows], device)
    known = torch.from_numpy(np.stack([~w.unknown for w in windows]))[:, None].to(device)
    cond = to_tensor([w.cond for w in windows], device) if nets.condition != "none" else None
    guide = None
    if nets.classifier is not None:
        y = torch.tensor([w.size_class for w in windows], device=device)
        guide = Guidance(nets.classifier, y, s.guidance_scale)
    return to_uint8(inpaint(nets.diffusion, nets.model, image, known, s.make_sampler(), generator,
                            cond, guide))


def laid_in(nets: Networks, s: InpaintSettings, windows, painted, device) -> tuple[list, np.ndarray]:
    """Each painted window's plane laid into its tile's ground (placement.lay_in_tile, at the
    plane's true size when placed so) -> the final windows and their scores: the
    cherry-picker's P(plane) of what will be written, at the model's side (method report D.2;
    the best of K is kept), zeros without one."""
    finals = [pl.lay_in_tile(w.placement, image, w.unknown, s.feather, s.shadow)
              for w, image in zip(windows, painted)]
    if nets.picker is None:
        return finals, np.zeros(len(finals))
    seen = [pl.resized(final, nets.window) for final in finals]
    with torch.no_grad():
        return finals, nets.picker.plane_probability(to_tensor(seen, device)).cpu().numpy()


def plan_chunk(chunk: Chunk, files: ChunkFiles, window: int) -> tuple[range, list[pl.Placement]]:
    """The chunk's image indices and their placements (placement i seeded by (seed, set, i))."""
    s = chunk.settings
    ground = pd.read_csv(files.ground) if files.ground is not None else None
    planes = PlaneGround.read(files.planes) if files.planes is not None else None
    tiles = pl.tile_pool(pd.read_csv(files.background), chunk.spec.context, ground)
    bank = pl.bank_pool(pd.read_csv(files.bank))
    images = set_images(chunk.spec.images, files.needs, chunk.name)
    check_chunks_filled(chunk.name, images, s.chunks)
    indices = chunk_indices(images, s.chunks, chunk.index)
    placements = [
        pl.plan(np.random.default_rng([s.seed, pl.set_key(chunk.name), i]), tiles, bank, window,
                s.mask_dilation, s.placement_tries, planes, s.true_size)
        for i in indices
    ]  # fmt: skip
    log.info("%d placements, %d without a free window (they overlap an existing object)",
             len(placements), sum(p.overlaps for p in placements))  # fmt: skip
    return indices, placements


def best_candidates(chunk: Chunk, nets: Networks, inputs: list[WindowInputs], device) -> list:
    """K candidates of each placement's window, sampled in batches and laid into their ground ->
    per placement the best (final window, score), every candidate's score and the CPU seconds
    of its candidates (process time, every thread); batch b is seeded by (seed, set, chunk, b)."""
    s = chunk.settings
    rows = [j for j in range(len(inputs)) for _ in range(chunk.spec.candidates)]
    best, scored, cpu = [None] * len(inputs), [[] for _ in inputs], [0.0] * len(inputs)
    for b, start in enumerate(range(0, len(rows), s.batch_size)):
        batch = rows[start : start + s.batch_size]
        seed = np.random.SeedSequence([s.seed, pl.set_key(chunk.name), chunk.index, b]).generate_state(1)[0]
        generator = torch.Generator(device).manual_seed(int(seed))
        started, started_cpu = time.perf_counter(), time.process_time()
        windows = [inputs[j] for j in batch]
        painted = inpaint_batch(nets, s, windows, generator, device)
        images, scores = laid_in(nets, s, windows, painted, device)
        batch_cpu = time.process_time() - started_cpu
        log.info("batch %d: %d windows in %.1f s (%.1f CPU-s)", b, len(batch), time.perf_counter() - started,
                 batch_cpu)
        for j, image, score in zip(batch, images, scores):
            cpu[j] += batch_cpu / len(batch)
            scored[j].append(float(score))
            if best[j] is None or score > best[j][1]:
                best[j] = (image, float(score))
    return [(image, score, scores, seconds) for (image, score), scores, seconds in zip(best, scored, cpu)]


def inpaint_placements(chunk: Chunk, nets: Networks, placements: list[pl.Placement], device) -> list[Inpainted]:
    """Each placement's window inpainted K times, laid into its ground, the cherry-picker's
    best kept."""
    inputs = []
    for p in placements:
        ground, unknown, cond = pl.window_inputs(p, chunk.settings.mask_dilation, nets.condition)
        inputs.append(WindowInputs(p, ground, unknown, cond, p.size_class))
    best = best_candidates(chunk, nets, inputs, device)
    return [Inpainted(p, w.unknown, image, score, scores, seconds)
            for p, w, (image, score, scores, seconds) in zip(placements, inputs, best)]  # fmt: skip


def run_chunk(chunk: Chunk, files: ChunkFiles, class_id: int, out: Path, device) -> pd.DataFrame:
    """Plan, inpaint and write the chunk into `out`; returns its metadata table (paths relative
    to `out`)."""
    nets = load_networks(chunk, files, device)
    indices, placements = plan_chunk(chunk, files, nets.window)
    table = write_chunk(out, chunk.name, indices, inpaint_placements(chunk, nets, placements, device), class_id)
    guidance = chunk.settings.guidance_scale if nets.classifier is not None else 0.0
    return add_sampler_columns(table.assign(guidance_scale=guidance), chunk)


def write_chunk(out: Path, set_name: str, indices, inpainted: list[Inpainted], class_id: int) -> pd.DataFrame:
    """Images and labels of the inpainted placements under `out`; their metadata table."""
    for folder in ("images", "labels"):
        (Path(out) / folder).mkdir(parents=True, exist_ok=True)
    records = [
        write_image(Path(out), set_name, i, r, class_id)
        | dict(candidate_scores=";".join(f"{v:.4f}" for v in r.scores), cpu_seconds=round(r.cpu_seconds, 4))
        for i, r in zip(indices, inpainted)
    ]
    return pd.DataFrame(records)


def write_image(out: Path, set_name: str, i: int, r: Inpainted, class_id: int):
    """The final window in its tile: write the image and its labels; return the metadata row."""
    name, p = f"{set_name}_{i:05d}", r.placement
    write_png(out / "images" / f"{name}.png", pl.place_window(p, r.window))
    (out / "labels" / f"{name}.txt").write_text(pl.label_text(p, class_id))
    return pl.record(p, name, i) | dict(score=r.score)


def add_sampler_columns(table: pd.DataFrame, chunk: Chunk) -> pd.DataFrame:
    s, spec = chunk.settings, chunk.spec
    sampler = s.make_sampler()
    evaluations = count_evaluations(sampler.respacing, sampler.jump_length, sampler.jump_n_sample)
    extra = dict(set=chunk.name, chunk=chunk.index, model=spec.model, context=spec.context,
                 seed=s.seed, sampler=s.sampler, step=sampler.step, respacing=sampler.respacing,
                 jump_length=sampler.jump_length, jump_n_sample=sampler.jump_n_sample,
                 candidates=spec.candidates, evaluations=evaluations * spec.candidates)  # fmt: skip
    return table.assign(**extra)


def rooted(table: pd.DataFrame, root: str | Path) -> pd.DataFrame:
    """The table with its `image` and `labels` paths (relative to the chunk folder) under `root`."""
    return table.assign(image=[str(Path(root) / v) for v in table["image"]],
                        labels=[str(Path(root) / v) for v in table["labels"]])  # fmt: skip


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
    parser.add_argument("--needs", help="the set's size when its images is auto")
    parser.add_argument("--ground", help="results/tiles/ground/scores.csv, for context apron")
    parser.add_argument("--planes", help="results/tiles/ground/planes.csv, for context apron")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, ChunkSettings)
    chunk = Chunk(settings.inpaint, args.set, args.chunk)
    files = ChunkFiles(
        bank=Path(args.bank), background=Path(args.background), model=Path(args.model),
        classifier=Path(args.classifier) if args.classifier else None,
        cherry_picker=Path(args.cherry_picker) if args.cherry_picker else None,
        needs=Path(args.needs) if args.needs else None,
        ground=Path(args.ground) if args.ground else None,
        planes=Path(args.planes) if args.planes else None,
    )
    device = pick_device(args.device)
    started = time.perf_counter()
    with atomic_dir(args.out) as tmp:
        table = run_chunk(chunk, files, settings.classes.target_id, tmp, device)
        rooted(table, args.out).to_csv(tmp / "metadata.csv", index=False)
    log.info("wrote %d images to %s in %.1f s on %s", len(table), args.out,
             time.perf_counter() - started, device)  # fmt: skip


if __name__ == "__main__":
    main()
