"""Small detection data sets drawn with OpenCV, in the layouts of docs/dataflow.md.

Planes are a bright fuselage and swept wings on a noisy grey ground; cars are small coloured
rectangles. Used by test_datasets.py and test_detect.py; `train_args` gives the detector tests
the demo's detect.train as a training's --settings holds it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml

from tests.helpers import REPO

NAMES = ("plane", "car", "truck", "boat")


def train_args(**overrides) -> dict:
    """config/config.yaml's detect.train less the runtime keys (the command line's --device,
    --workers), with `overrides`: every key the schema requires, as TrainSettings takes them."""
    from workflow.detect.params import RUNTIME_KEYS

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    train = {k: v for k, v in config["detect"]["train"].items() if k not in RUNTIME_KEYS}
    return {**train, **overrides}


def _plane(centre, length, angle):
    """Fuselage and wing polygons, (4, 2) and (6, 2) float."""
    d = np.array([np.cos(angle), np.sin(angle)])
    p = np.array([-d[1], d[0]])
    c, half, w = np.asarray(centre), length / 2, 0.06 * length
    fuselage = np.array([c + d * half + p * w, c - d * half + p * w, c - d * half - p * w, c + d * half - p * w])
    s = 0.5 * length
    wings = np.array([c + 0.1 * length * d, c - 0.15 * length * d + s * p, c - 0.25 * length * d + s * p,
                      c - 0.1 * length * d, c - 0.25 * length * d - s * p, c - 0.15 * length * d - s * p])
    return [fuselage, wings]


def draw_tile(rng: np.random.Generator, size: int, n_planes: int, n_cars: int):
    """-> (H, W, 3) uint8 BGR image, YOLO label lines (class 0 plane, 1 car)."""
    image = np.clip(rng.normal(90, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    lines = []
    for class_id, count in ((0, n_planes), (1, n_cars)):
        for _ in range(count):
            length = rng.uniform(0.2, 0.45) * size if class_id == 0 else rng.uniform(0.05, 0.08) * size
            centre = rng.uniform(length, size - length, 2)
            if class_id == 0:
                polygons, colour = _plane(centre, length, rng.uniform(0, np.pi)), (235, 235, 240)
            else:
                half = np.array([length / 2, length / 4])
                polygons = [np.array([centre - half, centre + [half[0], -half[1]], centre + half,
                                      centre + [-half[0], half[1]]])]
                colour = tuple(int(v) for v in rng.integers(0, 255, 3))
            for polygon in polygons:
                cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], colour)
            points = np.concatenate(polygons)
            x0, y0 = np.clip(points.min(0), 0, size)
            x1, y1 = np.clip(points.max(0), 0, size)
            lines.append(f"{class_id} {(x0 + x1) / 2 / size:.6f} {(y0 + y1) / 2 / size:.6f} "
                         f"{(x1 - x0) / size:.6f} {(y1 - y0) / size:.6f}\n")
    return image, lines


def write_image(folder: Path, stem: str, image, lines) -> tuple[str, str]:
    """Write images/<stem>.png and labels/<stem>.txt under `folder`; return both paths."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    image_path, label_path = folder / "images" / f"{stem}.png", folder / "labels" / f"{stem}.txt"
    cv2.imwrite(str(image_path), image)
    label_path.write_text("".join(lines))
    return str(image_path), str(label_path)


def write_detect_tiles(root: Path, plan: dict[str, list[int]], size: int = 64, seed: int = 0) -> Path:
    """Detection tiles as workflow.tiles.tiling writes them; `plan[split]` = planes per tile.

    Returns the manifest path (root/detect/manifest.csv); every tile also holds 0..2 cars.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for split, planes in plan.items():
        for i, n_planes in enumerate(planes):
            image, lines = draw_tile(rng, size, n_planes, int(rng.integers(0, 3)))
            tile_id = f"{split}_{i:03d}"
            image_path, label_path = write_image(root / "detect" / split, tile_id, image, lines)
            counts = [sum(line.startswith(f"{k} ") for line in lines) for k in range(len(NAMES))]
            rows.append({"tile_id": tile_id, "split": split, "image": image_path, "labels": label_path,
                         "scene_id": f"scene_{split}", "x0": 0, "y0": size * i, "size": size,
                         **{f"n_{name}": c for name, c in zip(NAMES, counts)}})
    manifest = root / "detect" / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def write_synthetic_set(root: Path, name: str, n_images: int, size: int = 64, seed: int = 1) -> Path:
    """An inpainted set as workflow.inpaint writes it: one plane per image, plus background cars."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        image, lines = draw_tile(rng, size, 1, int(rng.integers(0, 2)))
        image_path, label_path = write_image(root / name / "chunk0", f"syn_{i:03d}", image, lines)
        rows.append({"image": image_path, "labels": label_path, "tile_id": f"bg_{i}", "crop_id": i})
    manifest = root / name / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def write_detector_description(path: Path, arch: str, classes: int = 80) -> Path:
    """A model file that holds what the load-time check reads of an ultralytics checkpoint (the
    model's `yaml` description, as ultralytics builds it from `<arch>.yaml`) and no weights: a
    stand-in for a COCO checkpoint in tests that only plan the workflow."""
    import types

    import torch
    from ultralytics.nn.tasks import yaml_model_load

    description = {**yaml_model_load(f"{arch}.yaml"), "nc": classes}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": types.SimpleNamespace(yaml=description)}, path)
    return path
