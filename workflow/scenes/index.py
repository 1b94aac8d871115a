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
seeded permutation of the scenes sorted by id, hence reproducible. A data set that ships its own
split gives it as lists of scene names (`split.lists`, one file per split), checked for names
no scene has and names listed twice; scenes in no list are left out.

What the user must read reaches the terminal (the CONSOLE logger): one line per kind of skipped
input with its first file (and line), the labels no class takes with their counts, a class or a
source without objects, the split's sizes, and a test split too small to tell the differences
the experiment looks for (min_test_targets).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.checks import check_fractions
from workflow.core.labels import SPLITS, ClassSettings
from workflow.core.logs import CONSOLE, setup_logging
from workflow.core.settings import read_settings
from workflow.scenes.readers import IMAGE_SUFFIXES, SourceRead, read_dota, read_xview
from workflow.scenes.sources import DataSettings

SCENE_COLUMNS = ["scene_id", "source", "image_path", "width", "height", "split", "n_objects",
                 "n_target", "native_width", "native_height", "native_gsd", "gsd_from", "gsd", "scale",
                 "bands", "stretch"]
OBJECT_COLUMNS = ["object_id", "scene_id", "source_label", "class_name", "class_id", "xmin", "ymin",
                  "xmax", "ymax", "clipped", "difficult"]


# The smallest AP50 difference the experiment sets out to tell (README.md, "Seeds and time").
RESOLVE_AP50 = 0.05


def min_test_targets(resolve: float = RESOLVE_AP50) -> int:
    """Target objects the test split needs so that its own sampling noise stays below `resolve`:
    an AP measured on n objects moves, with which objects the test split happens to hold, by up
    to sqrt(0.25 / n) (the binomial standard error of a detected share near one half), so a
    95 % interval of one AP is narrower than +-resolve only from n >= (1.96 * 0.5 / resolve)^2
    (385 objects for 0.05)."""
    return math.ceil((1.96 * 0.5 / resolve) ** 2)


@dataclasses.dataclass(frozen=True)
class SplitSettings:
    """`split`: seeded fractions by scene, or the user's own lists of scene names."""

    seed: int
    fractions: Mapping[str, float]
    lists: Mapping[str, str] | None = None

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


def scene_name(text: str) -> str:
    """A listed scene as the index names it: the file name without folders and without an image
    suffix ('images/P0001.PNG' -> 'P0001'; 'P0001' stays)."""
    path = Path(text.strip().replace("\\", "/"))
    return path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name


