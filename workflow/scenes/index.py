"""Scene index: both formats into one table of scenes and objects, split by scene.

`python -m workflow.scenes.index --settings JSON(data, classes, split, tiling.gsd) --scenes
scenes.csv --objects objects.csv --summary summary.json` (columns in docs/dataflow.md, section
index).

Boxes and scene sizes are at the working ground resolution `tiling.gsd` (native pixels when it
is null; workflow.scenes.resolution); each scene row also records its native size and GSD, the
scale between the two, and how its pixels become 8-bit RGB (workflow.scenes.rasters).

The split is drawn per scene, never per object, so that no pixel of a validation or test scene
reaches the detector's training set or the diffusion data. Scenes holding the target class are
split separately from the others, so that every split holds target objects; the split is a
seeded permutation of the scenes sorted by id, hence reproducible.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
from typing import Mapping

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.checks import check_fractions
from workflow.core.labels import SPLITS, ClassSettings
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.scenes.readers import SourceRead, read_dota, read_xview
from workflow.scenes.sources import DataSettings

SCENE_COLUMNS = ["scene_id", "source", "image_path", "width", "height", "split", "n_objects",
                 "n_target", "native_width", "native_height", "native_gsd", "gsd_from", "gsd", "scale",
                 "bands", "stretch"]
OBJECT_COLUMNS = ["object_id", "scene_id", "source_label", "class_name", "class_id", "xmin", "ymin",
                  "xmax", "ymax", "clipped", "difficult"]


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    seed: int
    fractions: Mapping[str, float]

    def __post_init__(self):
        check_fractions(self.fractions)


@dataclasses.dataclass(frozen=True)
class WorkingResolution:
    """The key of the `tiling` section the index reads: the working GSD (m/px), or None."""

    gsd: float | None = None

    def __post_init__(self):
        if self.gsd is not None and not self.gsd > 0:
            raise ValueError(f"config key 'tiling.gsd': {self.gsd}; need a number > 0 (metres "
                             "per pixel) or null")


@dataclasses.dataclass(frozen=True)
class IndexSettings:
    data: DataSettings
    classes: ClassSettings
    split: SplitSettings
    tiling: WorkingResolution = WorkingResolution()


def settings_from_json(text: str) -> IndexSettings:
    """--settings JSON of the config sections data, classes, split (and tiling: {gsd}) ->
    IndexSettings."""
    settings = read_settings(text, IndexSettings)
    if not (settings.data.xview or settings.data.dota):
        raise ValueError("config key 'data': give at least one of data.xview and data.dota")
    for source in ("xview", "dota"):  # the class maps of the sources read, checked up front
        if getattr(settings.data, source):
            settings.classes.label_map(source)
    return settings


def allocate(n: int, fractions: Mapping[str, float], minimum: int) -> dict[str, int]:
    """Split n items by fractions (largest remainder), each split getting at least `minimum`."""
    exact = {name: fractions[name] * n for name in SPLITS}
    counts = {name: math.floor(value) for name, value in exact.items()}
    by_remainder = sorted(SPLITS, key=lambda name: (counts[name] - exact[name], SPLITS.index(name)))
    for name in by_remainder[: n - sum(counts.values())]:
        counts[name] += 1
    for name in SPLITS:
        while counts[name] < minimum:
            donor = max(SPLITS, key=lambda other: counts[other])
            counts[donor] -= 1
            counts[name] += 1
    return counts


def assign_split(scenes: pd.DataFrame, split: SplitSettings, target: str,
                 target_free: bool = False) -> pd.Series:
    """Split name per scene (index aligned with `scenes`); every split gets target scenes, or,
    with `target_free` (scenes known to hold no target), none does."""
    with_target = scenes[scenes["n_target"] > 0].sort_values("scene_id")
    if target_free:
        if not with_target.empty:
            raise ValueError(f"{len(with_target)} of {len(scenes)} scenes hold {target!r}, "
                             "which these scenes must not hold")
        if len(scenes) < len(SPLITS):
            raise ValueError(f"cannot give each of the {len(SPLITS)} splits a scene: only "
                             f"{len(scenes)} scenes")
    elif with_target.empty:
        raise ValueError(f"no {target!r} object in any of the {len(scenes)} indexed scenes: "
                         "the workflow needs the target class (see classes.target and the class maps)")
    if not target_free and len(with_target) < len(SPLITS):
        raise ValueError(
            f"cannot give each of the {len(SPLITS)} splits a scene holding {target!r}: only "
            f"{len(with_target)} of {len(scenes)} scenes hold {target!r} "
            f"({int(with_target['n_target'].sum())} objects)")
    rng = np.random.default_rng(split.seed)
    result = pd.Series("", index=scenes.index, dtype=object)
    without_target = scenes[scenes["n_target"] == 0].sort_values("scene_id")
    # every split needs scenes of the kind the workflow learns from: target scenes, or, for
    # target-free scenes, any scene
    for group, minimum in ((with_target, 0 if target_free else 1), (without_target, 1 if target_free else 0)):
        order = group.index[rng.permutation(len(group))]
        start = 0
        for name, count in allocate(len(group), split.fractions, minimum).items():
            result.loc[order[start:start + count]] = name
            start += count
    return result


def build_index(settings: IndexSettings, target_free: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read every configured source -> (scenes, objects, summary). `target_free`: the scenes
    must hold no target object (detector pre-training scenes), else each split must hold some."""
    rows_scenes, rows_objects, skips = [], [], {}
    readers = {"xview": read_xview, "dota": read_dota}
    for name, reader in readers.items():
        paths = getattr(settings.data, name)
        if paths is None:
            continue
        read = SourceRead(name, paths, settings.tiling.gsd)
        scenes, objects, skips[name] = reader(paths.images, paths.labels, settings.classes, read)
        rows_scenes += scenes
        rows_objects += objects
    scenes = pd.DataFrame(rows_scenes, columns=[c for c in SCENE_COLUMNS if c != "split"])
    objects = pd.DataFrame(rows_objects, columns=OBJECT_COLUMNS[1:])
    objects.insert(0, "object_id", np.arange(len(objects), dtype=np.int64))
    summary = summarise(scenes, objects, skips, settings.classes)
    summary["working_gsd"] = settings.tiling.gsd
    try:
        scenes["split"] = assign_split(scenes, settings.split, settings.classes.target, target_free)
    except ValueError as error:
        raise ValueError(f"{error}\nindex summary: {summary}") from None
    summary["splits"] = {
        name: _counts(scenes[scenes["split"] == name], objects, settings.classes) for name in SPLITS
    }
    return scenes[SCENE_COLUMNS], objects, summary


