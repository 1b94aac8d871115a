"""Readers of the two scene formats into rows of scenes.csv and objects.csv (docs/dataflow.md).

- xView: one GeoJSON FeatureCollection for all scenes; each feature's properties hold
  `image_id` ("2355.tif", a file in the images folder), `type_id` (the class id; some ids such
  as 75 and 82 are invalid) and `bounds_imcoords`, the pixel box: the string
  "xmin,ymin,xmax,ymax" or a list of four numbers (both are found in the wild). xView carries
  no GSD: every scene is at `data.xview.gsd`.
- DOTA: `labelTxt/<stem>.txt` per scene (UTF-8, or UTF-16 / UTF-8 with a byte-order mark, as
  the DOTA devkit writes), `key:value` header lines before the objects (`imagesource:`, `gsd:`,
  `acquisition dates:` in v1.5 and v2.0; any key is accepted and `gsd` is read), then
  `x1 y1 x2 y2 x3 y3 x4 y4 category [difficult]` per object (an oriented polygon; the index
  keeps its axis-aligned bounding box). Without the difficult field (9 fields) an object is not
  difficult; DOTA_DIFFICULT lists the values DOTA v1.0 to v2.0 use. A scene's GSD is its
  `gsd:` header, or `data.dota.gsd` where the header is missing or `gsd:null`.

Boxes are scaled to the working resolution (workflow.scenes.resolution) and clipped to the
scene there. Pixel formats (16-bit, 4-band) go through workflow.scenes.rasters.

Nothing is dropped silently: each unusable input is counted in a `SkipLog` under one of
`SKIP_KINDS` and logged (a missing or unreadable image names its file, a malformed DOTA line its
file and line number). Labels absent from the class map are counted per label. What only the
configuration can fix (a 16-bit scene without a stretch, bands the scene does not have, a
scene of unknown GSD while tiling.gsd is set) stops the index with the file and the key.
Only image headers are read (and one corner pixel, so that a truncated file fails here rather
than in the tiling; and a decimated read when a stretch is configured): the scene's pixels are
never loaded whole.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Mapping

from workflow.core.checks import GSD_HINT
from workflow.core.geometry import clip_to_image
from workflow.core.labels import ClassSettings
from workflow.scenes import rasters
from workflow.scenes.resolution import scene_size, to_working
from workflow.scenes.sources import SourcePaths

log = logging.getLogger(__name__)

SKIP_KINDS = (
    "missing_image",  # a label (xView image_id, DOTA label file) whose image is not on disk
    "unreadable_image",  # the image exists but cannot be decoded
    "objects_of_skipped_images",  # objects of scenes skipped for one of the two reasons above
    "malformed_label",  # a GeoJSON feature or DOTA line that cannot be parsed
    "unknown_label",  # a type id or category absent from the class map (see unknown_labels)
    "box_outside_image",  # an object with no pixel inside its image
    "clipped_box",  # an object clipped to its image (kept, counted)
    "unlabelled_image",  # an image in the folder that no label refers to (not indexed)
)
# Image files by suffix, in any case ('P0001.PNG', '2355.Tif'): what GDAL reads of the formats
# aerial data sets ship (HRSC2016: BMP; some Pleiades products: JPEG 2000).
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".jpe", ".bmp", ".jp2", ".webp")
# DOTA's difficult field -> the index's 0/1. DOTA v1.0 to v2.0 write 0 and 1; the DOTA devkit's
# format conversions also read 2, as not difficult (ParseTxtAndWrite maps 2 to 0).
DOTA_DIFFICULT = {"0": 0, "1": 1, "2": 0}
NULL_GSD = ("", "null", "none", "nan")  # `gsd:` values meaning "unknown"
# Where a scene's native GSD came from (scenes.csv `gsd_from`): its label file's `gsd:` header,
# or data.<source>.gsd (xView files carry none; DOTA files without the header or with gsd:null).
# Empty when the GSD is unknown.
GSD_FROM = ("label", "config")


@dataclasses.dataclass
class SkipLog:
    """Counts of every skipped or altered input of one source."""

    source: str
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    unknown_labels: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    first: dict = dataclasses.field(default_factory=dict)  # kind -> its first message

    def skip(self, kind: str, message: str | None = None, n: int = 1) -> None:
        assert kind in SKIP_KINDS, kind
        self.counts[kind] += n
        if message:
            self.first.setdefault(kind, message)
            log.warning("%s: skipped (%s): %s", self.source, kind, message)

    def as_dict(self) -> dict:
        out = {kind: int(self.counts[kind]) for kind in SKIP_KINDS}
        out["unknown_labels"] = {str(k): int(v) for k, v in sorted(self.unknown_labels.items())}
        return out


@dataclasses.dataclass(frozen=True)
class SourceRead:
    """How one source is read: its config section (`data.<source>`) and the working GSD."""

    source: str  # xview | dota
    paths: SourcePaths
    working_gsd: float | None  # tiling.gsd

    def key(self, name: str) -> str:
        return f"data.{self.source}.{name}"


def probe_image(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header; raises OSError if unreadable."""
    info = rasters.probe(path)
    return info.width, info.height


