"""A user's own data, and the mistakes of a first hour with it: every one stops (or warns) on
the terminal with a message naming the key or file, and nothing the user owns is ever written.

Each test makes the mistake as a user types it (the README's commands, `config/real.yaml`,
a small file of their own) in a copy of the workflow, on scenes drawn here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from tests.helpers.snakemake_run import copy_workflow, scheduled, snakemake
from tests.helpers.yolo_fixtures import write_detector_description

REAL = ("--configfile", "config/real.yaml")


def draw_scene(seed: int, planes: int, cars: int, size: int = 256) -> tuple[np.ndarray, list[str]]:
    """Grey ground with bright plane crosses and dark car boxes; its DOTA label lines."""
    rng = np.random.default_rng(seed)
    image = rng.normal(120, 8, (size, size, 3)).clip(0, 255).astype(np.uint8)
    lines = []
    for kind, count in (("plane", planes), ("car", cars)):
        for _ in range(count):
            x, y = rng.integers(20, size - 40, 2)
            w = 24 if kind == "plane" else 8
            colour = (235, 235, 235) if kind == "plane" else (30, 30, 90)
            cv2.rectangle(image, (int(x), int(y + w // 3)), (int(x + w), int(y + 2 * w // 3)), colour, -1)
            if kind == "plane":
                cv2.rectangle(image, (int(x + w // 3), int(y)), (int(x + 2 * w // 3), int(y + w)), colour, -1)
            lines.append(f"{x} {y} {x + w} {y} {x + w} {y + w} {x} {y + w} {kind} 0")
    return image, lines


def write_user_scenes(root: Path, n: int = 6) -> dict[str, Path]:
    """A user's DOTA-format folder: scenes named P0001.PNG (upper-case suffix), label files with
    a gsd: header, classes plane and car, and one malformed line (7 numbers)."""
    images, labels = root / "images", root / "labelTxt"
    images.mkdir(parents=True)
    labels.mkdir()
    for i in range(1, n + 1):
        image, lines = draw_scene(i, planes=2, cars=2)
        cv2.imwrite(str(images / f"P{i:04d}.PNG"), image)
        if i == 2:
            lines.append("1 2 3 4 5 6 7")
        (labels / f"P{i:04d}.txt").write_text("gsd:0.5\n" + "\n".join(lines) + "\n")
    return {"images": images, "labels": labels}


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_yaml(path: Path, content: dict) -> str:
    path.write_text(yaml.safe_dump(content))
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("user_data"))


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    return write_user_scenes(tmp_path_factory.mktemp("airports"))


def mine(tmp_path: Path, user: dict, **sections) -> str:
    """The user's own file: their DOTA folders, and `sections` merged in."""
    content = {"data": {"dota": {"images": str(user["images"]), "labels": str(user["labels"])}}}
    for key, value in sections.items():
        content.setdefault(key, {}).update(value)
    return write_yaml(tmp_path / "mine.yaml", content)


def output_of(result) -> str:
    return result.stdout + result.stderr


def test_the_demo_never_writes_into_a_users_folders(workdir, user, tmp_path):
    """data.demo left on (no config/real.yaml) and the user's scenes as data.dota: the dry run
    and the real command both stop at load, naming data.demo, the key and the path; every file
    of the user's folders is still there, byte for byte."""
    before = {name: hashes(user[name]) for name in ("images", "labels")}
    own = mine(tmp_path, user)
    for args in (("-n",), ("--cores", "1")):
        result = snakemake(workdir, *args, "--configfile", own, check=False)
        assert result.returncode != 0
        text = output_of(result)
        assert "config key 'data.demo'" in text and "data.dota.images" in text, text[-2000:]
        assert str(user["images"]) in text and "data.demo: null" in text
        assert "Traceback" not in text
    assert {name: hashes(user[name]) for name in ("images", "labels")} == before
    assert before["images"], "the fixture wrote no scene"


def test_real_config_stops_until_paths_and_gsd_are_filled_in(workdir, user, tmp_path):
    result = snakemake(workdir, "-n", *REAL, check=False)
    assert result.returncode != 0
    assert "data.dota.images, data.dota.labels: empty; fill in" in output_of(result)
    # the paths, but label files without a GSD and no data.dota.gsd: the GSD is asked for
    no_gsd = tmp_path / "labels_without_gsd"
    no_gsd.mkdir()
    for path in user["labels"].iterdir():
        (no_gsd / path.name).write_text(path.read_text().replace("gsd:0.5", "gsd:null"))
    own = write_yaml(tmp_path / "mine.yaml", {"data": {"dota": {
        "images": str(user["images"]), "labels": str(no_gsd)}}})
    result = snakemake(workdir, "-n", *REAL, own, check=False)
    assert result.returncode != 0
    assert "config key 'data.dota.gsd': null" in output_of(result)
    assert "length in metres / its length in pixels" in output_of(result)


def test_a_target_after_configfile_is_named(workdir, user, tmp_path):
    """A result file typed after --configfile (Snakemake reads it as one more config file)."""
    result_file = workdir / "results" / "bank" / "summary.json"
    result_file.parent.mkdir(parents=True, exist_ok=True)
    result_file.write_text('{"crops": 10, "flagged": 1}')
    try:
        result = snakemake(workdir, "-n", *REAL, mine(tmp_path, user), "results/bank/summary.json",
                           check=False)
    finally:
        result_file.unlink()
    text = output_of(result)
    assert result.returncode != 0
    assert "results/bank/summary.json: not a config file" in text
    assert "put targets before --configfile, or after --" in text
    assert "Traceback" not in text and "crops" in text


