"""Checks of one config key against another: the one place for each, shared by the load-time
validation (rules/validate.smk, after the JSON schema) and by the jobs' settings dataclasses.

Every failure is a ValueError naming the key, its value and what is allowed. This module
imports nothing from the package (validate.smk loads it by path, before any job runs).
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Mapping

SPLITS = ("train", "val", "test")  # also workflow.core.labels.SPLITS
# Image side of each `diffusion.preset` (workflow.diffusion.presets builds the networks).
PRESET_IMAGE_SIZES = {"adm256": 256, "demo32": 32, "demo64": 64}


def check_target(names: Iterable[str], target: str) -> None:
    names = list(names)
    if target not in names:
        raise ValueError(f"config key 'classes.target': {target!r} is not in classes.names {names}")


def check_class_map(source: str, mapping: Mapping[Any, str | None] | None,
                    names: Iterable[str]) -> None:
    """The class map of a source that is read (data.<source> set): every value a detector class
    or null (that label skipped). A layered config file removes the demo's entries by nulling
    them, since Snakemake merges maps entry by entry."""
    names = list(names)
    if mapping is None:
        raise ValueError(f"config key 'classes.{source}': null, but data.{source} is set: give "
                         f"the map from its labels to classes.names {names}")
    for label, name in mapping.items():
        if name is not None and name not in names:
            raise ValueError(f"config key 'classes.{source}.{label}': {name!r} is not in "
                             f"classes.names {names}; map it to one of them, or to null to skip "
                             "that label")


def used_sources(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The label sources the index reads: those of xview and dota that are not null."""
    return tuple(source for source in ("xview", "dota") if data.get(source))


def check_fractions(fractions: Mapping[str, float], key: str = "split.fractions") -> None:
    if sorted(fractions) != sorted(SPLITS):
        raise ValueError(f"config key '{key}': keys {sorted(fractions)}, expected {list(SPLITS)}")
    if any(not 0 < value <= 1 for value in fractions.values()):
        raise ValueError(f"config key '{key}': {dict(fractions)}: each must be in (0, 1]")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"config key '{key}': the fractions {dict(fractions)} sum to {total}, not 1")


def check_overlap(overlap: int, size: int) -> None:
    if not 0 <= overlap < size:
        raise ValueError(f"config key 'tiling.detect_overlap': {overlap}; need 0 <= overlap < "
                         f"tiling.detect_size ({size})")


def check_value_range(value_range) -> None:
    low, high = tuple(value_range) if len(value_range) == 2 else (1, 0)
    if not 0 <= low <= high <= 255:
        raise ValueError(f"config key 'tiling.tarmac.value_range': {list(value_range)}; need "
                         "[low, high] with 0 <= low <= high <= 255")


def check_steps(key: str, value: int, steps: int) -> None:
    """A respaced step count cannot exceed the training steps."""
    if value > steps:
        raise ValueError(f"config key '{key}': {value} respaced steps exceed diffusion.steps ({steps})")


def check_member(key: str, value: str, allowed: Iterable[str], allowed_key: str) -> None:
    """`value` (at config key `key`) must be one of the keys of `allowed_key`."""
    allowed = sorted(allowed)
    if value not in allowed:
        raise ValueError(f"config key '{key}': {value!r} is not a key of {allowed_key} {allowed}")


def check_chunks_filled(name: str, images: int, chunks: int) -> None:
    if images < chunks:
        raise ValueError(f"config key 'inpaint.sets.{name}.images': {images} images cannot fill "
                         f"{chunks} chunks (inpaint.chunks)")


def check_feather(feather: int, dilation: int) -> None:
    """The plane is laid in by a matte reaching `feather` px past its mask: only onto pixels the
    model painted (the mask dilated by inpaint.mask_dilation)."""
    if not 0 <= feather < max(dilation, 1):
        raise ValueError(f"config key 'inpaint.feather': {feather}; need 0 <= feather < "
                         f"inpaint.mask_dilation ({dilation}): the plane's edge blends into "
                         "pixels the model painted")


# Folders of results/detect/{arch}/ that are not experiments.
RESERVED_RUN_NAMES = ("learning_curve",)


