"""The `data` config section: where the scenes are, their ground resolution and pixel format,
and the demo scenes that can be generated."""

from __future__ import annotations

import dataclasses

DEMO_GSD = 0.3  # m/px the demo generator draws at by default (its planes are 8-30 px long)


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """`data.demo`: scenes drawn by workflow.scenes.demo_scenes.

    The generator lays airports out in pixels (planes 8-30 px long, runways 30-40 px wide), so
    `gsd` (metres per drawn pixel) sets how large things are on the ground: 0.3 gives planes of
    2-9 m, 2.0 planes of 16-60 m (airliners). Each format is then written at its source's
    `data.<source>.gsd`, resampled when that differs.
    """

    seed: int
    n_xview: int
    n_dota: int
    size: int
    empty_fraction: float
    gsd: float = DEMO_GSD

    def __post_init__(self):
        for key in ("seed", "n_xview", "n_dota"):
            if getattr(self, key) < 0:
                raise ValueError(f"config key 'data.demo.{key}': {getattr(self, key)} must be >= 0")
        if self.size < 256:
            raise ValueError(f"config key 'data.demo.size': {self.size} must be >= 256 px")
        if not 0 <= self.empty_fraction <= 1:
            raise ValueError(
                f"config key 'data.demo.empty_fraction': {self.empty_fraction} not in [0, 1]"
            )
        if not self.gsd > 0:
            raise ValueError(f"config key 'data.demo.gsd': {self.gsd} must be > 0 (metres per pixel)")


@dataclasses.dataclass(frozen=True)
class SourcePaths:
    """`data.xview` / `data.dota`: the images folder and the labels (file or folder), and how to
    read the scenes' pixels.

    gsd: metres per pixel of the scenes (xView: all of them; DOTA: those whose label file has no
    `gsd:` header or `gsd:null`); None: unknown. bands: the 1-based bands holding red, green,
    blue (None: 1, 2, 3, or the one band of a grey scene thrice). stretch: (low, high)
    percentiles mapped to 0..255 per band (None: 8-bit pixels as they are).
    """

    images: str
    labels: str
    gsd: float | None = None
    bands: tuple[int, int, int] | None = None
    stretch: tuple[float, float] | None = None

    def check(self, source: str) -> None:
        """Single-value checks; `source` (xview, dota) names the config keys."""
        if self.gsd is not None and not self.gsd > 0:
            raise ValueError(f"config key 'data.{source}.gsd': {self.gsd} must be > 0 (metres per pixel)")
        if self.bands is not None and (len(self.bands) != 3 or any(
                isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in self.bands)):
            raise ValueError(f"config key 'data.{source}.bands': {list(self.bands)}; need three "
                             "band numbers >= 1 (red, green, blue) or null")
        if self.stretch is not None:
            values = tuple(self.stretch)
            if len(values) != 2 or not 0 <= values[0] < values[1] <= 100:
                raise ValueError(f"config key 'data.{source}.stretch': {list(values)}; need [low, "
                                 "high] percentiles with 0 <= low < high <= 100, or null")


@dataclasses.dataclass(frozen=True)
class DataSettings:
    demo: DemoSettings | None
    xview: SourcePaths | None
    dota: SourcePaths | None

    def __post_init__(self):
        for source in ("xview", "dota"):
            if getattr(self, source) is not None:
                getattr(self, source).check(source)
