"""Detection pre-training data: separately generated demo scenes, indexed and tiled like the real ones.

The method report's YOLOv8 runs start from COCO weights (D.4.1), which hold no aerial plane:
the detector learns the rare class from each experiment's own training set. No weights can be
downloaded here, so the demo pre-trains each architecture once on scenes drawn by the demo
generator with another seed (never the demo scenes, so no test pixel is seen) and *without any
target object*: the scenes are drawn without planes (not merely left unlabelled), and the built
index is checked to hold no target. The detectors thus learn aerial ground and the other
classes, and an experiment whose training set holds no plane yields a plane AP near 0 (the
ablation floor). The scenes go through the project's own index
(workflow.scenes.index.build_index) and tiling (workflow.tiles.tiling.make_tiles); tiles holding
no object at all are subsampled (`keep_without_objects`) so that the pre-training spends its
epochs on objects.

    python -m workflow.detect.pretrain_data --settings JSON --out results/detect/pretrain/data
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.labels import ClassSettings
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.datasets import build as datasets
from workflow.datasets.experiments import Experiment
from workflow.scenes.demo_scenes import generate_scenes
from workflow.scenes.index import IndexSettings, SplitSettings, build_index
from workflow.scenes.sources import DEMO_GSD, DataSettings, SourcePaths
from workflow.tiles.tiling import TilingTask
from workflow.tiles.tiling import TilingSettings, make_tiles

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PretrainData:
    """`detect.pretrain.scenes` plus the sampling of target-free tiles."""

    seed: int  # generator seed of the pre-training scenes; must differ from data.demo.seed
    n_xview: int
    n_dota: int
    size: int
    keep_without_objects: float  # fraction of the tiles holding no object that is kept


def subsample(tiles: pd.DataFrame, num_classes: int, fraction: float, seed: int) -> pd.DataFrame:
    """Every tile holding an object, and a seeded `fraction` of the others."""
    holds = tiles[[f"c{k}" for k in range(num_classes)]].to_numpy().sum(axis=1) > 0
    rng = np.random.default_rng(seed)
    keep = holds | (rng.random(len(tiles)) < fraction)
    return tiles[keep]


def check_target_free(objects: pd.DataFrame, target: str, where: Path) -> None:
    """The pre-training index must hold no target object (the start must not know the class)."""
    found = objects[objects["class_name"] == target] if len(objects) else objects
    if len(found):
        raise ValueError(f"{where}: the detector pre-training scenes hold {len(found)} {target!r} "
                         f"objects (first in scene {found.iloc[0]['scene_id']}); they must hold none, "
                         "so that every experiment learns the target from its own training set")


@dataclasses.dataclass(frozen=True)
class PretrainDataSettings:
    """--settings: the scenes to draw, how to split and tile them (workflow/detect/params.py).
    That their seed differs from the demo scenes' is checked when the workflow loads."""

    scenes: PretrainData
    split: SplitSettings
    classes: ClassSettings
    tiling: TilingSettings


def build(settings: PretrainDataSettings, out: Path) -> dict:
    """Scenes -> index -> detection tiles -> data.yaml under `out`; returns the manifest notes."""
    spec = settings.scenes
    root = out.resolve() / "work"
    # The demo generator's own resolution, at native pixels (no tiling.gsd here).
    sources = {"xview": SourcePaths(str(root / "xview" / "images"), str(root / "xview" / "labels.geojson"),
                                    gsd=DEMO_GSD),
               "dota": SourcePaths(str(root / "dota" / "images"), str(root / "dota" / "labelTxt"),
                                   gsd=DEMO_GSD)}
    # empty_fraction 1: every scene is drawn without planes
    generate_scenes(sources["xview"].images, sources["xview"].labels, sources["dota"].images,
                    sources["dota"].labels, spec.n_xview, spec.n_dota, spec.size, spec.seed, 1.0)
    data = DataSettings(demo=None, xview=sources["xview"] if spec.n_xview else None,
                        dota=sources["dota"] if spec.n_dota else None)
    scenes, objects, _ = build_index(IndexSettings(data, settings.classes, settings.split), target_free=True)
    index = {name: root / "index" / f"{name}.csv" for name in ("scenes", "objects")}
    check_target_free(objects, settings.classes.target, index["objects"])
    io.write_csv(index["scenes"], scenes)
    io.write_csv(index["objects"], objects)
    manifest = root / "tiles" / "detect" / "manifest.csv"
    make_tiles("detect", index["scenes"], index["objects"],
               TilingTask(settings.tiling, settings.classes), manifest)
    names = settings.classes.names
    tiles = datasets.load_images(manifest, len(names))
    tiles = subsample(tiles, len(names), spec.keep_without_objects, spec.seed)
    dataset = datasets.DatasetSettings(settings.classes, Experiment(kind="baseline"), seed=spec.seed)
    splits, _ = datasets.assemble(dataset, tiles, {})
    note = (f"pre-trained on {spec.n_xview + spec.n_dota} separately generated demo scenes "
            f"(generator seed {spec.seed}, {spec.size} px, drawn without any {settings.classes.target}), "
            "not the demo scenes")
    datasets.write_dataset(out, dataset, splits, {"note": note, "pretrain_scenes": dataclasses.asdict(spec)},
                           "pretrain")
    return {"note": note, **{split: len(frame) for split, frame in splits.items()}}


def main(argv=None):
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True,
                        help="JSON: scenes (detect.pretrain.scenes), classes, split, tiling")
    parser.add_argument("--out", required=True, type=Path, help="results/detect/pretrain/data")
    args = parser.parse_args(argv)
    notes = build(read_settings(args.settings, PretrainDataSettings), args.out)
    log.info("pre-training dataset: %s", notes)


if __name__ == "__main__":
    main()