def synthetic_sets(config: Mapping[str, Any]) -> dict[str, str]:
    """Every synthetic set name -> the config section that defines it (inpaint, copy_paste or
    selection); a name in two is an error (experiments, the judge and the report know sets by
    name), as is a selected set whose source is not an inpainted or pasted set."""
    inpainted, pasted = config["inpaint"]["sets"], config["copy_paste"]["sets"] or {}
    selected = (config.get("selection") or {}).get("sets") or {}
    owner: dict[str, str] = {}
    for section, names in (("inpaint", inpainted), ("copy_paste", pasted), ("selection", selected)):
        for name in names:
            if name in owner:
                raise ValueError(f"config key '{section}.sets.{name}': also a key of {owner[name]}.sets; "
                                 "a synthetic set name must be unique")
            owner[name] = section
    made = {name: section for name, section in owner.items() if section != "selection"}
    for name, entry in selected.items():
        for source in entry["sources"]:
            check_member(f"selection.sets.{name}.sources", source, made, "inpaint.sets or copy_paste.sets")
    return owner


def check_pretrain_seed(pretrain_seed: int, demo_seed: int | None) -> None:
    if demo_seed is not None and pretrain_seed == demo_seed:
        raise ValueError(f"config key 'detect.pretrain.scenes.seed': {pretrain_seed} equals "
                         "data.demo.seed; the pre-training scenes must differ from the demo scenes "
                         "(their test split would leak)")


def check_model_size(preset: str, crop_size: int, detect_size: int) -> None:
    """The diffusion model's side is the crop side, and fits in a detection tile."""
    if PRESET_IMAGE_SIZES[preset] != crop_size:
        raise ValueError(f"config key 'diffusion.preset': {preset!r} works on "
                         f"{PRESET_IMAGE_SIZES[preset]} px images, but tiling.crop_size is "
                         f"{crop_size}; make them equal")
    if detect_size < crop_size:
        raise ValueError(f"config key 'tiling.detect_size': {detect_size} is smaller than "
                         f"tiling.crop_size ({crop_size}); inpainting and base training cut "
                         "crop-size windows out of the detection tiles")


class _Record:
    """What read_checkpoint puts in place of every object of a checkpoint's pickle but its plain
    containers: nothing is imported or run, and no tensor is read; an object's pickled state
    (a torch module's __dict__) is kept as `state`."""

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return OrderedDict if (module, name) == ("collections", "OrderedDict") else _Record

    def persistent_load(self, pid):  # tensor storages: left in the file
        return None


