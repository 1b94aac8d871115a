"""One ultralytics dataset per experiment: image lists over the real tiles and synthetic images.

Experiments of the method report (section D.4), all evaluated on the real val and test splits:
- `baseline`: every real training tile;
- `ablation`: `keep` % of the real training images that hold a target kept (a seeded draw,
  nested over `keep`: a smaller `keep` keeps a subset of a larger one), images without a
  target all kept (D.4.1, the "pure ablation" curve of figure 21);
- `replacement`: the same draw, and the removed images replaced by synthetic images holding as
  many synthetic targets as the removed real ones (D.4.1: "we discard a given image containing N
  real planes and we inpaint N images of relevant backgrounds");
- `augmentation`: every real tile plus the first images of a synthetic set, `add` % as many as
  the real training images holding a target (D.4.2).

Every experiment's training split keeps the same seeded share (`keep_without_target`) of the
real tiles holding no target (other classes or nothing), drawn before anything else, so that the
experiments differ by their target images only.

Nothing is copied: `train.txt`, `val.txt` and `test.txt` list absolute image paths, and
ultralytics finds each label by replacing `/images/` with `/labels/` in the image path, which is
checked here for every image.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.labels import SPLITS, ClassSettings, read_yolo
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.datasets.experiments import Experiment

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DatasetSettings:
    """--settings: the class names and target, one experiment, the seed of the draws and the
    share of tiles without objects kept (workflow/datasets/params.py)."""

    classes: ClassSettings
    experiment: Experiment
    seed: int  # draws the kept tiles without a target, and the kept real target images
    keep_without_target: float = 1.0  # share of the real training tiles without a target kept

    def __post_init__(self):
        if not 0 <= self.keep_without_target <= 1:
            raise ValueError(f"config key 'experiments.keep_without_target': "
                             f"{self.keep_without_target} is not a fraction in 0..1")

    @property
    def names(self) -> tuple[str, ...]:
        return self.classes.names

    @property
    def target(self) -> str:
        return self.classes.target

    def as_dict(self) -> dict:
        """As recorded in manifest.json."""
        return {"names": list(self.names), "target": self.target, "seed": self.seed,
                "keep_without_target": self.keep_without_target,
                "experiment": dataclasses.asdict(self.experiment)}


def label_path_of(image: str) -> str:
    """The label file ultralytics reads for an image: last `/images/` -> `/labels/`, `.txt`."""
    marker, replacement = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if marker not in image:
        raise ValueError(f"image {image}: ultralytics needs an '/images/' folder in the path")
    return replacement.join(image.rsplit(marker, 1)).rsplit(".", 1)[0] + ".txt"


def count_labels(path: str | Path, num_classes: int) -> np.ndarray:
    """Instances per class in one YOLO label file -> (num_classes,) int64; a missing file is empty."""
    class_ids, _ = read_yolo(path, 1)
    if len(class_ids) and class_ids.max() >= num_classes:
        raise ValueError(f"{path}: class id {class_ids.max()}; expected class_id < {num_classes}")
    return np.bincount(class_ids, minlength=num_classes).astype(np.int64)


def load_images(manifest: str | Path, num_classes: int) -> pd.DataFrame:
    """A manifest's `image`/`labels` rows -> absolute `image` plus one `c<k>` count per class.

    Checks that each `labels` column names the file ultralytics will read for the image.
    """
    frame = pd.read_csv(manifest)
    for column in ("image", "labels"):
        if column not in frame.columns:
            raise ValueError(f"{manifest}: missing column {column!r}")
    images = [str(Path(p).resolve()) for p in frame["image"]]
    for image, labels in zip(images, frame["labels"]):
        if label_path_of(image) != str(Path(labels).resolve()):
            raise ValueError(
                f"{manifest}: labels {labels} is not where ultralytics looks for {image} "
                f"({label_path_of(image)})"
            )
    counts = np.zeros((len(images), num_classes), dtype=np.int64)
    for row, image in enumerate(images):
        counts[row] = count_labels(label_path_of(image), num_classes)
    out = frame.drop(columns=["image", "labels"]).assign(image=images)
    for k in range(num_classes):
        out[f"c{k}"] = counts[:, k]
    return out


def check_declared_counts(tiles: pd.DataFrame, names: tuple[str, ...], manifest) -> None:
    """The detect manifest's `n_<class>` columns must agree with its label files."""
    for k, name in enumerate(names):
        column = f"n_{name}"
        if column in tiles.columns:
            bad = tiles.index[tiles[column].to_numpy() != tiles[f"c{k}"].to_numpy()]
            if len(bad):
                row = tiles.loc[bad[0]]
                raise ValueError(
                    f"{manifest}: {column}={row[column]} but its label file holds {row[f'c{k}']} "
                    f"instances ({row['image']}); {len(bad)} rows disagree"
                )