def test_the_index_tells_the_terminal_what_it_skipped(workdir, user, tmp_path):
    """The malformed line (file:line), the car labels config/real.yaml maps to no class, the
    split's sizes and the too-small test split reach the terminal; the upper-case .PNG scenes
    are all found."""
    result = snakemake(workdir, "--cores", "1", "--forceall", "results/index/summary.json", *REAL,
                       mine(tmp_path, user))
    text = output_of(result)
    assert "dota: skipped 1 label lines or features that cannot be parsed" in text, text[-3000:]
    assert f"{user['labels'] / 'P0002.txt'}:6" in text
    assert "maps to no class: car (12)" in text
    assert "split test:" in text
    assert "the test split holds" in text and "too few to tell AP50 differences of 0.05" in text
    assert "missing_image" not in (workdir / "results/logs/index.log").read_text()
    summary = yaml.safe_load((workdir / "results/index/summary.json").read_text())
    assert summary["total"]["scenes"] == 6 and summary["total"]["objects_per_class"]["plane"] == 12


def test_a_failed_job_prints_its_own_message(workdir, user, tmp_path):
    """A target class in no scene stops the index: its one-line message is on the terminal
    (profiles/default shows the failed job's log), not a Python traceback."""
    own = mine(tmp_path, user, classes={"target": "plane", "dota": {"plane": None, "car": "plane"}})
    cars_only = tmp_path / "cars_only"
    cars_only.mkdir()
    for path in user["labels"].iterdir():  # no label maps to the target but the cars: take them away
        lines = [line for line in path.read_text().splitlines() if " car " not in line]
        (cars_only / path.name).write_text("\n".join(lines) + "\n")
    content = yaml.safe_load(Path(own).read_text())
    content["data"]["dota"]["labels"] = str(cars_only)
    result = snakemake(workdir, "--cores", "1", "results/index/summary.json", *REAL,
                       write_yaml(tmp_path / "mine.yaml", content), check=False)
    text = output_of(result)
    assert result.returncode != 0
    assert "ERROR: no 'plane' object in any of the 6 indexed scenes" in text, text[-3000:]
    assert "skipped objects of labels that config key 'classes.dota' maps to no class: plane (12)" in text
    assert "Traceback" not in (workdir / "results/logs/index.log").read_text()


def test_the_users_own_split(workdir, user, tmp_path):
    lists = {}
    for split, stems in {"train": ["P0001", "P0002.PNG", "P0003"], "val": ["P0004"],
                         "test": ["images/P0005.png"]}.items():
        lists[split] = str(tmp_path / f"{split}.txt")
        Path(lists[split]).write_text("# scenes\n" + "\n".join(stems) + "\n")
    own = mine(tmp_path, user, split={"lists": lists})
    snakemake(workdir, "--cores", "1", "--forceall", "results/index/summary.json", *REAL, own)
    scenes = (workdir / "results/index/scenes.csv").read_text()
    assert "dota_P0005" in scenes and "P0006" not in scenes  # P0006 is in no list: left out
    summary = yaml.safe_load((workdir / "results/index/summary.json").read_text())
    assert summary["unlisted_scenes"] == 1 and summary["splits"]["test"]["scenes"] == 1
    # a scene listed twice, and a name no scene has
    Path(lists["val"]).write_text("P0004\nP0001\n")
    result = snakemake(workdir, "--cores", "1", "results/index/summary.json", *REAL, own, check=False)
    assert f"{lists['val']}:2: scene 'P0001' is listed twice (first at {lists['train']}:2)" in output_of(result)
    Path(lists["val"]).write_text("P0004\nP0404\n")
    result = snakemake(workdir, "--cores", "1", "results/index/summary.json", *REAL, own, check=False)
    assert f"{lists['val']}:2: no indexed scene is named 'P0404'" in output_of(result)


def test_detector_weights_are_checked_at_load(workdir, user, tmp_path):
    own = mine(tmp_path, user)
    swapped = {"detect": {"weights": {"yolov8n": "resources/demo_weights/yolov5nu.pt"}}}
    result = snakemake(workdir, "-n", *REAL, own, write_yaml(tmp_path / "w.yaml", swapped),
                       check=False)
    assert ("config key 'detect.weights.yolov8n': resources/demo_weights/yolov5nu.pt holds a "
            "yolov5nu (4 classes), not yolov8n") in output_of(result)
    scratch = {"detect": {"start": "scratch"}}
    result = snakemake(workdir, "-n", *REAL, own, write_yaml(tmp_path / "s.yaml", scratch),
                       check=False)
    assert "set detect.start: weights to start from them, or detect.weights: null" in output_of(result)
    # a COCO checkpoint of the arch (80 classes) is a start the load accepts
    coco = {arch: str(write_detector_description(tmp_path / f"{arch}.pt", arch))
            for arch in ("yolov8n", "yolov5nu")}
    jobs = scheduled(workdir, *REAL, own, write_yaml(tmp_path / "c.yaml", {"detect": {"weights": coco}}))
    assert jobs["detect_train"] == 2 * 7 + 1  # real.yaml: 7 runs x 2 archs, and the gate's baseline
    # no set of config/real.yaml draws more than one candidate: no cherry-picker
    assert "cherry_picker" not in jobs
