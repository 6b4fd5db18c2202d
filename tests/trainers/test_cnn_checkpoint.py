"""The CNN trainer's checkpoints (issue 18 §2): atomic files, weights_only loads, exact continuation.

Training runs are in-process ``cnn.train`` calls (one torch import, like tests/trainers/test_cnn.py)
on the tiny image-folder CIFAR-10, on the CPU with one thread. A kill is simulated by raising
:class:`~trainers.common.RunKilled` (what SIGTERM raises in a trainer) at the first progress line of
an epoch: the process state after it is then thrown away, and a fresh ``train`` with
``ctx.resume`` must continue from the checkpoint exactly as the uninterrupted run went on.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from hw2 import contract
from hw2.schema import ExperimentConfig
from tests.trainers import recipes
from trainers import checkpoint as ckpt
from trainers import cnn
from trainers.common import RunKilled

pytestmark = pytest.mark.usefixtures("isolated_trainer_env")

EPOCHS = 4
KILL_IN_EPOCH = 3  # killed during epoch 3: the checkpoint holds epoch 2

BASE: dict[str, Any] = {
    "model": {"name": "base"},
    "optimizer": {
        "name": "momentum",
        "lr": 0.01,
        "momentum": 0.9,
        "schedule": {"name": "cosine", "warmup_epochs": 1},
    },
    "train": {"early_stopping": {"enabled": True, "monitor": "val_loss", "patience": 50}},
}
REGULARIZED = recipes.CNN_REGULARIZED

CAPTURED: dict[str, Any] = {**BASE, "perf": {"threads": 1, "capture": True}}
"""The captured step's path (static buffers; on the CPU no graph): the lr is a tensor it reads."""


def _cfg(sections: dict[str, Any]) -> ExperimentConfig:
    return recipes.experiment("cnn", "cnn-ckpt", EPOCHS, 8, sections)  # type: ignore[no-any-return]


KilledContext = recipes.KilledContext


def _train(
    run_dir: Path, data_dir: Path, sections: dict[str, Any], *, resume: bool = False, kill_epoch: int = 0
) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / contract.META_FILE).exists():
        contract.write_meta(
            run_dir, contract.RunMeta(run_id=run_dir.name, name=run_dir.name, status="running")
        )
    metrics = contract.MetricsWriter(run_dir / contract.METRICS_FILE)
    ctx = KilledContext(
        cfg=_cfg(sections),
        run_dir=run_dir,
        metrics=metrics,
        log=logging.getLogger("hw2.trainer.test"),
        data_dir=str(data_dir),
        resume=resume,
        kill_epoch=kill_epoch,
    )
    try:
        return cnn.train(ctx)
    finally:
        metrics.close()


_epochs = recipes.epoch_lines


KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


@pytest.mark.parametrize(
    "sections", [BASE, REGULARIZED, CAPTURED], ids=["base", "regularized", "base-captured"]
)
def test_resumed_run_continues_exactly_as_the_uninterrupted_one(
    tmp_path: Path, cifar_dir: Path, sections: dict[str, Any]
) -> None:
    straight = tmp_path / "straight"
    result = _train(straight, cifar_dir, sections)
    want = _epochs(straight)
    assert [e["epoch"] for e in want] == list(range(1, EPOCHS + 1))

    broken = tmp_path / "broken"
    with pytest.raises(RunKilled):
        _train(broken, cifar_dir, sections, kill_epoch=KILL_IN_EPOCH)
    before = _epochs(broken)
    assert [e["epoch"] for e in before] == list(range(1, KILL_IN_EPOCH))
    saved = torch.load(broken / ckpt.TORCH_CHECKPOINT, weights_only=True)
    assert saved["epoch"] == KILL_IN_EPOCH - 1

    resumed = _train(broken, cifar_dir, sections, resume=True)
    after = _epochs(broken)[len(before) :]
    # it really continued (a run trained again from epoch 1 would give the same numbers too)
    assert [e["epoch"] for e in after] == list(range(KILL_IN_EPOCH, EPOCHS + 1))
    got = before + after
    for w, g in zip(want, got, strict=True):
        for key in (*KEYS, "lr"):
            where = (w["epoch"], key, g[key], w[key])
            assert math.isclose(g[key], w[key], rel_tol=1e-6, abs_tol=1e-12), where
    for key in ("test_loss", "test_acc", "best_epoch", "best_val_acc", "epochs_run"):
        assert math.isclose(resumed[key], result[key], rel_tol=1e-6), (key, resumed[key], result[key])
    # the numbers moved between epochs: the comparison above is not one of constants
    assert len({round(e["train_loss"], 9) for e in want}) == EPOCHS