def seeded_share(train: pd.DataFrame, among: np.ndarray, fraction: float, seed) -> pd.Series:
    """Boolean mask over `train`: every image outside `among` (a boolean array), and the first
    round(fraction * n) of one seeded permutation of the n images in it, sorted by path so that
    the draw does not depend on the manifest's row order; a smaller fraction keeps a subset."""
    candidates = np.sort(train["image"].to_numpy()[among])
    order = np.random.default_rng(seed).permutation(len(candidates))
    n_keep = int(np.floor(fraction * len(candidates) + 0.5))  # half up, not to even
    kept = set(candidates[order[:n_keep]])
    return pd.Series([not c or p in kept for c, p in zip(among, train["image"])], index=train.index)


def kept_target_images(train: pd.DataFrame, target_id: int, keep: float, seed: int) -> pd.Series:
    """Which target-holding images an ablation keeps: keep % of them, nested over keep."""
    return seeded_share(train, train[f"c{target_id}"].to_numpy() > 0, keep / 100, seed)


def kept_tiles_without_target(train: pd.DataFrame, target_id: int, fraction: float, seed: int) -> pd.Series:
    """Every tile holding a target, and `fraction` of the tiles holding none."""
    return seeded_share(train, train[f"c{target_id}"].to_numpy() == 0, fraction, [seed, 1])


def first_images_with_targets(synthetic: pd.DataFrame, target_id: int, n_targets: int, name: str):
    """The shortest prefix of a synthetic set holding at least `n_targets` targets."""
    cumulative = np.cumsum(synthetic[f"c{target_id}"].to_numpy())
    if n_targets == 0:
        return synthetic.iloc[:0]
    if not len(cumulative) or cumulative[-1] < n_targets:
        total = int(cumulative[-1]) if len(cumulative) else 0
        raise ValueError(
            f"synthetic set {name!r} holds {total} targets in {len(synthetic)} images; "
            f"the replacement needs {n_targets}: raise the set's `images` (inpaint.sets.{name} or "
            f"copy_paste.sets.{name}), or set it to `auto`"
        )
    return synthetic.iloc[: int(np.searchsorted(cumulative, n_targets)) + 1]


def real_train(settings: DatasetSettings, train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The experiment's real training tiles -> (kept, removed target images, number of real
    target images before the ablation draw). Tiles without a target are thinned first."""
    exp, target_id = settings.experiment, settings.names.index(settings.target)
    train = train[kept_tiles_without_target(train, target_id, settings.keep_without_target, settings.seed)]
    n_target_images = int((train[f"c{target_id}"] > 0).sum())
    if exp.kind not in ("ablation", "replacement"):
        return train, train.iloc[:0], n_target_images
    keep = kept_target_images(train, target_id, exp.keep, settings.seed)
    return train[keep], train[~keep], n_target_images


def added_count(settings: DatasetSettings, n_target_images: int) -> int:
    """Synthetic images an augmentation adds: `add` % of the real target images, half up."""
    return int(np.floor(settings.experiment.add / 100 * n_target_images + 0.5))


def synthetic_need(settings: DatasetSettings, train: pd.DataFrame) -> int:
    """Synthetic targets (one per synthetic image) the experiment takes from its set: as many as
    a replacement removes, or the images an augmentation adds; 0 for the others."""
    _, removed, n_target_images = real_train(settings, train)
    target_id = settings.names.index(settings.target)
    if settings.experiment.kind == "replacement":
        return int(removed[f"c{target_id}"].sum())
    if settings.experiment.kind == "augmentation":
        return added_count(settings, n_target_images)
    return 0


def assemble(settings: DatasetSettings, tiles: pd.DataFrame, synthetic: dict[str, pd.DataFrame]):
    """Real tiles (+ synthetic sets) -> ({split: image frame}, notes for the manifest)."""
    exp, target_id = settings.experiment, settings.names.index(settings.target)
    splits = real_splits(tiles)
    train, removed, n_target_images = real_train(settings, splits["train"])
    notes = {"tiles_without_target_dropped": int(len(splits["train"]) - len(train) - len(removed))}
    if exp.kind in ("ablation", "replacement"):
        notes["removed"] = {"images": len(removed), "targets": int(removed[f"c{target_id}"].sum())}
    if exp.kind in ("replacement", "augmentation"):
        if exp.set not in synthetic:
            raise ValueError(f"experiment needs synthetic set {exp.set!r}; given {sorted(synthetic)}")
        pool = synthetic[exp.set]
        if exp.kind == "replacement":
            added = first_images_with_targets(pool, target_id, notes["removed"]["targets"], exp.set)
        else:
            n_add = added_count(settings, n_target_images)
            if n_add > len(pool):
                raise ValueError(
                    f"experiment adds {exp.add} % of the {n_target_images} real training images "
                    f"holding {settings.target!r}, {n_add} images of synthetic set {exp.set!r}, "
                    f"which holds {len(pool)}: raise the set's `images` (inpaint.sets or "
                    f"copy_paste.sets), or set it to `auto`"
                )
            added = pool.iloc[:n_add]
        notes["synthetic"] = {"set": exp.set, "images": len(added),
                              "targets": int(added[f"c{target_id}"].sum())}
        train = pd.concat([train, added.assign(source="synthetic")], ignore_index=True)
    splits["train"] = train
    return splits, notes


def real_splits(tiles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The detect manifest's tiles by split, each marked as real."""
    unknown = sorted(set(tiles["split"]) - set(SPLITS))
    if unknown:
        raise ValueError(f"detect manifest: unknown split {unknown[0]!r}; allowed {list(SPLITS)}")
    return {s: tiles[tiles["split"] == s].assign(source="real") for s in SPLITS}