def read_checkpoint(path: str) -> Any:
    """The plain containers of a torch model file's pickle (torch's zip format), read without
    torch and without reading a tensor; None for a missing, unreadable or foreign file."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
            with archive.open(name) as handle:
                return _PlainUnpickler(handle).load()
    except (OSError, zipfile.BadZipFile, StopIteration, pickle.UnpicklingError, EOFError,
            AttributeError, TypeError, ValueError):
        return None


def checkpoint_arch(path: str) -> Mapping[str, Any] | None:
    """The `arch` entry of a model file written by this workflow (workflow.diffusion.checkpoint);
    None for anything else (a guided-diffusion state dict, a missing or foreign file)."""
    obj = read_checkpoint(path)
    arch = obj.get("arch") if isinstance(obj, dict) else None
    return arch if isinstance(arch, dict) else None


def detector_description(path: str) -> Mapping[str, Any] | None:
    """The model description (`yaml`: nc, scale, yaml_file, head) of an ultralytics checkpoint
    ('model', else 'ema'); None for anything else."""
    obj = read_checkpoint(path)
    if not isinstance(obj, dict):
        return None
    for key in ("model", "ema"):
        state = getattr(obj.get(key), "state", None)
        if isinstance(state, dict) and isinstance(state.get("yaml"), dict):
            return state["yaml"]
    return None


def detector_arch(description: Mapping[str, Any]) -> str | None:
    """The arch name of an ultralytics model description: its yaml file's stem ('yolov8n'), with
    the scale added when the stem has none ('yolov8' at scale n)."""
    stem = Path(str(description.get("yaml_file", ""))).stem
    if not stem:
        return None
    scale = str(description.get("scale") or "")
    if scale and not stem.rstrip("u").endswith(scale):
        stem = stem[:-1] + scale + "u" if stem.endswith("u") else stem + scale
    return stem


def check_detector_weights(arch: str, path: str) -> None:
    """A detect.weights file is an ultralytics detection checkpoint of that arch (a start of
    another architecture would only fail when its training starts). Its classes need not be
    classes.names: the detection head is rebuilt for them, the rest transferred."""
    key = f"config key 'detect.weights.{arch}'"
    if not Path(path).is_file():
        raise ValueError(f"{key}: {path} is not a file; give an ultralytics checkpoint of "
                         f"{arch} (a COCO {arch}.pt you have, or resources/demo_weights/{arch}.pt)")
    description = detector_description(path)
    if description is None:
        raise ValueError(f"{key}: {path} is not an ultralytics model file; give a checkpoint of "
                         f"{arch} (a COCO {arch}.pt you have, or resources/demo_weights/{arch}.pt)")
    found = detector_arch(description)
    head = (description.get("head") or [[None, None, None]])[-1][2]
    classes = description.get("nc")
    if head != "Detect":
        raise ValueError(f"{key}: {path} is a {head} model ({found}, {classes} classes), not a "
                         f"detector; give a detection checkpoint of {arch}")
    if found is not None and found != arch:
        raise ValueError(f"{key}: {path} holds a {found} ({classes} classes), not {arch}; give "
                         f"a {arch} checkpoint under detect.weights.{arch}, or train {found} "
                         f"(detect.archs)")


def check_base_preset(preset: str, pretrained: str | None) -> None:
    """A base model file written here records its preset: it must be diffusion.preset (a 32 px
    base cannot start a 64 px model). Checked at load, so that a dry run says so."""
    if not pretrained:
        return
    arch = checkpoint_arch(pretrained)
    if arch is not None and arch.get("preset") != preset:
        raise ValueError(f"config key 'diffusion.pretrained': {pretrained} is a base of preset "
                         f"{arch.get('preset')!r} ({arch.get('image_size')} px), but "
                         f"diffusion.preset is {preset!r}; give a base of that preset, or "
                         "diffusion.pretrained: null to train one here (rule pretrain)")


def device_ids(key: str, device: str) -> tuple[int, ...] | None:
    """The GPU ids of a detector device list ("0,1,2,3": ultralytics trains on those GPUs with
    its own DDP), or None for one device (auto | cpu | cuda | cuda:N). A list's ids are distinct
    and name the GPUs as the job sees them: a job given n GPUs sees them as 0..n-1."""
    if "," not in device and not device.isdigit():
        return None
    parts = device.split(",")
    if not all(part.isdigit() for part in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"config key '{key}': {device!r} is not a list of distinct GPU ids "
                         "such as 0,1,2,3")
    return tuple(int(part) for part in parts)


def gpu_count(key: str, device: str) -> int:
    """GPUs a detector training asks for: the length of its device list, else one."""
    ids = device_ids(key, device)
    return 1 if ids is None else len(ids)


# Maps whose entries a layered config file removes by setting them to null: the demo's
# experiments, synthetic sets and diffusion models need not be repeated to be left out.
REMOVABLE_ENTRIES = (("experiments", "runs"), ("inpaint", "sets"), ("copy_paste", "sets"),
                     ("selection", "sets"), ("diffusion", "models"))


def drop_removed_entries(config: dict) -> list[str]:
    """Delete, in place, the null entries of REMOVABLE_ENTRIES (before the schema check);
    returns their keys ('experiments.runs.augment_25')."""
    removed = []
    for section, key in REMOVABLE_ENTRIES:
        entries = (config.get(section) or {}).get(key)
        if not isinstance(entries, dict):
            continue
        for name in [name for name, value in entries.items() if value is None]:
            del entries[name]
            removed.append(f"{section}.{key}.{name}")
    return removed


def check_config_file(path: str, content: Any, sections: Iterable[str]) -> None:
    """A file given after --configfile holds config sections: Snakemake reads every following
    word as a config file, so a target typed there (an output, a JSON result) lands here."""
    sections = list(sections)
    keys = sorted(map(str, content)) if isinstance(content, dict) else []
    if not keys or not set(keys) <= set(sections):
        raise ValueError(f"--configfile {path}: not a config file (its top-level keys {keys[:4]} "
                         f"are not config sections such as data, detect); Snakemake reads every "
                         f"word after --configfile as one: put targets before --configfile, or "
                         f"after --")


def check_config(config: Mapping[str, Any]) -> None:
    """Every cross-key check on a whole (schema-valid) config."""
    classes = config["classes"]
    check_target(classes["names"], classes["target"])
    # Only the maps of the sources read: a layered file that sets data.xview: null need not
    # empty the demo's xView map (nor null it).
    for source in used_sources(config["data"]):
        check_class_map(source, classes[source], classes["names"])
    check_fractions(config["split"]["fractions"])
    tiling = config["tiling"]
    check_overlap(tiling["detect_overlap"], tiling["detect_size"])
    check_value_range(tiling["tarmac"]["value_range"])
    _check_data(config["data"])
    check_known_gsd(config["data"], tiling["gsd"])
    diffusion, inpaint = config["diffusion"], config["inpaint"]
    check_model_size(diffusion["preset"], tiling["crop_size"], tiling["detect_size"])
    check_base_preset(diffusion["preset"], diffusion["pretrained"])
    for stage in ("pretrain", "finetune"):
        check_steps(f"diffusion.{stage}.sample_steps", diffusion[stage]["sample_steps"],
                    diffusion["steps"])
    check_steps("inpaint.respacing", inpaint["respacing"], diffusion["steps"])
    check_feather(inpaint["feather"], inpaint["mask_dilation"])
    check_steps("inpaint.fast.respacing", inpaint["fast"]["respacing"], diffusion["steps"])
    masks = config["masks"]
    if masks["method"] == "sam" and not masks["sam"]["checkpoint"]:
        raise ValueError("config key 'masks.sam.checkpoint': masks.method is sam, so give the path "
                         "of a SAM checkpoint (or set masks.method to grabcut or box)")
    for name, spec in inpaint["sets"].items():
        check_member(f"inpaint.sets.{name}.model", spec["model"], diffusion["models"],
                     "diffusion.models")
        if spec["images"] != "auto":  # an auto size fills every chunk (workflow.datasets.needs)
            check_chunks_filled(name, spec["images"], inpaint["chunks"])
    _check_experiments(config)


def check_demo_gsd(dota_gsd: float | None) -> None:
    """The demo writes its DOTA scenes at data.dota.gsd (and says so in their gsd: headers)."""
    if dota_gsd is None:
        raise ValueError("config key 'data.dota.gsd': null, but data.demo writes its DOTA scenes "
                         "at that ground resolution; give it in metres per pixel (0.3 in the demo)")


# How to pick a GSD the files do not give, repeated wherever one is missing (README.md, "Your
# own data").
GSD_HINT = ("measure a plane of known size: an airliner is 30-76 m long, a light aircraft "
            "8-15 m; its length in metres / its length in pixels is the GSD (m/px)")
NULL_GSD = ("", "null", "none", "nan")  # as workflow.scenes.readers.NULL_GSD


def dota_files_without_gsd(labels: str, header_lines: int = 8) -> list[str]:
    """The DOTA label files (*.txt in `labels`) whose header gives no usable `gsd:` value
    (none, or null): read a few lines each, so that the workflow can say at load time what the
    index would stop on. A missing folder holds none (the index names it)."""
    folder = Path(labels)
    if not folder.is_dir():
        return []
    unknown = []
    # *.txt in any case, as workflow.scenes.readers.label_files
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".txt"
                       and not p.name.startswith(".") and p.is_file()):
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            head = [handle.readline() for _ in range(header_lines)]
        values = [line.split(":", 1)[1].strip().lower() for line in head
                  if line.lower().startswith("gsd:")]
        if not values or values[0] in NULL_GSD:
            unknown.append(path.name)
    return unknown


def check_known_gsd(data: Mapping[str, Any], working_gsd: float | None) -> None:
    """With tiling.gsd set, every scene needs a native GSD: xView files carry none, so
    data.xview.gsd must be given; DOTA files without a `gsd:` value need data.dota.gsd.
    Checked at load so that the message reaches the console, not only the index's log."""
    if working_gsd is None:
        return
    fix = f"; or set tiling.gsd: null to tile at native pixels. To choose a GSD, {GSD_HINT}"
    if data.get("xview") and data["xview"].get("gsd") is None:
        raise ValueError(f"config key 'data.xview.gsd': null, but tiling.gsd is {working_gsd} and "
                         f"xView files carry no GSD: give the scenes' metres per pixel{fix}")
    dota = data.get("dota")
    if dota and dota.get("gsd") is None and not data.get("demo"):
        unknown = dota_files_without_gsd(dota["labels"])
        if unknown:
            raise ValueError(f"config key 'data.dota.gsd': null, but tiling.gsd is {working_gsd} "
                             f"and {len(unknown)} label file(s) in {dota['labels']} give no gsd "
                             f"(first {unknown[0]}): give their metres per pixel{fix}")


