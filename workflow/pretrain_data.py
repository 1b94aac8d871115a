"""Detection pre-training data: separately generated demo scenes, indexed and tiled like the real ones.

The method report's YOLOv8 runs start from COCO weights (D.4.1); no weights can be downloaded
here, so the demo pre-trains each architecture once on scenes drawn from the demo generator with
another seed (never the demo scenes themselves, so no test pixel is seen), and every seed of
every experiment fine-tunes from those weights. The scenes go through the project's own index
(`workflow.scenes`) and tiling (`workflow.tiling detect`); tiles without a target are subsampled
(`keep_without_target`) so that a short pre-training sees planes often.

    python -m workflow.pretrain_data --settings JSON --out results/detect/pretrain/data
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from workflow import datasets, demo_scenes, runtime, scenes, tiling

log = runtime.setup_logging("pretrain_data")


@dataclasses.dataclass(frozen=True)
class PretrainData:
    """`detect.pretrain.scenes` plus the sampling of target-free tiles."""

    seed: int  # generator seed of the pre-training scenes; must differ from data.demo.seed
    n_xview: int
    n_dota: int
    size: int
    empty_fraction: float
    keep_without_target: float  # fraction of tiles without a target kept, per split


def subsample(tiles: pd.DataFrame, target_id: int, fraction: float, seed: int) -> pd.DataFrame:
    """Every tile holding a target, and a seeded `fraction` of the others (per split)."""
    holds = tiles[f"c{target_id}"].to_numpy() > 0
    rng = np.random.default_rng(seed)
    keep = holds | (rng.random(len(tiles)) < fraction)
    return tiles[keep]


def build(settings: dict, out: Path) -> dict:
    """Scenes -> index -> detection tiles -> data.yaml under `out`; returns the manifest notes."""
    spec = runtime.from_dict(PretrainData, settings["scenes"], "detect.pretrain.scenes")
    demo_seed = settings.get("demo_seed")
    if demo_seed is not None and spec.seed == demo_seed:
        raise ValueError(f"config key 'detect.pretrain.scenes.seed': {spec.seed} equals data.demo.seed; "
                         "pre-training on the demo scenes would leak their test split")
    root = out.resolve() / "work"
    paths = {"xview": {"images": str(root / "xview" / "images"), "labels": str(root / "xview" / "labels.geojson")},
             "dota": {"images": str(root / "dota" / "images"), "labels": str(root / "dota" / "labelTxt")}}
    demo_scenes.generate_scenes(paths["xview"]["images"], paths["xview"]["labels"], paths["dota"]["images"],
                                paths["dota"]["labels"], spec.n_xview, spec.n_dota, spec.size, spec.seed,
                                spec.empty_fraction)
    used = {name: paths[name] for name, n in (("xview", spec.n_xview), ("dota", spec.n_dota)) if n}
    data = {"demo": None, "xview": used.get("xview"), "dota": used.get("dota")}
    index = {name: str(root / "index" / f"{name}.csv") for name in ("scenes", "objects")}
    scenes.main(["--settings", json.dumps({"data": data, "classes": settings["classes"], "split": settings["split"]}),
                 "--scenes", index["scenes"], "--objects", index["objects"],
                 "--summary", str(root / "index" / "summary.json")])
    manifest = root / "tiles" / "detect" / "manifest.csv"
    tiling.main(["detect", "--settings", json.dumps({"tiling": settings["tiling"], "classes": settings["classes"]}),
                 "--scenes", index["scenes"], "--objects", index["objects"], "--manifest", str(manifest)])
    names = tuple(settings["classes"]["names"])
    target = settings["classes"]["target"]
    tiles = datasets.load_images(manifest, len(names))
    tiles = subsample(tiles, names.index(target), spec.keep_without_target, spec.seed)
    dataset = datasets.Settings(names, target, spec.seed, datasets.Experiment(kind="baseline"))
    splits, _ = datasets.assemble(dataset, tiles, {})
    note = (f"pre-trained on {spec.n_xview + spec.n_dota} separately generated demo scenes "
            f"(generator seed {spec.seed}, {spec.size} px), not the demo scenes")
    datasets.write_dataset(out, dataset, splits, {"note": note, "pretrain_scenes": dataclasses.asdict(spec)},
                           "pretrain")
    return {"note": note, **{split: len(frame) for split, frame in splits.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True,
                        help="JSON: scenes (detect.pretrain.scenes), demo_seed, classes, split, tiling")
    parser.add_argument("--out", required=True, type=Path, help="results/detect/pretrain/data")
    args = parser.parse_args(argv)
    notes = build(runtime.parse_settings(args.settings), args.out)
    log.info("pre-training dataset: %s", notes)


if __name__ == "__main__":
    main()
