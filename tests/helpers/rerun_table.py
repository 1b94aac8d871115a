"""What a change of each config key reruns, read from Snakemake dry runs: the rerun table of
config/README.md, and the dry-run machinery of the rerun tests.

    python -m tests.helpers.rerun_table            # print the table for the demo config
    python -m tests.helpers.rerun_table --write    # write it into config/README.md
    python -m tests.helpers.rerun_table --check    # exit 1 when config/README.md says otherwise

How the table is made:
1. The workflow is copied to a scratch folder (tests/helpers/snakemake_run.copy_workflow). Every job of
   the demo config's DAG gets its outputs as empty placeholders, then `snakemake --touch` marks
   them finished: that records the metadata Snakemake compares to decide a rerun (params,
   shell command, input files, code, software env) as a real run does, in seconds instead of
   the demo's 20 minutes. No input function reads a file, so placeholders shape nothing.
2. Every key of config/schema.yaml (the paths config/README.md documents, `<name>` fields for
   one entry of their map) is changed to another value that the schema and the cross-key checks
   accept (CHANGES, or a rule of thumb for its type), in a config file merged over the demo's
   as a user's `--configfile change.yaml` is.
3. One Python process dry-runs every change through the Snakemake API (a CLI call per key
   would cost seconds of start-up each); the jobs it schedules are what that change reruns.

tests/workflow/test_rerun_table.py builds the table the same way and fails when config/README.md
disagrees; tests/workflow/test_reruns.py dry-runs changes on the finished tiny run with `scheduled`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import importlib.util
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.helpers import REPO
from tests.helpers.config_schema import SCHEMA, resolve, schema_keys
from tests.helpers.snakemake_run import copy_workflow


README = REPO / "config" / "README.md"
DEMO = ("config/config.yaml",)
START, END = "<!-- rerun table: start -->", "<!-- rerun table: end -->"
# A change's detector weights, read at load (their architecture is checked): another copy of
# the demo's, in the workflow copy and in the folder the changes are validated in.
OTHER_WEIGHTS = "resources/other/yolov8n.pt"
# Inputs that some changes point at; a dry run needs them to exist, not to be valid.
PLACEHOLDERS = ("resources/other/base.pt", "resources/other/resnet18.pth", "resources/other/train.txt",
                "resources/other/val.txt", "resources/other/test.txt")

# Changes that no rule of thumb finds: the override merged over the demo config, and the text
# shown in the table. A key not listed gets the next enum member, the negated boolean, +1 for an
# integer, x2 (or +-0.1 for a fraction) for a number. A `<name>` key given a `value` changes the
# field of the first entry that has it.
CHANGES: dict[str, tuple[dict | None, Any, str]] = {}


def change(key: str, override: dict | None = None, text: str | None = None, value: Any = None):
    """Register CHANGES[key]: an `override` (or a `value` at the key's path) and its text."""
    CHANGES[key] = (override, value, text if text is not None else shown(value))


def nest(key: str, value: Any) -> dict:
    """{'a': {'b': value}} for key 'a.b'."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def shown(value: Any) -> str:
    """A value as YAML flow text, on one line."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip().removesuffix("\n...")


change("data.xview.images", value="resources/demo/xview/images")
change("data.xview.labels", value="resources/demo/xview/labels.geojson")
change("data.dota.images", value="resources/demo/dota/png")
change("data.dota.labels", value="resources/demo/dota/labels")
change("data.xview.bands", value=[3, 2, 1])
change("data.dota.bands", value=[3, 2, 1])
change("data.xview.stretch", value=[2, 98])
change("data.dota.stretch", value=[2, 98])
change("tiling.gsd", value=0.6)
change("classes.names", value=["plane", "car", "truck", "boat", "other"])
change("classes.target", value="car")
change("classes.xview", value={15: "plane"}, text="`15: plane` added")
change("classes.dota", value={"helicopter": "plane"}, text="`helicopter: plane` added")
change("split.fractions.train", {"split": {"fractions": {"train": 0.5, "val": 0.3}}}, "0.5 (val 0.3)")
change("split.fractions.val", {"split": {"fractions": {"val": 0.1, "test": 0.3}}}, "0.1 (test 0.3)")
SPLIT_LISTS = {"split": {"lists": {name: f"resources/other/{name}.txt" for name in ("train", "val", "test")}}}
for key in ("split.lists", "split.lists.train", "split.lists.val", "split.lists.test"):
    change(key, SPLIT_LISTS, "lists given")
change("split.fractions.test", {"split": {"fractions": {"test": 0.3, "train": 0.5}}}, "0.3 (train 0.5)")
# the shipped base is demo32: a demo64 model needs a base of its own (diffusion.pretrained null)
change("tiling.crop_size", {"tiling": {"crop_size": 64},
                            "diffusion": {"preset": "demo64", "pretrained": None}},
       "64 (preset demo64, base trained here)")
change("tiling.tarmac.value_range", value=[60, 200])
change("masks.method", value="box")
change("masks.sam.checkpoint", value="resources/other/sam_vit_b_01ec64.pth")
change("masks.canny_thresholds", value=[50, 150])
change("masks.area_fraction_range", value=[0.1, 0.9])
change("diffusion.preset", {"diffusion": {"preset": "demo64", "pretrained": None},
                            "tiling": {"crop_size": 64}},
       "demo64 (crop_size 64, base trained here)")
change("diffusion.pretrained", value="resources/other/base.pt")
change("diffusion.pretrain.init", value="resources/demo_weights/demo32_base.pt")
change("diffusion.pretrain.ema", value=0.999)
change("diffusion.finetune.ema", value=0.999)
change("diffusion.models", value={"mask": "mask"}, text="`mask: mask` added")
change("diffusion.cherry_picker.weights", value="resources/other/resnet18.pth")
change("inpaint.sets", value={"random_canny": {"model": "canny", "context": "random", "images": 24,
                                               "candidates": 1}}, text="a set `random_canny` added")
change("inpaint.sets.<name>.model", value="uncond")
change("inpaint.sets.<name>.images", value=121)
change("copy_paste.sets.<name>.images", value=121)
change("experiments.runs", value={"ablation_75": {"kind": "ablation", "keep": 75}},
       text="a run `ablation_75` added")
change("experiments.runs.<name>.kind",
       {"experiments": {"runs": {"ablation_50": {"kind": "replacement", "set": "tarmac_canny"}}}},
       "`ablation_50`: replacement (set tarmac_canny)")
change("experiments.runs.<name>.keep", value=30)
# the demo runs no augmentation (config/sweep.yaml does): a change of `add` is one run added
change("experiments.runs.<name>.add",
       {"experiments": {"runs": {"augment_25": {"kind": "augmentation", "add": 25, "set": "tarmac_canny"}}}},
       "a run `augment_25` added")
change("experiments.runs.<name>.set",
       {"experiments": {"runs": {"replacement_50": {"set": "random_uncond"}}}},
       "`replacement_50`: random_uncond")
change("copy_paste.sets", value={"random_paste": {"context": "random", "images": 24}},
       text="a set `random_paste` added")
change("selection.gate.arch", value="yolov5nu")
# the demo selects no set: a change of an entry's field is one set added
MIXED = {"selection": {"sets": {"tarmac_mix": {"sources": ["tarmac_canny", "tarmac_paste"], "images": 60}}}}
for key in ("selection.sets", "selection.sets.<name>.sources", "selection.sets.<name>.images"):
    change(key, MIXED, "a combined set `tarmac_mix` added")
change("selection.sets.<name>.threshold",
       {"selection": {"sets": {"tarmac_gated": {"sources": ["tarmac_canny"], "images": 20, "threshold": 0.25}}}},
       "a gated set `tarmac_gated` added")
change("experiments.runs.<name>.focal_gamma", value=1.5)
change("detect.archs", value=["yolov8n"])
change("detect.seeds", value=[0, 1, 2, 3])
change("detect.start", {"detect": {"start": "scratch", "weights": None}}, "scratch (weights null)")
change("detect.weights", value={"yolov8n": OTHER_WEIGHTS}, text="yolov8n's changed")
change("detect.pretrain.train", value={"epochs": 20}, text="`epochs: 20`")
change("detect.pretrain.split.fractions.train",
       {"detect": {"pretrain": {"split": {"fractions": {"train": 0.7, "val": 0.2}}}}}, "0.7 (val 0.2)")
change("detect.pretrain.split.fractions.val",
       {"detect": {"pretrain": {"split": {"fractions": {"val": 0.2, "train": 0.7}}}}}, "0.2 (train 0.7)")
change("detect.pretrain.split.fractions.test",
       {"detect": {"pretrain": {"split": {"fractions": {"test": 0.2, "train": 0.7}}}}}, "0.2 (train 0.7)")
change("detect.train.imgsz", value=160)
change("detect.train.device", value="cpu")
change("detect.train.focal_gamma", value=1.5)
change("detect.train.ema_decay", value=0.95)

# What the table says beside a key: what its effect depends on, or why it reruns nothing.
NOTES = [
    (r"data\.(xview|dota)\.", "while `data.demo` is set, outputs of `demo_scenes`"),
    (r"masks\.sam\.", "read only when `masks.method` is `sam`"),
    (r"selection\.gate\.", "read only by gated sets (a `threshold`; none in the demo)"),
    (r"masks\.grabcut_iterations", "read only when `masks.method` is `grabcut`"),
    (r"masks\.area_fraction_range", "not read when `masks.method` is `box`"),
    (r"diffusion\.\w+\.checkpoint_every", "how a training runs (command line): reruns nothing"),
    (r"diffusion\.pretrain\.sample_", "`pretrain_grid` only: the base's grid, trained here or given"),
    (r"diffusion\.pretrain\.", "only when `diffusion.pretrained` is null: then `pretrain` and after"),
    (r"diffusion\.finetune\.sample_", "a picture: only the grids"),
    (r"inpaint\.(respacing|jump_length|jump_n_sample)", "read only when `inpaint.sampler` is `repaint`"),
    (r"inpaint\.fast\.", "read only when `inpaint.sampler` is `fast`"),
    (r"inpaint\.guidance_scale", "read only by sets of unconditional models (`random_uncond`)"),
    (r"experiments\.seed", "every dataset draws its kept tiles without a target with it"),
    (r"tiling\.apron_share", "read only when a set's context is `apron`"),
    (r"detect\.weights", "read only when `detect.start` is `weights`"),
    (r"detect\.pretrain\.", "read only when `detect.start` is `pretrain`"),
    (r"detect\.train\.(device|workers)", "where and how a training runs (command line): reruns nothing"),
    (r"detect\.train\.focal_alpha", "read only where `focal_gamma` > 0 (default or an experiment's)"),
    (r"detect\.train\.epoch_size", "not the pre-training's (its epochs show its own images)"),
    (r"detect\.train\.", "also the pre-training's when `detect.start` is `pretrain`, unless overridden"),
]


def load_checks():
    """workflow/core/checks.py, loaded by path as rules/validate.smk does."""
    spec = importlib.util.spec_from_file_location("checks", REPO / "workflow" / "core" / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKS = load_checks()


def merged(config: dict, override: dict) -> dict:
    """`override` merged over a copy of `config` as Snakemake merges config files."""
    from snakemake.utils import update_config

    result = copy.deepcopy(config)
    update_config(result, copy.deepcopy(override))
    return result


def add_other_weights(root: Path) -> None:
    (root / OTHER_WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "resources/demo_weights/yolov8n.pt", root / OTHER_WEIGHTS)


@functools.cache
def validation_dir() -> Path:
    """Where the load-time checks of a change run: the repository's resources and OTHER_WEIGHTS,
    as the workflow copy holds them."""
    root = Path(tempfile.mkdtemp(prefix="rerun_table_checks_"))
    add_other_weights(root)
    (root / "resources/demo_weights").symlink_to(REPO / "resources/demo_weights")
    return root


def validate(config: dict) -> None:
    """The load-time validation of rules/validate.smk: the schema, then the cross-key checks
    (which read the files a config names, relative to the working directory)."""
    jsonschema.validate(config, SCHEMA)
    with contextlib.chdir(validation_dir()):
        CHECKS.check_config(config)


# --- the keys and their changes ---------------------------------------------------------------


def entry_name(config: dict, key: str) -> str:
    """The entry of the map a `<name>` key changes: the first that has the field (any for an
    optional field no entry has)."""
    head, field = key.split(".<name>.")
    entries = config
    for part in head.split("."):
        entries = entries[part]
    having = [name for name, entry in entries.items() if field in entry]
    return (having or list(entries))[0]


def value_at(config: dict, key: str) -> Any:
    value = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def thumb_value(node: dict, value: Any, key: str) -> Any:
    """Another value of a key by its type: next enum member, not, +1, x2 or +-0.1."""
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "enum" in node:
        members = node["enum"]
        return members[(members.index(value) + 1) % len(members)] if value in members else members[0]
    if "boolean" in types:
        return not value if value is not None else True
    if "integer" in types:
        step = node.get("multipleOf", 1)
        base = value if value is not None else node.get("minimum", 0)
        if "maximum" in node and base + step > node["maximum"]:
            return base - step
        return base + step
    if "number" in types and value is not None:
        if node.get("maximum") == 1:
            return round(value + 0.1 if value <= 0.9 else value - 0.1, 6)
        return value * 2 if value else 1.0
    raise ValueError(f"no rule of thumb changes {key} ({value!r}); add it to CHANGES")


@dataclass(frozen=True)
class Change:
    key: str  # the documented path (`<name>` for a map entry's field)
    override: dict  # merged over the base config
    text: str  # the new value as the table shows it


def key_changes(config: dict) -> list[Change]:
    """One valid change per documented key of `config` (each checked as the workflow would)."""
    changes, seen = [], set()
    for key, node in schema_keys(SCHEMA["properties"]):
        if key in seen:
            continue
        seen.add(key)
        concrete, entry = key, ""
        if ".<name>." in key and CHANGES.get(key, (None,))[0] is None:  # an override names its own entry
            entry = entry_name(config, key)
            concrete = key.replace("<name>", entry)
        override, value, text = CHANGES.get(key, (None, None, None))
        if override is None:
            if text is None:
                value = thumb_value(node, value_at(config, concrete), key)
                text = shown(value)
            override = nest(concrete, value)
            text = f"`{entry}`: {text}" if entry else text
        try:
            validate(merged(config, override))
        except (jsonschema.ValidationError, ValueError) as error:
            message = getattr(error, "message", str(error))
            raise ValueError(f"the change of {key} ({text}) is not valid: {message}; "
                             "give another in CHANGES") from None
        changes.append(Change(key, override, text))
    return changes


# --- finished state and dry runs --------------------------------------------------------------


@contextlib.contextmanager
def workflow_api(workdir: Path, configfiles):
    """The Snakemake API's workflow of `workdir` with `configfiles`, quiet, on one core."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, Quietness, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        yield api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[workdir / f for f in configfiles]),
            snakefile=workdir / "Snakefile",
            workdir=workdir,
        )


def dag_jobs(workdir: Path, configfiles, executor: str = "dryrun", forceall: bool = False):
    """Run Snakemake in-process (`executor` dryrun or touch): the jobs it schedules (rule, output
    files, which are directories), and the rules in definition order."""
    from snakemake.settings.types import DAGSettings

    updated: list[str] = []
    with workflow_api(workdir, configfiles) as api:
        api.dag(DAGSettings(forceall=forceall)).execute_workflow(executor=executor, updated_files=updated)
        workflow = api._workflow  # the parsed workflow of this run (no public accessor)
        changed = set(updated)
        jobs = [(job.rule.name, [(str(f), f.is_directory) for f in job.output])
                for job in workflow.dag.jobs if set(job.output) & changed]
        order = [rule.name for rule in workflow.rules]
    return jobs, order


def scheduled(workdir: Path, configfiles) -> dict[str, int]:
    """Jobs per rule that a dry run with `configfiles` schedules in `workdir` (rule all left out)."""
    jobs, _ = dag_jobs(workdir, configfiles)
    return dict(Counter(rule for rule, _ in jobs))


@dataclass(frozen=True)
class Job:
    rule: str
    wildcards: tuple[tuple[str, str], ...]


def job_graph(workdir: Path, configfiles) -> dict[Job, set[Job]]:
    """Every job of the DAG of `configfiles` -> the jobs that read its outputs."""
    from snakemake.settings.types import DAGSettings

    with workflow_api(workdir, configfiles) as api:
        api.dag(DAGSettings(forceall=True)).execute_workflow(executor="dryrun")
        dag = api._workflow.dag

        def key(job) -> Job:
            return Job(job.rule.name, tuple(sorted((k, str(v)) for k, v in job.wildcards_dict.items())))

        consumers: dict[Job, set[Job]] = {key(job): set() for job in dag.jobs}
        for job in dag.jobs:
            for dependency in dag.dependencies[job]:
                consumers[key(dependency)].add(key(job))
    return consumers


def select(graph: dict[Job, set[Job]], selector: str) -> set[Job]:
    """The jobs of `rule` or `rule[wildcard=value,...]`."""
    rule, _, rest = selector.partition("[")
    wanted = dict(pair.split("=") for pair in rest.rstrip("]").split(",")) if rest else {}
    return {job for job in graph if job.rule == rule and wanted.items() <= dict(job.wildcards).items()}


def downstream(graph: dict[Job, set[Job]], selectors) -> dict[str, int]:
    """Jobs per rule that rerun when the selected jobs rerun: those and every job they feed (what
    `snakemake -n --forcerun` would schedule), rule `all` left out."""
    todo = [job for selector in selectors for job in select(graph, selector)]
    seen: set[Job] = set()
    while todo:
        job = todo.pop()
        if job not in seen:
            seen.add(job)
            todo.extend(graph[job])
    return dict(Counter(job.rule for job in seen if job.rule != "all"))


def finished_state(dest: Path, configfiles=DEMO) -> tuple[Path, list[str]]:
    """A copy of the workflow in `dest` where every job of `configfiles` is finished (placeholder
    outputs marked done by `--touch`); returns it and the rules in definition order."""
    workdir = copy_workflow(dest)
    for name in PLACEHOLDERS:
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).touch()
    add_other_weights(workdir)
    jobs, order = dag_jobs(workdir, configfiles, forceall=True)
    for _, outputs in jobs:
        for name, is_dir in outputs:
            path = workdir / name
            if is_dir:
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
    dag_jobs(workdir, configfiles, executor="touch", forceall=True)
    left = scheduled(workdir, configfiles)
    if left:
        raise RuntimeError(f"the touched state in {workdir} still schedules {left}")
    return workdir, order


def rerun_rows(workdir: Path, changes: list[Change], configfiles=DEMO) -> list[tuple[Change, dict]]:
    """(change, jobs per rule it schedules) for every change, on the finished `workdir`."""
    rows = []
    for item in changes:
        path = workdir / "change.yaml"
        path.write_text(yaml.safe_dump(item.override, sort_keys=False))
        rows.append((item, scheduled(workdir, [*configfiles, "change.yaml"])))
    return rows


# --- the table --------------------------------------------------------------------------------


def note(key: str) -> str:
    return next((text for pattern, text in NOTES if re.match(pattern, key)), "")


def render(rows: list[tuple[Change, dict]], order: list[str]) -> str:
    """The markdown table: key, the change, the jobs it reruns per rule (in pipeline order)."""
    position = {name: i for i, name in enumerate(order)}
    lines = ["| key | changed to | reruns (jobs per rule) | jobs | note |", "|---|---|---|---|---|"]
    for item, counts in rows:
        reruns = ", ".join(f"`{rule}` {n}" for rule, n in
                           sorted(counts.items(), key=lambda kv: position.get(kv[0], len(order))))
        text = item.text.replace("|", "\\|")
        lines.append(f"| `{item.key}` | {text} | {reruns or 'nothing'} | {sum(counts.values())} | "
                     f"{note(item.key)} |")
    return "\n".join(lines) + "\n"


def documented_table(text: str) -> str:
    """The table between the markers of config/README.md."""
    if START not in text or END not in text:
        raise ValueError(f"config/README.md has no {START} ... {END} section")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def build(scratch: Path) -> str:
    """The rerun table of the demo config, made in `scratch`."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    changes = key_changes(config)
    workdir, order = finished_state(scratch)
    return render(rerun_rows(workdir, changes), order)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write the table into config/README.md")
    action.add_argument("--check", action="store_true", help="exit 1 if config/README.md differs")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="rerun_table_"))
    try:
        table = build(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = README.read_text()
    if args.write:
        before, rest = text.split(START, 1)
        README.write_text(f"{before}{START}\n{table}{END}{rest.split(END, 1)[1]}")
    elif args.check:
        if documented_table(text) != table:
            print("config/README.md's rerun table is out of date: python -m tests.helpers.rerun_table --write")
            return 1
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
