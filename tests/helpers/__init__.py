"""What the tests share besides fixtures (tests/conftest.py): the repository root, the rules read
as text (smk_rules), the workflow run in a private copy (snakemake_run), a SLURM cluster on
loopback (slurm_cluster), the rerun table's dry runs (rerun_table) and the inputs each stage's
tests draw (*_fixtures)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
