"""Only what a change affects reruns: checked with dry runs against the finished tiny workflow.

The tiny configuration trains its own base U-Net and detectors (diffusion.pretrained null,
detect.start pretrain), so its DAG holds the rules the demo's leaves out (pretrain,
pretrain_grid, detect_pretrain_data, detect_pretrain); the rerun table of config/README.md,
made on the demo's DAG, is checked by tests/workflow/test_rerun_table.py. The dry runs go through the
Snakemake API in this process (tests/helpers/rerun_table.py), a fraction of a second each.

The expected jobs of a change are what `snakemake -n --forcerun <jobs>` would schedule (read
from one listing of the DAG): the jobs that read the changed value or module, and every job
downstream of them. A change must schedule exactly those jobs (same rules, same job counts): a
parameter that stopped reaching its rule through `params:` schedules nothing and fails; a
value passed to a job that does not need it schedules too much and fails.

How to add a case (one line each):
- PARAM_CHANGES: `(config override, {the jobs that read the changed value})`, jobs given as
  `rule` (all its jobs) or `rule[wildcard=value]`; an empty set: the change reruns nothing. Pick
  a value that is valid for the schema and the cross-checks and that does not change the DAG's
  shape (not a number of chunks, seeds or experiments). Entries naming a rule that does not
  exist yet fail: add them when the rule lands.
- Module changes need no entry: every module a rule runs (`python -m workflow.x`), and one
  library module of each stage (LIBRARY_MODULES), is edited in turn, and the rules that run it
  or import it (transitively) must rerun. For that, each rule lists its code as input:
  `code=get_code("workflow.x")` (rules/common.smk).
"""

from __future__ import annotations

import os

import pytest
import yaml

from tests.helpers.rerun_table import downstream, job_graph, scheduled, select
from tests.helpers.smk_rules import importers, read_rules
from tests.helpers.snakemake_run import TINY
from workflow.core.codegraph import module_file

pytestmark = pytest.mark.slow
CONFIGS = TINY[1:]  # the --configfile files of the tiny run

# (config override merged over the tiny config, jobs that read the changed value)
PARAM_CHANGES = [
    ({"split": {"seed": 7}}, {"index"}),
    # tiling.gsd reaches the index (boxes and sizes at the working GSD), oversize the crops only.
    ({"tiling": {"gsd": 0.6}}, {"index"}),
    ({"tiling": {"oversize": "skip"}}, {"crops"}),
    # the pre-training data reads data.demo.seed nowhere (the seeds' difference is checked at load)
    ({"data": {"demo": {"seed": 5}}}, {"demo_scenes", "index"}),
    # detect.pretrain.tiling sets the pre-training scenes' own detect_size and detect_overlap.
    ({"tiling": {"detect_overlap": 8}}, {"detect_tiles"}),
    ({"tiling": {"background_stride": 96}}, {"background_tiles"}),
    ({"masks": {"grabcut_iterations": 3}}, {"mask_chunk", "mask_merge"}),
    ({"masks": {"contact_sheet_planes": 12}}, {"mask_contact_sheet"}),
    ({"diffusion": {"pretrain": {"lr": 0.0001}}}, {"pretrain"}),
    ({"diffusion": {"finetune": {"lr": 0.0001}}}, {"finetune"}),
    ({"diffusion": {"size_classifier": {"lr": 0.0001}}}, {"size_classifier"}),
    ({"diffusion": {"cherry_picker": {"lr": 0.002}}}, {"cherry_picker"}),
    ({"inpaint": {"seed": 3}}, {"inpaint_chunk"}),
    # every dataset draws the tiles without a target it keeps with it
    ({"experiments": {"seed": 3}}, {"dataset"}),
    # detect.pretrain.train overrides lr0 for the pre-training, not momentum.
    ({"detect": {"train": {"lr0": 0.003}}}, {"detect_train", "detect_learning_curve"}),
    ({"detect": {"train": {"momentum": 0.9}}}, {"detect_train", "detect_pretrain"}),
    ({"detect": {"train": {"class_aware": True}}}, {"detect_train", "detect_pretrain"}),
    ({"detect": {"pretrain": {"train": {"epochs": 2}}}}, {"detect_pretrain"}),
    # The report has no parameter of its own (its runs and focal_gamma also feed the datasets
    # and trainings); the module-change test covers it.
    # The rows of issue 14: a change reruns exactly the jobs whose results it changes.
    ({"masks": {"sam": {"batch_size": 4}}}, set()),  # the tiny bank uses grabcut
    ({"diffusion": {"finetune": {"sample_grid": 3}}}, {"finetune_grid"}),
    ({"diffusion": {"pretrain": {"sample_steps": 1}}}, {"pretrain_grid"}),
    ({"inpaint": {"fast": {"respacing": 2}}}, set()),  # the sampler is repaint
    ({"inpaint": {"jump_length": 1}}, {"inpaint_chunk"}),
    ({"inpaint": {"guidance_scale": 1.0}}, {"inpaint_chunk[set=random_uncond]"}),
    ({"detect": {"train": {"focal_alpha": 0.5}}}, set()),  # focal_gamma is 0
    ({"detect": {"train": {"device": "cpu", "workers": 1}}}, set()),
    ({"diffusion": {"finetune": {"checkpoint_every": 2}}}, set()),
    ({"diffusion": {"cherry_picker": {"iterations": 3}}}, {"cherry_picker"}),
    ({"experiments": {"runs": {"ablation_50": {"focal_gamma": 1.0}}}},
     {"detect_train[experiment=ablation_50]"}),
]
# One library module of each stage besides the commands (which are all edited): the rules whose
# code closure holds it rerun, and no others (workflow/detect/params.py: none, it is params).
LIBRARY_MODULES = [
    "workflow.core.io",
    "workflow.scenes.readers",
    "workflow.tiles.windows",
    "workflow.bank.edges",
    "workflow.diffusion.unet",
    "workflow.inpaint.repaint",
    "workflow.datasets.experiments",
    "workflow.detect.params",
    "workflow.report.tables",
]
RULE_MODULES = sorted({module for rule in read_rules().values() for module in rule.modules})


