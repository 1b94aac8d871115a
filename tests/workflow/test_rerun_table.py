"""config/README.md's rerun table is what the DAG does, for every key of the schema.

tests/helpers/rerun_table.py makes a finished demo run (placeholders marked done by `snakemake
--touch`), changes each key to another valid value and dry-runs it through the Snakemake API; the
table it renders must be the README's (regenerate it with `python -m tests.helpers.rerun_table
--write` after a change that moves a key's effect, and read the diff: it is what users will see).
The rows of issue 14 are pinned here as well, so that regenerating the table cannot hide a
regression.
"""

from __future__ import annotations

import difflib

import pytest
import yaml

from tests.helpers import rerun_table
from tests.helpers.config_schema import schema_keys

pytestmark = pytest.mark.slow

# key -> jobs per rule its change must rerun under the demo config (issue 14's table, and the
# keys it named as exact already)
ISSUE_ROWS = {
    "masks.sam.batch_size": {},  # the method is grabcut
    "diffusion.finetune.sample_grid": {"finetune_grid": 2},
    "diffusion.finetune.sample_steps": {"finetune_grid": 2},
    "diffusion.pretrain.sample_steps": {"pretrain_grid": 1},  # the grid of the base the demo loads
    "inpaint.fast.respacing": {},  # the sampler is repaint
    # only the unconditional set random_uncond reads it, and no experiment uses that set
    "inpaint.guidance_scale": {"inpaint_chunk": 2, "inpaint_merge": 1, "synthetic_quality": 1},
    "detect.train.focal_alpha": {},  # focal_gamma is 0 everywhere
    "detect.train.device": {},
    "detect.train.workers": {},
    "diffusion.finetune.checkpoint_every": {},
    "diffusion.cherry_picker.iterations": {"cherry_picker": 1, "inpaint_chunk": 2, "inpaint_merge": 1,
                                           "synthetic_quality": 1},
    "masks.contact_sheet_planes": {"mask_contact_sheet": 1},
    "detect.seeds": {"detect_train": 14, "detect_report": 1},  # a fourth seed: its trainings (7 x 2)
}


@pytest.fixture(scope="module")
def demo_rows(tmp_path_factory):
    config = yaml.safe_load((rerun_table.REPO / "config" / "config.yaml").read_text())
    workdir, order = rerun_table.finished_state(tmp_path_factory.mktemp("reruns"))
    return rerun_table.rerun_rows(workdir, rerun_table.key_changes(config)), order


def test_every_documented_key_has_a_change():
    config = yaml.safe_load((rerun_table.REPO / "config" / "config.yaml").read_text())
    changed = {change.key for change in rerun_table.key_changes(config)}
    assert changed == {path for path, _ in schema_keys()}


def test_the_issues_rows_rerun_what_they_should(demo_rows):
    rows, _ = demo_rows
    found = {change.key: counts for change, counts in rows}
    wrong = {key: found[key] for key, expected in ISSUE_ROWS.items() if found[key] != expected}
    assert not wrong, f"reruns differ from issue 14's: {wrong}"


def test_readme_table_is_the_dags(demo_rows):
    rows, order = demo_rows
    table = rerun_table.render(rows, order)
    documented = rerun_table.documented_table(rerun_table.README.read_text())
    diff = "\n".join(difflib.unified_diff(documented.splitlines(), table.splitlines(),
                                          "config/README.md", "the DAG", lineterm="", n=0))
    assert documented == table, (
        "config/README.md's rerun table differs from what the dry runs schedule; run "
        f"`python -m tests.helpers.rerun_table --write` and check the diff:\n{diff}"
    )
