"""The chunk command end to end on tiny inputs (random demo32 networks), and the merge."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tests.helpers.inpaint_fixtures import TILE, make_background, make_bank, make_models
from workflow.core.io import read_png
from workflow.inpaint import merge, run
from workflow.inpaint.placement import dilate, flip

SETTINGS = {
    "inpaint": {
        "sampler": "repaint", "respacing": 4, "jump_length": 2, "jump_n_sample": 2,
        "fast": {"respacing": 3, "jump_length": 2, "jump_n_sample": 1},
        "guidance_scale": 2.0, "mask_dilation": 2, "feather": 1, "shadow": 16.0, "true_size": False, "placement_tries": 20, "batch_size": 3,
        "chunks": 2, "seed": 0,
        "sets": {"uncond": {"model": "uncond", "context": "random", "images": 5, "candidates": 1},
                 "canny": {"model": "canny", "context": "tarmac", "images": 4, "candidates": 1}},
    },
    "classes": {"names": ["plane", "car"], "target": "plane"},
}  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    return dict(background=make_background(root), bank=make_bank(root), **make_models(root))


def run_chunk(inputs, out, set_name="uncond", chunk=0, settings=SETTINGS, extra=()):
    model = inputs["none"] if set_name == "uncond" else inputs["canny"]
    argv = ["--settings", json.dumps(settings), "--set", set_name, "--chunk", str(chunk),
            "--bank", str(inputs["bank"]), "--background", str(inputs["background"]),
            "--model", str(model), "--out", str(out), "--device", "cpu"]  # fmt: skip
    if set_name == "uncond":
        argv += ["--classifier", str(inputs["classifier"])]
    run.main(argv + list(extra))
    return pd.read_csv(out / "metadata.csv")


def test_chunk_writes_a_complete_deterministic_folder(inputs, tmp_path):
    table = run_chunk(inputs, tmp_path / "a" / "chunk1", chunk=1)
    assert list(table["index"]) == [2, 3, 4]  # 5 images over 2 chunks: 0-1, 2-4
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["chunk1"]  # no temp left
    for row in table.itertuples():
        image, tile = read_png(row.image), read_png(row.background)
        assert image.shape == (TILE, TILE, 3)
        # Pixels outside the dilated placed mask are the background's, bit for bit.
        changed = np.zeros((TILE, TILE), bool)
        mask = flip(read_png(f"{inputs['bank'].parent}/mask0.png") > 0, row.flip)
        changed[row.window_y : row.window_y + 32, row.window_x : row.window_x + 32] = dilate(mask, 2)
        assert np.array_equal(image[~changed], tile[~changed])
        lines = open(row.labels).read().split("\n")
        assert lines[0] == "1 0.125 0.125 0.25 0.25" and lines[1].startswith("0 ")
    assert set(table["sampler"]) == {"repaint"} and set(table["respacing"]) == {4}
    again = run_chunk(inputs, tmp_path / "b" / "chunk1", chunk=1)
    for a, b in zip(table["image"], again["image"]):
        assert np.array_equal(read_png(a), read_png(b))


def test_conditioned_set_and_merge(inputs, tmp_path):
    chunks = [tmp_path / "canny" / f"chunk{i}" for i in range(2)]
    for i, chunk in enumerate(chunks):
        run_chunk(inputs, chunk, set_name="canny", chunk=i)
    manifest, sheet = tmp_path / "canny" / "manifest.csv", tmp_path / "canny" / "sheet.png"
    merge.main(["--chunks", *map(str, chunks), "--manifest", str(manifest), "--contact-sheet", str(sheet)])
    table = pd.read_csv(manifest)
    assert list(table["index"]) == [0, 1, 2, 3] and set(table["tile_id"]) == {"t0"}
    assert read_png(sheet).shape[1] > 3 * TILE


def test_cherry_picking_keeps_the_best_of_k(inputs, tmp_path):
    from workflow.diffusion.checkpoint import load_model

    settings = json.loads(json.dumps(SETTINGS))
    settings["inpaint"]["sets"]["uncond"]["candidates"] = 3
    out = tmp_path / "chunk0"
    argv = ["--cherry-picker", str(inputs["cherry_picker"])]
    table = run_chunk(inputs, out, chunk=0, settings=settings, extra=argv)
    assert list(table["candidates"]) == [3, 3] and list(table["index"]) == [0, 1]
    picker, _ = load_model(inputs["cherry_picker"])
    for row in table.itertuples():
        window = read_png(row.image)[row.window_y : row.window_y + 32, row.window_x : row.window_x + 32]
        x = torch.from_numpy(window).permute(2, 0, 1)[None].float() / 127.5 - 1
        # The kept candidate is the best scored, and the written window is that candidate.
        scores = [float(v) for v in row.candidate_scores.split(";")]
        assert len(scores) == 3 and len(set(scores)) == 3 and 0 < row.score < 1
        assert row.score == pytest.approx(max(scores), abs=1e-4)
        assert picker.plane_probability(x).item() == pytest.approx(row.score, abs=2e-3)  # uint8


def test_unconditional_model_without_classifier_is_refused(inputs, tmp_path):
    argv = ["--settings", json.dumps(SETTINGS), "--set", "uncond", "--chunk", "0",
            "--bank", str(inputs["bank"]), "--background", str(inputs["background"]),
            "--model", str(inputs["none"]), "--out", str(tmp_path / "x"), "--device", "cpu"]  # fmt: skip
    with pytest.raises(ValueError, match="--classifier"):
        run.main(argv)
    assert not (tmp_path / "x").exists()


def test_schema_enums_and_config_match_the_code():
    import yaml

    from workflow.inpaint.placement import CONTEXTS
    from workflow.inpaint.repaint import SAMPLERS
    from workflow.inpaint.settings import inpaint_settings

    schema = yaml.safe_load(open("config/schema.yaml"))["properties"]["inpaint"]["properties"]
    assert tuple(schema["sampler"]["enum"]) == SAMPLERS
    assert tuple(schema["sets"]["additionalProperties"]["properties"]["context"]["enum"]) == CONTEXTS
    s = inpaint_settings(yaml.safe_load(open("config/config.yaml"))["inpaint"])
    assert s.make_sampler().step == ("ddpm" if s.sampler == "repaint" else "ddim")
    fast = inpaint_settings({**SETTINGS["inpaint"], "sampler": "fast"}).make_sampler()
    assert (fast.respacing, fast.jump_n_sample, fast.step) == (3, 1, "ddim")
    with pytest.raises(ValueError, match="inpaint.sets.uncond.colour"):
        spec = {**SETTINGS["inpaint"]["sets"]["uncond"], "colour": 1}
        bad = {**SETTINGS["inpaint"], "sets": {"uncond": spec}}
        inpaint_settings(bad)


def test_fast_sampler_runs_the_ddim_step(inputs, tmp_path):
    settings = json.loads(json.dumps(SETTINGS))
    settings["inpaint"]["sampler"] = "fast"
    table = run_chunk(inputs, tmp_path / "chunk0", set_name="canny", chunk=0, settings=settings)
    assert set(table["step"]) == {"ddim"} and set(table["respacing"]) == {3}
    assert set(table["jump_n_sample"]) == {1} and set(table["guidance_scale"]) == {0.0}