def read_pixels_format(read: SourceRead, image: Path) -> tuple[int, int, tuple, list | None]:
    """(width, height, RGB bands, stretch limits or None) of a scene; OSError if unreadable,
    ValueError (naming the config key) if the configuration cannot read its pixels."""
    info = rasters.probe(image)
    bands = rasters.rgb_bands(info, read.paths.bands, image, read.key("bands"))
    rasters.check_depth(info, read.paths.stretch, image, read.key("stretch"))
    limits = None
    if read.paths.stretch is not None:
        limits = rasters.stretch_limits(image, bands, read.paths.stretch)
    return info.width, info.height, bands, limits


def build_scene(read: SourceRead, image: Path, raw: list, reference: str, native_gsd,
                class_map: Mapping[str, str], classes: ClassSettings,
                skips: SkipLog, gsd_from: str = "label") -> tuple[dict, list[dict]] | None:
    """One scene row and its object rows from raw `(source_label, native box, difficult)` labels.

    `reference` names where the labels came from, for the log; `native_gsd` is the scene's GSD
    (None: unknown), `gsd_from` where it came from (GSD_FROM). Returns None (counted) when the
    image is missing or unreadable.
    """
    if not image.is_file():
        skips.skip("missing_image", f"{image} not found ({len(raw)} labels in {reference})")
        skips.skip("objects_of_skipped_images", n=len(raw))
        return None
    try:
        native_width, native_height, bands, limits = read_pixels_format(read, image)
    except OSError as error:
        skips.skip("unreadable_image", str(error))
        skips.skip("objects_of_skipped_images", n=len(raw))
        return None
    if native_gsd is None and read.working_gsd is not None:
        raise ValueError(f"{reference}: the GSD of {image.name} is unknown and tiling.gsd is "
                         f"{read.working_gsd}: set config key '{read.key('gsd')}' to the GSD to "
                         "assume (m/px), or tiling.gsd: null to tile at native pixels. To choose "
                         f"a GSD, {GSD_HINT}")
    size = scene_size(native_width, native_height, native_gsd, read.working_gsd)
    scene_id = f"{read.source}_{image.stem}"
    objects = []
    for label, box, difficult in raw:
        name = class_map.get(label)
        if name is None:
            skips.skip("unknown_label")
            skips.unknown_labels[label] += 1
            continue
        inside = clip_to_image(to_working(box, size.scale), size.width, size.height)
        if inside is None:
            skips.skip("box_outside_image", f"{image}: {label} box {box} lies outside "
                       f"{native_width}x{native_height}")
            continue
        clipped_box, clipped = inside
        skips.counts["clipped_box"] += int(clipped)
        objects.append(dict(scene_id=scene_id, source_label=label, class_name=name,
                            class_id=classes.class_id(name), xmin=clipped_box[0], ymin=clipped_box[1],
                            xmax=clipped_box[2], ymax=clipped_box[3], clipped=clipped,
                            difficult=difficult))
    n_target = sum(obj["class_name"] == classes.target for obj in objects)
    scene = dict(scene_id=scene_id, source=read.source, image_path=str(image), width=size.width,
                 height=size.height, n_objects=len(objects), n_target=n_target,
                 native_width=native_width, native_height=native_height,
                 native_gsd=native_gsd, gsd_from=gsd_from if native_gsd is not None else "",
                 gsd=size.gsd, scale=size.scale,
                 bands=rasters.format_numbers(bands),
                 stretch=rasters.format_numbers(limits))
    return scene, objects


