"""A bad configuration stops the workflow when it loads, with the offending key's name.

Each case merges one bad override over config/config.yaml and plans the workflow (`snakemake
-n`), as a user would see it: the schema (unknown keys, wrong types, enums) and the
cross-checks of rules/validate.smk that a schema cannot express.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.helpers import REPO
from tests.helpers.snakemake_run import TINY, copy_workflow, job_counts, snakemake

SAM_NULL = {"masks": {"method": "sam", "sam": {"checkpoint": None}}}
BAD = [
    ({"tiling": {"crop_sise": 32}}, "crop_sise"),
    ({"tiling": {"crop_size": "32"}}, "tiling.crop_size"),
    ({"inpaint": {"sampler": "ddim"}}, "inpaint.sampler"),
    ({"classes": {"target": "helicopter"}}, "classes.target"),
    ({"split": {"fractions": {"train": 0.9}}}, "split.fractions"),
    ({"diffusion": {"preset": "demo64"}}, "diffusion.preset"),
    ({"tiling": {"detect_size": 24, "detect_overlap": 4}}, "tiling.detect_size"),
    ({"inpaint": {"respacing": 2000}}, "inpaint.respacing"),
    (SAM_NULL, "masks.sam.checkpoint"),
    ({"data": {"dota": None}}, "data.dota"),
    ({"data": {"dota": {"gsd": None}}}, "data.dota.gsd"),  # the demo writes its DOTA scenes at it
    ({"tiling": {"oversize": "crop"}}, "tiling.oversize"),
    ({"tiling": {"gsd": 0}}, "tiling.gsd"),
    ({"data": {"xview": {"bands": [3, 2]}}}, "data.xview.bands"),
    ({"experiments": {"runs": {"replacement_50": {"set": "nope"}}}}, "experiments.runs.replacement_50.set"),
    ({"copy_paste": {"sets": {"tarmac_canny": {"context": "tarmac", "images": 4}}}},
     "copy_paste.sets.tarmac_canny"),
    ({"experiments": {"runs": {"learning_curve": {"kind": "baseline"}}}},
     "experiments.runs.learning_curve"),
    ({"copy_paste": {"feather": -1}}, "copy_paste.feather"),
    ({"detect": {"train": {"device": "0,0"}}}, "detect.train.device"),
    ({"detect": {"train": {"device": "cuda:0,1"}}}, "detect.train.device"),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("config_checks"))


@pytest.mark.parametrize("override, key", BAD, ids=[key for _, key in BAD])
def test_bad_value_fails_at_load_naming_its_key(workdir, tmp_path, override, key):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(override))
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", str(path), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"{override} was accepted"
    assert key in output, f"the error for {override} does not name {key!r}:\n{output[-2000:]}"


def test_preset_sizes_of_the_load_time_checks_are_the_networks():
    import torch

    from workflow.core.checks import PRESET_IMAGE_SIZES
    from workflow.diffusion import presets

    assert tuple(PRESET_IMAGE_SIZES) == presets.CONFIG_PRESETS
    for name, size in PRESET_IMAGE_SIZES.items():
        with torch.device("meta"):
            assert presets.build_unet(name).image_size == size


def test_a_detector_device_list_asks_for_that_many_gpus(workdir, tmp_path):
    """detect.train.device 0,1,2 -> the trainings ask for 3 GPUs (the launcher's --gpus); the
    pre-training follows it unless detect.pretrain.train sets its own device."""
    from workflow.core.checks import device_ids, gpu_count
    from workflow.detect.devices import train_device

    assert device_ids("k", "2,0,1") == (2, 0, 1) and gpu_count("k", "0,1,2,3") == 4
    assert device_ids("k", "auto") is None and gpu_count("k", "cuda:1") == 1
    path = tmp_path / "gpus.yaml"
    path.write_text(yaml.safe_dump({"detect": {"train": {"device": "0,1,2"}, "pretrain": {"train": {"device": "0,1"}}}}))
    result = snakemake(workdir, "-n", "-p", *TINY, str(path), "--", "results/detect/yolov8n/baseline/seed0/metrics.json")
    commands = re.findall(r"python -m workflow.core.launch --gpus (\d+) -- python -m workflow.detect.train.*?"
                          r"--experiment (\w+)", result.stdout)
    assert sorted(commands) == [("2", "pretrain"), ("3", "baseline")], result.stdout[-3000:]
    if not __import__("torch").cuda.is_available():
        with pytest.raises(ValueError, match="names GPU 2, but this job sees 0 GPU"):
            train_device("0,1,2")


# --- a user's own small file layered over the demo's ------------------------------------------


def own_dota(root, gsd_header: str | None):
    """A DOTA folder of one labelled scene (the dry run reads no pixels; the load-time GSD check
    reads the label header)."""
    (root / "images").mkdir(parents=True)
    (root / "labelTxt").mkdir()
    (root / "images" / "s0.png").write_bytes(b"")
    header = "" if gsd_header is None else f"gsd:{gsd_header}\n"
    (root / "labelTxt" / "s0.txt").write_text(header + "1 1 30 1 30 20 1 20 plane 0\n")
    return {"images": str(root / "images"), "labels": str(root / "labelTxt")}


def own_config(dota: dict, **changes) -> dict:
    """One DOTA source, one class; the demo's xView map left as it is or nulled (`xview_map`)."""
    values = {
        "data": {"demo": None, "xview": None, "dota": {**dota, "gsd": 0.5}},
        "classes": {"names": ["plane"],
                    "dota": {"plane": "plane", "small-vehicle": None, "large-vehicle": None,
                             "ship": None}},
        "tiling": {"gsd": 1.0},
    }  # fmt: skip
    for key, value in changes.items():
        section, name = key.split("__")
        values[section][name] = value
    return values


@pytest.mark.parametrize("xview_map", ["kept", None], ids=["demo_xview_map_kept", "xview_map_null"])
def test_a_small_user_file_layers_over_the_demo(workdir, tmp_path, xview_map):
    """`--configfile config/config.yaml mine.yaml -- target`: the demo's xView map (classes not in
    classes.names) does not stop a run that reads DOTA only, nor does a null map."""
    values = own_config(own_dota(tmp_path / "dota", "null"))
    if xview_map is None:
        values["classes"]["xview"] = None
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(values))
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", str(path), "--",
                       "results/bank/summary.json")
    assert re.search(r"^index\s+1$", result.stdout, re.MULTILINE), result.stdout[-2000:]
    assert "demo_scenes" not in result.stdout


