"""hw2.launch_plan without a UI: the time estimate (measured seconds per epoch of earlier runs of the
same model, laid out over the executor's slots) and the sentences a launch dialog shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw2.config import expand_study, smoke_planned
from hw2.executors import Placement as Executor
from hw2.executors.local import placement as local_executor
from hw2.executors.slurm import placement as slurm_executor
from hw2.launch_plan import (
    duration_text,
    estimate,
    make_plan,
    measured_speeds,
    pace_text,
    speed_keys,
    wall_seconds,
)
from hw2.planning import enqueue_sweep
from hw2.runs.summary import RunSummary

CPU1 = Executor("local", 1, "cpu", "local CPU")

BASE = """\
name: net
trainer: mlp
seed: 0
model: {name: mlp, hidden: [32]}
optimizer: {name: sgd, lr: 0.1}
train: {epochs: 10, batch_size: 64}
"""

STUDY = """\
study: "2.9 Optimizers"
base: net.yaml
variants:
  - name: sgd
    set: {optimizer.name: sgd}
  - name: adam
    set: {optimizer.name: adam, optimizer.lr: 0.001}
"""


@pytest.fixture
def study(tmp_path: Path) -> Path:
    (tmp_path / "net.yaml").write_text(BASE)
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    return path


def _run(
    spe: float | None,
    *,
    optimizer: str = "sgd",
    model: str = "mlp",
    batch: int = 64,
    status: str = "done",
    smoke: bool = False,
    device: str | None = "cpu",
) -> RunSummary:
    """A finished run's summary as hw2.runs.summary builds it: figures plus flattened settings."""
    return RunSummary(
        run_id=f"r-{optimizer}-{spe}",
        name="r",
        status=status,
        trainer="mlp",
        device=device,
        smoke=smoke,
        seconds_per_epoch=spe,
        hparams={
            "model.name": model,
            "train.batch_size": batch,
            "optimizer.name": optimizer,
            "data.dataset": None,
            "data.subset": None,
        },
    )


def test_wall_seconds_lays_runs_out_over_the_slots() -> None:
    assert wall_seconds([10, 10, 10], 1) == 30
    assert wall_seconds([10, 10, 10], 2) == 20  # two at once, then the third
    assert wall_seconds([30, 10, 10, 10], 2) == 30  # the long one on one slot, three short on the other
    assert wall_seconds([10, 20], None) == 20  # Slurm starting all at once
    assert wall_seconds([], 1) == 0


def test_estimate_uses_the_same_model_and_the_optimizer_when_measured(study: Path) -> None:
    planned = expand_study(study)  # sgd and adam, 10 epochs each
    history = [
        _run(2.0, optimizer="sgd"),
        _run(4.0, optimizer="adam"),
        _run(6.0, optimizer="adam"),
        _run(100.0, model="cnn"),  # another model: not counted
        _run(100.0, batch=8),  # another batch size: not counted
        _run(100.0, status="failed"),  # a failed run's epochs may be cut short
        _run(0.1, smoke=True),  # a smoke run: one epoch of a small subset
    ]
    est = estimate(planned, history, CPU1)
    assert est.seconds == pytest.approx(10 * 2.0 + 10 * 5.0)  # one at a time: sgd, then adam
    assert est.unknown == 0
    assert est.text() == "Time: about 1 min (2.0–5.0 s/epoch measured on cpu over 2 earlier runs)."
    two = Executor("local", 2, "cpu", "local CPU")
    assert estimate(planned, history, two).seconds == pytest.approx(50.0)  # side by side


def test_estimate_falls_back_to_the_model_and_says_unknown_without_history(study: Path) -> None:
    planned = expand_study(study)
    # only sgd was measured: adam takes the model's speed (trainer, model, batch size, data)
    est = estimate(planned, [_run(3.0, optimizer="sgd")], CPU1)
    assert est.seconds == pytest.approx(60.0) and est.unknown == 0
    none = estimate(planned, [_run(3.0, model="cnn")], CPU1)
    assert none.seconds is None and none.unknown == 2
    assert none.text() == "Time: unknown (no earlier finished run of this model, batch size and data)."


def test_estimate_prefers_runs_on_the_executors_device(study: Path) -> None:
    planned = expand_study(study)[:1]
    history = [_run(1.0, device="cuda:0"), _run(9.0, device="cpu")]
    gpu = Executor("local", 1, "gpu", "local GPU (1)")
    assert estimate(planned, history, gpu).seconds == pytest.approx(10.0)
    assert estimate(planned, history, CPU1).seconds == pytest.approx(90.0)
    # measured elsewhere only: still an estimate, and it names the device it was measured on
    only_gpu = estimate(planned, history[:1], CPU1)
    assert only_gpu.seconds == pytest.approx(10.0) and "measured on gpu" in only_gpu.text()


