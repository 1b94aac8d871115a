"""Each stage's params (workflow/<stage>/params.py) hold exactly what its jobs read.

For every choice a selection depends on (the mask method, the sampler, a set's model, an
experiment's kind and loss), under the demo and the report-scale configs:
- the command accepts the selection (a key too few fails the job: its settings name it);
- the selection holds no key the job does not read under that choice (one too many reruns the
  job for nothing): the method-specific keys appear only with their method;
- every key of the config section is accounted for: read by some job under some choice, or
  passed on the command line (where and how a job runs), so a new key cannot be forgotten.
The rerun table (tests/workflow/test_rerun_table.py) checks the effect on the DAG.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from tests.helpers import REPO
from workflow.bank import masks
from workflow.bank import params as bank_params
from workflow.core.checks import drop_removed_entries
from workflow.core.settings import read_settings
from workflow.datasets import build as datasets
from workflow.datasets import params as datasets_params
from workflow.detect import params as detect_params
from workflow.detect import pretrain_data
from workflow.detect.settings import DetectSettings
from workflow.diffusion import grid, train, train_classifier
from workflow.diffusion import params as diffusion_params
from workflow.inpaint import params as inpaint_params
from workflow.inpaint.repaint import SAMPLERS
from workflow.inpaint.settings import ChunkSettings
from workflow.report import params as report_params
from workflow.report import quality, tables
from workflow.scenes import index
from workflow.scenes import params as scenes_params
from workflow.scenes.sources import DataSettings
from workflow.selection import params as selection_params
from workflow.selection.select import SelectSettings
from workflow.tiles import params as tiles_params
from workflow.tiles import tiling


def load(*names: str) -> dict:
    """config/config.yaml with the other files merged over it, as Snakemake merges them."""
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name in names:
        update_config(config, yaml.safe_load((REPO / name).read_text()))
    drop_removed_entries(config)  # as rules/validate.smk does
    return config


CONFIGS = {"demo": load(), "full": load("config/full.yaml"), "real": load("config/real.yaml")}


@pytest.fixture(params=sorted(CONFIGS))
def config(request):
    return copy.deepcopy(CONFIGS[request.param])


def as_settings(values: dict, cls, where: str = ""):
    """What the job does with its --settings (JSON text, as the rule passes it)."""
    return read_settings(json.dumps(values), cls, where)


# --- scenes and tiles -------------------------------------------------------------------------


def test_scene_jobs_read_data_and_the_index_its_sections_and_the_gsd(config):
    data = as_settings(scenes_params.demo_settings(config), DataSettings, "data")
    assert (data.demo is None) == (config["data"]["demo"] is None)
    selected = scenes_params.index_settings(config)
    settings = index.settings_from_json(json.dumps(selected))
    assert settings.tiling.gsd == config["tiling"]["gsd"]
    assert set(selected) == set(scenes_params.INDEX_SECTIONS) | {"tiling"}
    assert selected["tiling"] == {"gsd": config["tiling"]["gsd"]}


@pytest.mark.parametrize("kind", tiling.TILE_KINDS)
def test_each_kind_of_tiles_reads_its_own_tiling_keys(config, kind):
    selected = tiles_params.tiling_settings(config, kind)
    tiling.settings_from_json(json.dumps(selected), kind)
    assert set(selected["tiling"]) == set(tiles_params.KIND_KEYS[kind])
    for key in tiles_params.KIND_KEYS[kind]:  # the job names a missing one
        short = {**selected, "tiling": {k: v for k, v in selected["tiling"].items() if k != key}}
        with pytest.raises(ValueError, match=f"tiling.{key}': missing"):
            tiling.settings_from_json(json.dumps(short), kind)


def test_every_tiling_key_is_read_by_some_tiling_job_or_the_index(config):
    read = {key for keys in tiles_params.KIND_KEYS.values() for key in keys}
    read |= {key for key in tiles_params.ground_settings(config) if key != "classes"}
    assert read | set(scenes_params.index_settings(config)["tiling"]) == set(config["tiling"])
    assert set(tiles_params.KIND_KEYS) == set(tiling.TILE_KINDS)


# --- bank -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", masks.METHODS)
def test_bank_jobs_read_their_methods_keys_only(config, method):
    config["masks"]["method"] = method
    selected = bank_params.chunk_settings(config)
    settings = as_settings(selected, masks.BankSettings)
    assert settings.masks.method == method
    keys = set(selected["masks"])
    assert ("sam" in keys) == (method == "sam")
    assert ("grabcut_iterations" in keys) == (method == "grabcut")
    assert ("area_fraction_range" in keys) == (method != "box")
    assert "contact_sheet_planes" not in keys
    for key in bank_params.METHOD_KEYS[method]:  # the job names a missing one
        with pytest.raises(ValueError, match=f"masks.{key}': missing"):
            as_settings({**selected, "masks": {k: v for k, v in selected["masks"].items() if k != key}},
                        masks.BankSettings)
    sheet = as_settings(bank_params.sheet_settings(config), masks.SheetSettings)
    assert sheet.contact_sheet_planes == config["masks"]["contact_sheet_planes"]


def test_every_masks_key_is_read_by_some_bank_job(config):
    read = set(bank_params.SHARED_KEYS) | {"contact_sheet_planes"}
    read |= {key for keys in bank_params.METHOD_KEYS.values() for key in keys}
    assert read == set(config["masks"])
    assert set(bank_params.METHOD_KEYS) == set(masks.METHODS)


# --- diffusion --------------------------------------------------------------------------------


def test_unet_trainings_read_neither_their_grid_nor_checkpoint_every(config):
    pretrain = diffusion_params.unet_settings(config, "pretrain")
    assert as_settings(pretrain, train.PretrainSettings, "diffusion").stage.iterations > 0
    for model, condition in config["diffusion"]["models"].items():
        finetune = diffusion_params.unet_settings(config, "finetune", model)
        assert as_settings(finetune, train.FinetuneSettings, "diffusion").condition == condition
    for stage, values in (("pretrain", pretrain), ("finetune", finetune)):
        section = set(config["diffusion"][stage])
        # diffusion.pretrain.init is the rule's input (--base), not a setting
        left_out = set(diffusion_params.GRID_KEYS) | set(diffusion_params.INIT_KEYS) | {"checkpoint_every"}
        assert set(values[stage]) == section - left_out
        grid_values = diffusion_params.grid_settings(config, stage)
        assert as_settings(grid_values, grid.GridSettings).sample_grid == config["diffusion"][stage]["sample_grid"]
        # a given base (diffusion.pretrained) may be a bare guided-diffusion state dict: its grid
        # also reads the diffusion keys that say what network and process it is
        given = stage == "pretrain" and config["diffusion"]["pretrained"] is not None
        assert set(grid_values) == set(diffusion_params.GRID_KEYS) | ({"base"} if given else set())


def test_classifiers_read_their_sections_without_checkpoint_every(config):
    size = diffusion_params.size_classifier_settings(config)
    cherry = diffusion_params.cherry_picker_settings(config)
    as_settings(size, train_classifier.SizeJob, "diffusion")
    as_settings(cherry, train_classifier.CherryJob, "diffusion")
    assert "vlb_weight" not in size and set(cherry) == {"seed", "cherry_picker"}
    for values, section in ((size, "size_classifier"), (cherry, "cherry_picker")):
        assert set(values[section]) == set(config["diffusion"][section]) - {"checkpoint_every"}
    for training in diffusion_params.TRAININGS:
        every = diffusion_params.checkpoint_every(config, training)
        assert every >= 1
        assert diffusion_params.run_flags(config, training) == f"--checkpoint-every {every}"


# --- inpaint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_chunk_reads_its_samplers_schedule_and_guidance_only_when_unconditional(config, sampler):
    config["inpaint"]["sampler"] = sampler
    config["diffusion"]["models"] = {**config["diffusion"]["models"], "uncond": "none", "canny": "canny"}
    config["inpaint"]["sets"]["g"] = {"model": "uncond", "context": "random", "images": 200, "candidates": 2}
    config["inpaint"]["sets"]["c"] = {"model": "canny", "context": "random", "images": 200, "candidates": 1}
    for name in ("g", "c"):
        selected = inpaint_params.chunk_settings(config, name)
        settings = as_settings(selected, ChunkSettings).inpaint
        keys = set(selected["inpaint"])
        assert set(settings.sets) == {name}
        assert ("fast" in keys) == (sampler == "fast")
        assert ({"respacing", "jump_length", "jump_n_sample"} <= keys) == (sampler == "repaint")
        assert not ({"respacing", "jump_length", "jump_n_sample"} & keys) == (sampler == "fast")
        assert ("guidance_scale" in keys) == (name == "g")
        assert settings.make_sampler().respacing >= 1
    assert inpaint_params.guided(config, "g") == (config["inpaint"]["guidance_scale"] > 0)
    assert not inpaint_params.guided(config, "c")
    assert inpaint_params.cherry_picked(config, "g") and not inpaint_params.cherry_picked(config, "c")


def test_a_chunk_without_its_samplers_keys_names_them():
    config = copy.deepcopy(CONFIGS["demo"])
    selected = inpaint_params.chunk_settings(config, "tarmac_canny")
    del selected["inpaint"]["jump_length"]
    with pytest.raises(ValueError, match="inpaint.jump_length': missing"):
        as_settings(selected, ChunkSettings)


def test_every_inpaint_key_is_read_by_some_chunk(config):
    read = set(inpaint_params.SHARED_KEYS) | {"guidance_scale", "sets"}
    read |= {key for keys in inpaint_params.SAMPLER_KEYS.values() for key in keys}
    assert read == set(config["inpaint"])
    assert set(inpaint_params.SAMPLER_KEYS) == set(SAMPLERS)


# --- datasets ---------------------------------------------------------------------------------


def test_datasets_read_their_run_the_seed_and_the_empty_tile_share(config):
    config["experiments"]["runs"]["baseline"]["focal_gamma"] = 2.0
    for name, run in config["experiments"]["runs"].items():
        selected = datasets_params.dataset_settings(config, name)
        settings = as_settings(selected, datasets.DatasetSettings)
        assert settings.seed == config["experiments"]["seed"]
        assert settings.keep_without_target == config["experiments"]["keep_without_target"]
        assert settings.experiment.kind == run["kind"] and "focal_gamma" not in selected["experiment"]
    ablation = {"classes": {"names": ["plane"], "target": "plane"}, "experiment": {"kind": "ablation", "keep": 5}}
    with pytest.raises(ValueError, match="seed"):
        as_settings(ablation, datasets.DatasetSettings)


def test_the_needs_of_a_set_read_the_datasets_of_the_runs_drawing_from_it(config):
    for section in ("inpaint", "copy_paste", "selection"):
        for name in config[section]["sets"] or {}:
            selected = datasets_params.needs_settings(config, name)
            runs = {run for run, entry in config["experiments"]["runs"].items() if entry.get("set") == name}
            assert set(selected["experiments"]) == runs
            for run, values in selected["experiments"].items():
                assert values == datasets_params.dataset_settings(config, run)
            assert selected["chunks"] == (config["inpaint"]["chunks"] if section == "inpaint" else 1)
            drawing = {key for key, entry in (config["selection"]["sets"] or {}).items() if name in entry["sources"]}
            assert set(selected["selections"]) == drawing


# --- selection --------------------------------------------------------------------------------


def test_a_selected_set_reads_its_entry_and_the_gate_only_when_gated(config):
    config["selection"]["sets"] = {
        "gated": {"sources": ["a"], "images": "auto", "threshold": 0.25},
        "mixed": {"sources": ["a", "b"], "images": 10},
    }
    for name, entry in config["selection"]["sets"].items():
        selected = selection_params.select_settings(config, name)
        settings = as_settings(selected, SelectSettings)
        assert settings.entry.sources == tuple(entry["sources"])
        assert ("gate" in selected) == ("threshold" in entry)
        assert selection_params.draws(config, name) == (config["selection"]["gate"]["draws"]
                                                        if "threshold" in entry else 1)
    assert as_settings(selection_params.select_settings(config, "gated"), SelectSettings).gate.seed == (
        config["selection"]["gate"]["seed"])


# --- detect -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [None, 0.0, 1.5])
def test_trainings_read_focal_alpha_only_with_a_focal_loss_and_never_the_runtime(config, gamma):
    config["experiments"]["runs"]["baseline"] = {"kind": "baseline"}
    if gamma is not None:
        config["experiments"]["runs"]["baseline"]["focal_gamma"] = gamma
    default = config["detect"]["train"]["focal_gamma"]
    effective = default if gamma is None else gamma
    selected = detect_params.train_settings(config, "baseline")
    settings = as_settings(selected, DetectSettings)
    assert settings.train.focal_gamma == effective
    assert ("focal_alpha" in selected["train"]) == (effective > 0)
    assert not set(detect_params.RUNTIME_KEYS) & set(selected["train"])
    expected = set(config["detect"]["train"]) - set(detect_params.RUNTIME_KEYS)
    assert set(selected["train"]) | {"focal_alpha"} == expected | {"focal_alpha"}


def test_learning_curve_is_the_baseline_validated_every_epoch(config):
    selected = detect_params.learning_curve_settings(config, "baseline")
    train = as_settings(selected, DetectSettings).train
    assert train.epochs == config["detect"]["learning_curve"]["epochs"] and train.val is True
    baseline = detect_params.train_settings(config, "baseline")["train"]
    assert {k: v for k, v in selected["train"].items() if k not in ("epochs", "val")} == {
        k: v for k, v in baseline.items() if k not in ("epochs", "val")}


def test_pretraining_reads_its_overrides_and_its_own_runtime(config):
    config["detect"]["pretrain"]["train"] = {**config["detect"]["pretrain"]["train"], "epochs": 3,
                                             "device": "cpu", "workers": 4}
    selected = detect_params.pretrain_settings(config)
    assert as_settings(selected, DetectSettings).train.epochs == 3
    assert selected["target"] is None  # its scenes hold no target
    assert not set(detect_params.RUNTIME_KEYS) & set(selected["train"])
    assert detect_params.runtime(config, pretrain=True) == {"device": "cpu", "workers": 4}
    assert detect_params.runtime(config) == {key: config["detect"]["train"][key]
                                             for key in detect_params.RUNTIME_KEYS}
    assert detect_params.run_flags(config, pretrain=True) == "--device cpu --workers 4"


def test_pretraining_data_reads_neither_the_demo_seed_nor_overridden_tiling(config):
    selected = detect_params.pretrain_data_settings(config)
    settings = as_settings(selected, pretrain_data.PretrainDataSettings)
    assert "demo_seed" not in selected and "data" not in selected
    overrides = config["detect"]["pretrain"]["tiling"]
    for key, value in overrides.items():
        assert getattr(settings.tiling, key) == value


# --- report -----------------------------------------------------------------------------------


def test_report_jobs_read_the_runs_gamma_paste_sets_and_classes(config):
    selected = report_params.tables_settings(config)
    settings = as_settings(selected, tables.ReportSettings)
    assert set(settings.runs) == set(config["experiments"]["runs"])
    assert settings.focal_gamma == config["detect"]["train"]["focal_gamma"]
    selected_paste = [name for name, entry in (config["selection"]["sets"] or {}).items()
                      if set(entry["sources"]) <= set(config["copy_paste"]["sets"] or {})]
    assert list(settings.paste_sets) == list(config["copy_paste"]["sets"] or {}) + selected_paste
    assert report_params.curve_epochs(config) == config["detect"]["train"]["epochs"]
    classes = as_settings(report_params.quality_settings(config), quality.QualitySettings).classes
    assert classes.target == config["classes"]["target"]
