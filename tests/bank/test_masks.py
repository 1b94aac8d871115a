"""Plane bank: post-processing, GrabCut on drawn planes, the SAM path with a tiny random SAM,
checkpoint errors, the chunk/merge commands and their contract (docs/dataflow.md)."""

import functools
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from segment_anything import SamPredictor
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

from tests.helpers import REPO
from workflow.bank import masks, sam
from workflow.bank.mask_ops import (
    area_flag,
    box_pixels,
    fill_holes,
    grabcut_mask,
    postprocess,
)
from workflow.core import io
from workflow.core.geometry import tight_box

CROP = 32
IOU_BOUND = 0.7  # GrabCut on a drawn plane over textured tarmac (measured: ~0.95 on these)


# --- fixtures: drawn planes, crops on disk, a tiny SAM --------------------------------------


def plane_mask(size, centre, length, angle):
    """(S, S) bool top-down plane (fuselage, swept wings, tail), drawn 8x finer then reduced."""
    parts = [
        [(-0.5, -0.06), (0.5, -0.06), (0.55, 0), (0.5, 0.06), (-0.5, 0.06)],
        [(0.12, 0), (-0.08, -0.5), (-0.18, -0.5), (-0.05, 0), (-0.18, 0.5), (-0.08, 0.5)],
        [(-0.38, 0), (-0.48, -0.2), (-0.54, -0.2), (-0.5, 0), (-0.54, 0.2), (-0.48, 0.2)],
    ]
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    fine = np.zeros((size * 8, size * 8), np.uint8)
    for part in parts:
        points = (np.array(part) * length) @ rotation + np.array(centre)
        cv2.fillPoly(fine, [np.round(points * 8).astype(np.int32)], 1)
    return cv2.resize(fine.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) >= 0.5


def tarmac(size, rng):
    """(S, S, 3) uint8 grey texture with stripes and noise."""
    rows = np.arange(size, dtype=np.float64)[:, None, None]
    base = rng.normal(110, 12, (size, size, 1)) + 15 * np.sin(rows / 3.0)
    return np.clip(base + rng.normal(0, 6, (size, size, 3)), 0, 255).astype(np.uint8)


def drawn_plane(seed, size=CROP, centre=None, length=None):
    """(image (S, S, 3) uint8, true mask (S, S) bool, box (4,) float tight on the plane)."""
    rng = np.random.default_rng(seed)
    centre = centre or (size / 2 + rng.uniform(-3, 3), size / 2 + rng.uniform(-3, 3))
    mask = plane_mask(size, centre, length or rng.uniform(12, 26), rng.uniform(0, np.pi))
    image = tarmac(size, rng)
    image[mask] = (235, 235, 240)
    image = cv2.GaussianBlur(image, (3, 3), 0.6)
    box = tight_box(mask)
    return image, mask, np.array(box)


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def write_crops(folder: Path, images, boxes) -> Path:
    """Crops as PNGs and a crops/manifest.csv with the tiling stage's columns; each crop is also
    its own scene (native pixels, scale 1), listed in scenes.csv beside the manifest."""
    rows, scenes = [], []
    for index, (image, box) in enumerate(zip(images, boxes)):
        path = folder / "images" / f"c{index}.png"
        io.write_png(path, image)
        rows.append({"crop_id": f"c{index}", "image": str(path), "scene_id": f"s{index}",
                     "object_id": index, "x0": 0, "y0": 0, **dict(zip(masks.BOX, box)),
                     "size_class": 0, "scale": 1.0})  # fmt: skip
        scenes.append({"scene_id": f"s{index}", "image_path": str(path),
                       "width": image.shape[1], "height": image.shape[0],
                       "native_width": image.shape[1], "native_height": image.shape[0],
                       "scale": 1.0, "bands": "1,2,3", "stretch": ""})  # fmt: skip
    io.write_csv(folder / "scenes.csv", pd.DataFrame(scenes))
    io.write_csv(folder / "manifest.csv", pd.DataFrame(rows))
    return folder / "manifest.csv"


def scenes_of(crops: Path) -> str:
    """The scenes.csv that write_crops wrote beside a crops manifest."""
    return str(crops.parent / "scenes.csv")


def config_masks(**changes):
    values = yaml.safe_load((REPO / "config/config.yaml").read_text())["masks"]
    values.update(changes)
    return values


def settings_json(**changes):
    """--settings of chunk and merge, as rules/bank.smk passes them (workflow/bank/params.py: no sheet key)."""
    masks = {k: v for k, v in config_masks(**changes).items() if k != "contact_sheet_planes"}
    return json.dumps({"masks": masks, "tiling": {"crop_size": CROP}})