def _counts(scenes: pd.DataFrame, objects: pd.DataFrame, classes: ClassSettings) -> dict:
    objects = objects[objects["scene_id"].isin(scenes["scene_id"])]
    per_class = objects["class_name"].value_counts()
    return {
        "scenes": int(len(scenes)),
        "objects": int(len(objects)),
        "objects_per_class": {name: int(per_class.get(name, 0)) for name in classes.names},
        "scenes_without_target": int((scenes["n_target"] == 0).sum()),
    }


def _gsd_range(scenes: pd.DataFrame) -> dict:
    """Native GSDs of some scenes: least, greatest, how many unknown, how many took the
    configuration's data.<source>.gsd (their files give none, or gsd:null); and how many are
    resampled."""
    known = pd.to_numeric(scenes["native_gsd"], errors="coerce").dropna()
    return {"min": float(known.min()) if len(known) else None,
            "max": float(known.max()) if len(known) else None,
            "unknown": int(len(scenes) - len(known)),
            "from_config": int((scenes["gsd_from"] == "config").sum()),
            "resampled_scenes": int((scenes["scale"] != 1.0).sum())}


def summarise(scenes, objects, skips, classes: ClassSettings) -> dict:
    """Counts per source (scenes, objects per class, every skip) and in total."""
    sources = {}
    for name, log in skips.items():
        sources[name] = _counts(scenes[scenes["source"] == name], objects, classes)
        sources[name]["native_gsd"] = _gsd_range(scenes[scenes["source"] == name])
        sources[name]["skips"] = log.as_dict()
    return {"sources": sources, "total": _counts(scenes, objects, classes),
            "target": classes.target}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True,
                        help="JSON of config sections data, classes, split and tiling: {gsd}")
    parser.add_argument("--scenes", required=True, help="output scenes.csv")
    parser.add_argument("--objects", required=True, help="output objects.csv")
    parser.add_argument("--summary", required=True, help="output summary.json")
    args = parser.parse_args(argv)
    setup_logging()
    log = logging.getLogger(__name__)
    settings = settings_from_json(args.settings)
    scenes, objects, summary = build_index(settings)
    io.write_csv(args.objects, objects)
    io.write_csv(args.scenes, scenes)
    io.write_json(args.summary, summary)
    for name, counts in summary["sources"].items():
        taken = counts["native_gsd"]["from_config"]
        if taken:  # the files say nothing (or gsd:null): the GSD is the configuration's guess
            log.warning("%s: %d of %d scenes take their native GSD %s m/px from config key "
                        "'data.%s.gsd' (their label files give none)", name, taken,
                        counts["scenes"], getattr(settings.data, name).gsd, name)
    if settings.tiling.gsd is not None:
        log.info("working GSD %.4g m/px; native GSD per source %s", settings.tiling.gsd,
                 {name: counts["native_gsd"] for name, counts in summary["sources"].items()})
    for name, counts in summary["splits"].items():
        log.info("split %s: %d scenes, objects per class %s", name, counts["scenes"],
                 counts["objects_per_class"])
    log.info("wrote %s (%d scenes), %s (%d objects), %s", args.scenes, len(scenes), args.objects,
             len(objects), args.summary)


if __name__ == "__main__":
    main()
