"""Readers of the two scene formats into rows of scenes.csv and objects.csv (docs/dataflow.md).

- xView: one GeoJSON FeatureCollection for all scenes; each feature's properties hold
  `image_id` ("2355.tif", a file in the images folder), `type_id` (the class id; some ids such
  as 75 and 82 are invalid) and `bounds_imcoords` ("xmin,ymin,xmax,ymax" in pixels).
- DOTA: `labelTxt/<stem>.txt` per scene, optional `imagesource:` and `gsd:` header lines, then
  `x1 y1 x2 y2 x3 y3 x4 y4 category difficult` per object (an oriented polygon; the index keeps
  its axis-aligned bounding box).

Nothing is dropped silently: each unusable input is counted in a `SkipLog` under one of
`SKIP_KINDS` and logged (a missing or unreadable image names its file, a malformed DOTA line its
file and line number). Labels absent from the class map are counted per label.
Only image headers are read (and one corner pixel, so that a truncated file fails here rather
than in the tiling): the scene's pixels are never loaded.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import warnings
from pathlib import Path
from typing import Mapping

from workflow.core.geometry import clip_to_image
from workflow.core.labels import ClassSettings

LOG = logging.getLogger(__name__)

SKIP_KINDS = (
    "missing_image",  # a label (xView image_id, DOTA label file) whose image is not on disk
    "unreadable_image",  # the image exists but cannot be decoded, or is not 8-bit 1/3/4-band
    "objects_of_skipped_images",  # objects of scenes skipped for one of the two reasons above
    "malformed_label",  # a GeoJSON feature or DOTA line that cannot be parsed
    "unknown_label",  # a type id or category absent from the class map (see unknown_labels)
    "box_outside_image",  # an object with no pixel inside its image
    "clipped_box",  # an object clipped to its image (kept, counted)
    "unlabelled_image",  # an image in the folder that no label refers to (not indexed)
)
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclasses.dataclass
class SkipLog:
    """Counts of every skipped or altered input of one source."""

    source: str
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    unknown_labels: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def skip(self, kind: str, message: str | None = None, n: int = 1) -> None:
        assert kind in SKIP_KINDS, kind
        self.counts[kind] += n
        if message:
            LOG.warning("%s: skipped (%s): %s", self.source, kind, message)

    def as_dict(self) -> dict:
        out = {kind: int(self.counts[kind]) for kind in SKIP_KINDS}
        out["unknown_labels"] = {str(k): int(v) for k, v in sorted(self.unknown_labels.items())}
        return out


def probe_image(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header; raises OSError if unreadable or unsupported."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.windows import Window

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # PNGs carry no georeference
            with rasterio.open(path) as src:
                if src.count not in (1, 3, 4) or set(src.dtypes) != {"uint8"}:
                    raise OSError(f"{path}: {src.count} bands of {src.dtypes}; need 1, 3 or 4 uint8")
                src.read(1, window=Window(src.width - 1, src.height - 1, 1, 1))
                return int(src.width), int(src.height)
    except RasterioError as error:
        raise OSError(f"{path}: {error}") from None


def build_scene(source: str, image: Path, raw: list, reference: str, class_map: Mapping[str, str],
                classes: ClassSettings, skips: SkipLog) -> tuple[dict, list[dict]] | None:
    """One scene row and its object rows from raw `(source_label, box, difficult)` labels.

    `reference` names where the labels came from, for the log. Returns None (counted) when the
    image is missing or unreadable.
    """
    if not image.is_file():
        skips.skip("missing_image", f"{image} not found ({len(raw)} labels in {reference})")
        skips.skip("objects_of_skipped_images", n=len(raw))
        return None
    try:
        width, height = probe_image(image)
    except OSError as error:
        skips.skip("unreadable_image", str(error))
        skips.skip("objects_of_skipped_images", n=len(raw))
        return None
    scene_id = f"{source}_{image.stem}"
    objects = []
    for label, box, difficult in raw:
        name = class_map.get(label)
        if name is None:
            skips.skip("unknown_label")
            skips.unknown_labels[label] += 1
            continue
        inside = clip_to_image(box, width, height)
        if inside is None:
            skips.skip("box_outside_image", f"{image}: {label} box {box} lies outside {width}x{height}")
            continue
        clipped_box, clipped = inside
        skips.counts["clipped_box"] += int(clipped)
        objects.append(dict(scene_id=scene_id, source_label=label, class_name=name,
                            class_id=classes.class_id(name), xmin=clipped_box[0], ymin=clipped_box[1],
                            xmax=clipped_box[2], ymax=clipped_box[3], clipped=clipped,
                            difficult=difficult))
    n_target = sum(obj["class_name"] == classes.target for obj in objects)
    scene = dict(scene_id=scene_id, source=source, image_path=str(image), width=width,
                 height=height, n_objects=len(objects), n_target=n_target)
    return scene, objects


def _parse_box(values: list[str]) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = (float(v) for v in values)
    if not all(abs(v) < float("inf") for v in (xmin, ymin, xmax, ymax)):
        raise ValueError(f"non-finite coordinates {values}")
    if xmax <= xmin or ymax <= ymin:
        raise ValueError(f"empty box {values}")
    return xmin, ymin, xmax, ymax


def parse_xview_feature(feature) -> tuple[str, str, tuple]:
    """(image_id, type_id as a string, box) of one GeoJSON feature; ValueError if malformed."""
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise ValueError("not a feature with properties")
    props = feature["properties"]
    for key in ("image_id", "type_id", "bounds_imcoords"):
        if key not in props:
            raise ValueError(f"no property {key!r}")
    image_id, type_id = props["image_id"], props["type_id"]
    if not isinstance(image_id, str) or not image_id or "/" in image_id:
        raise ValueError(f"bad image_id {image_id!r}")
    if isinstance(type_id, bool) or not float(type_id).is_integer():
        raise ValueError(f"bad type_id {type_id!r}")
    bounds = str(props["bounds_imcoords"]).split(",")
    if len(bounds) != 4:
        raise ValueError(f"bounds_imcoords {props['bounds_imcoords']!r} is not 'xmin,ymin,xmax,ymax'")
    return image_id, str(int(float(type_id))), _parse_box(bounds)


def read_xview(images: Path, labels: Path, classes: ClassSettings):
    """Scenes, objects and skips of an xView folder of GeoTIFFs and its one GeoJSON."""
    images, labels = Path(images), Path(labels)
    if not images.is_dir():
        raise ValueError(f"xView images folder {images} (config data.xview.images) does not exist")
    try:
        collection = json.loads(labels.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"xView labels {labels} (config data.xview.labels): {error}") from None
    if not isinstance(collection, dict) or not isinstance(collection.get("features"), list):
        raise ValueError(f"xView labels {labels}: not a GeoJSON FeatureCollection")
    skips = SkipLog("xview")
    by_image: dict[str, list] = {}
    for index, feature in enumerate(collection["features"]):
        try:
            image_id, type_id, box = parse_xview_feature(feature)
        except (ValueError, TypeError) as error:
            skips.skip("malformed_label", f"{labels}: feature {index}: {error}")
            continue
        by_image.setdefault(image_id, ([], str(labels)))[0].append((type_id, box, 0))
    return _collect("xview", images, by_image, classes.xview, classes, skips)


def parse_dota_line(line: str) -> tuple[str, tuple, int]:
    """(category, axis-aligned box, difficult) of one DOTA object line; ValueError if malformed."""
    tokens = line.split()
    if len(tokens) != 10:
        raise ValueError(f"{len(tokens)} fields, expected 10 (8 coordinates, category, difficult)")
    coords = [float(v) for v in tokens[:8]]
    xs, ys = coords[0::2], coords[1::2]
    if tokens[9] not in ("0", "1"):
        raise ValueError(f"difficult is {tokens[9]!r}, expected 0 or 1")
    return tokens[8], _parse_box([min(xs), min(ys), max(xs), max(ys)]), int(tokens[9])


def read_dota_labels(path: Path, skips: SkipLog) -> list:
    """Raw `(category, box, difficult)` labels of one labelTxt file (header lines skipped)."""
    raw = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip() or line.startswith(("imagesource:", "gsd:")):
            continue
        try:
            raw.append(parse_dota_line(line))
        except ValueError as error:
            skips.skip("malformed_label", f"{path}:{number}: {error}: {line.strip()!r}")
    return raw


def find_image(images: Path, stem: str) -> Path:
    """The image of a DOTA label file (first existing suffix; the .png path if none exists)."""
    for suffix in IMAGE_SUFFIXES:
        if (images / f"{stem}{suffix}").is_file():
            return images / f"{stem}{suffix}"
    return images / f"{stem}.png"


def read_dota(images: Path, labels: Path, classes: ClassSettings):
    """Scenes, objects and skips of a DOTA images folder and its labelTxt folder."""
    images, labels = Path(images), Path(labels)
    for path, key in ((images, "images"), (labels, "labels")):
        if not path.is_dir():
            raise ValueError(f"DOTA {key} folder {path} (config data.dota.{key}) does not exist")
    skips = SkipLog("dota")
    by_image = {}
    for label_file in sorted(labels.glob("*.txt")):
        raw = read_dota_labels(label_file, skips)
        by_image[find_image(images, label_file.stem).name] = (raw, str(label_file))
    return _collect("dota", images, by_image, classes.dota, classes, skips)


def _collect(source, images: Path, by_image: dict, class_map, classes, skips: SkipLog):
    """Build every labelled scene (sorted by file name) and count unlabelled images.

    by_image: image file name -> (raw labels, where they came from).
    """
    scenes, objects = [], []
    for name in sorted(by_image):
        raw, reference = by_image[name]
        built = build_scene(source, images / name, raw, reference, class_map, classes, skips)
        if built is not None:
            scenes.append(built[0])
            objects.extend(built[1])
    unlabelled = [p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                  and p.name not in by_image]
    if unlabelled:
        skips.skip("unlabelled_image", f"{len(unlabelled)} images in {images} have no labels",
                   n=len(unlabelled))
    for label, count in sorted(skips.unknown_labels.items()):
        LOG.warning("%s: skipped %d objects with label %r absent from classes.%s",
                    source, count, label, source)
    LOG.info("%s: %d scenes, %d objects; skips %s", source, len(scenes), len(objects),
             {k: v for k, v in skips.counts.items() if v})
    return scenes, objects, skips