def build_tiny_sam(checkpoint=None, embed_dim=32, img_size=64):
    """A randomly initialised SAM of the package's own modules, small enough for a CPU test."""
    patch, prompt_dim = 16, 32
    grid_size = img_size // patch
    model = Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size, patch_size=patch, embed_dim=embed_dim, depth=2, num_heads=2,
            out_chans=prompt_dim, use_rel_pos=True, window_size=2, global_attn_indexes=(1,),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim, image_embedding_size=(grid_size, grid_size),
            input_image_size=(img_size, img_size), mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=prompt_dim, num_multimask_outputs=3, iou_head_depth=2,
            iou_head_hidden_dim=32,
            transformer=TwoWayTransformer(depth=1, embedding_dim=prompt_dim, mlp_dim=64, num_heads=2),
        ),
    )  # fmt: skip
    assert checkpoint is None  # like segment_anything's builders as workflow.bank.sam calls them
    return model.eval()


@pytest.fixture
def tiny_sam(monkeypatch, tmp_path):
    """Registers model types 'tiny' and 'tiny_wide'; returns a saved 'tiny' checkpoint path."""
    monkeypatch.setattr(
        sam, "SAM_BUILDERS",
        {"tiny": build_tiny_sam, "tiny_wide": functools.partial(build_tiny_sam, embed_dim=48)},
    )  # fmt: skip
    torch.manual_seed(0)
    path = tmp_path / "sam_tiny.pth"
    torch.save(build_tiny_sam().state_dict(), path)
    return path


# --- schema and settings ---------------------------------------------------------------------


def test_schema_enums_match_the_constants():
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    section = schema["properties"]["masks"]["properties"]
    assert tuple(section["method"]["enum"]) == masks.METHODS
    assert tuple(section["sam"]["properties"]["model_type"]["enum"]) == sam.SAM_MODEL_TYPES
    assert set(sam.SAM_MODEL_TYPES) <= set(sam.SAM_BUILDERS)
    fields = {f.name for f in masks.dataclasses.fields(masks.MasksSettings)}
    assert set(schema["properties"]["masks"]["required"]) == fields | {"contact_sheet_planes"}


def test_settings_from_the_config_and_bad_values_name_the_key():
    settings = masks.masks_settings(config_masks())
    assert settings.method in masks.METHODS and settings.sam.batch_size >= 1
    with pytest.raises(ValueError, match="masks.method"):
        masks.masks_settings(config_masks(method="sam_or_else"))
    with pytest.raises(ValueError, match="masks.canny_thresholds"):
        masks.masks_settings(config_masks(canny_thresholds=[200, 100]))
    with pytest.raises(ValueError, match="masks.sam.typo"):
        masks.masks_settings(config_masks(sam={**config_masks()["sam"], "typo": 1}))


# --- post-processing -------------------------------------------------------------------------


def test_box_pixels_round_centres_and_stay_inside():
    assert box_pixels((0, 0, 10, 10), (32, 32)) == (0, 0, 10, 10)
    assert box_pixels((2.4, 2.6, 5.4, 5.6), (32, 32)) == (2, 3, 5, 6)
    assert box_pixels((-3, -3, 40, 40), (32, 32)) == (0, 0, 32, 32)
    assert box_pixels((5.0, 5.0, 5.1, 5.1), (32, 32)) == (5, 5, 6, 6)  # never empty


def test_postprocess_keeps_the_component_under_the_box_centre():
    mask = np.zeros((32, 32), bool)
    mask[12:20, 12:20] = True  # under the centre (16, 16)
    mask[2:6, 2:12] = True  # bigger than nothing, but off-centre
    mask[24:31, 20:31] = True  # the largest, off-centre
    kept = postprocess(mask, (0, 0, 32, 32))
    assert kept.sum() == 64 and kept[12:20, 12:20].all()


def test_postprocess_takes_the_largest_inside_the_box_when_the_centre_is_background():
    mask = np.zeros((32, 32), bool)
    mask[4:8, 4:8] = True  # 16 px
    mask[20:28, 4:12] = True  # 64 px, the largest
    mask[0:32, 30:32] = True  # larger still, but outside the box
    kept = postprocess(mask, (0, 0, 28, 28))
    assert kept.sum() == 64 and kept[20:28, 4:12].all()


def test_postprocess_fills_holes_and_clips_to_the_box():
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    mask[12:16, 12:16] = False  # a hole
    mask[14:18, 0:8] = True  # a leak left of the box, attached to the plane
    kept = postprocess(mask, (8, 8, 24, 24))
    assert kept.sum() == 16 * 16 and kept[12:16, 12:16].all() and not kept[:, :8].any()
    assert tight_box(kept) == (8.0, 8.0, 24.0, 24.0)


