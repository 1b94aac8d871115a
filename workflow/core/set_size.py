"""A synthetic set's image count: the `images` of its entry in inpaint.sets or copy_paste.sets,
or with `auto` the count rule `synthetic_needs` wrote (workflow.datasets.needs) to
results/datasets/needs/{set}.json, which the set's jobs get as --needs.
"""

from __future__ import annotations

import json
from pathlib import Path

AUTO = "auto"


def set_images(images: int | str, needs: str | Path | None, name: str) -> int:
    """Set `name`'s image count: `images` of its config entry, or with `auto` the count in the
    `needs` file."""
    if images != AUTO:
        if not isinstance(images, int) or images < 1:
            raise ValueError(f"synthetic set {name!r}: images {images!r}; allowed: an integer >= 1 or {AUTO!r}")
        return images
    if needs is None:
        raise ValueError(f"synthetic set {name!r} has images {AUTO!r}: give --needs (results/datasets/needs/{name}.json)")
    written = json.loads(Path(needs).read_text())
    if written.get("set") != name:
        raise ValueError(f"{needs}: written for set {written.get('set')!r}, not {name!r}")
    return int(written["images"])
