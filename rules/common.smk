# Shared helpers: settings passed to modules, inputs and target lists (get_*).
#
# Reruns: Snakemake reruns a job when its params change, so each job's params hold the config
# values its result depends on and no others. The selection of a stage whose keys depend on a
# choice (a method, a sampler, a model's condition, the loss) lives in one pure module per stage,
# workflow/<stage>/params.py (tested in tests/workflow/test_params.py), loaded here by path; the get_*
# helpers below turn it into JSON. Values that say where and how a job runs reach its command
# line through RUNTIME instead (end of this file). config/README.md lists what each key reruns.
import importlib.util
import json
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


BANK_PARAMS = load_source("workflow/bank/params.py")
DIFFUSION_PARAMS = load_source("workflow/diffusion/params.py")
INPAINT_PARAMS = load_source("workflow/inpaint/params.py")
COPY_PASTE_PARAMS = load_source("workflow/copy_paste/params.py")
DATASETS_PARAMS = load_source("workflow/datasets/params.py")
DETECT_PARAMS = load_source("workflow/detect/params.py")


def as_json(values):
    """Settings as the JSON text of a module's --settings: a plain string in params: is what
    makes Snakemake rerun the rule when a value changes."""
    return json.dumps(values, sort_keys=True)


def get_settings(*sections):
    """A config section (or several, merged by name) as JSON text for a module's --settings.

    A plain string in params: is what makes Snakemake rerun the rule when a value changes.
    """
    if len(sections) == 1:
        return json.dumps(config[sections[0]], sort_keys=True)
    return json.dumps({name: config[name] for name in sections}, sort_keys=True)


# The tiling keys each tiling job reads (KIND_KEYS in workflow/tiling.py, kept equal by
# tests/workflow/test_config_checks.py): a key too few fails the job, one too many reruns it for nothing.
TILING_KEYS = {
    "crops": ["crop_size", "oversize"],
    "background": [
        "background_margin",
        "background_stride",
        "detect_size",
        "min_visibility",
        "tarmac",
    ],
    "detect": ["detect_size", "detect_overlap", "min_visibility"],
}


def get_tiling_settings(kind):
    """--settings of one tiling job: its own tiling keys and the class map."""
    tiling = {key: config["tiling"][key] for key in TILING_KEYS[kind]}
    return json.dumps({"tiling": tiling, "classes": config["classes"]}, sort_keys=True)


def get_index_settings():
    """--settings of the index: the data, classes and split sections and the working GSD
    (tiling.gsd, the one tiling key it reads: boxes and scene sizes are at that GSD)."""
    values = {name: config[name] for name in ("data", "classes", "split")}
    values["tiling"] = {"gsd": config["tiling"]["gsd"]}
    return json.dumps(values, sort_keys=True)


def get_scene_sources():
    """The scene folders and label files the index reads, for rule inputs."""
    sources = {}
    for name in ("xview", "dota"):
        if config["data"][name]:
            sources[f"{name}_images"] = config["data"][name]["images"]
            sources[f"{name}_labels"] = config["data"][name]["labels"]
    return sources


def get_final_outputs():
    """What `snakemake` builds by default: every stage's final products."""
    return [
        "results/index/summary.json",
        "results/tiles/crops/manifest.csv",
        "results/tiles/background/manifest.csv",
        "results/tiles/detect/manifest.csv",
        "results/bank/manifest.csv",
        "results/bank/contact_sheet.png",
        "results/bank/summary.json",
        *expand(
            "results/diffusion/models/{model}/{file}",
            model=config["diffusion"]["models"],
            file=["model.pt", "loss.png", "samples.png"],
        ),
        "results/diffusion/size_classifier/loss.png",
        "results/diffusion/cherry_picker/loss.png",
        "results/diffusion/base/samples.png",
        *(
            ["results/diffusion/base/loss.png"]
            if config["diffusion"]["pretrained"] is None
            else []
        ),
        *expand("results/inpaint/{set}/manifest.csv", set=get_inpaint_sets()),
        *expand("results/inpaint/{set}/contact_sheet.png", set=get_inpaint_sets()),
        *expand("results/copy_paste/{set}/contact_sheet.png", set=get_paste_sets()),
        *get_report_outputs(),
    ]


