"""The MLP trainer's checkpoints (issue 18 §2): atomic files, pickle-free loads, exact continuation.

In-process ``mlp.fit_and_evaluate`` runs on a tiny MNIST written as real IDX files, on the CPU
with one thread, Keras on TensorFlow. A kill is simulated by raising
:class:`~trainers.common.RunKilled` (what SIGTERM raises in a trainer) at the first progress line
of an epoch; a fresh model resumed from the checkpoint must continue exactly as the uninterrupted
run went on. (This file sorts after test_mlp.py: TensorFlow is loaded there already.)
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hw2 import contract
from hw2.schema import ExperimentConfig
from tests.data.fixtures import write_mnist_idx
from tests.trainers import recipes
from trainers import checkpoint as ckpt
from trainers import mlp
from trainers.common import RunKilled

EPOCHS = 4
KILL_IN_EPOCH = 3  # killed during epoch 3: the checkpoint holds epoch 2

PLAIN: dict[str, Any] = {
    "model": {"name": "mlp", "hidden": [32, 16]},
    "optimizer": {"name": "adam", "lr": 0.003, "schedule": {"name": "cosine", "warmup_epochs": 1}},
    "train": {"early_stopping": {"enabled": True, "monitor": "val_loss", "patience": 50}},
}
REGULARIZED: dict[str, Any] = {
    "model": {"name": "mlp", "hidden": [32], "dropout": 0.3, "l2": 1e-4},
    "augment": {"enabled": True},
    "optimizer": {"name": "momentum", "lr": 0.02, "momentum": 0.9, "nesterov": True},
}


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_mnist_idx(root / "mnist", n_train=120, n_test=30)
    return root


@pytest.fixture(autouse=True)
def _isolated_env(isolated_trainer_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


def _cfg(sections: dict[str, Any]) -> ExperimentConfig:
    return recipes.experiment("mlp", "mlp-ckpt", EPOCHS, 16, sections)  # type: ignore[no-any-return]


KilledContext = recipes.KilledContext


def _train(
    run_dir: Path, data_dir: Path, sections: dict[str, Any], *, resume: bool = False, kill_epoch: int = 0
) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    if not (run_dir / contract.META_FILE).exists():
        contract.write_meta(run_dir, contract.RunMeta(run_id=run_dir.name, name=run_dir.name))
    metrics = contract.MetricsWriter(run_dir / contract.METRICS_FILE)
    ctx = KilledContext(
        cfg=_cfg(sections),
        run_dir=run_dir,
        metrics=metrics,
        log=logging.getLogger("test.mlp.ckpt"),
        data_dir=str(data_dir),
        resume=resume,
        kill_epoch=kill_epoch,
    )
    try:
        return mlp.fit_and_evaluate(ctx)[1]
    finally:
        metrics.close()


_epochs = recipes.epoch_lines


@pytest.mark.parametrize("sections", [PLAIN, REGULARIZED], ids=["plain", "dropout-augment"])
def test_resumed_run_continues_exactly_as_the_uninterrupted_one(
    tmp_path: Path, mnist_dir: Path, sections: dict[str, Any]
) -> None:
    straight = tmp_path / "straight"
    result = _train(straight, mnist_dir, sections)
    want = _epochs(straight)
    assert [e["epoch"] for e in want] == list(range(1, EPOCHS + 1))

    broken = tmp_path / "broken"
    with pytest.raises(RunKilled):
        _train(broken, mnist_dir, sections, kill_epoch=KILL_IN_EPOCH)
    before = _epochs(broken)
    assert [e["epoch"] for e in before] == list(range(1, KILL_IN_EPOCH))

    resumed = _train(broken, mnist_dir, sections, resume=True)
    after = _epochs(broken)[len(before) :]
    # it really continued (a run trained again from epoch 1 would give the same numbers too)
    assert [e["epoch"] for e in after] == list(range(KILL_IN_EPOCH, EPOCHS + 1))
    for w, g in zip(want, before + after, strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            where = (w["epoch"], key, g[key], w[key])
            assert math.isclose(g[key], w[key], rel_tol=1e-6, abs_tol=1e-12), where
    for key in ("test_loss", "test_acc", "best_epoch", "best_val_acc", "epochs_run"):
        assert math.isclose(resumed[key], result[key], rel_tol=1e-6), (key, resumed[key], result[key])
    assert len({round(e["train_loss"], 9) for e in want}) == EPOCHS  # the numbers moved


def test_checkpoint_files(tmp_path: Path, mnist_dir: Path) -> None:
    run_dir = tmp_path / "run"
    result = _train(run_dir, mnist_dir, REGULARIZED)
    assert sorted(p.name for p in run_dir.glob("*.npz")) == [ckpt.KERAS_BEST, ckpt.KERAS_CHECKPOINT]
    assert not list(run_dir.glob(f".*{ckpt.TEMP_MARK}*"))
    saved = ckpt.npz_load(run_dir / ckpt.KERAS_CHECKPOINT)
    assert saved is not None
    with np.load(run_dir / ckpt.KERAS_CHECKPOINT, allow_pickle=False) as z:  # no pickled object in it
        assert set(z.files) == set(saved)
    import json

    meta = json.loads(str(saved["meta"]))
    assert meta["epoch"] == EPOCHS and meta["trainer"] == "mlp"
    assert meta["best"]["best_epoch"] == result["best_epoch"]
    # the seed generators' states (dropout, rotation, translation, zoom) moved during training
    keras_cfg = _cfg(REGULARIZED)
    keras, _, _ = mlp.setup_framework(keras_cfg)
    fresh = mlp.build_model(keras, keras_cfg)
    seeds = [i for i, v in enumerate(fresh.variables) if "seed_generator" in v.path]
    assert len(seeds) == 4
    for i in seeds:
        assert not np.array_equal(saved[f"model/{i:04d}"], keras.ops.convert_to_numpy(fresh.variables[i]))
    best = ckpt.npz_load(run_dir / ckpt.KERAS_BEST)
    assert best is not None and int(best["epoch"]) == result["best_epoch"]


def test_a_temp_file_left_by_a_killed_writer_is_never_loaded(tmp_path: Path, mnist_dir: Path) -> None:
    run_dir = tmp_path / "run"
    sections = {**PLAIN, "train": {**PLAIN["train"], "epochs": 2}}
    with pytest.raises(RunKilled):
        _train(run_dir, mnist_dir, sections, kill_epoch=2)
    good = (run_dir / ckpt.KERAS_CHECKPOINT).read_bytes()
    stale = run_dir / f".{ckpt.KERAS_CHECKPOINT}{ckpt.TEMP_MARK}999999"
    stale.write_bytes(good[: len(good) // 2])
    _train(run_dir, mnist_dir, sections, resume=True)
    assert not stale.exists()
    assert [e["epoch"] for e in _epochs(run_dir)] == [1, 2]