# The only folder the demo scene generator writes into (rule demo_scenes's outputs): the
# project's own, never a user's data.
DEMO_ROOT = "resources/demo"
# What config/real.yaml leaves for the user to fill in.
FILL_IN = ("images", "labels")


def inside(path: str, folder: str) -> bool:
    """Whether `path` (relative to the working directory, or absolute) lies inside `folder`,
    both resolved (symbolic links followed): a link into a user's data is not inside."""
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def check_demo_outputs(data: Mapping[str, Any]) -> None:
    """With data.demo on, rule demo_scenes writes to data.<source>.images and .labels, and
    Snakemake deletes a job's outputs before running it: they must lie under DEMO_ROOT."""
    for source in ("xview", "dota"):
        for key in FILL_IN:
            path = str(data[source][key])
            if not inside(path, DEMO_ROOT):
                raise ValueError(
                    f"config key 'data.demo': on, so the demo generates its scenes into "
                    f"data.{source}.{key}, but that is {path}, outside the project's {DEMO_ROOT}/ "
                    f"(nothing was written). To run on your own scenes set data.demo: null "
                    f"(config/real.yaml does: --configfile config/real.yaml mine.yaml); to run "
                    f"the demo, leave data.{source} out of your file")


def check_filled_in(data: Mapping[str, Any]) -> None:
    """The paths of a source that is read: config/real.yaml ships them empty (null)."""
    empty = [f"data.{source}.{key}" for source in ("xview", "dota") if data[source]
             for key in FILL_IN if not data[source].get(key)]
    if empty:
        raise ValueError(f"config key{'s' if len(empty) > 1 else ''} {', '.join(empty)}: empty; "
                         "fill in where your scenes (images) and their labels are, in a file "
                         "of your own layered last (README.md, 'Your own data'), or set "
                         "data.<source>: null to read no scenes of that format")