def test_fill_holes_leaves_open_bays_open():
    ring = np.zeros((16, 16), bool)
    ring[2:14, 2:14] = True
    ring[5:11, 5:11] = False
    ring[7:9, 2:5] = False  # a channel to the outside: not a hole
    assert not fill_holes(ring)[5:11, 5:11].any()  # a bay open to the outside stays open
    ring[7:9, 2:5] = True
    assert fill_holes(ring)[5:11, 5:11].all()  # closed, it is a hole


def test_empty_masks_are_empty_and_flagged():
    empty = postprocess(np.zeros((32, 32), bool), (4, 4, 20, 20))
    assert not empty.any() and tight_box(empty) is None
    assert area_flag(empty, (4, 4, 20, 20), (0.05, 0.95)) == (0.0, "empty")


def test_area_flags():
    mask = np.zeros((32, 32), bool)
    mask[0:10, 0:10] = True  # 100 px
    assert area_flag(mask, (0, 0, 20, 20), (0.05, 0.95)) == (0.25, "")
    assert area_flag(mask, (0, 0, 10, 10), (0.05, 0.95)) == (1.0, "large")
    assert area_flag(mask, (0, 0, 20, 20), (0.3, 0.95)) == (0.25, "small")


# --- GrabCut ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_grabcut_recovers_a_drawn_plane(seed):
    image, truth, box = drawn_plane(seed)
    found = postprocess(grabcut_mask(image, box, 5), box)
    assert iou(found, truth) > IOU_BOUND


@pytest.mark.parametrize(
    "seed, centre, length", [(10, (8.0, 16.0), 24), (11, (5.0, 26.0), 22), (22, (16.0, 16.0), 31)]
)
def test_grabcut_when_the_box_touches_the_crop_border(seed, centre, length):
    image, truth, box = drawn_plane(seed, centre=centre, length=length)
    assert min(box[:2]) == 0 or max(box[2:]) == CROP  # no background beyond the box on a side
    found = postprocess(grabcut_mask(image, box, 5), box)
    assert iou(found, truth) > IOU_BOUND


def test_grabcut_is_deterministic():
    image, _, box = drawn_plane(5)
    first = grabcut_mask(image, box, 5)
    np.testing.assert_array_equal(first, grabcut_mask(image, box, 5))


# --- SAM -------------------------------------------------------------------------------------


def test_sam_masks_follow_the_predictor_path(tiny_sam):
    model = sam.load_sam("tiny", str(tiny_sam), "cpu")
    images = [drawn_plane(seed)[0] for seed in range(3)]
    boxes = np.array([drawn_plane(seed)[2] for seed in range(3)])
    batched = sam.sam_masks(model, images, boxes, batch_size=2)
    predictor = SamPredictor(model)
    for image, box, mask in zip(images, boxes, batched):
        assert mask.shape == (CROP, CROP) and mask.dtype == bool
        assert 0 < mask.mean() < 1  # a random SAM, but not a constant mask: the test can fail
        predictor.set_image(image)
        single, _, _ = predictor.predict(box=box, multimask_output=False)
        # Same prompt encoder and mask decoder; the batched encoder may differ in the last bits.
        assert (single[0] != mask).mean() < 0.01


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sam_masks_on_cuda_match_cpu(tiny_sam):
    images = [drawn_plane(seed)[0] for seed in range(3)]
    boxes = np.array([drawn_plane(seed)[2] for seed in range(3)])
    on_cpu = sam.sam_masks(sam.load_sam("tiny", str(tiny_sam), "cpu"), images, boxes, 2)
    model = sam.load_sam("tiny", str(tiny_sam), "cuda")
    assert model.device.type == "cuda"  # the image encoder runs there
    for cpu_mask, gpu_mask in zip(on_cpu, sam.sam_masks(model, images, boxes, 2)):
        assert (cpu_mask != gpu_mask).mean() < 0.02


