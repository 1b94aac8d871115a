# Helpers (get_*) of rules/<stage>.smk: loading a stage's params module, settings as JSON, the
# code inputs, then each stage's inputs, flags and wildcard patterns in pipeline order, and the
# default targets. Functions live here, rules in rules/<stage>.smk (`snakemake --lint`).
#
# Reruns: Snakemake reruns a job when its params change, so each job's params hold the config
# values its result depends on and no others. Each stage keeps that selection in one pure module,
# workflow/<stage>/params.py (tested in tests/workflow/test_params.py), which its rule file loads
# at its top (`<STAGE>_PARAMS = load_source(...)`) and whose functions its rules call in params:
# (through get_wildcard_settings when the selection depends on a wildcard). Values that say where
# and how a job runs (the detectors' device and workers, a diffusion training's checkpoint_every)
# reach its command line through the rule's `run_flags` resource instead (`run_flags` of the same
# modules), never through params, so that changing them reruns nothing; a user may also override
# one for a run: `--set-resources detect_train:run_flags="--device cuda:1 --workers 8"`.
# config/README.md lists what each key reruns.
#
# The helpers below run when a rule is built or when its jobs are (input and params functions),
# not when this file loads: they may name the outputs of the rules included before
# (`rules.<name>.output`) and the params modules their stages' rule files load.
import importlib.util
import json
import os
from pathlib import Path