def _check_data(data: Mapping[str, Any]) -> None:
    if not (data["xview"] or data["dota"]):
        raise ValueError("config key 'data': give at least one of data.xview and data.dota")
    for source in ("xview", "dota"):
        if data["demo"] and not data[source]:
            raise ValueError(f"config key 'data.{source}': data.demo writes scenes in both formats, "
                             "so give the folders it writes them to (images, labels)")
    check_filled_in(data)
    if data["demo"]:
        check_demo_outputs(data)
        check_demo_gsd(data["dota"].get("gsd"))


def _check_experiments(config: Mapping[str, Any]) -> None:
    sets = synthetic_sets(config)
    if not any(run["kind"] == "baseline" for run in config["experiments"]["runs"].values()):
        raise ValueError("config key 'experiments.runs': no run of kind baseline; it is the reference "
                         "of the AP tables and its first seed judges the synthetic planes")
    for name, run in config["experiments"]["runs"].items():
        if name in RESERVED_RUN_NAMES:
            raise ValueError(f"config key 'experiments.runs.{name}': the name is taken by "
                             f"results/detect/{{arch}}/{name}/; choose another")
        if run.get("set") is not None:
            check_member(f"experiments.runs.{name}.set", run["set"], sets,
                         "inpaint.sets, copy_paste.sets or selection.sets")
    detect = config["detect"]
    selection = config.get("selection") or {}
    if any(entry.get("threshold") is not None for entry in (selection.get("sets") or {}).values()):
        check_member("selection.gate.arch", selection["gate"]["arch"], detect["archs"], "detect.archs")
    if detect["start"] == "weights":
        missing = [a for a in detect["archs"] if a not in (detect["weights"] or {})]
        if missing:
            raise ValueError(f"config key 'detect.weights': no weights for {missing} "
                             "(detect.start is weights)")
        for arch in detect["archs"]:
            check_detector_weights(arch, detect["weights"][arch])
    elif detect["weights"] is not None:
        raise ValueError(f"config key 'detect.weights': given, but detect.start is "
                         f"{detect['start']!r}; set detect.start: weights to start from them, "
                         f"or detect.weights: null to start {detect['start']!r}")
    gpu_count("detect.train.device", detect["train"]["device"])
    if "device" in detect["pretrain"]["train"]:
        gpu_count("detect.pretrain.train.device", detect["pretrain"]["train"]["device"])
    demo = config["data"]["demo"]
    if detect["start"] == "pretrain" and demo:
        check_pretrain_seed(detect["pretrain"]["scenes"]["seed"], demo["seed"])