@pytest.mark.parametrize("change, key", [
    ({"classes__dota": {"plane": "plane"}}, "classes.dota.small-vehicle"),  # the demo's entry stays
    ({"classes__dota": None}, "classes.dota"),  # the source is read: it needs its map
], ids=["demo_dota_entry", "dota_map_null"])
def test_a_user_file_must_null_the_demo_entries_of_a_source_it_reads(workdir, tmp_path, change, key):
    path = tmp_path / "mine.yaml"
    values = own_config(own_dota(tmp_path / "dota", "0.5"))
    values["classes"].update({k.split("__")[1]: v for k, v in change.items()})
    path.write_text(yaml.safe_dump(values))
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", str(path), check=False)
    assert result.returncode != 0 and key in result.stdout + result.stderr


def test_unknown_gsd_with_a_working_gsd_stops_the_load_with_the_key(workdir, tmp_path):
    """Label files saying gsd:null, data.dota.gsd null and tiling.gsd set: the dry run stops on
    the console with the key and how to choose a GSD (not only in the index's log)."""
    values = own_config(own_dota(tmp_path / "dota", "null"))
    values["data"]["dota"]["gsd"] = None
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(values))
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", str(path), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "config key 'data.dota.gsd'" in output
    assert "airliner is 30-76 m long" in output and "tiling.gsd: null" in output


def test_a_base_of_another_preset_stops_the_load_naming_both_keys(workdir, tmp_path):
    path = tmp_path / "demo64.yaml"  # the shipped base is demo32
    path.write_text(yaml.safe_dump({"diffusion": {"preset": "demo64"}, "tiling": {"crop_size": 64}}))
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", str(path), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "diffusion.pretrained" in output and "diffusion.preset is 'demo64'" in output


# --- config/real.yaml: the real-data configuration, layered over the demo's --------------------


def test_the_real_data_config_layers_over_the_demo_with_a_user_file(workdir, tmp_path):
    """`--configfile config/real.yaml mine.yaml`: the demo's other runs, its unconditional model
    and random_uncond set are nulled away, the synthetic and selected sets are sized from the
    tiles (auto), the gate trains its own baseline seed (1), the base is trained from the shipped
    one on the user's tiles, and no size classifier is trained (no set is guided)."""
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"data": {"dota": {**own_dota(tmp_path / "dota", "null"), "gsd": 0.5}}}))
    result = snakemake(workdir, "-n", "-p", "--configfile", "config/real.yaml", str(path))
    jobs = job_counts(result.stdout)
    # 7 runs x 2 archs x 1 seed, and the gate's baseline (yolov8n, seed 1)
    assert jobs["dataset"] == 7 and jobs["detect_train"] == 2 * 7 + 1, jobs
    assert "results/detect/yolov8n/baseline/seed1/metrics.json" in result.stdout
    assert jobs["synthetic_needs"] == 2 + 3 and jobs["select_set"] == 3, jobs
    assert jobs["finetune"] == 1 and jobs["pretrain"] == 1, jobs
    assert "size_classifier" not in jobs and "demo_scenes" not in jobs, jobs
    assert "--base resources/demo_weights/demo32_base.pt" in result.stdout  # diffusion.pretrain.init


def test_a_nulled_run_set_or_model_is_removed_and_a_run_may_not_use_a_removed_set(workdir, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"inpaint": {"sets": {"random_uncond": None}},
                                    "diffusion": {"models": {"uncond": None}},
                                    "experiments": {"runs": {"ablation_50": None}}}))
    jobs = job_counts(snakemake(workdir, "-n", *TINY, str(path)).stdout)
    runs = len(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["experiments"]["runs"])
    # the demo's runs and tiny.yaml's one, less the nulled one
    assert jobs["dataset"] == runs + 1 - 1 and jobs["finetune"] == 2, jobs  # canny, and tiny.yaml's mask
    path.write_text(yaml.safe_dump({"inpaint": {"sets": {"tarmac_canny": None}}}))
    result = snakemake(workdir, "-n", *TINY, str(path), check=False)
    assert result.returncode != 0 and "tarmac_canny" in result.stdout + result.stderr
