"""``perf.capture``: the captured training step (issue 12) against the eager one.

On the CPU ``perf.capture: true`` runs the captured path's structure (warm-up steps, static input
buffers, the eager partial last batch, metrics summed on the device) with an eager "replay"; its
loss trajectory must equal the eager path's on the same machine (float results differ between
CPUs, so no number recorded on one CPU is a reference). The CUDA graph itself is exercised by the
``gpu`` tests (skipped without a GPU).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from hw2 import contract, gpu
from tests.trainers.test_cnn import (
    _train_in_process,
    _write_config,
    sigterm_after,
)
from trainers import cnn

pytestmark = pytest.mark.usefixtures("isolated_trainer_env")


# Three configs over the 60 training images of the fixture (80, 25 % held out): every batch size
# leaves a partial last batch (60 = 7 x 8 + 4 = 3 x 16 + 12 = 8 x 7 + 4).
CASES: dict[str, dict[str, Any]] = {
    "base": {"train": {"epochs": 3, "batch_size": 8, "progress_every": 1}},
    "regularized": {
        "model": {"name": "regularized", "batch_norm": True, "dropout": 0.2},
        "augment": {"enabled": True},
        "train": {"epochs": 2, "batch_size": 16, "progress_every": 1},
    },
    "adam": {
        "optimizer": {"name": "adam", "lr": 0.001},
        "train": {"epochs": 2, "batch_size": 7, "progress_every": 1},
    },
}

Trajectory = tuple[list[tuple[float, float, float, float]], float]


def _trajectory(lines: list[dict[str, Any]]) -> list[tuple[float, float, float, float]]:
    return [
        (e["train_loss"], e["train_acc"], e["val_loss"], e["val_acc"]) for e in lines if e["type"] == "epoch"
    ]


def _assert_same(got: Trajectory, want: Trajectory, rel: float, abs_: float) -> None:
    assert len(got[0]) == len(want[0])
    for g, w in zip(got[0], want[0], strict=True):
        assert g == pytest.approx(w, rel=rel, abs=abs_)
    assert got[1] == pytest.approx(want[1], rel=rel)


@pytest.mark.parametrize("case", sorted(CASES))
def test_captured_path_and_a_neutral_schedule_equal_the_plain_eager_path(
    tmp_path: Path, cifar_dir: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Three runs on this machine, compared with each other (never with numbers recorded on another
    CPU): the plain eager path (constant schedule: no scheduler, a float lr), the captured path, and
    the eager path with torch's scheduler machinery running a schedule that keeps the lr (step,
    gamma 1). The captured path runs the same float operations in the same order, and a constant
    schedule must leave the results of the code before schedules existed unchanged."""
    runs: dict[str, Trajectory] = {}
    variants: dict[str, dict[str, Any]] = {
        "eager": {"perf": {"threads": 1, "capture": False}},
        "captured": {"perf": {"threads": 1, "capture": True}},
        "neutral-schedule": {
            "perf": {"threads": 1, "capture": False},
            "optimizer": {
                **CASES[case].get("optimizer", {}),
                "schedule": {"name": "step", "milestones": [1], "gamma": 1.0},
            },
        },
    }
    for label, extra in variants.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="hw2.trainer.test"):
            result, lines = _train_in_process(
                tmp_path / f"{case}-{label}", cifar_dir, **{**CASES[case], **extra}
            )
        assert ("static buffers, no graph on the CPU" in caplog.text) is (label == "captured")
        assert ("lr schedule: " in caplog.text) is (label == "neutral-schedule")
        runs[label] = (_trajectory(lines), result["test_loss"])
    _assert_same(runs["captured"], runs["eager"], rel=1e-6, abs_=1e-7)
    _assert_same(runs["neutral-schedule"], runs["eager"], rel=1e-6, abs_=1e-7)
    # the fixture's runs train: the three comparisons above are not of flat lines
    losses = [t[0] for t in runs["eager"][0]]
    assert losses[-1] != losses[0]


def _tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    )


