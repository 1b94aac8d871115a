# Shared helpers: settings passed to modules, inputs and target lists (get_*).
import importlib.util
import json
from pathlib import Path


def get_settings(*sections):
    """A config section (or several, merged by name) as JSON text for a module's --settings.

    A plain string in params: is what makes Snakemake rerun the rule when a value changes.
    """
    if len(sections) == 1:
        return json.dumps(config[sections[0]], sort_keys=True)
    return json.dumps({name: config[name] for name in sections}, sort_keys=True)


# The tiling keys each tiling job reads (KIND_KEYS in workflow/tiling.py, kept equal by
# tests/test_config_checks.py): a key too few fails the job, one too many reruns it for nothing.
TILING_KEYS = {
    "crops": ["crop_size"],
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
        *(
            ["results/diffusion/base/loss.png", "results/diffusion/base/samples.png"]
            if config["diffusion"]["pretrained"] is None
            else []
        ),
        *expand("results/inpaint/{set}/manifest.csv", set=get_inpaint_sets()),
        *expand("results/inpaint/{set}/contact_sheet.png", set=get_inpaint_sets()),
        *get_report_outputs(),
    ]


# --- Diffusion: settings and inputs of rules/diffusion.smk ---------------------

DIFFUSION = config["diffusion"]
DIFFUSION_MODELS = DIFFUSION["models"]
# The diffusion keys every U-Net training reads besides its own section.
UNET_KEYS = ("preset", "schedule", "steps", "vlb_weight", "seed")


def get_diffusion_settings(section, keys=UNET_KEYS, **extra):
    """JSON of the diffusion keys one job needs (so that only those changes rerun it)."""
    values = {key: DIFFUSION[key] for key in keys}
    values[section] = DIFFUSION[section]
    values.update(extra)
    return json.dumps(values, sort_keys=True)


def get_finetune_settings(wildcards):
    return get_diffusion_settings(
        "finetune", condition=DIFFUSION_MODELS[wildcards.model]
    )


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


def _load_codegraph():
    path = Path(workflow.basedir) / "workflow" / "core" / "codegraph.py"
    spec = importlib.util.spec_from_file_location("workflow_codegraph", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


CODEGRAPH = _load_codegraph()


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

REPORT_FILES = ["ap.csv", "summary.csv", "ap_bars.png", "sweeps.png"]
QUALITY_FILES = [
    "synthetic_quality.csv",
    "synthetic_quality_images.csv",
    "synthetic_quality.png",
]


def get_report_outputs():
    """The AP tables and plots, and the synthetic-quality tables, figure and judged sheets."""
    files = REPORT_FILES + QUALITY_FILES
    files += [f"judged_{name}.png" for name in config["inpaint"]["sets"]]
    return [f"results/report/{name}" for name in files]


def get_dataset_settings(experiment):
    """--settings of workflow.datasets.build: class names and target, the draw seed, one run."""
    classes = config["classes"]
    return json.dumps(
        {
            "classes": {"names": classes["names"], "target": classes["target"]},
            "seed": config["experiments"]["seed"],
            "experiment": config["experiments"]["runs"][experiment],
        },
        sort_keys=True,
    )


def get_dataset_synthetic(experiment):
    """The synthetic set manifest an experiment draws from (none for baseline and ablation)."""
    name = config["experiments"]["runs"][experiment].get("set")
    return [f"results/inpaint/{name}/manifest.csv"] if name else []


def get_train_settings(experiment):
    """--settings of workflow.detect.train for one experiment: detect.train (+ its focal_gamma)."""
    train = dict(config["detect"]["train"])
    gamma = config["experiments"]["runs"][experiment].get("focal_gamma")
    if gamma is not None:
        train["focal_gamma"] = gamma
    return json.dumps(
        {"train": train, "target": config["classes"]["target"]}, sort_keys=True
    )


def get_pretrain_settings():
    """--settings of workflow.detect.train for the pre-training: detect.train with its overrides."""
    train = {**config["detect"]["train"], **config["detect"]["pretrain"]["train"]}
    return json.dumps(
        {"train": train, "target": config["classes"]["target"]}, sort_keys=True
    )


def get_pretrain_data_settings():
    """--settings of workflow.detect.pretrain_data."""
    pretrain = config["detect"]["pretrain"]
    demo = config["data"]["demo"]
    return json.dumps(
        {
            "scenes": pretrain["scenes"],
            "split": pretrain["split"],
            "demo_seed": demo["seed"] if demo else None,
            "classes": config["classes"],
            "tiling": {
                **{key: config["tiling"][key] for key in TILING_KEYS["detect"]},
                **pretrain["tiling"],
            },
        },
        sort_keys=True,
    )


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
        },
        sort_keys=True,
    )


# --- Plane bank -------------------------------------------------------------------------------


def get_masks_settings():
    """--settings of the bank's chunk and merge jobs: the masks section without the contact
    sheet's key, and the crop size (other tiling keys would rerun the bank for nothing).
    """
    masks = {k: v for k, v in config["masks"].items() if k != "contact_sheet_planes"}
    tiling = {"crop_size": config["tiling"]["crop_size"]}
    return json.dumps({"masks": masks, "tiling": tiling}, sort_keys=True)


def get_masks_sheet_settings():
    """--settings of the bank's contact sheet."""
    return json.dumps({"contact_sheet_planes": config["masks"]["contact_sheet_planes"]})


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
    """--settings of a chunk: the inpaint section with only this set (editing one set does not
    rerun the others), and the class names."""
    sets = config["inpaint"]["sets"]
    inpaint = dict(config["inpaint"], sets={wildcards.set: sets[wildcards.set]})
    classes = {k: config["classes"][k] for k in ("names", "target")}
    return json.dumps({"inpaint": inpaint, "classes": classes}, sort_keys=True)


def inpaint_guided(set_name):
    """Unconditional models are guided toward the size class when guidance_scale > 0."""
    model = config["inpaint"]["sets"][set_name]["model"]
    condition = config["diffusion"]["models"][model]
    return condition == "none" and config["inpaint"]["guidance_scale"] > 0


def get_inpaint_inputs(wildcards):
    """The files a chunk of set `wildcards.set` reads."""
    spec = config["inpaint"]["sets"][wildcards.set]
    inputs = {
        "bank": "results/bank/manifest.csv",
        "background": "results/tiles/background/manifest.csv",
        "model": f"results/diffusion/models/{spec['model']}/model.pt",
    }
    if inpaint_guided(wildcards.set):
        inputs["classifier"] = "results/diffusion/size_classifier/model.pt"
    if spec["candidates"] > 1:
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


def get_quality_settings():
    """--settings of workflow.report.quality."""
    classes = {k: config["classes"][k] for k in ("names", "target")}
    return json.dumps({"classes": classes}, sort_keys=True)