def test_sam_checkpoint_loads_strictly_and_weights_only(tiny_sam):
    model = sam.load_sam("tiny", str(tiny_sam), "cpu")
    saved = torch.load(tiny_sam, weights_only=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_sam_without_a_checkpoint_names_the_key_and_the_path(tiny_sam, tmp_path):
    for path in (None, str(tmp_path / "absent.pth")):
        with pytest.raises(ValueError, match="masks.sam.checkpoint") as error:
            sam.load_sam("tiny", path, "cpu")
        assert str(path) in str(error.value)


def test_sam_checkpoint_of_another_model_type_names_both(tiny_sam, tmp_path):
    wide = tmp_path / "wide.pth"
    torch.save(build_tiny_sam(embed_dim=48).state_dict(), wide)
    with pytest.raises(ValueError, match="tiny_wide checkpoint.*'tiny'"):
        sam.load_sam("tiny", str(wide), "cpu")
    strange = tmp_path / "strange.pth"
    torch.save({"weight": torch.zeros(2)}, strange)
    with pytest.raises(ValueError, match="not a checkpoint of any known SAM type"):
        sam.load_sam("tiny", str(strange), "cpu")


def test_sam_checkpoint_with_pickled_objects_is_refused(tiny_sam, tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"model": functools.partial(print, "code")}, path)
    with pytest.raises(ValueError, match="weights-only"):
        sam.load_sam("tiny", str(path), "cpu")


def test_sam_chunk_end_to_end(tiny_sam, tmp_path):
    planes = [drawn_plane(seed) for seed in range(3)]
    crops = write_crops(tmp_path / "crops", [p[0] for p in planes], [p[2] for p in planes])
    sam_settings = {"model_type": "tiny", "checkpoint": str(tiny_sam), "batch_size": 2}
    settings = settings_json(method="sam", sam=sam_settings, chunks=1)
    masks.main(["chunk", "--settings", settings, "--crops", str(crops), "--scenes", scenes_of(crops), "--chunk", "0",
                "--out", str(tmp_path / "bank/chunk0")])  # fmt: skip
    table = pd.read_csv(tmp_path / "bank/chunk0/table.csv")
    assert list(table.columns) == masks.BANK_COLUMNS and len(table) == 3
    assert (table["method"] == "sam").all()
    for row, (_, _, box) in zip(table.itertuples(), planes):
        mask = io.read_png(row.mask) > 0
        assert mask.shape == (CROP, CROP)
        x0, y0, x1, y1 = box_pixels(box, mask.shape)
        assert not mask.sum() or mask[y0:y1, x0:x1].sum() == mask.sum()  # post-processed
        assert cv2.connectedComponents(mask.astype(np.uint8))[0] <= 2


def test_sam_chunk_without_checkpoint_stops(tmp_path):
    image, _, box = drawn_plane(0)
    crops = write_crops(tmp_path / "crops", [image], [box])
    with pytest.raises(ValueError, match="masks.sam.checkpoint.*None"):
        masks.main(["chunk", "--settings", settings_json(method="sam"), "--crops", str(crops),
                    "--scenes", scenes_of(crops), "--chunk", "0", "--out", str(tmp_path / "chunk0")])  # fmt: skip
    assert not (tmp_path / "chunk0").exists()  # nothing half-written, no GrabCut fallback


# --- the bank: chunks, merge, contract -------------------------------------------------------


def run_bank(tmp_path, images, boxes, chunks=2, **changes):
    crops = write_crops(tmp_path / "crops", images, boxes)
    settings = settings_json(chunks=chunks, **changes)
    folders = [tmp_path / f"bank/chunk{i}" for i in range(chunks)]
    for index, folder in enumerate(folders):
        masks.main(["chunk", "--settings", settings, "--crops", str(crops), "--scenes", scenes_of(crops), "--chunk", str(index),
                    "--out", str(folder)])  # fmt: skip
    out = {k: tmp_path / f"bank/{k}" for k in ("manifest.csv", "sheet.png", "summary.json")}
    masks.main(
        [
            "merge",
            "--settings",
            settings,
            "--crops",
            str(crops),
            "--chunks",
            *map(str, folders),
            "--manifest",
            str(out["manifest.csv"]),
            "--summary",
            str(out["summary.json"]),
        ]
    )
    masks.main(["sheet", "--settings", json.dumps({"contact_sheet_planes": 4}),
                "--manifest", str(out["manifest.csv"]), "--out", str(out["sheet.png"])])  # fmt: skip
    return crops, folders, out


