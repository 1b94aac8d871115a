"""Scene index: both formats into one table of scenes and objects, split by scene.

`python -m workflow.scenes --settings JSON(data, classes, split) --scenes scenes.csv
--objects objects.csv --summary summary.json` (columns in docs/dataflow.md, section index).

The split is drawn per scene, never per object, so that no pixel of a validation or test scene
reaches the detector's training set or the diffusion data. Scenes holding the target class are
split separately from the others, so that every split holds target objects; the split is a
seeded permutation of the scenes sorted by id, hence reproducible.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from workflow import io, runtime
from workflow.readers import ClassSettings, read_dota, read_xview

SPLITS = ("train", "val", "test")
SCENE_COLUMNS = ["scene_id", "source", "image_path", "width", "height", "split", "n_objects",
                 "n_target"]
OBJECT_COLUMNS = ["object_id", "scene_id", "source_label", "class_name", "class_id", "xmin", "ymin",
                  "xmax", "ymax", "clipped", "difficult"]


@dataclasses.dataclass(frozen=True)
class SourcePaths:
    images: str
    labels: str


@dataclasses.dataclass(frozen=True)
class DataSettings:
    demo: Any  # read by workflow.demo_scenes, not here
    xview: SourcePaths | None
    dota: SourcePaths | None


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    seed: int
    fractions: Mapping[str, float]

    def __post_init__(self):
        if sorted(self.fractions) != sorted(SPLITS):
            raise ValueError(f"config key 'split.fractions': keys {sorted(self.fractions)}, "
                             f"expected {list(SPLITS)}")
        if any(not 0 < value <= 1 for value in self.fractions.values()):
            raise ValueError(f"config key 'split.fractions': {dict(self.fractions)}: each must be in (0, 1]")
        if abs(sum(self.fractions.values()) - 1) > 1e-6:
            raise ValueError(f"config key 'split.fractions': {dict(self.fractions)} do not sum to 1")


@dataclasses.dataclass(frozen=True)
class IndexSettings:
    data: DataSettings
    classes: ClassSettings
    split: SplitSettings


def settings_from_json(text: str) -> IndexSettings:
    """--settings JSON of the config sections data, classes and split -> IndexSettings."""
    values = runtime.parse_settings(text)
    top = runtime.from_dict(IndexSettings, values, "settings")
    data = runtime.from_dict(DataSettings, top.data, "data")
    sources = {
        name: None if getattr(data, name) is None
        else runtime.from_dict(SourcePaths, getattr(data, name), f"data.{name}")
        for name in ("xview", "dota")
    }
    if not any(sources.values()):
        raise ValueError("config key 'data': give at least one of data.xview and data.dota")
    return IndexSettings(
        data=dataclasses.replace(data, **sources),
        classes=runtime.from_dict(ClassSettings, top.classes, "classes"),
        split=runtime.from_dict(SplitSettings, top.split, "split"),
    )


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


def assign_split(scenes: pd.DataFrame, split: SplitSettings, target: str) -> pd.Series:
    """Split name per scene (index aligned with `scenes`); every split gets target scenes."""
    with_target = scenes[scenes["n_target"] > 0].sort_values("scene_id")
    if with_target.empty:
        raise ValueError(f"no {target!r} object in any of the {len(scenes)} indexed scenes: "
                         "the workflow needs the target class (see classes.target and the class maps)")
    if len(with_target) < len(SPLITS):
        raise ValueError(
            f"cannot give each of the {len(SPLITS)} splits a scene holding {target!r}: only "
            f"{len(with_target)} of {len(scenes)} scenes hold {target!r} "
            f"({int(with_target['n_target'].sum())} objects)")
    rng = np.random.default_rng(split.seed)
    result = pd.Series("", index=scenes.index, dtype=object)
    without_target = scenes[scenes["n_target"] == 0].sort_values("scene_id")
    for group, minimum in ((with_target, 1), (without_target, 0)):
        order = group.index[rng.permutation(len(group))]
        start = 0
        for name, count in allocate(len(group), split.fractions, minimum).items():
            result.loc[order[start:start + count]] = name
            start += count
    return result


def build_index(settings: IndexSettings) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read every configured source -> (scenes, objects, summary)."""
    rows_scenes, rows_objects, skips = [], [], {}
    readers = {"xview": read_xview, "dota": read_dota}
    for name, reader in readers.items():
        paths = getattr(settings.data, name)
        if paths is None:
            continue
        scenes, objects, skips[name] = reader(paths.images, paths.labels, settings.classes)
        rows_scenes += scenes
        rows_objects += objects
    scenes = pd.DataFrame(rows_scenes, columns=[c for c in SCENE_COLUMNS if c != "split"])
    objects = pd.DataFrame(rows_objects, columns=OBJECT_COLUMNS[1:])
    objects.insert(0, "object_id", np.arange(len(objects), dtype=np.int64))
    summary = summarise(scenes, objects, skips, settings.classes)
    try:
        scenes["split"] = assign_split(scenes, settings.split, settings.classes.target)
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


def summarise(scenes, objects, skips, classes: ClassSettings) -> dict:
    """Counts per source (scenes, objects per class, every skip) and in total."""
    sources = {}
    for name, log in skips.items():
        sources[name] = _counts(scenes[scenes["source"] == name], objects, classes)
        sources[name]["skips"] = log.as_dict()
    return {"sources": sources, "total": _counts(scenes, objects, classes),
            "target": classes.target}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="JSON of config sections data, classes, split")
    parser.add_argument("--scenes", required=True, help="output scenes.csv")
    parser.add_argument("--objects", required=True, help="output objects.csv")
    parser.add_argument("--summary", required=True, help="output summary.json")
    args = parser.parse_args(argv)
    log = runtime.setup_logging("workflow.scenes")
    settings = settings_from_json(args.settings)
    scenes, objects, summary = build_index(settings)
    io.write_csv(args.objects, objects)
    io.write_csv(args.scenes, scenes)
    io.write_json(args.summary, summary)
    for name, counts in summary["splits"].items():
        log.info("split %s: %d scenes, objects per class %s", name, counts["scenes"],
                 counts["objects_per_class"])
    log.info("wrote %s (%d scenes), %s (%d objects), %s", args.scenes, len(scenes), args.objects,
             len(objects), args.summary)


if __name__ == "__main__":
    main()
