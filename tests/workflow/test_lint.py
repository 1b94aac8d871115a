"""CI's style gate: `snakemake --lint` and `snakefmt --check` are clean on Snakefile and rules/.

Fix a snakefmt failure with `snakefmt Snakefile rules/` (settings in pyproject.toml's
[tool.snakefmt], when present).
"""

from __future__ import annotations

import subprocess

from tests.helpers import REPO
from tests.helpers.snakemake_run import VENV_BIN, copy_workflow, snakemake, tail



def test_snakemake_lint_is_clean(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "--lint", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Congratulations" in output, tail(output, 80)


def test_snakefmt_check_is_clean():
    result = subprocess.run(
        [str(VENV_BIN / "snakefmt"), "--check", "--diff", "Snakefile", "rules/"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert (
        result.returncode == 0
    ), f"snakefmt would reformat:\n{tail(result.stdout + result.stderr, 80)}"