def read_split_lists(lists: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Scene name -> (split, file:line) from one file of names per split (blank lines and lines
    starting with # are ignored); a name listed twice, in one file or two, is an error."""
    listed: dict[str, tuple[str, str]] = {}
    for split in SPLITS:
        path = Path(lists[split])
        if not path.is_file():
            raise ValueError(f"config key 'split.lists.{split}': {path} is not a file; give a "
                             "text file with one scene name per line")
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, where = scene_name(line), f"{path}:{number}"
            if name in listed:
                raise ValueError(f"{where}: scene {name!r} is listed twice (first at "
                                 f"{listed[name][1]}); a scene belongs to one split only")
            listed[name] = (split, where)
    return listed


def split_from_lists(scenes: pd.DataFrame, lists: Mapping[str, str], target: str) -> pd.Series:
    """Split name per scene from `split.lists`; "" for a scene in no list. A listed name is a
    scene id ('dota_P0001') or an image's stem ('P0001') that one scene has."""
    listed = read_split_lists(lists)
    stems = scenes["image_path"].map(lambda path: Path(path).stem)
    result = pd.Series("", index=scenes.index, dtype=object)
    for name, (split, where) in listed.items():
        match = scenes.index[scenes["scene_id"] == name]
        if match.empty:
            match = scenes.index[stems == name]
        if len(match) > 1:
            raise ValueError(f"{where}: {name!r} names {len(match)} scenes of different sources; "
                             f"name it by scene id ({', '.join(scenes.loc[match, 'scene_id'])})")
        if match.empty:
            raise ValueError(f"{where}: no indexed scene is named {name!r} (names are image file "
                             f"names, {len(scenes)} scenes were indexed; an image that is missing "
                             "or unreadable is not indexed: see the skip lines above)")
        result.loc[match] = split
    for split in SPLITS:
        chosen = scenes[result == split]
        if not (chosen["n_target"] > 0).any():
            raise ValueError(f"config key 'split.lists.{split}': none of its {len(chosen)} scenes "
                             f"holds {target!r}; every split needs some")
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
    report_inputs(skips, summary, settings)
    if settings.split.lists is not None:
        scenes["split"] = split_from_lists(scenes, settings.split.lists, settings.classes.target)
        unlisted = scenes[scenes["split"] == ""]
        summary["unlisted_scenes"] = int(len(unlisted))
        scenes = scenes[scenes["split"] != ""].reset_index(drop=True)
        objects = objects[objects["scene_id"].isin(scenes["scene_id"])].reset_index(drop=True)
        objects["object_id"] = np.arange(len(objects), dtype=np.int64)
    else:
        scenes["split"] = assign_split(scenes, settings.split, settings.classes.target, target_free)
    summary["splits"] = {
        name: _counts(scenes[scenes["split"] == name], objects, settings.classes) for name in SPLITS
    }
    if not target_free:
        report_splits(summary, settings.classes.target)
    return scenes[SCENE_COLUMNS], objects, summary


# Skip kinds told on the terminal, with what they mean (clipped boxes are kept, and the objects
# of skipped images are counted with their images).
TOLD_SKIPS = {"missing_image": "label files or features whose image is not on disk",
              "unreadable_image": "images that cannot be read",
              "malformed_label": "label lines or features that cannot be parsed",
              "box_outside_image": "objects lying outside their image",
              "unlabelled_image": "images without a label file (not indexed)"}


def report_inputs(skips: Mapping, summary: dict, settings: IndexSettings) -> None:
    """One terminal line per kind of skipped input of each source (with its first file), per
    source the labels no class takes, and each class or source without objects."""
    console = logging.getLogger(CONSOLE)
    for source, skip_log in skips.items():
        counts = summary["sources"][source]
        for kind, meaning in TOLD_SKIPS.items():
            if skip_log.counts[kind]:
                console.warning("%s: skipped %d %s; first: %s", source, skip_log.counts[kind],
                                meaning, skip_log.first.get(kind, "-"))
        if skip_log.unknown_labels:
            labels = ", ".join(f"{label} ({count})" for label, count
                               in skip_log.unknown_labels.most_common())
            console.warning("%s: skipped objects of labels that config key 'classes.%s' maps to "
                            "no class: %s", source, source, labels)
        if counts["scenes"] and not counts["objects_per_class"][settings.classes.target]:
            console.warning("%s: none of its %d scenes holds a %r object (classes.target)",
                            source, counts["scenes"], settings.classes.target)
        taken = counts["native_gsd"]["from_config"]
        if taken:  # the files say nothing (or gsd:null): the GSD is the configuration's guess
            console.warning("%s: %d of %d scenes take their native GSD %s m/px from config key "
                            "'data.%s.gsd' (their label files give none)", source, taken,
                            counts["scenes"], getattr(settings.data, source).gsd, source)
    for name, count in summary["total"]["objects_per_class"].items():
        if not count and name != settings.classes.target:
            console.warning("class %r of classes.names: no object in any scene (the detector "
                            "learns it from nothing; map a label to it or remove it)", name)


def report_splits(summary: dict, target: str) -> None:
    """The split's sizes on the terminal, and a warning when the test split is too small."""
    console = logging.getLogger(CONSOLE)
    for name, counts in summary["splits"].items():
        console.info("split %s: %d scenes, %d %r objects", name, counts["scenes"],
                     counts["objects_per_class"][target], target)
    if summary.get("unlisted_scenes"):
        console.warning("%d indexed scenes are in none of the lists of split.lists: left out",
                        summary["unlisted_scenes"])
    test_targets = summary["splits"]["test"]["objects_per_class"][target]
    needed = min_test_targets()
    if test_targets < needed:
        console.warning(
            "the test split holds %d %r objects: too few to tell AP50 differences of %.2f, which "
            "needs about %d (an AP measured on n objects varies by up to 0.5/sqrt(n) with which "
            "objects the test split holds). Give the test split more scenes (split.fractions or "
            "split.lists) or read the report's intervals with this in mind", test_targets,
            target, RESOLVE_AP50, needed)


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
    parser.add_argument("--log", help="log file; its warnings also reach the terminal")
    args = parser.parse_args(argv)
    setup_logging(args.log)
    log = logging.getLogger(__name__)
    settings = settings_from_json(args.settings)
    scenes, objects, summary = build_index(settings)
    io.write_csv(args.objects, objects)
    io.write_csv(args.scenes, scenes)
    io.write_json(args.summary, summary)
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