@pytest.mark.parametrize("opt_name", ["momentum", "adam"])
def test_partial_last_batch_is_trained_eagerly_on_the_same_state(opt_name: str) -> None:
    """Two epochs of 5 full batches + a partial one: same weights, optimizer state and metrics."""
    from types import SimpleNamespace

    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(44, 6, generator=gen), torch.randint(0, 3, (44,), generator=gen)
    opt_cfg = SimpleNamespace(name=opt_name, lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
    finals = {}
    for kind in ("eager", "captured"):
        model = _tiny_net()
        opt = cnn.make_optimizer(model.parameters(), opt_cfg)
        args = (model, opt, cnn.eager_step(opt), contextlib.nullcontext, torch.device("cpu"))
        step = cnn.CapturedStep(*args, batch_size=8) if kind == "captured" else cnn.TrainStep(*args)
        reads = []
        for _epoch in range(2):
            step.reset()
            for start in range(0, 44, 8):  # 5 x 8 + 4
                step(x[start : start + 8], y[start : start + 8])
            reads.append(step.read())
            assert step.seen == 44  # the partial batch counted, not dropped
        if kind == "captured":
            assert isinstance(step, cnn.CapturedStep)
            assert step.warm == cnn.CapturedStep.WARMUP_STEPS and step.graph is not None
            assert step.static_x is not None and step.static_x.shape == (8, 6)
        finals[kind] = ([p.detach().clone() for p in model.parameters()], reads)
    for a, b in zip(finals["eager"][0], finals["captured"][0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert finals["captured"][1] == pytest.approx(finals["eager"][1], rel=1e-6)


def test_resolve_capture() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert cnn.resolve_capture("auto", cpu, False) is False  # the CPU default stays the eager step
    assert cnn.resolve_capture("auto", cuda, False) is True
    assert cnn.resolve_capture(True, cpu, False) is True
    assert cnn.resolve_capture(False, cuda, False) is False
    assert cnn.resolve_capture(True, cuda, True) is False  # torch.compile makes its own graphs


def test_captured_run_killed_with_sigterm_ends_killed(tmp_path: Path, cifar_dir: Path) -> None:
    # batch 2 on the deeper net, many epochs: certainly still training (replaying) when signalled
    cfg = _write_config(
        tmp_path / "slow.yaml",
        model={"name": "deeper"},
        train={"epochs": 500, "batch_size": 2, "progress_every": 1},
        perf={"threads": 1, "capture": True},
    )
    run_dir = tmp_path / "runs" / "slow"
    # past the warm-up and capture: an epoch line means every kind of step has run
    sigterm_after(cfg, run_dir, cifar_dir, "epoch")
    assert "static buffers, no graph on the CPU" in (run_dir / contract.LOG_FILE).read_text()


needs_cuda = pytest.mark.skipif(
    gpu.gpu_count() == 0 or not torch.cuda.is_available(), reason="no NVIDIA GPU/driver"
)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_graph_step_matches_eager_on_the_gpu(tmp_path: Path, cifar_dir: Path, case: str) -> None:
    """On CUDA the graph replays the eager step's kernels: the same trajectory to float rounding
    (cuDNN may pick other algorithms between runs, hence a looser tolerance than on the CPU)."""
    runs = {}
    for capture in (False, True):
        _, lines = _train_in_process(
            tmp_path / f"{case}-{capture}",
            cifar_dir,
            perf={"device": "cuda", "capture": capture},
            **CASES[case],
        )
        runs[capture] = _trajectory(lines)
    for got, want in zip(runs[True], runs[False], strict=True):
        assert got == pytest.approx(want, rel=2e-3, abs=2e-3)


@pytest.mark.gpu
@needs_cuda
def test_cuda_graph_step_replays_without_host_sync() -> None:
    """After warm-up and capture, full batches are a copy plus ``replay()``: no sync per step."""
    from types import SimpleNamespace

    device = torch.device("cuda", 0)
    model = _tiny_net().to(device)
    opt_cfg = SimpleNamespace(name="momentum", lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0)
    opt = cnn.make_optimizer(model.parameters(), opt_cfg, capturable=True)
    step = cnn.CapturedStep(model, opt, cnn.eager_step(opt), contextlib.nullcontext, device, batch_size=8)
    x, y = torch.randn(80, 6, device=device), torch.randint(0, 3, (80,), device=device)
    for start in range(0, 40, 8):  # warm-up + capture
        step(x[start : start + 8], y[start : start + 8])
    assert isinstance(step.graph, torch.cuda.CUDAGraph)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for start in range(40, 80, 8):
            step(x[start : start + 8], y[start : start + 8])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    loss, acc = step.read()
    assert loss > 0 and 0 <= acc <= 1