# --- Diffusion: settings and inputs of rules/diffusion.smk (workflow/diffusion/params.py) ---

DIFFUSION = config["diffusion"]
DIFFUSION_MODELS = DIFFUSION["models"]


def get_pretrain_unet_settings():
    return as_json(DIFFUSION_PARAMS.unet_settings(config, "pretrain"))


def get_finetune_settings(wildcards):
    return as_json(DIFFUSION_PARAMS.unet_settings(config, "finetune", wildcards.model))


def get_grid_settings(stage):
    """--settings of the sample grid of a `pretrain` or `finetune` model."""
    return as_json(DIFFUSION_PARAMS.grid_settings(config, stage))


def get_grid_inputs(wildcards):
    """A fine-tuned model's file, and the bank whose stored maps condition its grid (if any)."""
    inputs = {"model": f"results/diffusion/models/{wildcards.model}/model.pt"}
    if DIFFUSION_MODELS[wildcards.model] != "none":
        inputs["bank"] = "results/bank/manifest.csv"
    return inputs


def get_grid_flags(wildcards):
    """--bank flag matching get_grid_inputs."""
    return (
        "--bank results/bank/manifest.csv"
        if "bank" in get_grid_inputs(wildcards)
        else ""
    )


def get_size_classifier_settings():
    return as_json(DIFFUSION_PARAMS.size_classifier_settings(config))


def get_cherry_picker_settings():
    return as_json(DIFFUSION_PARAMS.cherry_picker_settings(config))


def get_base_model():
    """The base U-Net: the configured guided-diffusion checkpoint, or the one trained here."""
    return DIFFUSION["pretrained"] or "results/diffusion/base/model.pt"


def get_cherry_picker_inputs():
    inputs = {
        "bank": "results/bank/manifest.csv",
        "background": "results/tiles/background/manifest.csv",
    }
    if DIFFUSION["cherry_picker"]["weights"]:
        inputs["weights"] = DIFFUSION["cherry_picker"]["weights"]
    return inputs


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


# --- Detection experiments --------------------------------------------------------------------
# datasets -> detect -> report. Settings go to the modules per experiment, so that editing one
# experiment reruns its own dataset and trainings only.

REPORT_FILES = [
    "learning_curve.png",
    "ap.csv",
    "summary.csv",
    "ap_bars.png",
    "sweeps.png",
    "comparisons.csv",
    "comparisons.png",
]
QUALITY_FILES = [
    "synthetic_quality.csv",
    "synthetic_quality_images.csv",
    "synthetic_quality.png",
]


def get_report_outputs():
    """The AP tables and plots, and the synthetic-quality tables, figure and judged sheets."""
    files = REPORT_FILES + QUALITY_FILES
    files += get_judged_sheets()
    return [f"results/report/{name}" for name in files]


def get_dataset_settings(experiment):
    """--settings of workflow.datasets.build (workflow/datasets/params.py)."""
    return as_json(DATASETS_PARAMS.dataset_settings(config, experiment))


def get_dataset_synthetic(experiment):
    """The synthetic set manifest an experiment draws from (none for baseline and ablation)."""
    name = config["experiments"]["runs"][experiment].get("set")
    return [get_synthetic_manifest(name)] if name else []


def get_train_settings(experiment):
    """--settings of workflow.detect.train for one experiment (workflow/detect/params.py)."""
    return as_json(DETECT_PARAMS.train_settings(config, experiment))


def get_learning_curve_settings():
    """--settings of workflow.detect.train for the baseline's learning curve."""
    return as_json(DETECT_PARAMS.learning_curve_settings(config, get_judge_experiment()))