def split_counts(frame: pd.DataFrame, names: tuple[str, ...], target_id: int) -> dict:
    """Images and instances per class (and real/synthetic images) of one split."""
    return {
        "images": len(frame),
        "instances": {name: int(frame[f"c{k}"].sum()) for k, name in enumerate(names)},
        "images_by_source": {s: int((frame["source"] == s).sum()) for s in ("real", "synthetic")},
        "images_with_target": int((frame[f"c{target_id}"] > 0).sum()),
    }


def write_dataset(out: Path, settings: DatasetSettings, splits: dict, notes: dict, name: str) -> None:
    """Image lists, data.yaml (absolute paths) and manifest.json under `out`."""
    import yaml

    out = out.resolve()
    target_id = settings.names.index(settings.target)
    counts = {}
    for split, frame in splits.items():
        io.write_text(out / f"{split}.txt", "".join(f"{p}\n" for p in frame["image"]))
        counts[split] = split_counts(frame, settings.names, target_id)
    manifest = {"experiment": name, "settings": settings.as_dict(), "splits": counts, **notes}
    io.write_json(out / "manifest.json", manifest)
    data = {
        "path": str(out),
        **{split: str(out / f"{split}.txt") for split in SPLITS},
        "names": dict(enumerate(settings.names)),
    }
    io.write_text(out / "data.yaml", yaml.safe_dump(data, sort_keys=False))


def synthetic_sets(paths: list[str], num_classes: int) -> dict[str, pd.DataFrame]:
    """results/inpaint/{set}/manifest.csv -> {set: images}; the set is the parent folder's name."""
    sets = {}
    for path in paths:
        name = Path(path).parent.name
        if name in sets:
            raise ValueError(f"--synthetic: set {name!r} given twice")
        sets[name] = load_images(path, num_classes)
    return sets


def main(argv=None):
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", required=True, help="JSON: classes, seed, experiment")
    parser.add_argument("--experiment", required=True, help="experiment name (for the manifest)")
    parser.add_argument("--detect-tiles", required=True, help="results/tiles/detect/manifest.csv")
    parser.add_argument("--synthetic", nargs="*", default=[], help="results/inpaint/{set}/manifest.csv")
    parser.add_argument("--out", required=True, help="results/datasets/{experiment}")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, DatasetSettings)
    num_classes = len(settings.names)
    tiles = load_images(args.detect_tiles, num_classes)
    check_declared_counts(tiles, settings.names, args.detect_tiles)
    splits, notes = assemble(settings, tiles, synthetic_sets(args.synthetic, num_classes))
    write_dataset(Path(args.out), settings, splits, notes, args.experiment)
    for split, frame in splits.items():
        log.info("%s %s: %d images (%d synthetic)", args.experiment, split, len(frame),
                 int((frame["source"] == "synthetic").sum()))


if __name__ == "__main__":
    main()
