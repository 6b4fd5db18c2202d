"""``optimizer.schedule``: each schedule's lr per epoch against its definition, in both trainers.

The definition (docs/configs.md, :mod:`hw2.schedule`) is written out once here, as the formulas,
and nowhere in the trainers: the CNN chains ``torch.optim.lr_scheduler`` objects and the MLP
evaluates Keras ``LearningRateSchedule`` objects. Both are held to :func:`expected_lr` epoch by
epoch, as objects and end to end (the lr in ``metrics.jsonl``). The captured CNN step must follow
the schedule too: its lr lives in a tensor that the schedulers update in place, so a CUDA graph
reads each epoch's value instead of the one baked in at capture.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from hw2.schema import ExperimentConfig
from tests.trainers.test_cnn import _train_in_process
from trainers import cnn
from trainers.torch_shortcuts import eager_step, skip_lazy_dynamo_import

pytestmark = pytest.mark.usefixtures("isolated_trainer_env")

# As the trainer does: torch.optim's zero_grad would otherwise import torch._dynamo (and triton),
# which crashes a process that has loaded TensorFlow, as the MLP tests before this file do.
skip_lazy_dynamo_import()


def expected_lr(cfg: ExperimentConfig, k: int) -> float:
    """The lr of epoch ``k`` (from 1), by the definition in docs/configs.md."""
    s, lr = cfg.optimizer.schedule, cfg.optimizer.lr
    w, n = s.warmup_epochs, cfg.train.epochs - s.warmup_epochs
    if k <= w:
        return lr * k / (w + 1)
    t = k - w - 1
    if s.name == "constant":
        return lr
    if s.name == "step":
        return lr * s.gamma ** sum(1 for m in s.milestones if k > m)
    if s.name == "cosine":
        return s.min_lr + (lr - s.min_lr) * (1 + math.cos(math.pi * t / n)) / 2
    assert s.name == "onecycle" and s.max_lr is not None
    up = min(max(round(s.pct_start * n), 1), n - 1)
    if t < up:
        return lr + (s.max_lr - lr) * t / up
    return s.min_lr + (s.max_lr - s.min_lr) * (1 + math.cos(math.pi * (t - up) / (n - up))) / 2


def _cfg(
    trainer: str, epochs: int, lr: float, schedule: dict[str, Any], opt: str = "momentum"
) -> ExperimentConfig:
    model = {"name": "mlp"} if trainer == "mlp" else {"name": "base"}
    return ExperimentConfig.model_validate(
        {
            "trainer": trainer,
            "model": model,
            "train": {"epochs": epochs},
            "optimizer": {"name": opt, "lr": lr, "schedule": schedule},
        }
    )


SCHEDULES: dict[str, tuple[int, float, dict[str, Any]]] = {
    "constant+warmup": (8, 0.1, {"name": "constant", "warmup_epochs": 3}),
    "step": (10, 0.1, {"name": "step", "milestones": [3, 7], "gamma": 0.5}),
    "step+warmup": (12, 0.1, {"name": "step", "milestones": [4, 9], "warmup_epochs": 2}),
    "cosine": (10, 0.1, {"name": "cosine", "min_lr": 0.001}),
    "cosine+warmup": (10, 0.05, {"name": "cosine", "warmup_epochs": 2}),
    "onecycle": (20, 0.01, {"name": "onecycle", "max_lr": 0.2, "pct_start": 0.25, "min_lr": 1e-4}),
    "onecycle+warmup": (15, 0.01, {"name": "onecycle", "max_lr": 0.2, "warmup_epochs": 3}),
    "onecycle-2-epochs": (2, 0.01, {"name": "onecycle", "max_lr": 0.1}),
}


def test_the_definition_itself() -> None:
    """A few values worked out by hand, so the reference formulas above are not only self-consistent."""
    c = _cfg("cnn", 10, 0.1, {"name": "step", "milestones": [3, 7], "gamma": 0.5})
    assert [expected_lr(c, k) for k in (1, 3, 4, 7, 8, 10)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    )
    c = _cfg("cnn", 8, 0.1, {"name": "constant", "warmup_epochs": 3})
    assert [expected_lr(c, k) for k in (1, 2, 3, 4, 8)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    c = _cfg("cnn", 10, 0.1, {"name": "cosine"})
    assert expected_lr(c, 1) == pytest.approx(0.1) and expected_lr(c, 6) == pytest.approx(0.05)
    c = _cfg("cnn", 11, 0.01, {"name": "onecycle", "max_lr": 0.2, "pct_start": 0.2, "min_lr": 0.0})
    # 2 rising epochs (0.01, 0.105), the peak at epoch 3, then cosine down over 9 epochs
    assert [expected_lr(c, k) for k in (1, 2, 3)] == pytest.approx([0.01, 0.105, 0.2])


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("tensor_lr", [False, True], ids=["float-lr", "tensor-lr"])
def test_torch_schedulers_follow_the_definition(name: str, tensor_lr: bool) -> None:
    epochs, lr, schedule = SCHEDULES[name]
    cfg = _cfg("cnn", epochs, lr, schedule)
    p = torch.nn.Parameter(torch.ones(2))
    opt = cnn.make_optimizer([p], cfg.optimizer, lr_device=torch.device("cpu") if tensor_lr else None)
    lr_object = opt.param_groups[0]["lr"]
    scheduler = cnn.make_scheduler(opt, cfg)
    assert scheduler is not None
    # the trainer's step (eager_step): torch's own optimizer.step would import torch._dynamo and
    # triton, which crash this process once the MLP tests have loaded TensorFlow into it
    step = eager_step(opt)
    got = []
    for _ in range(epochs):
        got.append(cnn.current_lr(opt))
        p.grad = torch.ones(2)
        step()
        scheduler.step()
    want = [expected_lr(cfg, k) for k in range(1, epochs + 1)]
    assert got == pytest.approx(want, rel=1e-6, abs=1e-9)
    if tensor_lr:  # updated in place: what a captured step reads
        assert opt.param_groups[0]["lr"] is lr_object


def test_constant_schedule_builds_no_scheduler() -> None:
    cfg = _cfg("cnn", 5, 0.1, {})
    opt = cnn.make_optimizer([torch.nn.Parameter(torch.ones(1))], cfg.optimizer)
    assert cnn.make_scheduler(opt, cfg) is None
    assert opt.param_groups[0]["lr"] == 0.1 and not isinstance(opt.param_groups[0]["lr"], torch.Tensor)


@pytest.fixture(scope="module")
def keras_tf() -> Any:
    pytest.importorskip("tensorflow")
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("this process runs Keras on another backend")
    return keras


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_keras_schedules_follow_the_definition(name: str, keras_tf: Any) -> None:
    from trainers.mlp import schedule_function

    epochs, lr, schedule = SCHEDULES[name]
    cfg = _cfg("mlp", epochs, lr, schedule, opt="adam")
    lr_of_epoch = schedule_function(keras_tf, cfg)
    assert lr_of_epoch is not None
    got = [lr_of_epoch(k - 1) for k in range(1, epochs + 1)]
    assert got == pytest.approx([expected_lr(cfg, k) for k in range(1, epochs + 1)], rel=1e-5, abs=1e-8)


def test_keras_constant_schedule_adds_no_callback(keras_tf: Any) -> None:
    from trainers.mlp import schedule_function

    assert schedule_function(keras_tf, _cfg("mlp", 5, 0.001, {}, opt="adam")) is None


# --------------------------------------------------------------------------------- end to end


def _epochs(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in lines if e["type"] == "epoch"]


def _traj(lines: list[dict[str, Any]]) -> list[tuple[float, float, float, float]]:
    return [(e["train_loss"], e["train_acc"], e["val_loss"], e["val_acc"]) for e in _epochs(lines)]


@pytest.mark.parametrize(
    "schedule",
    [
        {"name": "step", "milestones": [2], "gamma": 0.2, "warmup_epochs": 1},
        {"name": "onecycle", "max_lr": 0.2, "pct_start": 0.5},
    ],
    ids=["step+warmup", "onecycle"],
)
def test_cnn_run_logs_the_scheduled_lr_and_the_captured_step_follows_it(
    tmp_path: Path, cifar_dir: Path, schedule: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Eager and captured runs under a schedule: each epoch's lr in metrics.jsonl is the defined one,
    and the two trajectories are equal to rounding. A captured step that trained at the first lr
    would drift from the eager run from the first lr change on (the lr moves 5x here)."""
    sections: dict[str, Any] = {
        "optimizer": {"name": "momentum", "lr": 0.02, "schedule": schedule},
        "train": {"epochs": 4, "batch_size": 8},
    }
    cfg = ExperimentConfig.model_validate({"trainer": "cnn", "model": {"name": "base"}, **sections})
    runs = {}
    for capture in (False, True):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="hw2.trainer.test"):
            _, lines = _train_in_process(
                tmp_path / f"run-{capture}", cifar_dir, perf={"threads": 1, "capture": capture}, **sections
            )
        assert ("static buffers, no graph on the CPU" in caplog.text) is capture
        assert "lr schedule: " in caplog.text
        lrs = [e["lr"] for e in _epochs(lines)]
        assert lrs == pytest.approx([expected_lr(cfg, k) for k in range(1, 5)], rel=1e-6)
        runs[capture] = _traj(lines)
    for got, want in zip(runs[True], runs[False], strict=True):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_captured_step_reads_the_lr_tensor_the_scheduler_updates() -> None:
    """The captured step keeps the lr objects it was captured with; the scheduler must update those
    same tensors (what a CUDA graph reads at replay), and plain SGD's update is exactly lr x grad."""
    from types import SimpleNamespace

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    cfg = _cfg("cnn", 4, 0.1, {"name": "step", "milestones": [1, 2], "gamma": 0.1})
    opt_cfg = SimpleNamespace(name="sgd", lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0)
    opt = cnn.make_optimizer(model.parameters(), opt_cfg, lr_device=torch.device("cpu"))
    scheduler = cnn.make_scheduler(opt, cfg)
    assert scheduler is not None
    step = cnn.CapturedStep(
        model, opt, cnn.eager_step(opt), contextlib.nullcontext, torch.device("cpu"), batch_size=8
    )
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for _ in range(cnn.CapturedStep.WARMUP_STEPS + 1):  # warm-up, then the capture
        step(x, y)
    assert step.graph is not None and step.lr_follows()
    for k in (2, 3, 4):
        scheduler.step()
        assert step.lr_follows()  # the very tensors the capture saw, updated in place
        before = model.weight.detach().clone()
        step(x, y)  # a replay
        grad = model.weight.grad.detach().clone()
        torch.testing.assert_close(model.weight.detach(), before - expected_lr(cfg, k) * grad)
    # a float lr (what a graph would bake in) is not followed
    opt.param_groups[0]["lr"] = 0.5
    assert not step.lr_follows()


