"""Data-parallel training on the CPU (two Gloo processes started by workflow.core.launch, i.e.
torchrun): the same seed and global batch train as one process, a killed two-process run resumes
to the weights of an uninterrupted one, its training state also resumes with one process (the
world size may change between runs), and activation checkpointing leaves the gradients unchanged.

Tolerance: two processes compute each sample's forward on a batch of another size and sum the
gradients in another order, so their weights equal one process's up to float rounding: after
these 4 Adam steps at lr 1e-3 the largest difference measured is about 1e-6 (ATOL is ten times
that), while a loss normalised per process instead of over the global batch is off by 1e-3.
The global batch of 3 splits unevenly (1 + 2 rows), which only the exact normalisation survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import REPO
from tests.helpers.diffusion_fixtures import write_bank, write_base
from workflow.diffusion import checkpoint, distributed, train, train_classifier
from workflow.diffusion.presets import build_unet

ATOL = 1e-5
FINETUNE = dict(mode="attention_adapter", iterations=4, batch_size=3, accumulation=2, lr=0.001, ema=0.9,
                oversample_small=True)
SETTINGS = dict(preset="demo32", schedule="linear", steps=100, vlb_weight=0.001, seed=3, condition="canny",
                finetune=FINETUNE)
SIZE = dict(preset="demo32", schedule="linear", steps=100, seed=1,
            size_classifier=dict(iterations=3, batch_size=5, lr=1e-3, oversample_small=True))


def env() -> dict[str, str]:
    """The jobs' environment: the venv first on PATH (torchrun, python), no GPU, one thread each."""
    values = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": "",
              "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_JOB_ID", "SLURM_PROCID", "SLURM_NTASKS"):
        values.pop(name, None)
    return values


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    return dict(root=root, bank=write_bank(root, n=8), base=write_base(root / "base.pt"))


def finetune_args(ws, out: Path, settings: dict = SETTINGS) -> list[str]:
    return ["finetune", "--settings", json.dumps(settings), "--bank", str(ws["bank"]), "--base", str(ws["base"]),
            "--model", str(out / "model.pt"), "--loss-csv", str(out / "loss.csv"), "--loss-png",
            str(out / "loss.png"), "--state", str(out / "state.pt"), "--checkpoint-every", "1"]


def launched(processes: int, module: str, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "workflow.core.launch", "--gpus", str(processes), "--distributed", "--",
            "python", "-m", module, *args]


