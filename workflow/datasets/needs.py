"""How many images a synthetic set must hold: `images: auto` of inpaint.sets / copy_paste.sets.

    python -m workflow.datasets.needs --settings JSON --detect-tiles results/tiles/detect/manifest.csv \
        --out results/datasets/needs/{set}.json

--settings: {"set": name, "chunks": jobs the set is made in, "experiments": {experiment: its
dataset settings}, "selections": {selected set: {sources, draws, images, experiments}}} for the
experiments and selected sets that draw from the set (workflow/datasets/params.py). The number
of targets a replacement removes, or of images an augmentation adds, is known once the detection
tiles exist; the set needs the largest of them (one synthetic target per image), and at least
one image per chunk. A selected set of k sources takes ceil(n / k) of its n images from each,
and a gated one draws `draws` planes per plane it keeps. Writes {"set", "images", "needs":
{experiment or selected set: images}}; the set's job reads it with
workflow.core.set_size.set_images.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

from workflow.core import io
from workflow.core.logs import setup_logging
from workflow.core.settings import from_dict, parse_settings
from workflow.datasets.build import DatasetSettings, check_declared_counts, load_images, real_splits, synthetic_need

log = logging.getLogger(__name__)


def set_needs(experiments: dict[str, DatasetSettings], tiles) -> dict[str, int]:
    """{experiment: synthetic images it takes from its set}."""
    train = real_splits(tiles)["train"]
    return {name: synthetic_need(settings, train) for name, settings in experiments.items()}


def selection_need(selection: dict, tiles) -> int:
    """Images a source set holds for one selected set drawing from it: its share of the selected
    set (its `images`, or what its experiments need), times the draws per kept plane."""
    images = selection["images"]
    if images == "auto":
        images = max(set_needs(selection["experiments"], tiles).values(), default=1)
    return math.ceil(max(images, 1) / selection["sources"]) * selection["draws"]


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="JSON: set, experiments")
    parser.add_argument("--detect-tiles", required=True, help="results/tiles/detect/manifest.csv")
    parser.add_argument("--out", required=True, help="results/datasets/needs/{set}.json")
    args = parser.parse_args(argv)
    values = parse_settings(args.settings)
    name = values["set"]
    experiments = {key: from_dict(DatasetSettings, value, f"experiments.runs.{key}")
                   for key, value in values["experiments"].items()}  # fmt: skip
    selections = {key: dict(value, experiments={run: from_dict(DatasetSettings, settings, f"experiments.runs.{run}")
                                                for run, settings in value["experiments"].items()})
                  for key, value in values.get("selections", {}).items()}  # fmt: skip
    everyone = [*experiments.values(), *(e for v in selections.values() for e in v["experiments"].values())]
    if not everyone:
        raise ValueError(f"synthetic set {name!r} has `images: auto` but no experiment draws from it")
    tiles = load_images(args.detect_tiles, len(everyone[0].names))
    check_declared_counts(tiles, everyone[0].names, args.detect_tiles)
    needs = set_needs(experiments, tiles)
    needs.update({key: selection_need(value, tiles) for key, value in selections.items()})
    images = max(max(needs.values()), int(values["chunks"]))
    io.write_json(Path(args.out), {"set": name, "images": images, "needs": needs})
    log.info("set %s: %d images (%s)", name, images, needs)


if __name__ == "__main__":
    main()