def test_capture_failure_continues_eagerly_with_the_same_trajectory(
    tmp_path: Path, cifar_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """perf.capture whose capture raises: one log line, then the eager trajectory to rounding."""
    sections: dict[str, Any] = {
        "optimizer": {"name": "momentum", "lr": 0.02, "schedule": {"name": "cosine"}},
        "train": {"epochs": 2, "batch_size": 8},
    }
    _, eager = _train_in_process(
        tmp_path / "eager", cifar_dir, perf={"threads": 1, "capture": False}, **sections
    )

    def broken_capture(self: cnn.CapturedStep, xb: torch.Tensor, yb: torch.Tensor) -> None:
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing (injected)")

    monkeypatch.setattr(cnn.CapturedStep, "_capture", broken_capture)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hw2.trainer.test"):
        result, captured = _train_in_process(
            tmp_path / "captured", cifar_dir, perf={"threads": 1, "capture": True}, **sections
        )
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("capture failed: ")]
    assert failures == [
        "capture failed: RuntimeError: CUDA error: operation not permitted when stream is capturing "
        "(injected); continuing eagerly"
    ]
    assert len(_epochs(captured)) == 2 and math.isfinite(result["test_loss"])
    for got, want in zip(_traj(captured), _traj(eager), strict=True):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_schedule_text_for_people() -> None:
    """The one line the TUI's Config tab and the trainers' logs show."""
    from hw2.schedule import schedule_text

    assert schedule_text(_cfg("cnn", 30, 0.05, {"name": "cosine", "warmup_epochs": 2})) == (
        "cosine 0.05 → 0 over 30 epochs, 2 warm-up epochs"
    )
    assert schedule_text(_cfg("cnn", 20, 0.01, {"name": "onecycle", "max_lr": 0.2, "min_lr": 1e-4})) == (
        "onecycle 0.01 → 0.2 (first 30%) → 0.0001 over 20 epochs"
    )
    assert schedule_text(_cfg("cnn", 10, 0.1, {"name": "step", "milestones": [3, 7]})) == (
        "step 0.1, x0.1 after epoch 3, 7"
    )
    # a run's config.yaml written before schedules existed, and one that is not a mapping inside
    assert schedule_text({"optimizer": {"lr": 0.02}, "train": {"epochs": 5}}) == "constant 0.02"
    assert schedule_text({"optimizer": "adam"}) == "constant 0.01"