def test_grabcut_bank_contract_and_flags(tmp_path):
    planes = [drawn_plane(seed) for seed in range(5)]
    images, boxes = [p[0] for p in planes], [p[2] for p in planes]
    images.append(np.full((CROP, CROP, 3), 120, np.uint8))  # a crop without a plane
    boxes.append(np.array([8.0, 8.0, 24.0, 24.0]))
    crops, folders, out = run_bank(tmp_path, images, boxes, chunks=3)
    # chunk I holds the rows whose index % chunks == I
    assert list(pd.read_csv(folders[1] / "table.csv")["crop_id"]) == ["c1", "c4"]
    bank = pd.read_csv(out["manifest.csv"])
    assert list(bank.columns) == masks.BANK_COLUMNS
    assert list(bank["crop_id"]) == list(pd.read_csv(crops)["crop_id"])  # the crops' order
    for row, (image, truth, box) in zip(bank.head(5).itertuples(), planes):
        mask, edges = io.read_png(row.mask), io.read_png(row.edges)
        assert mask.shape == edges.shape == (CROP, CROP) and set(np.unique(mask)) <= {0, 255}
        assert iou(mask > 0, truth) > IOU_BOUND and not row.flagged
        assert (row.mask_xmin, row.mask_ymin) == tight_box(mask > 0)[:2]
        assert row.size_class == masks.size_class(
            row.mask_ymax - row.mask_ymin, row.mask_xmax - row.mask_xmin, CROP
        )
    summary = json.loads(out["summary.json"].read_text())
    assert summary["crops"] == 6 and summary["method"] == "grabcut"
    assert bank["flagged"].iloc[5] and summary["flagged"] == 1  # flagged and counted, not dropped
    assert sum(summary["flag_reasons"].values()) == 1
    sheet = io.read_png(out["sheet.png"])  # 4 planes x (crop, overlay, edges), 96 px each
    assert sheet.ndim == 3 and sheet.shape[1] > 12 * 96


def test_edges_are_kept_near_the_mask_only(tmp_path):
    image, truth, box = drawn_plane(0)  # box rows 8..21
    image[0:3, :] = 255  # a bright stripe 5 px above the plane: background edges
    _, _, out = run_bank(tmp_path, [image], [box], chunks=1, edge_margin=2)
    edges = io.read_png(pd.read_csv(out["manifest.csv"])["edges"][0]) > 0
    assert edges.any() and not edges[0:5, :].any()
    _, _, out = run_bank(tmp_path / "all", [image], [box], chunks=1, edge_margin=None)
    assert (io.read_png(pd.read_csv(out["manifest.csv"])["edges"][0])[0:5] > 0).any()


def test_box_method_fills_the_box_and_is_not_flagged_large(tmp_path):
    image, _, box = drawn_plane(3)
    _, _, out = run_bank(tmp_path, [image], [box], chunks=1, method="box")
    row = pd.read_csv(out["manifest.csv"]).iloc[0]
    assert row["area_fraction"] == 1.0 and not row["flagged"]
    assert (row["mask_xmin"], row["mask_xmax"]) == (box[0], box[2])


def test_merge_refuses_chunks_that_miss_crops(tmp_path):
    planes = [drawn_plane(seed) for seed in range(3)]
    crops, folders, out = run_bank(tmp_path, [p[0] for p in planes], [p[2] for p in planes])
    with pytest.raises(ValueError, match="1 crop\\(s\\) missing"):
        masks.merge_chunks(masks.read_crops(crops), folders[:1])


def test_chunk_index_out_of_range(tmp_path):
    image, _, box = drawn_plane(0)
    crops = write_crops(tmp_path / "crops", [image], [box])
    with pytest.raises(ValueError, match="masks.chunks"):
        masks.main(["chunk", "--settings", settings_json(chunks=2), "--crops", str(crops),
                    "--scenes", scenes_of(crops), "--chunk", "2", "--out", str(tmp_path / "chunk2")])  # fmt: skip


def test_contact_sheet_samples_across_scenes():
    from workflow.bank.table import sheet_sample

    # 3 scenes of 10, 2 and 1 planes, in manifest order: the first scene must not fill the sheet
    bank = pd.DataFrame({"crop_id": [f"c{i}" for i in range(13)],
                         "scene_id": ["a"] * 10 + ["b"] * 2 + ["c"]})  # fmt: skip
    picked = sheet_sample(bank, 6)
    assert set(picked["scene_id"]) == {"a", "b", "c"} and len(picked) == 6
    assert list(picked["crop_id"]) == ["c0", "c10", "c12", "c1", "c11", "c2"]
    many = pd.DataFrame({"crop_id": [f"c{i}" for i in range(40)],
                         "scene_id": [f"s{i // 2:02d}" for i in range(40)]})  # fmt: skip
    spread = sheet_sample(many, 5)  # 20 scenes, 5 planes: evenly spaced scenes, first to last
    assert list(spread["scene_id"]) == ["s00", "s05", "s10", "s14", "s19"]


def test_contact_sheet_caption_keeps_the_whole_crop_id():
    from workflow.bank.table import spread_caption

    text = "dota_airport_100_1234 size 5 scale 3.09"
    parts = spread_caption(text, 3, 96)
    assert "".join(parts) == text and all(len(p) <= 16 for p in parts)