def get_pretrain_settings():
    """--settings of workflow.detect.train for the pre-training."""
    return as_json(DETECT_PARAMS.pretrain_settings(config))


def get_pretrain_data_settings():
    """--settings of workflow.detect.pretrain_data."""
    return as_json(DETECT_PARAMS.pretrain_data_settings(config))


def get_detect_gpus(pretrain=False):
    """GPUs of a detector training: as many as detect.train.device lists (0,1,2,3), else one."""
    overrides = config["detect"]["pretrain"]["train"]
    if pretrain and "device" in overrides:
        return CHECKS.gpu_count("detect.pretrain.train.device", overrides["device"])
    return CHECKS.gpu_count("detect.train.device", config["detect"]["train"]["device"])


def get_start_weights(arch):
    """{weights, meta} files a training of `arch` starts from (empty: from scratch)."""
    start = config["detect"]["start"]
    if start == "pretrain":
        return {
            "weights": f"results/detect/pretrain/{arch}/weights/best.pt",
            "meta": f"results/detect/pretrain/{arch}/metrics.json",
        }
    if start == "weights":
        return {"weights": config["detect"]["weights"][arch]}
    return {}


def get_start_flags(arch):
    """The --weights / --weights-meta flags matching get_start_weights, as one string."""
    files = get_start_weights(arch)
    flags = [f"--weights {files['weights']}"] if "weights" in files else []
    flags += [f"--weights-meta {files['meta']}"] if "meta" in files else []
    return " ".join(flags)


def get_report_settings():
    """--settings of workflow.report.tables: the runs (kind, sweep value) and the default focal gamma."""
    return json.dumps(
        {
            "runs": config["experiments"]["runs"],
            "focal_gamma": config["detect"]["train"]["focal_gamma"],
            "paste_sets": get_paste_sets(),
        },
        sort_keys=True,
    )


# --- Plane bank -------------------------------------------------------------------------------


def get_masks_settings():
    """--settings of the bank's chunk and merge jobs (workflow/bank/params.py)."""
    return as_json(BANK_PARAMS.chunk_settings(config))


def get_masks_sheet_settings():
    """--settings of the bank's contact sheet."""
    return as_json(BANK_PARAMS.sheet_settings(config))


def get_masks_gpu():
    """SAM's image encoder runs on the GPU; GrabCut and box masks need none."""
    return 1 if config["masks"]["method"] == "sam" else 0


def get_sam_checkpoint():
    """The SAM checkpoint as an input file when method is sam (a missing one fails the DAG)."""
    if config["masks"]["method"] == "sam" and config["masks"]["sam"]["checkpoint"]:
        return [config["masks"]["sam"]["checkpoint"]]
    return []


# --- Inpainting -------------------------------------------------------------------------------


def get_inpaint_sets():
    """Names of the synthetic sets (inpaint.sets)."""
    return list(config["inpaint"]["sets"])


def get_inpaint_set_pattern():
    """Wildcard constraint matching exactly the names of inpaint.sets."""
    return "|".join(config["inpaint"]["sets"])


def get_inpaint_settings(wildcards):
    """--settings of a chunk of set `wildcards.set` (workflow/inpaint/params.py): editing one
    set does not rerun the others."""
    return as_json(INPAINT_PARAMS.chunk_settings(config, wildcards.set))


def get_inpaint_inputs(wildcards):
    """The files a chunk of set `wildcards.set` reads."""
    spec = config["inpaint"]["sets"][wildcards.set]
    inputs = {
        "bank": "results/bank/manifest.csv",
        "background": "results/tiles/background/manifest.csv",
        "model": f"results/diffusion/models/{spec['model']}/model.pt",
    }
    if INPAINT_PARAMS.guided(config, wildcards.set):
        inputs["classifier"] = "results/diffusion/size_classifier/model.pt"
    if INPAINT_PARAMS.cherry_picked(config, wildcards.set):
        inputs["cherry_picker"] = "results/diffusion/cherry_picker/model.pt"
    return inputs


