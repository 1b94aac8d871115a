"""Merge a set's chunks into manifest.csv and a contact sheet (before | after | after with box).

    python -m workflow.inpaint.merge --chunks results/inpaint/{set}/chunk0 ... \
        --manifest results/inpaint/{set}/manifest.csv --contact-sheet .../contact_sheet.png
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.core.images import draw_box, grid
from workflow.core.io import read_png, write_csv, write_png
from workflow.core.logs import setup_logging

log = logging.getLogger(__name__)
BOX_COLOR = (255, 0, 0)


def merge_chunks(chunks: list[str]) -> pd.DataFrame:
    """The chunks' metadata.csv concatenated, ordered by image index; duplicates are errors."""
    frames = []
    for chunk in chunks:
        path = Path(chunk) / "metadata.csv"
        if not path.is_file():
            raise FileNotFoundError(f"chunk {chunk} has no metadata.csv")
        frames.append(pd.read_csv(path))
    table = pd.concat(frames, ignore_index=True).sort_values("index", kind="stable")
    duplicated = table["image"][table["image"].duplicated()]
    if len(duplicated):
        raise ValueError(f"image {duplicated.iloc[0]} appears in two chunks")
    return table.reset_index(drop=True)


def sheet(table: pd.DataFrame, max_images: int) -> np.ndarray:
    """Triples before | after | after with box for the first `max_images` rows, 4 per row."""
    cells, captions = [], []
    for row in table.head(max_images).itertuples():
        after = read_png(row.image)
        cells += [read_png(row.background), after, draw_box(after, (row.xmin, row.ymin, row.xmax, row.ymax), BOX_COLOR)]
        score = "" if pd.isna(row.score) else f" {row.score:.2f}"  # a pasted set has no picker score
        captions += [f"{row.tile_id}", f"s{row.size_class}{score}", f"{row.crop_id}"]
    scale = max(1, 256 // cells[0].shape[0])
    return grid(cells, captions, columns=12, scale=scale)


def main(argv=None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", nargs="+", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--contact-sheet", required=True)
    parser.add_argument("--max-images", type=int, default=16)
    args = parser.parse_args(argv)
    table = merge_chunks(args.chunks)
    write_csv(args.manifest, table)
    write_png(args.contact_sheet, sheet(table, args.max_images))
    log.info("merged %d chunks, %d images -> %s", len(args.chunks), len(table), args.manifest)


if __name__ == "__main__":
    main()
