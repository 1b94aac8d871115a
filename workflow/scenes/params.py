"""The config values each scenes job reads: the `params:` of rules/scenes.smk.

Snakemake reruns a job when its params change, so each job gets the keys its result depends on
and no others (config/README.md, "Reruns"): the demo scenes read the `data` section; the index
reads `data`, `classes`, `split` and the working GSD `tiling.gsd` (the one tiling key it reads:
boxes and scene sizes are recorded at that GSD). The commands accept exactly these
(tests/workflow/test_params.py). rules/scenes.smk loads this file by path: it imports nothing
from the package.
"""

from __future__ import annotations

from typing import Any, Mapping

# The sections the index reads whole.
INDEX_SECTIONS = ("data", "classes", "split")


def demo_settings(config: Mapping[str, Any]) -> dict:
    """--settings of the demo scene generator: the data section."""
    return config["data"]


def index_settings(config: Mapping[str, Any]) -> dict:
    """--settings of the index: INDEX_SECTIONS and tiling.gsd."""
    values = {name: config[name] for name in INDEX_SECTIONS}
    values["tiling"] = {"gsd": config["tiling"]["gsd"]}
    return values
