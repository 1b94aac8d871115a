"""Ground like where planes stand: every background tile scored by how much its ground resembles
the ground around the real planes of the training split.

    python -m workflow.tiles.ground --settings JSON(classes, apron_share) --detect results/tiles/detect/manifest.csv
        --background results/tiles/background/manifest.csv --scores results/tiles/ground/scores.csv
        --planes results/tiles/ground/planes.csv

A plane stands on an apron, a stand or a taxiway; the `tarmac` colour rule also passes roofs,
roads, car parks and haze. Here the scenes' own labels say what that ground looks like: for
every target object of the training split's detection tiles, a descriptor of the ring 4-16 px
around its box (other labelled objects left out); for every background tile, the same
descriptor of the whole tile. A descriptor holds the CIE Lab means, the spread of L and the
mean gradient magnitude of L (the texture). Each feature is standardised by the planes'
ground, and a tile's `distance` is the mean Euclidean distance to its K nearest plane grounds;
`rank` is its share of tiles at least as close (0: the most plane-like), and `apron` marks the
`tiling.apron_share` closest: the tiles a set of context `apron` draws from
(workflow.inpaint.placement.tile_pool). The plane grounds are written too (`planes.csv`): within
a tile, a plane of context `apron` goes to the free window whose ground is closest to them
(workflow.inpaint.placement.plan). Only training tiles are read: nothing of the validation or
test split shapes the placement.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging

import cv2
import numpy as np
import pandas as pd

from workflow.core import io
from workflow.core.labels import ClassSettings, read_yolo
from workflow.core.logs import setup_logging
from workflow.core.settings import read_settings

log = logging.getLogger(__name__)

RING = (4, 16)  # px around a plane's box whose ground describes where it stands
NEIGHBOURS = 5  # plane grounds a tile's distance averages over
FEATURES = ("l_mean", "a_mean", "b_mean", "l_spread", "l_gradient")


@dataclasses.dataclass(frozen=True)
class GroundSettings:
    classes: ClassSettings
    apron_share: float  # tiling.apron_share

    def __post_init__(self):
        if not 0 < self.apron_share <= 1:
            raise ValueError(f"config key 'tiling.apron_share': {self.apron_share}; need a share in (0, 1]")


def descriptor(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """FEATURES of an (H, W, 3) uint8 RGB image over the pixels of `region` (H, W) bool."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    light = lab[..., 0]
    gradient = np.hypot(cv2.Sobel(light, cv2.CV_32F, 1, 0), cv2.Sobel(light, cv2.CV_32F, 0, 1))
    pixels = lab[region]
    return np.array([*pixels.mean(axis=0), light[region].std(), gradient[region].mean()], np.float32)


def ring_region(shape, box, others, inner: int = RING[0], outer: int = RING[1]) -> np.ndarray:
    """(H, W) bool: the ring between `inner` and `outer` px around `box`, less every box of
    `others` grown by `inner` px."""
    height, width = shape

    def block(b, grow):
        x0, y0, x1, y1 = (int(round(v)) for v in b)
        return (slice(max(y0 - grow, 0), min(y1 + grow, height)),
                slice(max(x0 - grow, 0), min(x1 + grow, width)))

    region = np.zeros(shape, bool)
    region[block(box, outer)] = True
    region[block(box, inner)] = False
    for other in others:
        region[block(other, inner)] = False
    return region


def plane_grounds(detect: pd.DataFrame, target_id: int) -> np.ndarray:
    """(N, len(FEATURES)) descriptors of the ground around every target object of the
    training split's detection tiles (rings with fewer than 32 free pixels left out)."""
    rows = []
    for tile in detect[(detect["split"] == "train") & (detect["n_plane"] > 0)].itertuples():
        class_ids, boxes = read_yolo(tile.labels, int(tile.size))
        image = io.read_png(tile.image)
        for index in np.flatnonzero(class_ids == target_id):
            region = ring_region(image.shape[:2], boxes[index], np.delete(boxes, index, axis=0))
            if region.sum() >= 32:
                rows.append(descriptor(image, region))
    if not rows:
        raise ValueError("no target object with free ground around it in the training split's "
                         "detection tiles: nothing says where planes stand")
    return np.stack(rows)


@dataclasses.dataclass(frozen=True)
class PlaneGround:
    """The ground real planes stand on: their descriptors (N, len(FEATURES)), against which any
    patch of ground is measured."""

    grounds: np.ndarray

    @functools.cached_property
    def standardised(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, spread, the grounds standardised by them), computed once: placement measures
        many windows against them."""
        mean, spread = self.grounds.mean(axis=0), self.grounds.std(axis=0) + 1e-6
        return mean, spread, (self.grounds - mean) / spread

    def distance(self, image: np.ndarray, region: np.ndarray | None = None) -> float:
        """Mean distance of the descriptor of `image` (over `region`, else every pixel) to its
        NEIGHBOURS nearest plane grounds, each feature standardised by the plane grounds."""
        region = np.ones(image.shape[:2], bool) if region is None else region
        mean, spread, reference = self.standardised
        point = (descriptor(image, region) - mean) / spread
        k = min(NEIGHBOURS, len(reference))
        return float(np.partition(np.linalg.norm(reference - point, axis=1), k - 1)[:k].mean())

    @classmethod
    def read(cls, path) -> "PlaneGround":
        return cls(pd.read_csv(path)[list(FEATURES)].to_numpy(np.float32))

    def write(self, path) -> None:
        io.write_csv(path, pd.DataFrame(self.grounds, columns=list(FEATURES)))


def tile_distances(background: pd.DataFrame, planes: PlaneGround) -> np.ndarray:
    """Per background tile, its ground's distance to the plane grounds (whole tile)."""
    return np.array([planes.distance(io.read_png(tile.image)) for tile in background.itertuples()],
                    np.float32)


def score_tiles(planes: PlaneGround, background: pd.DataFrame, share: float) -> pd.DataFrame:
    """tile_id, distance, rank (share of tiles at least as close, in (0, 1]) and apron (rank
    within `share`) of every background tile."""
    distances = tile_distances(background, planes)
    order = np.argsort(distances, kind="stable")
    rank = np.empty(len(order), np.float64)
    rank[order] = (np.arange(len(order)) + 1) / len(order)
    log.info("%d plane grounds of the training split; %d background tiles scored",
             len(planes.grounds), len(background))
    return pd.DataFrame({"tile_id": background["tile_id"].to_numpy(), "distance": distances,
                         "rank": rank, "apron": rank <= share})


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="JSON: classes, apron_share")
    parser.add_argument("--detect", required=True, help="results/tiles/detect/manifest.csv")
    parser.add_argument("--background", required=True, help="results/tiles/background/manifest.csv")
    parser.add_argument("--scores", required=True, help="results/tiles/ground/scores.csv")
    parser.add_argument("--planes", required=True, help="results/tiles/ground/planes.csv")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings, GroundSettings)
    detect = pd.read_csv(args.detect)
    planes = PlaneGround(plane_grounds(detect, settings.classes.target_id))
    scores = score_tiles(planes, pd.read_csv(args.background), settings.apron_share)
    planes.write(args.planes)
    io.write_csv(args.scores, scores)


if __name__ == "__main__":
    main()