def test_checkpoint_files_load_with_weights_only(tmp_path: Path, cifar_dir: Path) -> None:
    run_dir = tmp_path / "run"
    result = _train(run_dir, cifar_dir, REGULARIZED)
    # the last checkpoint and the best weights only: no file per epoch, no temp file left
    assert sorted(p.name for p in run_dir.glob("*.pt")) == [ckpt.TORCH_BEST, ckpt.TORCH_CHECKPOINT]
    assert not list(run_dir.glob(f".*{ckpt.TEMP_MARK}*"))
    state = torch.load(run_dir / ckpt.TORCH_CHECKPOINT, weights_only=True)
    assert state["epoch"] == EPOCHS and state["trainer"] == "cnn"
    assert set(state) >= {"model", "optimizer", "scheduler", "stopper", "best", "rng", "stopped_early"}
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda", "order", "augment"}
    assert state["scheduler"]["last_epoch"] == EPOCHS
    assert state["optimizer"]["state"]  # momentum buffers
    best = torch.load(run_dir / ckpt.TORCH_BEST, weights_only=True)
    assert best["epoch"] == result["best_epoch"] == state["best"]["epoch"]
    # best.pt holds the weights the test accuracy was measured with
    model = cnn.build_model(_cfg(REGULARIZED))
    model.load_state_dict(best["model"])
    for k, v in best["model"].items():
        assert torch.equal(v, state["best"]["model"][k])
    assert result["checkpoint_seconds"] > 0


def test_a_torn_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / ckpt.TORCH_CHECKPOINT
    ckpt.torch_save(path, {"epoch": 1, "w": torch.arange(4.0)})

    def torn(f: Any) -> None:  # the writer dies halfway through
        f.write(b"PK\x03\x04 half a zip")
        raise RunKilled("SIGTERM")

    with pytest.raises(RunKilled):
        ckpt.atomic_write(path, torn)
    assert ckpt.torch_load(path)["epoch"] == 1
    assert not ckpt.temp_path(path).exists()


def test_a_failed_background_write_is_raised_on_the_trainers_thread(tmp_path: Path) -> None:
    path = tmp_path / ckpt.TORCH_CHECKPOINT
    writer = ckpt.BackgroundWriter()
    writer.submit([(path, ckpt.torch_bytes({"epoch": 1}))])
    writer.wait()
    writer.submit([(tmp_path / "gone" / ckpt.TORCH_CHECKPOINT, ckpt.torch_bytes({"epoch": 2}))])
    with pytest.raises(FileNotFoundError):
        writer.wait()
    writer.wait()  # raised once
    assert ckpt.torch_load(path)["epoch"] == 1 and writer.write_seconds > 0


def test_a_temp_file_left_by_a_killed_writer_is_never_loaded(tmp_path: Path, cifar_dir: Path) -> None:
    run_dir = tmp_path / "run"
    sections = {**BASE, "train": {**BASE["train"], "epochs": 2}}
    with pytest.raises(RunKilled):
        _train(run_dir, cifar_dir, sections, kill_epoch=2)
    good = (run_dir / ckpt.TORCH_CHECKPOINT).read_bytes()
    # what a SIGKILL during the next write leaves: the first part of a newer checkpoint, as a temp file
    stale = run_dir / f".{ckpt.TORCH_CHECKPOINT}{ckpt.TEMP_MARK}999999"
    stale.write_bytes(good[: len(good) // 2])
    model = cnn.build_model(_cfg(sections))
    parts = cnn.Trainables(
        model,
        cnn.make_optimizer(model.parameters(), _cfg(sections).optimizer),
        None,
        torch.Generator(),
        torch.Generator(),
        None,
    )
    parts.scheduler = cnn.make_scheduler(parts.optimizer, _cfg(sections))
    parts.stopper = cnn.EarlyStopper("val_loss", 50, 0.0)
    loop = cnn.load_checkpoint(run_dir, parts)
    assert loop is not None and loop.epoch == 1
    assert ckpt.remove_stale_temps(run_dir) == [stale] and not stale.exists()
    # resuming clears it too, and trains the one epoch left
    stale.write_bytes(b"\0" * 10)
    _train(run_dir, cifar_dir, sections, resume=True)
    assert not stale.exists()
    assert [e["epoch"] for e in _epochs(run_dir)] == [1, 2]


def test_an_unreadable_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / ckpt.TORCH_CHECKPOINT
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=r"checkpoint\.pt: unreadable checkpoint .*fix: delete it"):
        ckpt.torch_load(path)
    assert ckpt.torch_load(tmp_path / "none.pt") is None
