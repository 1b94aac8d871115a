"""Ground like where planes stand (workflow.tiles.ground) and the `apron` context it feeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers.yolo_fixtures import write_detect_tiles
from workflow.core.io import write_png
from workflow.inpaint import placement as pl
from workflow.tiles import ground


def test_ring_leaves_out_the_box_and_the_other_objects():
    region = ground.ring_region((64, 64), (20, 20, 30, 30), [(40, 20, 44, 24)], inner=4, outer=16)
    assert region[20, 10] and region[20, 4] and not region[20, 17] and not region[25, 25]
    assert not region[22, 42]  # the other object, grown by 4 px
    assert not region[22, 37] and region[22, 35]


def background_tiles(root, n: int = 12) -> pd.DataFrame:
    """Half the tiles grey ground as the fixtures' planes stand on (noisy grey 90), half green
    grass, a third kind white roofs; 64 px."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        kind = ("grey", "grass", "roof")[i % 3]
        colour = {"grey": (90, 90, 90), "grass": (70, 120, 50), "roof": (230, 230, 235)}[kind]
        image = np.clip(rng.normal(colour, 12, (64, 64, 3)), 0, 255).astype(np.uint8)
        path = root / f"bg{i:02d}.png"
        write_png(path, image)
        rows.append(dict(tile_id=f"bg{i:02d}", image=str(path), kind=kind, context="tarmac"))
    return pd.DataFrame(rows)


def test_tiles_of_the_planes_ground_rank_first_and_feed_context_apron(tmp_path):
    detect = pd.read_csv(write_detect_tiles(tmp_path, {"train": [1, 2, 1, 1], "val": [1], "test": [1]}))
    background = background_tiles(tmp_path)
    planes = ground.PlaneGround(ground.plane_grounds(detect, target_id=0))
    scores = ground.score_tiles(planes, background, share=1 / 3)
    ranked = background.merge(scores, on="tile_id").sort_values("rank")
    assert set(ranked["kind"].iloc[:4]) == {"grey"}
    assert ranked["apron"].sum() == 4 and set(ranked.loc[ranked["apron"], "kind"]) == {"grey"}
    pool = pl.tile_pool(background, "apron", scores)
    assert sorted(pool["tile_id"]) == sorted(ranked.loc[ranked["apron"], "tile_id"])
    with pytest.raises(ValueError, match="ground scores"):
        pl.tile_pool(background, "apron")


def test_only_the_training_split_describes_the_planes_ground(tmp_path):
    detect = pd.read_csv(write_detect_tiles(tmp_path, {"train": [0, 0], "test": [2, 2]}))
    with pytest.raises(ValueError, match="training split"):
        ground.plane_grounds(detect, target_id=0)


def test_sets_of_context_apron_read_the_ground_scores(tmp_path):
    """A dry run of the demo with both control and Canny set on apron ground: rule ground_scores
    runs once, and both sets' jobs are handed its files."""
    import yaml

    from tests.helpers.snakemake_run import copy_workflow, snakemake

    workdir = copy_workflow(tmp_path / "wf")
    override = {"inpaint": {"sets": {"tarmac_canny": {"context": "apron"}}},
                "copy_paste": {"sets": {"tarmac_paste": {"context": "apron"}}}}
    (workdir / "apron.yaml").write_text(yaml.safe_dump(override))
    result = snakemake(workdir, "-n", "-p", "--configfile", "config/config.yaml", "apron.yaml")
    assert "ground_scores        1" in result.stdout or "ground_scores 1" in " ".join(result.stdout.split())
    commands = [line for line in result.stdout.splitlines() if "--ground results/tiles/ground/scores.csv" in line]
    assert any("workflow.copy_paste.paste" in line and "--set tarmac_paste" in line for line in commands)
    assert any("workflow.inpaint.run" in line and "--set tarmac_canny" in line
               and "--planes results/tiles/ground/planes.csv" in line for line in commands)
