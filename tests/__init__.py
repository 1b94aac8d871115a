"""The tests, one folder per stage of the workflow package (tests/<stage>/), tests/workflow for
the Snakemake-level ones, tests/helpers for what they share. A package, so that the repository
root (this checkout's `workflow`) comes first on sys.path and `tests.helpers` imports alike
from every folder."""
