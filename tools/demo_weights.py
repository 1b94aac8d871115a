"""Make the demo's starting points with the workflow's own rules, and file them under resources/.

    python tools/demo_weights.py [--cores 2] [--only base|detectors]

Runs Snakemake in build/demo-weights/ (a working directory of its own, so nothing of the demo's
results/ is touched) with config/config.yaml and config/demo_weights.yaml, for the targets
results/diffusion/base/model.pt (rule pretrain, on demo scenes of generator seed 2000) and
results/detect/pretrain/{arch}/weights/best.pt (rule detect_pretrain, on the scenes of
detect.pretrain.scenes, seed 1000); neither set of scenes is the demo's (seed 0). Each file is
copied to resources/demo_weights/ with a `provenance` entry (the config files, the seed, the
command, the git commit), and resources/demo_weights/provenance.json lists them all. The demo
loads them through diffusion.pretrained and detect.weights, as a user's own checkpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKDIR = REPO / "build" / "demo-weights"
OUT = REPO / "resources" / "demo_weights"
CONFIGS = ["config/config.yaml", "config/demo_weights.yaml"]
ARCHS = ("yolov8n", "yolov5nu")
BASE = "results/diffusion/base/model.pt"


def detector(arch: str) -> str:
    return f"results/detect/pretrain/{arch}/weights/best.pt"


def run_rules(targets: list[str], cores: int) -> None:
    WORKDIR.mkdir(parents=True, exist_ok=True)
    link = WORKDIR / "config"
    if not link.exists():
        link.symlink_to(REPO / "config")
    command = ["snakemake", *targets, "--snakefile", str(REPO / "Snakefile"), "--directory", str(WORKDIR),
               "--cores", str(cores), "--resources", f"gpu={cores}", "--configfile", *CONFIGS]
    subprocess.run(command, cwd=WORKDIR, check=True)


def provenance(target: str, cores: int) -> dict:
    merged = {}
    for name in CONFIGS:
        merged[name] = yaml.safe_load((REPO / name).read_text())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    return {"target": target, "made_by": "python tools/demo_weights.py (make demo-weights)",
            "snakemake": f"snakemake --directory build/demo-weights --configfile {' '.join(CONFIGS)} "
                         f"--cores {cores} {target}",
            "configs": merged, "git_commit": commit,
            "scene_seed": merged["config/demo_weights.yaml"]["data"]["demo"]["seed"] if target == BASE
            else merged["config/config.yaml"]["detect"]["pretrain"]["scenes"]["seed"]}


def file_weights(target: str, name: str, cores: int) -> dict:
    """Copy one trained file into resources/demo_weights/ with its provenance inside."""
    source = WORKDIR / target
    obj = torch.load(source, map_location="cpu", weights_only=target == BASE)
    record = provenance(target, cores)
    obj["provenance"] = json.dumps(record, sort_keys=True)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = OUT / f".{name}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, OUT / name)
    size = (OUT / name).stat().st_size
    if size > 20 * 2**20:
        raise SystemExit(f"{OUT / name}: {size / 2**20:.1f} MB, above the 20 MB allowed in the repository")
    return {"file": f"resources/demo_weights/{name}", "bytes": size, **record}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--only", choices=["base", "detectors"])
    args = parser.parse_args(argv)
    wanted = {"base": {BASE: "demo32_base.pt"},
              "detectors": {detector(arch): f"{arch}.pt" for arch in ARCHS}}
    targets = {k: v for kind, files in wanted.items() if args.only in (None, kind) for k, v in files.items()}
    run_rules(list(targets), args.cores)
    index = OUT / "provenance.json"
    records = json.loads(index.read_text()) if index.exists() else {}
    for target, name in targets.items():
        records[name] = file_weights(target, name, args.cores)
        print(f"{name}: {records[name]['bytes'] / 2**20:.1f} MB from {target}", file=sys.stderr)
    index.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(WORKDIR / ".snakemake" / "incomplete", ignore_errors=True)


if __name__ == "__main__":
    main()