def change_id(change) -> str:
    def flatten(value, prefix=""):
        if isinstance(value, dict):
            return ",".join(flatten(v, f"{prefix}{k}.") for k, v in value.items())
        return f"{prefix[:-1]}={value}"

    return flatten(change) if isinstance(change, dict) else ""


@pytest.fixture(scope="module")
def tiny_graph(tiny_workflow):
    return job_graph(tiny_workflow, CONFIGS)


def test_complete_run_schedules_nothing(tiny_workflow):
    assert scheduled(tiny_workflow, CONFIGS) == {}


@pytest.mark.parametrize("override, jobs", PARAM_CHANGES, ids=change_id)
def test_changed_parameter_reruns_its_stage_and_downstream(
    tiny_workflow, tiny_graph, tmp_path, override, jobs
):
    empty = [selector for selector in jobs if not select(tiny_graph, selector)]
    assert not empty, f"PARAM_CHANGES names jobs that do not exist: {sorted(empty)}"
    override_file = tmp_path / "override.yaml"
    override_file.write_text(yaml.safe_dump(override))
    expected = downstream(tiny_graph, jobs)
    actual = scheduled(tiny_workflow, [*CONFIGS, str(override_file)])
    assert actual == expected, (
        f"changing {change_id(override)} should rerun {sorted(jobs) or 'nothing'} and what depends "
        f"on them.\nexpected jobs per rule: {expected}\nscheduled: {actual}"
    )


@pytest.mark.parametrize("module", RULE_MODULES + LIBRARY_MODULES)
def test_changed_module_reruns_its_stage_and_downstream(tiny_workflow, tiny_graph, module):
    rules = importers(module, read_rules(tiny_workflow / "rules"), tiny_workflow)
    path = module_file(tiny_workflow, module)
    text, stat = path.read_text(), path.stat()
    expected = downstream(tiny_graph, rules)
    try:
        path.write_text(text + "\n# edited by tests/workflow/test_reruns.py\n")
        actual = scheduled(tiny_workflow, CONFIGS)
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert actual == expected, (
        f"editing {module} should rerun {sorted(rules) or 'nothing'} (the rules that run or import "
        f"it) and what depends on them; does each rule list `code=get_code(...)` as input?\n"
        f"expected jobs per rule: {expected}\nscheduled: {actual}"
    )