def run_processes(processes: int, module: str, args: list[str]) -> str:
    result = subprocess.run(launched(processes, module, args), cwd=REPO, env=env(), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def weights(path: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(path)["state_dict"]


def largest_difference(a: Path, b: Path) -> float:
    """Largest difference of the weights the two model files share (a base lacks the extras)."""
    first, second = weights(a), weights(b)
    shared = first.keys() & second.keys()
    assert shared and (shared == first.keys() or shared == second.keys())
    return max(float((first[k] - second[k]).abs().max()) for k in shared)


def losses(out: Path) -> torch.Tensor:
    lines = (out / "loss.csv").read_text().splitlines()[1:]
    return torch.tensor([[float(v) for v in line.split(",")] for line in lines])


@pytest.fixture(scope="module")
def one_process(ws):
    out = ws["root"] / "one"
    train.main(finetune_args(ws, out))
    return out


@pytest.fixture(scope="module")
def two_processes(ws):
    out = ws["root"] / "two"
    log = run_processes(2, "workflow.diffusion.train", finetune_args(ws, out))
    assert "device cpu, 2 process(es)" in log and "rank 0 of 2" in log
    return out


@pytest.mark.slow
def test_two_processes_train_as_one(ws, one_process, two_processes):
    assert largest_difference(one_process / "model.pt", two_processes / "model.pt") <= ATOL
    assert largest_difference(one_process / "model.pt", ws["base"]) > 30 * ATOL  # it trained
    assert torch.allclose(losses(one_process), losses(two_processes), rtol=1e-5)
    assert not (two_processes / "state.pt").exists()  # rank 0 discarded the finished state


@pytest.mark.slow
def test_the_size_classifier_trains_as_one_on_two_processes(ws):
    def args(out):
        return ["size_classifier", "--settings", json.dumps(SIZE), "--bank", str(ws["bank"]), "--model", str(out / "model.pt"),
                "--loss-csv", str(out / "loss.csv"), "--loss-png", str(out / "loss.png")]

    one, two = ws["root"] / "size1", ws["root"] / "size2"
    train_classifier.main(args(one))
    run_processes(2, "workflow.diffusion.train_classifier", args(two))  # 5 rows: 2 + 3
    assert torch.allclose(losses(one), losses(two), rtol=1e-5)
    # Compared through its logits: the key part of the attention pool's qkv bias has an exactly
    # zero gradient (softmax ignores a shift shared by every key), and Adam turns the float noise
    # of that zero into steps of about lr, different with every summation order.
    (first, _), (second, _) = checkpoint.load_model(one / "model.pt"), checkpoint.load_model(two / "model.pt")
    x, t = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 10, 50, 99])
    with torch.no_grad():
        assert torch.allclose(first(x, t), second(x, t), rtol=0, atol=10 * ATOL)
        assert not torch.allclose(first(x, t), second(x, t), rtol=0, atol=1e-9)  # two real runs


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_to_the_same_weights(ws, one_process, two_processes):
    out = ws["root"] / "killed"
    process = subprocess.Popen(launched(2, "workflow.diffusion.train", finetune_args(ws, out)), cwd=REPO,
                               env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # torchrun and its workers in one group
    deadline = time.time() + 300
    while not (out / "state.pt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    state = checkpoint.load(out / "state.pt")
    assert 1 <= state["step"] < FINETUNE["iterations"] and not (out / "model.pt").exists()
    # The same state resumed by one process: the world size may change between runs.
    single = ws["root"] / "killed_then_one"
    single.mkdir()
    (single / "state.pt").write_bytes((out / "state.pt").read_bytes())
    train.main(finetune_args(ws, single))
    assert largest_difference(one_process / "model.pt", single / "model.pt") <= ATOL
    # Resumed by two processes again: bit for bit the uninterrupted two-process run.
    run_processes(2, "workflow.diffusion.train", finetune_args(ws, out))
    assert largest_difference(two_processes / "model.pt", out / "model.pt") == 0
    assert (out / "loss.csv").read_text() == (two_processes / "loss.csv").read_text()


def test_activation_checkpointing_gives_the_same_gradients_and_recomputes_the_blocks():
    from workflow.diffusion.unet import ResBlock

    torch.manual_seed(0)
    model = build_unet("demo32", condition="canny", finetune_mode="attention_adapter")
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(module.weight, std=0.05)
    x, cond = torch.randn(3, 3, 32, 32), torch.randn(3, 1, 32, 32)
    t = torch.tensor([3, 400, 999])
    block = next(m for m in model.modules() if isinstance(m, ResBlock))
    calls = []
    inner = block._forward  # counted: once per forward, once more when the backward recomputes it
    block._forward = lambda *a: calls.append(1) or inner(*a)

    def gradients(enabled):
        train.set_checkpointing(model, enabled)
        model.zero_grad(set_to_none=True)
        calls.clear()
        model(x, t, cond=cond).square().mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}, len(calls)

    plain, plain_calls = gradients(False)
    checkpointed, checkpointed_calls = gradients(True)
    assert (plain_calls, checkpointed_calls) == (1, 2)  # the forward is recomputed in the backward
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        assert torch.allclose(plain[name], checkpointed[name], rtol=0, atol=1e-7), name
    assert all(float(g.abs().max()) > 0 for n, g in plain.items() if n.startswith("adapter.up"))


def test_ranks_come_from_torchrun_or_srun_and_batch_norm_is_not_split_on_the_cpu():
    assert distributed.ranks_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (1, 4, 1)
    assert distributed.ranks_from_env({"SLURM_PROCID": "3", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1"}) == (3, 8, 1)
    assert distributed.ranks_from_env({}) == (0, 1, 0)
    with pytest.raises(ValueError, match="RANK=4 is outside 0..3"):
        distributed.ranks_from_env({"RANK": "4", "WORLD_SIZE": "4", "LOCAL_RANK": "0"})
    world = distributed.World(rank=1, size=2, local_rank=1, device=torch.device("cpu"))
    assert world.rows(5) == slice(2, 5) and not world.main
    with pytest.raises(ValueError, match="global batch of 1 cannot be split over 2"):
        distributed.check_batch(world, 1, "diffusion.finetune.batch_size")
    from workflow.diffusion.cherry_picker import CherryPicker

    with pytest.raises(ValueError, match="BatchNorm"):
        distributed.sync_batch_norm(world, CherryPicker(1, 32))