def _parse_box(values) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = (float(v) for v in values)
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        raise ValueError(f"non-finite coordinates {list(values)}")
    if xmax <= xmin or ymax <= ymin:
        raise ValueError(f"empty box {list(values)}")
    return xmin, ymin, xmax, ymax


def parse_bounds(bounds) -> tuple[float, float, float, float]:
    """xView `bounds_imcoords`: "xmin,ymin,xmax,ymax" or a list of four numbers -> box."""
    if isinstance(bounds, str):
        values = bounds.split(",")
    elif isinstance(bounds, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in bounds):
        values = list(bounds)
    else:
        raise ValueError(f"bounds_imcoords {bounds!r} is neither 'xmin,ymin,xmax,ymax' nor a "
                         "list of four numbers")
    if len(values) != 4:
        raise ValueError(f"bounds_imcoords {bounds!r} does not hold four numbers "
                         "(xmin, ymin, xmax, ymax)")
    return _parse_box(values)


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
    return image_id, str(int(float(type_id))), parse_bounds(props["bounds_imcoords"])


def read_xview(images: Path, labels: Path, classes: ClassSettings, read: SourceRead | None = None):
    """Scenes, objects and skips of an xView folder of GeoTIFFs and its one GeoJSON."""
    images, labels = Path(images), Path(labels)
    read = read or SourceRead("xview", SourcePaths(str(images), str(labels)), None)
    if not images.is_dir():
        raise ValueError(f"xView images folder {images} (config data.xview.images) does not exist")
    try:
        collection = json.loads(labels.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"xView labels {labels} (config data.xview.labels): {error}") from None
    if not isinstance(collection, dict) or not isinstance(collection.get("features"), list):
        raise ValueError(f"xView labels {labels}: not a GeoJSON FeatureCollection")
    class_map = classes.label_map("xview")
    skips = SkipLog("xview")
    by_image: dict[str, tuple] = {}
    for index, feature in enumerate(collection["features"]):
        try:
            image_id, type_id, box = parse_xview_feature(feature)
        except (ValueError, TypeError) as error:
            skips.skip("malformed_label", f"{labels}: feature {index}: {error}")
            continue
        by_image.setdefault(image_id, ([], str(labels), read.paths.gsd, "config"))[0].append(
            (type_id, box, 0))
    return _collect(read, ImageFolder(images), by_image, class_map, classes, skips)


def parse_dota_line(line: str) -> tuple[str, tuple, int]:
    """(category, axis-aligned box, difficult) of one DOTA object line; ValueError if malformed."""
    tokens = line.split()
    if len(tokens) not in (9, 10):
        raise ValueError(f"{len(tokens)} fields, expected 9 or 10 (8 coordinates, category, "
                         "optional difficult)")
    coords = [float(v) for v in tokens[:8]]
    xs, ys = coords[0::2], coords[1::2]
    difficult = tokens[9] if len(tokens) == 10 else "0"
    if difficult not in DOTA_DIFFICULT:
        raise ValueError(f"difficult is {difficult!r}, expected one of {sorted(DOTA_DIFFICULT)}")
    return tokens[8], _parse_box([min(xs), min(ys), max(xs), max(ys)]), DOTA_DIFFICULT[difficult]


