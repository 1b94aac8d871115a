"""A bad configuration stops the workflow when it loads, with the offending key's name.

Each case merges one bad override over config/config.yaml and plans the workflow (`snakemake
-n`), as a user would see it: the schema (unknown keys, wrong types, enums) and the
cross-checks of rules/validate.smk that a schema cannot express.
"""

from __future__ import annotations

import ast
import re

import pytest
import yaml

from tests.helpers import REPO
from tests.helpers.snakemake_run import TINY, copy_workflow, snakemake

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
    ({"experiments": {"runs": {"augment_tarmac_canny": {"add": 1000}}}},
     "experiments.runs.augment_tarmac_canny.add"),
    ({"experiments": {"runs": {"augment_tarmac_canny": {"set": "nope"}}}},
     "experiments.runs.augment_tarmac_canny.set"),
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


def test_tiling_keys_of_the_rules_are_those_the_module_reads():
    from workflow.tiles import tiling

    text = (REPO / "rules/common.smk").read_text()
    block = re.search(r"^TILING_KEYS = (\{.*?^\})$", text, re.MULTILINE | re.DOTALL).group(1)
    keys = {kind: tuple(names) for kind, names in ast.literal_eval(block).items()}
    assert keys == tiling.KIND_KEYS


def test_a_detector_device_list_asks_for_that_many_gpus(workdir, tmp_path):
    """detect.train.device 0,1,2 -> the trainings ask for 3 GPUs (the launcher's --gpus); the
    pre-training follows it unless detect.pretrain.train sets its own device."""
    from workflow.core.checks import device_ids, gpu_count
    from workflow.detect.train import train_device

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
