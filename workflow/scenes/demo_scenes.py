"""Generate the demo scenes: procedural airports written in the xView and DOTA formats.

    python -m workflow.scenes.demo_scenes --settings JSON

`--settings` is config section `data` (keys demo, xview, dota). Scenes are drawn from
`data.demo.seed` alone (one numpy Generator per scene), so the same settings write the same
bytes. `generate_scenes` is the Python entry point, also used to make separate pre-training
scenes with another seed. The output folders are replaced as a whole (atomically).

Ground resolution: scenes are drawn at `data.demo.gsd` m/px (`size` px a side; the generator's
airports and planes are laid out in pixels, so this sets their size on the ground) and each
format is written at its source's GSD, `data.xview.gsd` and `data.dota.gsd` (the DOTA files say
so in their `gsd:` header), resampled where that differs: DOTA-format scenes at 0.15 m and
xView-format scenes at 0.3 m of the same airports, for example.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from workflow.core.checks import check_demo_gsd
from workflow.core.io import atomic_dir, write_text
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings
from workflow.scenes.demo import writers
from workflow.scenes.demo.scene import make_scene
from workflow.scenes.sources import DEMO_GSD, DataSettings, DemoSettings

log = logging.getLogger(__name__)
XVIEW, DOTA = 0, 1  # stream ids: the scenes of one format do not depend on the other's count


def empty_scenes(seed: int, stream: int, count: int, empty_fraction: float) -> set[int]:
    """Indices of the round(empty_fraction * count) scenes of a format that hold no plane."""
    rng = np.random.default_rng([seed, stream])
    n_empty = int(round(empty_fraction * count))
    return set(int(i) for i in rng.choice(count, size=n_empty, replace=False))


def _scenes(seed: int, stream: int, count: int, size: int, empty_fraction: float):
    """Yield (index, image (S, S, 3) uint8, objects, rng) for each scene of one format."""
    empty = empty_scenes(seed, stream, count, empty_fraction)
    for index in range(count):
        rng = np.random.default_rng([seed, stream, index])
        image, objects = make_scene(
            rng, size, with_planes=index not in empty, oriented=stream == DOTA
        )
        n_planes = sum(obj.kind == "plane" for obj in objects)
        log.info(
            "%s scene %d: %d objects, %d planes",
            ("xview", "dota")[stream],
            index,
            len(objects),
            n_planes,
        )
        yield index, image, objects, rng


def write_xview(
    images: Path, labels: Path, count: int, size: int, seed: int, empty_fraction: float,
    gsd: float = DEMO_GSD, written_gsd: float | None = None,
) -> int:
    """GeoTIFFs named <1000 + index>.tif and the one GeoJSON; returns the number of features."""
    features: list[dict] = []
    written_gsd = written_gsd or gsd
    with atomic_dir(images) as tmp:
        for index, image, objects, rng in _scenes(seed, XVIEW, count, size, empty_fraction):
            name = f"{1000 + index}.tif"
            transform = writers.scene_transform(rng, written_gsd)
            image, objects = writers.rescale(image, objects, gsd, written_gsd)
            writers.write_geotiff(tmp / name, image, transform)
            features += writers.xview_features(objects, name, transform, len(features) + 1)
    generator = {"module": "workflow.scenes.demo_scenes", "seed": seed, "size": size}
    if (gsd, written_gsd) != (DEMO_GSD, DEMO_GSD):  # the default scenes' bytes stay as they were
        generator.update(drawn_gsd=gsd, gsd=written_gsd)
    collection = {"type": "FeatureCollection", "features": features, "generator": generator}
    write_text(labels, json.dumps(collection) + "\n")
    return len(features)


def write_dota(
    images: Path, labels: Path, count: int, size: int, seed: int, empty_fraction: float,
    gsd: float = DEMO_GSD, written_gsd: float | None = None,
) -> int:
    """PNGs named P<index>.png and labelTxt/P<index>.txt; returns the number of objects."""
    total = 0
    written_gsd = written_gsd or gsd
    with atomic_dir(images) as tmp_images, atomic_dir(labels) as tmp_labels:
        for index, image, objects, _ in _scenes(seed, DOTA, count, size, empty_fraction):
            image, objects = writers.rescale(image, objects, gsd, written_gsd)
            writers.write_dota(tmp_images, tmp_labels, f"P{index:04d}", image, objects, written_gsd)
            total += len(objects)
    return total


def generate_scenes(
    out_xview_images,
    out_xview_labels,
    out_dota_images,
    out_dota_labels,
    n_xview: int,
    n_dota: int,
    size: int,
    seed: int,
    empty_fraction: float,
    gsd: float = DEMO_GSD,
    xview_gsd: float | None = None,
    dota_gsd: float | None = None,
) -> dict[str, int]:
    """Write n_xview xView scenes and n_dota DOTA scenes drawn at size x size px of `gsd` m/px,
    written at `xview_gsd` and `dota_gsd` m/px (None: as drawn); returns counts.

    A format's paths may be None only when its count is 0 (then nothing of it is written).
    """
    DemoSettings(seed, n_xview, n_dota, size, empty_fraction, gsd)  # validates the values
    counts = {}
    for name, images, labels, count, write, written in (
        ("xview", out_xview_images, out_xview_labels, n_xview, write_xview, xview_gsd),
        ("dota", out_dota_images, out_dota_labels, n_dota, write_dota, dota_gsd),
    ):
        if images is None or labels is None:
            if count:
                raise ValueError(
                    f"config key 'data.{name}': null, but data.demo.n_{name} is {count}"
                )
            continue
        counts[f"{name}_objects"] = write(
            Path(images), Path(labels), count, size, seed, empty_fraction, gsd, written
        )
    return counts


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="JSON of config section `data`")
    args = parser.parse_args(argv)
    data = read_settings(args.settings, DataSettings, "data")
    if data.demo is None:
        raise ValueError("config key 'data.demo': null, so there are no demo scenes to generate")
    if data.dota is not None:
        check_demo_gsd(data.dota.gsd)
    demo = data.demo
    paths = {"xview": data.xview, "dota": data.dota}
    start = time.perf_counter()
    counts = generate_scenes(
        paths["xview"] and paths["xview"].images,
        paths["xview"] and paths["xview"].labels,
        paths["dota"] and paths["dota"].images,
        paths["dota"] and paths["dota"].labels,
        demo.n_xview,
        demo.n_dota,
        demo.size,
        demo.seed,
        demo.empty_fraction,
        demo.gsd,
        paths["xview"] and paths["xview"].gsd,
        paths["dota"] and paths["dota"].gsd,
    )
    log.info(
        "wrote %d xView and %d DOTA scenes of %d px drawn at %g m/px (%s) in %.1f s",
        demo.n_xview,
        demo.n_dota,
        demo.size,
        demo.gsd,
        counts,
        time.perf_counter() - start,
    )


if __name__ == "__main__":
    main()
