"""Only what a change affects reruns: checked with dry runs against the finished tiny workflow.

The expected jobs of a change are what `snakemake -n --forcerun <rules>` would schedule (read
from one listing of the DAG): the rules that read the changed value or module, and every job
downstream of them. A change must
schedule exactly those jobs (same rules, same job counts): a parameter that stopped reaching
its rule through `params:` schedules nothing and fails; a section passed to a rule that does
not need it schedules too much and fails.

How to add a stage (one line each):
- PARAM_CHANGES: `(config override, {rules that read the changed value})`. Pick a value that is
  valid for the schema and the cross-checks and that does not change the DAG's shape (not a
  number of chunks, seeds or experiments), and one that every job of those rules reads (not a
  key of a single inpainting set, say): the expected jobs rerun all jobs of the listed rules.
  Entries naming a rule that does not exist yet fail: add them when the rule lands.
- Module changes need no entry: every module a rule runs (`python -m workflow.x`) is edited in
  turn, and the rules that run it or import it (transitively) must rerun. For that, each rule
  lists its code as input: `code=get_code("workflow.x")` (rules/common.smk).
"""

from __future__ import annotations

import os

import pytest
import yaml
from smk_rules import importers, module_file, read_rules
from snakemake_run import TINY, downstream_counts, job_graph, scheduled

pytestmark = pytest.mark.slow

# (config override merged over the tiny config, rules that read the changed value)
PARAM_CHANGES = [
    ({"split": {"seed": 7}}, {"index"}),
    # tiling.gsd reaches the index (boxes and sizes at the working GSD), oversize the crops only.
    ({"tiling": {"gsd": 0.6}}, {"index"}),
    ({"tiling": {"oversize": "skip"}}, {"crops"}),
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
    ({"experiments": {"seed": 3}}, {"dataset"}),
    # detect.pretrain.train overrides lr0 for the pre-training, not momentum.
    ({"detect": {"train": {"lr0": 0.003}}}, {"detect_train"}),
    ({"detect": {"train": {"momentum": 0.9}}}, {"detect_train", "detect_pretrain"}),
    ({"detect": {"train": {"class_aware": True}}}, {"detect_train", "detect_pretrain"}),
    ({"detect": {"pretrain": {"train": {"epochs": 2}}}}, {"detect_pretrain"}),
    # The report has no parameter of its own (its runs and focal_gamma also feed the datasets
    # and trainings); the module-change test covers it.
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
    return job_graph(tiny_workflow, *TINY)


def test_complete_run_schedules_nothing(tiny_workflow):
    assert scheduled(tiny_workflow, *TINY) == {}


@pytest.mark.parametrize("override, rules", PARAM_CHANGES, ids=change_id)
def test_changed_parameter_reruns_its_stage_and_downstream(
    tiny_workflow, tiny_graph, tmp_path, override, rules
):
    unknown = rules - set(read_rules())
    assert not unknown, f"PARAM_CHANGES names rules that do not exist: {sorted(unknown)}"
    override_file = tmp_path / "override.yaml"
    override_file.write_text(yaml.safe_dump(override))
    expected = downstream_counts(tiny_graph, rules)
    actual = scheduled(tiny_workflow, *TINY, str(override_file))
    assert actual == expected, (
        f"changing {change_id(override)} should rerun {sorted(rules)} and what depends on "
        f"them.\nexpected jobs per rule: {expected}\nscheduled: {actual}"
    )


@pytest.mark.parametrize("module", RULE_MODULES)
def test_changed_module_reruns_its_stage_and_downstream(tiny_workflow, tiny_graph, module):
    rules = importers(module, read_rules(tiny_workflow / "rules"), tiny_workflow)
    path = module_file(module, tiny_workflow)
    text, stat = path.read_text(), path.stat()
    expected = downstream_counts(tiny_graph, rules)
    try:
        path.write_text(text + "\n# edited by tests/test_reruns.py\n")
        actual = scheduled(tiny_workflow, *TINY)
    finally:
        path.write_text(text)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert actual == expected, (
        f"editing {module} should rerun {sorted(rules)} (the rules that run or import it) and "
        f"what depends on them; does each rule list `code=get_code(...)` as input?\n"
        f"expected jobs per rule: {expected}\nscheduled: {actual}"
    )