def get_inpaint_flags(wildcards):
    """--classifier / --cherry-picker flags matching get_inpaint_inputs, as one string."""
    inputs = get_inpaint_inputs(wildcards)
    flags = []
    if "classifier" in inputs:
        flags.append(f"--classifier {inputs['classifier']}")
    if "cherry_picker" in inputs:
        flags.append(f"--cherry-picker {inputs['cherry_picker']}")
    return " ".join(flags)


def get_inpaint_chunks(wildcards):
    """The chunk folders of set `wildcards.set`."""
    chunks = range(config["inpaint"]["chunks"])
    return [f"results/inpaint/{wildcards.set}/chunk{i}" for i in chunks]


# --- Copy-paste control ----------------------------------------------------------------------


def get_paste_sets():
    """Names of the copy-paste sets (copy_paste.sets)."""
    return list(config["copy_paste"]["sets"] or {})


def get_paste_set_pattern():
    """Wildcard constraint matching exactly the names of copy_paste.sets."""
    return "|".join(get_paste_sets()) or "(?!)"


def get_paste_settings(wildcards):
    """--settings of set `wildcards.set` (workflow/copy_paste/params.py)."""
    return as_json(COPY_PASTE_PARAMS.paste_settings(config, wildcards.set))


def get_synthetic_sets():
    """Every synthetic set, inpainted or pasted."""
    return get_inpaint_sets() + get_paste_sets()


def get_synthetic_manifest(name):
    """The manifest of synthetic set `name`, under the stage that made it."""
    stage = "copy_paste" if name in get_paste_sets() else "inpaint"
    return f"results/{stage}/{name}/manifest.csv"


# --- Synthetic quality ------------------------------------------------------------------------


def get_judge_experiment():
    """The experiment whose trainings judge the synthetic planes: the first of kind baseline."""
    runs = config["experiments"]["runs"]
    return next(name for name, run in runs.items() if run["kind"] == "baseline")


def get_judges():
    """The baseline training folders (first seed) of every arch."""
    seed = config["detect"]["seeds"][0]
    return [
        f"results/detect/{arch}/{get_judge_experiment()}/seed{seed}"
        for arch in config["detect"]["archs"]
    ]


def get_judged_sheets():
    """One judged contact sheet per synthetic set and judge (arch), under results/report/."""
    return [
        f"judged_{name}_{arch}.png"
        for name in get_synthetic_sets()
        for arch in config["detect"]["archs"]
    ]


def get_quality_settings():
    """--settings of workflow.report.quality."""
    classes = {k: config["classes"][k] for k in ("names", "target")}
    return json.dumps({"classes": classes}, sort_keys=True)


# --- Where and how a job runs -----------------------------------------------------------------
# Not results: the detectors' device and data-loader workers, and how often a diffusion training
# writes its resumable state. They reach the command line through a string resource of the rule,
# `run_flags=RUNTIME["<rule>"]` formatted as `{resources.run_flags}`, never through params
# (Snakemake reruns a job when its params change, not its resources), so that changing them
# reruns nothing (config/README.md, "Where and how a job runs"). One entry per rule; a user may
# also override one for a run: `--set-resources detect_train:run_flags="--device cuda:1 --workers 8"`.


def get_runtime_flags():
    """Rule name -> the command-line flags of its runtime keys."""
    flags = {
        training: f"--checkpoint-every {DIFFUSION_PARAMS.checkpoint_every(config, training)}"
        for training in DIFFUSION_PARAMS.TRAININGS
    }
    for rule_name, pretrain in (("detect_train", False), ("detect_pretrain", True)):
        runtime = DETECT_PARAMS.runtime(config, pretrain)
        flags[rule_name] = (
            f"--device {runtime['device']} --workers {runtime['workers']}"
        )
    return flags


RUNTIME = get_runtime_flags()