def test_speed_keys_and_measured_speeds() -> None:
    fine, coarse = speed_keys("mlp", {"model.name": "mlp", "train.batch_size": 64, "optimizer.name": "adam"})
    assert fine == (*coarse, "adam")
    assert coarse == ("mlp", "mlp", 64, None, None)
    speeds = measured_speeds([_run(2.0), _run(4.0), _run(None)])  # a run without epoch times is left out
    assert speeds[(("mlp", "mlp", 64, None, None), "cpu")].seconds_per_epoch == 3.0
    assert speeds[(("mlp", "mlp", 64, None, None), "cpu")].runs == 2


def test_duration_and_pace_texts() -> None:
    assert duration_text(59) == "under a minute"
    assert duration_text(7 * 60 + 10) == "about 7 min"
    assert duration_text(3 * 3600 + 20 * 60) == "about 3 h 20 min"
    assert pace_text(4.71, 4.74) == "4.7 s"
    assert pace_text(2.5, 4.7) == "2.5–4.7 s"
    assert pace_text(30, 90) == "30 s–1.5 min"
    assert pace_text(12.4, 31) == "12–31 s"


def test_executors_say_where_and_how_many_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("HW2_CPU_SLOTS", "3")
    local = local_executor(tmp_path / "runs")  # no scheduler runs: the one that would start
    assert (local.what, local.slots, local.device, local.at_once()) == (
        "local CPU",
        3,
        "cpu",
        "up to 3 at once",
    )
    assert CPU1.at_once() == "one at a time"
    slurm = slurm_executor(gpus=1, parallelism=None)
    assert (slurm.what, slurm.device, slurm.at_once()) == (
        "Slurm, 1 GPU per run",
        "gpu",
        "as many at once as Slurm starts",
    )


def test_make_plan_on_an_empty_runs_folder(study: Path, tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path / "runs", expand_study(study), force=False, executor=CPU1, study="2.9 Optimizers"
    )
    assert plan.lines() == [
        "None of the 2 planned runs is done or queued yet.",
        "Queue 2 runs × 10 epochs on local CPU, one at a time.",
        "Time: unknown (no earlier finished run of this model, batch size and data).",
    ]


def test_why_earlier_runs_of_the_study_are_not_twins(study: Path, tmp_path: Path) -> None:
    """Queued runs (the real queue; nothing is started) with other settings, another seed, and smoke
    runs: each kind gets its sentence; twins get none."""
    runs = tmp_path / "runs"
    planned = expand_study(study)
    enqueue_sweep(runs, list(expand_study(study, ["train.epochs=2"])))  # other settings
    enqueue_sweep(runs, list(expand_study(study, repeat=2)))  # seed 0: twins; seed 1: another seed
    enqueue_sweep(runs, [smoke_planned(p) for p in planned], force=True, smoke=True)
    plan = make_plan(runs, planned, force=False, executor=CPU1, study="2.9 Optimizers")
    assert plan.lines() == [
        "Both planned runs are done or queued already (twins): nothing to queue.",
        "2 runs of 2.9 with other settings (2 epochs, planned 10) are not twins.",
        "2 runs of 2.9 with other seeds (1) are not in this plan.",
        "2 smoke runs never count.",
    ]
    assert plan.count == 0
    # the other settings are named by key when they are not the epochs
    enqueue_sweep(runs, list(expand_study(study, ["train.batch_size=32", "model.hidden=[16]"])))
    plan = make_plan(runs, planned, force=False, executor=CPU1, study="2.9 Optimizers")
    assert plan.lines()[1] == (
        "4 runs of 2.9 with other settings (2 epochs, planned 10; model.hidden 16, planned 32; "
        "train.batch_size 32, planned 64) are not twins."
    )


def test_force_queues_every_planned_run_and_says_so(study: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    planned = expand_study(study)
    enqueue_sweep(runs, list(planned))
    plan = make_plan(runs, planned, force=True, executor=CPU1, study="2.9 Optimizers")
    assert plan.count == 2
    assert plan.lines()[:2] == [
        "force: all 2 planned runs are queued, 2 of them again (they have a twin).",
        "Queue 2 runs × 10 epochs on local CPU, one at a time. 2 runs already queued or running come first.",
    ]