def read_label_text(path: Path) -> str:
    """A label file's text: UTF-16 or UTF-8 by its byte-order mark, else UTF-8 (bad bytes
    replaced, so that the line holding them is reported as malformed)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def is_header(line: str) -> bool:
    """A `key:value` line: it holds a colon and does not start with a coordinate."""
    if ":" not in line:
        return False
    first = line.split()[0] if line.split() else ""
    try:
        float(first)
    except ValueError:
        return True
    return False


def header_gsd(value: str, where: str, skips: SkipLog) -> float | None:
    """The metres per pixel of a `gsd:` header; None when null or unusable (then counted)."""
    if value.strip().lower() in NULL_GSD:
        return None
    try:
        gsd = float(value)
    except ValueError:
        gsd = float("nan")
    if not (math.isfinite(gsd) and gsd > 0):
        skips.skip("malformed_label", f"{where}: gsd {value.strip()!r} is not a positive number; "
                   "the scene's GSD is taken as unknown")
        return None
    return gsd


def read_dota_labels(path: Path, skips: SkipLog) -> tuple[list, dict[str, str]]:
    """Raw `(category, box, difficult)` labels of one labelTxt file and its header
    (`key:value` lines before the first object; keys lower-cased)."""
    raw, header = [], {}
    for number, line in enumerate(read_label_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        if not raw and is_header(line):
            key, value = line.split(":", 1)
            header[key.strip().lower()] = value.strip()
            continue
        try:
            raw.append(parse_dota_line(line))
        except ValueError as error:
            skips.skip("malformed_label", f"{path}:{number}: {error}: {line.strip()!r}")
    return raw, header


class ImageFolder:
    """The image files of a folder, listed once and found as publishers name them: by exact
    name, else by the name in any case; a DOTA label's image by its stem with any image suffix
    in any case. Hidden files (macOS '._P0001.png') are not images."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")
                            and p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        self._folded: dict[str, list[str]] = {}
        for name in self.files:
            self._folded.setdefault(name.casefold(), []).append(name)

    def find(self, name: str) -> str | None:
        """The file called `name` (xView's image_id), exactly or in another case; None if none."""
        if name in self.files:
            return name
        folded = self._folded.get(name.casefold(), [])
        return folded[0] if len(folded) == 1 else None

    def find_stem(self, stem: str) -> str | None:
        """The image of a label file's stem: an image suffix in the order of IMAGE_SUFFIXES, any
        case; None if none."""
        for suffix in IMAGE_SUFFIXES:
            found = self.find(f"{stem}{suffix}")
            if found is not None:
                return found
        return None


def label_files(labels: Path) -> list[Path]:
    """The DOTA label files of a folder: *.txt in any case, hidden files left out."""
    return sorted(p for p in labels.iterdir() if p.suffix.lower() == ".txt"
                  and not p.name.startswith(".") and p.is_file())


def read_dota(images: Path, labels: Path, classes: ClassSettings, read: SourceRead | None = None):
    """Scenes, objects and skips of a DOTA images folder and its labelTxt folder."""
    images, labels = Path(images), Path(labels)
    read = read or SourceRead("dota", SourcePaths(str(images), str(labels)), None)
    for path, key in ((images, "images"), (labels, "labels")):
        if not path.is_dir():
            raise ValueError(f"DOTA {key} folder {path} (config data.dota.{key}) does not exist")
    class_map = classes.label_map("dota")
    skips = SkipLog("dota")
    by_image = {}
    folder = ImageFolder(images)
    for label_file in label_files(labels):
        raw, header = read_dota_labels(label_file, skips)
        gsd = header_gsd(header["gsd"], str(label_file), skips) if "gsd" in header else None
        # A missing or null header takes data.dota.gsd: counted (gsd_from), so that the index
        # summary says how many scenes hold the configuration's GSD rather than their file's.
        gsd, gsd_from = (read.paths.gsd, "config") if gsd is None else (gsd, "label")
        # no image of that stem: reported missing under the name DOTA gives it
        name = folder.find_stem(label_file.stem) or f"{label_file.stem}.png"
        by_image[name] = (raw, str(label_file), gsd, gsd_from)
    return _collect(read, folder, by_image, class_map, classes, skips)


def _collect(read: SourceRead, folder: ImageFolder, by_image: dict, class_map, classes,
             skips: SkipLog):
    """Build every labelled scene (sorted by file name) and count unlabelled images.

    by_image: image file name as the labels give it -> (raw labels, where they came from,
    native GSD or None, where the GSD came from).
    """
    scenes, objects, found = [], [], set()
    for name in sorted(by_image):
        raw, reference, gsd, gsd_from = by_image[name]
        on_disk = folder.find(name)
        found.add(on_disk)
        built = build_scene(read, folder.folder / (on_disk or name), raw, reference, gsd,
                            class_map, classes, skips, gsd_from)
        if built is not None:
            scenes.append(built[0])
            objects.extend(built[1])
    unlabelled = [name for name in folder.files if name not in found]
    if unlabelled:
        skips.skip("unlabelled_image", f"{len(unlabelled)} images in {folder.folder} have no "
                   f"labels (first {unlabelled[0]})", n=len(unlabelled))
    for label, count in sorted(skips.unknown_labels.items()):
        log.warning("%s: skipped %d objects with label %r absent from classes.%s",
                    read.source, count, label, read.source)
    log.info("%s: %d scenes, %d objects; skips %s", read.source, len(scenes), len(objects),
             {k: v for k, v in skips.counts.items() if v})
    return scenes, objects, skips
