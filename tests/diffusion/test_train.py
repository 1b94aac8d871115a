"""Training CLIs of workflow.diffusion: resume after a stop or a kill continues bit for bit,
model files carry their config and seed, base checkpoints load strictly, data augmentation keeps
image and condition aligned, sample grids are drawn from model files, and the schema's enums
are the code's constants."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
import yaml

from tests.helpers import REPO
from tests.helpers.diffusion_fixtures import write_bank, write_base, write_tiles
from workflow.diffusion import checkpoint, data, distributed, gaussian, loop, train_classifier
from workflow.diffusion.presets import build_unet

ONE_PROCESS = distributed.World(rank=0, size=1, local_rank=0, device=torch.device("cpu"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
PRESET = "demo32"

FINETUNE = dict(mode="attention_adapter", iterations=4, batch_size=2, accumulation=2, lr=0.001, ema=0.9,
                oversample_small=True)


def finetune_settings(**stage):
    return dict(preset=PRESET, schedule="linear", steps=100, vlb_weight=0.001, seed=3, condition="canny",
                finetune={**FINETUNE, **stage})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion")
    bank = write_bank(root, n=8)
    base = write_base(root / "base.pt", PRESET)  # random heads: the fine-tunings really train
    return dict(root=root, bank=bank, base=base, background=write_tiles(root, kind="background"))


def finetune_cmd(ws, out: Path, settings: dict, *extra: str, every: int = 2) -> list[str]:
    return [sys.executable, "-m", "workflow.diffusion.train", "finetune", "--settings", json.dumps(settings),
            "--bank", str(ws["bank"]), "--base", str(ws["base"]), "--model", str(out / "model.pt"),
            "--loss-csv", str(out / "loss.csv"), "--loss-png", str(out / "loss.png"),
            "--state", str(out / "state.pt"), "--checkpoint-every", str(every), *extra]


def grid_cmd(model: Path, out: Path, *extra: str, grid: int = 2, steps: int = 2) -> list[str]:
    settings = json.dumps({"sample_grid": grid, "sample_steps": steps})
    return [sys.executable, "-m", "workflow.diffusion.grid", "--settings", settings, "--model", str(model),
            "--out", str(out), *extra]


def run(cmd, expect=0):
    result = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True)
    assert result.returncode == expect, result.stderr[-3000:]
    return result


def assert_same_weights(path_a: Path, path_b: Path):
    a, b = checkpoint.load(path_a), checkpoint.load(path_b)
    assert a["step"] == b["step"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for name in a["state_dict"]:
        assert torch.equal(a["state_dict"][name], b["state_dict"][name]), name


@pytest.fixture(scope="module")
def uninterrupted(workspace):
    out = workspace["root"] / "uninterrupted"
    run(finetune_cmd(workspace, out, finetune_settings()))
    return out


class Interrupted(Exception):
    """Raised by the test right after a training state is written: the run dies there."""


def interrupt_after_state(monkeypatch, step: int) -> None:
    """Make the training loop die right after it writes the training state of `step`."""
    save = loop._save_state

    def save_then_die(path, model, optimizer, ema, at, *rest):
        save(path, model, optimizer, ema, at, *rest)
        if at == step:
            raise Interrupted(f"interrupted after step {at}")

    monkeypatch.setattr(loop, "_save_state", save_then_die)


@pytest.mark.slow
def test_interrupt_and_resume_gives_the_same_weights(workspace, uninterrupted, monkeypatch):
    from workflow.diffusion import train

    out = workspace["root"] / "interrupted"
    settings = finetune_settings()
    reference = workspace["root"] / "reference_every1"
    run(finetune_cmd(workspace, reference, settings, every=1))
    interrupt_after_state(monkeypatch, 1)
    with pytest.raises(Interrupted):
        train.main(finetune_cmd(workspace, out, settings, every=1)[3:])
    monkeypatch.undo()
    assert (out / "state.pt").exists() and not (out / "model.pt").exists()
    state = checkpoint.load(out / "state.pt")
    assert state["step"] == 1 and state["config"] == settings and state["seed"] == 3
    run(finetune_cmd(workspace, out, settings, every=1))
    assert_same_weights(reference / "model.pt", out / "model.pt")
    trained, base = checkpoint.load(out / "model.pt")["state_dict"], checkpoint.load(workspace["base"])["state_dict"]
    assert any(not torch.equal(trained[k], base[k]) for k in base if ".qkv." in k), "nothing trained"
    assert (out / "loss.csv").read_text() == (reference / "loss.csv").read_text()


def test_checkpoint_every_changes_how_a_run_goes_not_what_it_learns(workspace, uninterrupted):
    """Why checkpoint_every reaches the command line and not the params (workflow/diffusion/params.py, run_flags)."""
    out = workspace["root"] / "reference_every1"
    if not (out / "model.pt").exists():
        run(finetune_cmd(workspace, out, finetune_settings(), every=1))
    assert_same_weights(uninterrupted / "model.pt", out / "model.pt")  # every 2 vs every 1
    assert (out / "loss.csv").read_text() == (uninterrupted / "loss.csv").read_text()


@pytest.mark.slow
def test_sample_grid_is_drawn_from_the_model_file(workspace, uninterrupted, tmp_path):
    """The grid is a rule of its own: the same model file gives the same picture, a conditioned
    model needs the bank's stored maps, and the grid's size follows its settings."""
    from workflow.core.io import read_png

    model = uninterrupted / "model.pt"
    run(grid_cmd(model, tmp_path / "a.png", "--bank", str(workspace["bank"])))
    run(grid_cmd(model, tmp_path / "b.png", "--bank", str(workspace["bank"])))
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    run(grid_cmd(model, tmp_path / "c.png", "--bank", str(workspace["bank"]), grid=9))
    two, nine = read_png(tmp_path / "a.png"), read_png(tmp_path / "c.png")
    # 2 samples: one row of conditions and one of samples; 9: two rows of each, 8 columns
    assert nine.shape[0] > 1.8 * two.shape[0] and nine.shape[1] > two.shape[1]
    missing = run(grid_cmd(model, tmp_path / "d.png"), expect=2)
    assert "conditioned on canny: give --bank" in missing.stderr
    too_many = run(grid_cmd(model, tmp_path / "e.png", "--bank", str(workspace["bank"]), steps=101), expect=1)
    assert "101 respaced steps exceed the 100 steps" in too_many.stderr


@pytest.mark.slow
def test_sample_grid_of_a_bare_guided_diffusion_state_dict(tmp_path):
    """diffusion.pretrained may be a bare state dict (as OpenAI's checkpoints are): its grid takes
    the network and the process from the settings' `base`, and without them says what is missing."""
    import torch

    from workflow.core.io import read_png
    from workflow.diffusion.presets import build_unet

    torch.manual_seed(0)
    bare = tmp_path / "bare.pt"
    torch.save(build_unet("demo32").state_dict(), bare)
    base = {"preset": "demo32", "schedule": "linear", "steps": 100, "seed": 0}
    settings = json.dumps({"sample_grid": 2, "sample_steps": 2, "base": base})
    run([sys.executable, "-m", "workflow.diffusion.grid", "--settings", settings, "--model", str(bare),
         "--out", str(tmp_path / "grid.png")])
    height, width = read_png(tmp_path / "grid.png").shape[:2]
    assert 32 <= height < 64 and 64 <= width < 96  # one row of two 32 px samples, with gaps
    missing = run(grid_cmd(bare, tmp_path / "none.png"), expect=1)
    assert "has no 'state_dict' entry" in missing.stderr


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_weights(workspace, uninterrupted):
    out = workspace["root"] / "killed"
    settings = finetune_settings()
    reference = workspace["root"] / "reference_every1"
    if not (reference / "model.pt").exists():
        run(finetune_cmd(workspace, reference, settings, every=1))
    process = subprocess.Popen(finetune_cmd(workspace, out, settings, every=1), cwd=REPO, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "state.pt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = checkpoint.load(out / "state.pt")["step"]
    assert killed_at < 4 and not (out / "model.pt").exists()
    run(finetune_cmd(workspace, out, settings, every=1))
    assert_same_weights(reference / "model.pt", out / "model.pt")


def test_model_file_carries_config_seed_and_loads(workspace, uninterrupted):
    saved = checkpoint.load(uninterrupted / "model.pt")
    assert saved["config"] == finetune_settings() and saved["seed"] == 3 and saved["step"] == 4
    assert not (uninterrupted / "state.pt").exists()  # a finished run discards its training state
    model, spec = checkpoint.load_model(uninterrupted / "model.pt", "cpu")
    assert (spec.kind, spec.condition, spec.schedule, spec.steps) == ("unet", "canny", "linear", 100)
    assert not model.training
    x = torch.zeros(1, 3, 32, 32)
    assert model(x, torch.tensor([5]), cond=torch.zeros(1, 1, 32, 32)).shape == (1, 6, 32, 32)
    lines = (uninterrupted / "loss.csv").read_text().splitlines()
    assert lines[0] == "step,loss,mse,vlb" and len(lines) == 5


def test_changed_settings_do_not_resume_a_stale_state(workspace, caplog, monkeypatch):
    from workflow.diffusion import train

    out = workspace["root"] / "stale"
    interrupt_after_state(monkeypatch, 1)
    with pytest.raises(Interrupted):
        train.main(finetune_cmd(workspace, out, finetune_settings(), every=1)[3:])
    monkeypatch.undo()
    train.main(finetune_cmd(workspace, out, finetune_settings(lr=0.002, iterations=1))[3:])
    assert "starting over" in caplog.text
    assert checkpoint.load(out / "model.pt")["config"]["finetune"]["lr"] == 0.002


def test_missing_or_mismatched_base_checkpoint_names_path_and_key(tmp_path, workspace):
    model = build_unet(PRESET, condition="canny", finetune_mode="attention_adapter")
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        checkpoint.init_from_base(model, tmp_path / "nowhere.pt", PRESET)
    state = build_unet(PRESET).state_dict()
    del state["out.2.bias"]
    state["input_blocks.0.0.extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "guided.pt")  # a guided-diffusion checkpoint is a plain state dict
    with pytest.raises(ValueError, match=r"guided\.pt.*out\.2\.bias.*input_blocks\.0\.0\.extra"):
        checkpoint.init_from_base(model, tmp_path / "guided.pt", PRESET)
    with pytest.raises(ValueError, match="preset"):
        checkpoint.init_from_base(model, workspace["base"], "demo64")
    torch.save({"model": {"w": torch.zeros(1)}, "epoch": 3}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="pickled.pt.*'model'"):
        checkpoint.init_from_base(model, tmp_path / "pickled.pt", PRESET)


def test_guided_diffusion_state_dict_loads_strictly_and_leaves_the_extras_at_zero(tmp_path):
    torch.manual_seed(1)
    base = build_unet(PRESET)
    torch.save(base.state_dict(), tmp_path / "guided.pt")
    model = build_unet(PRESET, condition="mask", finetune_mode="attention_adapter")
    checkpoint.init_from_base(model, tmp_path / "guided.pt", PRESET)
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([1, 900])
    with torch.no_grad():
        assert torch.allclose(model(x, t, cond=torch.ones(2, 1, 32, 32)), base(x, t), atol=1e-6)


def test_bank_flips_image_and_mask_together_and_oversamples(workspace):
    bank = data.PlaneBank(workspace["bank"], 32, condition="mask", balance=True)
    assert len(bank) == 7  # the flagged row is skipped for masks
    rng = np.random.default_rng(0)
    x0, cond, size_class = bank.batch(rng, 16)
    assert x0.shape == (16, 3, 32, 32) and cond.shape == (16, 1, 32, 32) and size_class.shape == (16,)
    assert x0.min() >= -1 and x0.max() <= 1
    plane = cond[:, 0] > 0
    assert (x0.mean(1)[plane] > 0.5).all() and (x0.mean(1)[~plane] < 0.2).all()
    weights = data.size_class_weights(np.array([0, 0, 0, 5]), balance=True)
    assert np.allclose(weights, [1 / 6, 1 / 6, 1 / 6, 1 / 2])


def test_canny_condition_draws_new_thresholds_per_sample(workspace):
    bank = data.PlaneBank(workspace["bank"], 32, condition="canny")
    rng = np.random.default_rng(1)
    densities = {float((bank.item(1, rng)[1] > 0).mean()) for _ in range(30)}
    assert len(densities) > 1
    stored = bank.stored_conditions(3)
    assert stored.shape == (3, 1, 32, 32) and set(stored.unique().tolist()) <= {-1.0, 1.0}


def test_tile_windows_read_every_background_tile(tmp_path):
    manifest = write_tiles(tmp_path, n=3, kind="background")
    windows = data.TileWindows.from_manifest(manifest, 32)
    assert len(windows.paths) == 3
    batch = windows.batch(np.random.default_rng(0), 5)
    assert batch.shape == (5, 3, 32, 32)
    with pytest.raises(ValueError, match="smaller than"):
        data.TileWindows.from_manifest(manifest, 128).window(np.random.default_rng(0))


def test_classifier_clis_train_and_load(workspace, tmp_path):
    size = dict(preset=PRESET, schedule="linear", steps=100, seed=0,
                size_classifier=dict(iterations=2, batch_size=4, lr=1e-3, oversample_small=True))
    cherry = dict(seed=0, cherry_picker=dict(weights=None, num_classes=2, input_size=32, iterations=2, batch_size=4,
                                             lr=1e-3))
    common = ["--bank", str(workspace["bank"]), "--loss-csv", str(tmp_path / "l.csv"),
              "--loss-png", str(tmp_path / "l.png"), "--checkpoint-every", "1"]
    train_classifier.main(["size_classifier", "--settings", json.dumps(size), "--model", str(tmp_path / "size.pt"), *common])
    train_classifier.main(["cherry_picker", "--settings", json.dumps(cherry), "--background", str(workspace["background"]),
                           "--model", str(tmp_path / "cherry.pt"), *common])
    classifier, spec = checkpoint.load_model(tmp_path / "size.pt")
    assert spec.kind == "classifier" and classifier(torch.zeros(2, 3, 32, 32), torch.tensor([0, 99])).shape == (2, 11)
    picker, spec = checkpoint.load_model(tmp_path / "cherry.pt")
    probability = picker.plane_probability(torch.zeros(3, 3, 40, 40))
    assert spec.kind == "cherry_picker" and probability.shape == (3,) and ((probability >= 0) & (probability <= 1)).all()


def test_cherry_picker_weights_replace_the_head_and_reject_wrong_keys(tmp_path):
    from torchvision.models import resnet18

    from workflow.diffusion.cherry_picker import CherryPicker
    from workflow.diffusion.train_classifier import load_resnet_weights

    torch.save(resnet18(num_classes=1000).state_dict(), tmp_path / "resnet18.pth")
    picker = CherryPicker(1, 32)
    load_resnet_weights(picker, str(tmp_path / "resnet18.pth"))
    state = resnet18().state_dict()
    del state["layer1.0.conv1.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match=r"broken\.pth.*layer1\.0\.conv1\.weight"):
        load_resnet_weights(picker, str(tmp_path / "broken.pth"))


def test_pretrain_settings_reject_unknown_keys():
    from workflow.diffusion.train import PretrainSettings
    from workflow.diffusion.trainer import read_settings

    def parse(values):
        return read_settings(json.dumps(values), PretrainSettings)[1]

    good = dict(preset=PRESET, schedule="linear", steps=10, vlb_weight=0.001, seed=0,
                pretrain={k: v for k, v in FINETUNE.items() if k not in ("mode", "oversample_small")})
    assert parse(good).stage.iterations == 4
    with pytest.raises(ValueError, match="diffusion.pretrain.iteratons"):
        parse({**good, "pretrain": {**good["pretrain"], "iteratons": 3}})
    with pytest.raises(ValueError, match="condition"):
        parse({**good, "condition": "canny"})


def test_schema_enums_are_the_code_constants_and_the_config_validates():
    from workflow.diffusion.condition import CONDITIONS
    from workflow.diffusion.finetune_modes import FINETUNE_MODES
    from workflow.diffusion.presets import CONFIG_PRESETS

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    section = schema["properties"]["diffusion"]
    assert section["additionalProperties"] is False
    props = section["properties"]
    assert props["schedule"]["enum"] == list(gaussian.SCHEDULES)
    assert props["preset"]["enum"] == list(CONFIG_PRESETS)
    assert props["finetune"]["properties"]["mode"]["enum"] == list(FINETUNE_MODES)
    assert props["models"]["additionalProperties"]["enum"] == list(CONDITIONS)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    jsonschema.validate(config["diffusion"], section | {"$defs": schema["$defs"]})
    bad = json.loads(json.dumps(config["diffusion"]))
    bad["finetune"]["mdoe"] = "full"
    with pytest.raises(jsonschema.ValidationError, match="mdoe"):
        jsonschema.validate(bad, section | {"$defs": schema["$defs"]})


def test_pretrain_then_unconditional_finetune_in_process(workspace, tmp_path):
    from workflow.diffusion import train

    tiles = write_tiles(tmp_path, n=3)
    stage = {k: v for k, v in FINETUNE.items() if k not in ("mode", "oversample_small")}
    pretrain = dict(preset=PRESET, schedule="cosine", steps=50, vlb_weight=0.001, seed=0,
                    pretrain={**stage, "iterations": 1, "ema": None})
    outputs = lambda out: ["--model", str(out / "model.pt"), "--loss-csv", str(out / "loss.csv"),  # noqa: E731
                           "--loss-png", str(out / "loss.png")]
    train.main(["pretrain", "--settings", json.dumps(pretrain), "--tiles", str(tiles), *outputs(tmp_path / "base")])
    finetune = {**finetune_settings(iterations=1), "condition": "none", "schedule": "cosine", "steps": 50}
    finetune["finetune"]["mode"] = "attention"
    train.main(["finetune", "--settings", json.dumps(finetune), "--bank", str(workspace["bank"]),
                "--base", str(tmp_path / "base/model.pt"), *outputs(tmp_path / "uncond")])
    model, spec = checkpoint.load_model(tmp_path / "uncond/model.pt")
    assert (spec.condition, spec.schedule, spec.arch["finetune_mode"]) == ("none", "cosine", "attention")
    base = checkpoint.load(tmp_path / "base/model.pt")["state_dict"]
    tuned = checkpoint.load(tmp_path / "uncond/model.pt")["state_dict"]
    frozen = [k for k in base if ".in_layers." in k]  # residual blocks stay frozen in `attention` mode
    assert frozen and all(torch.equal(base[k], tuned[k]) for k in frozen)
    assert any(not torch.equal(base[k], tuned[k]) for k in base if ".qkv." in k)


def test_dihedral_augmentation_reaches_all_eight_transforms_and_keeps_pairs_aligned():
    from workflow.diffusion import data

    image = np.arange(3 * 3 * 3).reshape(3, 3, 3)
    cond = image[..., 0]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        out_image, out_cond = data.random_flip([image, cond], rng, dihedral=True)
        assert np.array_equal(out_image[..., 0], out_cond)
        seen.add(out_cond.tobytes())
    assert len(seen) == 8
    plain = {data.random_flip([cond], rng)[0].tobytes() for _ in range(100)}
    assert len(plain) == 4  # flips only: no transposes


def test_warmup_ramps_the_learning_rate_linearly(monkeypatch):
    model = torch.nn.Linear(1, 1)
    optimizers, seen = [], []

    class Spy(torch.optim.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            optimizers.append(self)

    def loss_fn(m, batch, generator, rows):
        seen.append(optimizers[0].param_groups[0]["lr"])
        return {"loss": (m(torch.ones(1, 1)) ** 2)[:, 0]}

    monkeypatch.setattr(torch.optim, "Adam", Spy)
    loop.train(model, list(model.parameters()), lambda rng: None, loss_fn,
               loop.LoopSettings(6, 0.4, 1, warmup=4), {}, 0, None, ONE_PROCESS)
    assert np.allclose(seen, [0.1, 0.2, 0.3, 0.4, 0.4, 0.4])


def test_demo_presets_normalise_groups_of_several_channels():
    """32 groups on 32 channels is an instance norm: the network would be blind to x_t's mean."""
    from workflow.diffusion.nn import GroupNorm32
    from workflow.diffusion.presets import build_classifier, build_unet

    for preset in ("demo32", "demo64"):
        for model in (build_unet(preset), build_classifier(preset, 11)):
            norms = [m for m in model.modules() if isinstance(m, GroupNorm32)]
            assert norms and all(m.num_channels // m.num_groups >= 4 for m in norms)
    with torch.device("meta"):
        adm = build_unet("adm256")
    assert {m.num_groups for m in adm.modules() if isinstance(m, GroupNorm32)} == {32}


def test_the_demo_unet_sees_the_mean_colour_of_its_input():
    """A shift of x_t's mean moves the predicted noise's mean (it cannot with instance norms)."""
    from workflow.diffusion.presets import build_unet

    torch.manual_seed(0)
    model = build_unet("demo32").eval()
    for module in model.modules():  # give the zero-initialised output layers weights
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.05)
    x, t = torch.randn(1, 3, 32, 32), torch.tensor([500])
    with torch.no_grad():
        shift = model(x + 0.5, t)[:, :3].mean() - model(x, t)[:, :3].mean()
    assert abs(float(shift)) > 0.01  # 0.034 here; 0.002 with 32 groups (instance norms)


def test_a_base_training_starts_from_diffusion_pretrain_init(tmp_path):
    """With --base (diffusion.pretrain.init) the base training starts from that model's weights,
    without it from random ones."""
    from workflow.core.settings import from_dict
    from workflow.diffusion import train

    base = write_base(tmp_path / "init.pt", steps=100)
    stage = {k: v for k, v in FINETUNE.items() if k not in ("mode", "oversample_small")}
    settings = from_dict(train.PretrainSettings, dict(preset=PRESET, schedule="linear", steps=100,
                                                      vlb_weight=0.001, seed=0, pretrain=stage), "diffusion")
    started, _ = train.build_model(settings, base)
    expected = checkpoint.load(base)["state_dict"]
    for name, value in started.state_dict().items():
        assert torch.equal(value, expected[name]), name
    fresh, _ = train.build_model(settings, None)
    assert not all(torch.equal(v, expected[k]) for k, v in fresh.state_dict().items())