def load_source(relative):
    """A module of the package loaded from its file: for the ones the rules call at parse time,
    which import nothing from the package (Snakemake binds the name `workflow`)."""
    path = Path(workflow.basedir) / relative
    name = "_".join(Path(relative).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(f"smk_{name}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def as_json(values):
    """Settings as the JSON text of a module's --settings: a plain string in params: is what
    makes Snakemake rerun the rule when a value changes."""
    return json.dumps(values, sort_keys=True)


def get_wildcard_settings(select, wildcard):
    """A params function: the --settings JSON of `select(config, value)` for the job's value of
    `wildcard` (a selection of workflow/<stage>/params.py per set, model or experiment).
    """

    def settings(wildcards):
        return as_json(select(config, wildcards[wildcard]))

    return settings


def get_output_folder(wildcards, output):
    """The folder holding every output of a job: the --out of a command that writes several
    files there (`params: out=get_output_folder`)."""
    return os.path.commonpath([os.path.dirname(path) for path in output])


# --- Code inputs -----------------------------------------------------------------------------
# Snakemake reruns a job when its shell command changes, not when the Python module it calls
# changes. Rules therefore list the source files they run as input: `code=get_code("workflow.x")`.

CODEGRAPH = load_source("workflow/core/codegraph.py")


def get_code(*modules):
    """Source files of these `workflow` modules and of every module they import (transitively,
    with their packages' __init__.py), relative to the working directory when under it.
    """
    root = Path(workflow.basedir).resolve()
    files = CODEGRAPH.module_closure(root, modules).values()
    return sorted(_workdir_relative(path) for path in files)


def _workdir_relative(path):
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --- Scenes (rules/scenes.smk) ----------------------------------------------------------------


def get_scene_sources():
    """The scene folders, label files and split lists the index reads, for rule inputs."""
    sources = {}
    for name in ("xview", "dota"):
        if config["data"][name]:
            sources[f"{name}_images"] = config["data"][name]["images"]
            sources[f"{name}_labels"] = config["data"][name]["labels"]
    for split, path in (config["split"].get("lists") or {}).items():
        sources[f"{split}_list"] = path
    return sources


# --- Plane bank (rules/bank.smk) --------------------------------------------------------------


def get_masks_gpu():
    """SAM's image encoder runs on the GPU; GrabCut and box masks need none."""
    return 1 if config["masks"]["method"] == "sam" else 0


def get_sam_checkpoint():
    """The SAM checkpoint as an input file when method is sam (a missing one fails the DAG)."""
    if config["masks"]["method"] == "sam" and config["masks"]["sam"]["checkpoint"]:
        return [config["masks"]["sam"]["checkpoint"]]
    return []


# --- Diffusion (rules/diffusion.smk) ----------------------------------------------------------


def get_model_pattern():
    """Wildcard constraint matching exactly the names of diffusion.models."""
    return "|".join(config["diffusion"]["models"])


def get_pretrain_init(wildcards):
    """{"init": diffusion.pretrain.init} when the base training starts from a file, else {}."""
    init = config["diffusion"]["pretrain"].get("init")
    return {"init": init} if init else {}


def get_pretrain_init_flag(wildcards, input):
    """--base of the base training when it starts from diffusion.pretrain.init."""
    return f"--base {input.init}" if "init" in input.keys() else ""


def get_base_model():
    """The base U-Net: the configured guided-diffusion checkpoint, or the one trained here."""
    return config["diffusion"]["pretrained"] or rules.pretrain.output.model


def get_grid_inputs(wildcards):
    """A fine-tuned model's file, and the bank whose stored maps condition its grid (if any)."""
    inputs = {"model": rules.finetune.output.model.format(model=wildcards.model)}
    if config["diffusion"]["models"][wildcards.model] != "none":
        inputs["bank"] = rules.mask_merge.output.manifest
    return inputs


def get_grid_flags(wildcards):
    """--bank flag matching get_grid_inputs."""
    bank = get_grid_inputs(wildcards).get("bank")
    return f"--bank {bank}" if bank else ""


def get_cherry_picker_inputs():
    inputs = {
        "bank": rules.mask_merge.output.manifest,
        "background": rules.background_tiles.output.manifest,
    }
    if config["diffusion"]["cherry_picker"]["weights"]:
        inputs["weights"] = config["diffusion"]["cherry_picker"]["weights"]
    return inputs


# --- Inpainting (rules/inpaint.smk) -----------------------------------------------------------


def get_inpaint_sets():
    """Names of the synthetic sets (inpaint.sets)."""
    return list(config["inpaint"]["sets"])


def get_inpaint_set_pattern():
    """Wildcard constraint matching exactly the names of inpaint.sets."""
    return "|".join(config["inpaint"]["sets"])


def get_set_ground(wildcards, section):
    """The ground scores and plane grounds, for a set (of `section`: inpaint or copy_paste) of
    context apron."""
    if config[section]["sets"][wildcards.set]["context"] == "apron":
        return {
            "ground": rules.ground_scores.output.scores,
            "planes": rules.ground_scores.output.planes,
        }
    return {}


# The optional inputs of the synthesis and report jobs and the flags that pass them.
OPTIONAL_FLAGS = {
    "classifier": "--classifier",
    "cherry_picker": "--cherry-picker",
    "needs": "--needs",
    "ground": "--ground",
    "planes": "--planes",
}


def optional_flags(inputs):
    """The OPTIONAL_FLAGS of the optional inputs present (a dict, or a job's named input
    list), as one string."""
    present = dict(inputs.items())
    return " ".join(
        f"{flag} {present[key]}"
        for key, flag in OPTIONAL_FLAGS.items()
        if key in present
    )


def get_inpaint_inputs(wildcards):
    """The files a chunk of set `wildcards.set` reads."""
    spec = config["inpaint"]["sets"][wildcards.set]
    inputs = {
        "bank": rules.mask_merge.output.manifest,
        "background": rules.background_tiles.output.manifest,
        "model": rules.finetune.output.model.format(model=spec["model"]),
    }
    if INPAINT_PARAMS.guided(config, wildcards.set):
        inputs["classifier"] = rules.size_classifier.output.model
    if INPAINT_PARAMS.cherry_picked(config, wildcards.set):
        inputs["cherry_picker"] = rules.cherry_picker.output.model
    inputs.update(get_set_needs(wildcards))
    inputs.update(get_set_ground(wildcards, "inpaint"))
    return inputs


def get_inpaint_flags(wildcards):
    """The optional inputs of get_inpaint_inputs as flags, one string."""
    return optional_flags(get_inpaint_inputs(wildcards))


def get_inpaint_chunks(wildcards):
    """The chunk folders of set `wildcards.set`."""
    return expand(
        rules.inpaint_chunk.output.chunk,
        set=wildcards.set,
        chunk=range(config["inpaint"]["chunks"]),
    )


# --- Copy-paste control (rules/copy_paste.smk) and every synthetic set ------------------------


def get_paste_sets():
    """Names of the copy-paste sets (copy_paste.sets)."""
    return list(config["copy_paste"]["sets"] or {})


def get_paste_set_pattern():
    """Wildcard constraint matching exactly the names of copy_paste.sets."""
    return "|".join(get_paste_sets()) or "(?!)"


def get_selected_sets():
    """Names of the selected sets (selection.sets)."""
    return list(config["selection"]["sets"] or {})


def get_selected_set_pattern():
    """Wildcard constraint matching exactly the names of selection.sets."""
    return "|".join(get_selected_sets()) or "(?!)"


def get_synthetic_sets():
    """Every synthetic set: inpainted, pasted or selected."""
    return get_inpaint_sets() + get_paste_sets() + get_selected_sets()


def get_synthetic_set_pattern():
    """Wildcard constraint matching exactly the names of every synthetic set."""
    return "|".join(get_synthetic_sets()) or "(?!)"


def get_set_needs(wildcards):
    """{"needs": results/datasets/needs/{set}.json} when the set's images is auto, else {}."""
    if not DATASETS_PARAMS.auto_sized(config, wildcards.set):
        return {}
    return {"needs": rules.synthetic_needs.output.needs.format(set=wildcards.set)}


def get_paste_inputs(wildcards):
    """The files the copy-paste job of set `wildcards.set` reads."""
    return {
        "bank": rules.mask_merge.output.manifest,
        "background": rules.background_tiles.output.manifest,
        **get_set_needs(wildcards),
        **get_set_ground(wildcards, "copy_paste"),
    }


def get_paste_flags(wildcards):
    """The optional inputs of get_paste_inputs as flags, one string."""
    return optional_flags(get_paste_inputs(wildcards))


def get_synthetic_manifest(name):
    """The manifest of synthetic set `name`, written by the stage that made it."""
    if name in get_paste_sets():
        return rules.copy_paste.output.manifest.format(set=name)
    if name in get_selected_sets():
        return (
            f"results/selection/{name}/manifest.csv"  # rules/selection.smk comes later
        )
    return rules.inpaint_merge.output.manifest.format(set=name)


# --- Selected sets (rules/selection.smk) ------------------------------------------------------


def get_gate_training():
    """{gate: metrics.json, gate_weights: weights/best.pt} of the gate's baseline training
    (selection.gate: arch and seed)."""
    gate = config["selection"]["gate"]
    training = dict(
        arch=gate["arch"], experiment=get_judge_experiment(), seed=gate["seed"]
    )
    return {
        "gate": rules.detect_train.output.metrics.format(**training),
        "gate_weights": rules.detect_train.output.weights.format(**training),
    }


def get_select_inputs(wildcards):
    """The files the job of selected set `wildcards.set` reads: its sources' manifests, its
    needs when auto-sized and, when gated, the gate's baseline training."""
    entry = config["selection"]["sets"][wildcards.set]
    inputs = {
        "sources": [get_synthetic_manifest(name) for name in entry["sources"]],
        **get_set_needs(wildcards),
    }
    if SELECTION_PARAMS.gated(config, wildcards.set):
        inputs.update(get_gate_training())
    return inputs


def get_select_flags(wildcards, input):
    """--needs, and --gate (the training's folder) / --config-dir for a gated set, from the
    job's input, as one string."""
    present = dict(input.items())
    flags = [optional_flags(present)]
    if "gate" in present:
        gate = os.path.dirname(present["gate"])
        flags.append(f"--gate {gate} --config-dir results/detect/ultralytics")
    return " ".join(flag for flag in flags if flag)


def get_select_gpus(wildcards):
    """A GPU for a gated set's detector, none for a set that only takes planes."""
    return 1 if SELECTION_PARAMS.gated(config, wildcards.set) else 0


# --- Datasets (rules/datasets.smk) ------------------------------------------------------------


def get_experiment_pattern():
    """Wildcard constraint matching exactly the names of experiments.runs."""
    return "|".join(config["experiments"]["runs"])


def get_dataset_synthetic(wildcards):
    """The synthetic set manifest experiment `wildcards.experiment` draws from (none for
    baseline and ablation)."""
    name = config["experiments"]["runs"][wildcards.experiment].get("set")
    return [get_synthetic_manifest(name)] if name else []


# --- Detection (rules/detect.smk) -------------------------------------------------------------


def get_arch_pattern():
    """Wildcard constraint matching exactly the names of detect.archs."""
    return "|".join(config["detect"]["archs"])


def get_detect_gpus(pretrain=False):
    """GPUs of a detector training: as many as detect.train.device lists (0,1,2,3), else one."""
    overrides = config["detect"]["pretrain"]["train"]
    if pretrain and "device" in overrides:
        return CHECKS.gpu_count("detect.pretrain.train.device", overrides["device"])
    return CHECKS.gpu_count("detect.train.device", config["detect"]["train"]["device"])


def get_judge_experiment():
    """The experiment whose trainings judge the synthetic planes and draw the learning curve:
    the first of kind baseline."""
    runs = config["experiments"]["runs"]
    return next(name for name, run in runs.items() if run["kind"] == "baseline")


def get_start_weights(wildcards):
    """{weights, meta} files a training of `wildcards.arch` starts from (empty: from scratch)."""
    start = config["detect"]["start"]
    if start == "pretrain":
        return {
            "weights": rules.detect_pretrain.output.weights.format(arch=wildcards.arch),
            "meta": rules.detect_pretrain.output.metrics.format(arch=wildcards.arch),
        }
    if start == "weights":
        return {"weights": config["detect"]["weights"][wildcards.arch]}
    return {}


def get_train_inputs(wildcards):
    """The starting weights (get_start_weights) and, with detect.train.epoch_size baseline, the
    baseline's data.yaml, whose training images set every training's epoch."""
    inputs = get_start_weights(wildcards)
    if config["detect"]["train"]["epoch_size"] == "baseline":
        inputs["epoch_data"] = rules.dataset.output.data.format(
            experiment=get_judge_experiment()
        )
    return inputs


# a training's optional inputs (get_train_inputs) -> their flags of workflow.detect.train
TRAIN_FLAGS = {
    "weights": "--weights",
    "meta": "--weights-meta",
    "epoch_data": "--epoch-data",
}


def get_train_flags(wildcards, input):
    """The TRAIN_FLAGS of the job's optional inputs, as one string."""
    present = dict(input.items())
    return " ".join(
        f"{flag} {present[key]}" for key, flag in TRAIN_FLAGS.items() if key in present
    )


# --- Report (rules/report.smk) ----------------------------------------------------------------


def get_judge_trainings():
    """{metrics, weights}: the trainings of the judge experiment (first seed) of every arch,
    the detectors that judge the synthetic planes."""
    trainings = dict(
        arch=config["detect"]["archs"],
        experiment=get_judge_experiment(),
        seed=config["detect"]["seeds"][0],
    )
    return {
        "metrics": expand(rules.detect_train.output.metrics, **trainings),
        "weights": expand(rules.detect_train.output.weights, **trainings),
    }


def get_judges():
    """The judges' training folders (workflow.report.quality --judges)."""
    return [os.path.dirname(path) for path in get_judge_trainings()["metrics"]]


def get_seam_sheets():
    """One seam sheet per synthetic set: output, tile and their difference around each plane."""
    return [f"results/report/seam_{name}.png" for name in get_synthetic_sets()]


def get_judged_sheets():
    """One judged contact sheet per synthetic set and judge (arch)."""
    return [
        f"results/report/judged_{name}_{arch}.png"
        for name in get_synthetic_sets()
        for arch in config["detect"]["archs"]
    ]


# --- Targets ----------------------------------------------------------------------------------
# Called by `rule all` at the end of the Snakefile, once every rule file is included.


def cherry_picker_needed():
    """The cherry-picker keeps the best of several candidates: trained when a set draws more
    than one (the synthetic-quality report then also scores every set with it)."""
    return any(
        INPAINT_PARAMS.cherry_picked(config, name) for name in get_inpaint_sets()
    )


def get_quality_cherry_picker():
    """The cherry-picker as an input of the synthetic-quality report, when one is trained."""
    return (
        {"cherry_picker": rules.cherry_picker.output.model}
        if cherry_picker_needed()
        else {}
    )


def get_final_outputs():
    """What `snakemake` builds by default: every stage's final products."""
    models = config["diffusion"]["models"]
    base_trained = config["diffusion"]["pretrained"] is None
    # the size classifier guides unconditional models only: trained when a set uses one
    guided = any(INPAINT_PARAMS.guided(config, name) for name in get_inpaint_sets())
    return [
        rules.index.output.summary,
        rules.crops.output.manifest,
        rules.background_tiles.output.manifest,
        rules.detect_tiles.output.manifest,
        rules.mask_merge.output.manifest,
        rules.mask_contact_sheet.output.sheet,
        rules.mask_merge.output.summary,
        *expand(
            [
                rules.finetune.output.model,
                rules.finetune.output.loss_png,
                rules.finetune_grid.output.samples,
            ],
            model=models,
        ),
        *([rules.size_classifier.output.loss_png] if guided else []),
        *([rules.cherry_picker.output.loss_png] if cherry_picker_needed() else []),
        rules.pretrain_grid.output.samples,
        *([rules.pretrain.output.loss_png] if base_trained else []),
        *expand(rules.inpaint_merge.output.manifest, set=get_inpaint_sets()),
        *expand(rules.inpaint_merge.output.contact_sheet, set=get_inpaint_sets()),
        *expand(rules.copy_paste.output.contact_sheet, set=get_paste_sets()),
        *rules.learning_curve.output,
        *rules.detect_report.output,
        *rules.synthetic_quality.output,
    ]
