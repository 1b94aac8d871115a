"""The `data` config section: where the scenes are, and the demo scenes that can be generated."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """`data.demo`: scenes drawn by workflow.scenes.demo_scenes."""

    seed: int
    n_xview: int
    n_dota: int
    size: int
    empty_fraction: float

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


@dataclasses.dataclass(frozen=True)
class SourcePaths:
    """`data.xview` / `data.dota`: the images folder and the labels (file or folder)."""

    images: str
    labels: str


@dataclasses.dataclass(frozen=True)
class DataSettings:
    demo: DemoSettings | None
    xview: SourcePaths | None
    dota: SourcePaths | None
