"""The Keras MLP trainer (homework 2.1) on a tiny MNIST written as real IDX .gz files.

End-to-end runs are real ``python -m trainers.mlp`` subprocesses checked against the run contract
(the TensorFlow and torch Keras backends are started together, each in its own process, since a
process fixes its Keras backend at import). Every model/optimizer option and the best-weights and
early-stopping logic are checked in-process (one TensorFlow import for the whole module).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import logging
import math
import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hw2 import contract
from hw2.schema import ExperimentConfig
from tests.conftest import PROJECT_ROOT
from tests.data.fixtures import write_mnist_idx
from tests.trainers.conftest import trainer_argv
from trainers import mlp
from trainers.common import EXIT_KILLED, RunContext
from trainers.data import split_validation

N_TRAIN = 200  # 180 train / 20 val with val_split 0.1
N_TEST = 40
SUBPROCESS_TIMEOUT = 240


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding ``mnist/*-ubyte.gz`` laid out like the real one."""
    root = tmp_path_factory.mktemp("data")
    write_mnist_idx(root / "mnist", n_train=N_TRAIN, n_test=N_TEST)
    return root


@pytest.fixture(autouse=True)
def _isolated_env(isolated_trainer_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # setup_framework() exports these; keep them from leaking into other tests.
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


def _cfg_dict(**sections: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "mlp-test",
        "trainer": "mlp",
        "seed": 0,
        "data": {"val_split": 0.1},
        "model": {"name": "mlp", "hidden": [32, 16]},
        "optimizer": {"name": "adam", "lr": 0.001},
        "train": {"epochs": 1, "batch_size": 32, "progress_every": 1},
        "perf": {"threads": 1},
    }
    for key, value in sections.items():
        d[key] = {**d.get(key, {}), **value} if isinstance(value, dict) else value
    return d


def _write_config(path: Path, **sections: Any) -> Path:
    path.write_text(yaml.safe_dump(_cfg_dict(**sections), sort_keys=False), encoding="utf-8")
    return path


def _start(config: Path, run_dir: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    """``python -m trainers.mlp`` as the launcher would start it (output kept beside the run)."""
    with open(run_dir.parent / f"{run_dir.name}.stdout", "wb") as out:  # the child keeps its own copy
        return subprocess.Popen(
            trainer_argv("trainers.mlp", config, run_dir, data_dir),
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )


def _finish(proc: subprocess.Popen[bytes], run_dir: Path) -> int:
    try:
        return proc.wait(timeout=SUBPROCESS_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out = run_dir.parent / f"{run_dir.name}.stdout"
        if proc.returncode not in (0, EXIT_KILLED):
            print(out.read_text(errors="replace")[-4000:])


def _lines(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [line for line in contract.iter_metrics(run_dir / contract.METRICS_FILE) if line["type"] == kind]


def _check_epoch_line(line: dict[str, Any], epochs: int) -> None:
    for key in (*contract.EPOCH_KEYS, "epochs", "time"):
        assert key in line, f"epoch line lacks {key}: {line}"
    assert line["epochs"] == epochs
    for key in ("train_acc", "val_acc"):
        assert 0.0 <= line[key] <= 1.0, line
    for key in ("train_loss", "val_loss", "lr", "seconds"):
        assert math.isfinite(line[key]) and line[key] >= 0, line


# ------------------------------------------------------------------------------- subprocess runs


@pytest.fixture(scope="module")
def backend_runs(
    tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path, cache_dir: Path
) -> Iterator[dict[str, tuple[Path, subprocess.Popen[bytes]]]]:
    """One 1-epoch run per Keras backend, started together (each process imports its own framework)."""
    root = tmp_path_factory.mktemp("backend-runs")
    env = {"HW2_OFFLINE": "1", "HW2_CACHE_DIR": str(cache_dir)}
    old = {k: os.environ.get(k) for k in (*env, "HW2_DATA_DIR", "HW2_LOG_REDIRECTED", "KERAS_BACKEND")}
    os.environ.update(env)
    for k in ("HW2_DATA_DIR", "HW2_LOG_REDIRECTED", "KERAS_BACKEND"):
        os.environ.pop(k, None)
    runs = {}
    try:
        for backend in ("tensorflow", "torch"):
            cfg = _write_config(root / f"{backend}.yaml", perf={"threads": 1, "keras_backend": backend})
            run_dir = root / f"run-{backend}"
            runs[backend] = (run_dir, _start(cfg, run_dir, mnist_dir))
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield runs
    for _, proc in runs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_end_to_end_run_follows_the_contract(
    backend_runs: dict[str, tuple[Path, subprocess.Popen[bytes]]],
) -> None:
    run_dir, proc = backend_runs["tensorflow"]
    assert _finish(proc, run_dir) == 0

    meta = contract.read_meta(run_dir)
    assert meta is not None
    assert meta.status == "done" and meta.exit_code == 0 and meta.error is None
    assert meta.pid == proc.pid and meta.host == contract.host_name()
    assert meta.trainer == "mlp" and meta.epochs == 1
    assert meta.device == "cpu" and meta.gpu_name is None
    assert meta.versions["keras"].startswith("3.")
    assert "tensorflow" in meta.versions and "torch" not in meta.versions
    assert meta.extra.get("keras_backend") == "tensorflow"

    cfg = yaml.safe_load((run_dir / contract.CONFIG_FILE).read_text(encoding="utf-8"))
    assert cfg["trainer"] == "mlp" and cfg["model"]["hidden"] == [32, 16]

    progress = _lines(run_dir, "progress")
    assert len(progress) >= 2, "expected progress lines within the epoch"
    batches = math.ceil(N_TRAIN * 0.9 / 32)
    assert all(p["epoch"] == 1 and p["batches"] == batches and 1 <= p["batch"] <= batches for p in progress)
    assert progress[-1]["batch"] == batches  # the last batch is never rate-limited away
    seen = [p["batch"] for p in progress]
    assert seen == sorted(set(seen)), "progress lines must move forward"
    assert all(0.0 <= p["acc"] <= 1.0 and math.isfinite(p["loss"]) for p in progress)

    epochs = _lines(run_dir, "epoch")
    assert len(epochs) == 1 and epochs[0]["epoch"] == 1
    _check_epoch_line(epochs[0], 1)
    assert epochs[0]["lr"] == pytest.approx(0.001)
    # The epoch's training loss is Keras's running mean: the last progress line of the epoch.
    assert epochs[0]["train_loss"] == pytest.approx(progress[-1]["loss"], rel=1e-5)
    assert epochs[0]["train_acc"] == pytest.approx(progress[-1]["acc"], rel=1e-5)

    result = contract.read_result(run_dir)
    assert result is not None
    for key in (*contract.RESULT_KEYS, "epochs_run", "stopped_early", "backend", "device"):
        assert key in result, f"result lacks {key}"
    assert 0.0 <= result["test_acc"] <= 1.0 and math.isfinite(result["test_loss"])
    assert result["best_epoch"] == 1 and result["epochs_run"] == 1 and result["stopped_early"] is False
    assert result["best_val_acc"] == pytest.approx(epochs[0]["val_acc"])
    assert result["params"] == (784 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    assert result["backend"] == "tensorflow" and result["device"] == "cpu"
    assert result["n_train"] == 180 and result["n_val"] == 20 and result["n_test"] == N_TEST
    assert result["total_seconds"] > 0

    log = (run_dir / contract.LOG_FILE).read_text(encoding="utf-8")
    assert "epoch 1/1" in log and "done: test_acc" in log


def test_torch_backend_trains_one_epoch(
    backend_runs: dict[str, tuple[Path, subprocess.Popen[bytes]]],
) -> None:
    run_dir, proc = backend_runs["torch"]
    assert _finish(proc, run_dir) == 0
    meta = contract.read_meta(run_dir)
    assert meta is not None and meta.status == "done"
    assert "torch" in meta.versions and "tensorflow" not in meta.versions
    result = contract.read_result(run_dir)
    assert result is not None and result["backend"] == "torch"
    assert 0.0 <= result["test_acc"] <= 1.0
    epochs = _lines(run_dir, "epoch")
    assert len(epochs) == 1
    _check_epoch_line(epochs[0], 1)
    assert _lines(run_dir, "progress")


def test_sigterm_during_training_marks_the_run_killed(tmp_path: Path, mnist_dir: Path) -> None:
    cfg = _write_config(
        tmp_path / "long.yaml", train={"epochs": 10_000, "batch_size": 8, "progress_every": 1}
    )
    run_dir = tmp_path / "run"
    proc = _start(cfg, run_dir, mnist_dir)
    try:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while not _lines(run_dir, "progress"):
            assert proc.poll() is None, "trainer exited before training started"
            assert time.monotonic() < deadline, "no progress line in time"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        code = _finish(proc, run_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == EXIT_KILLED == 143
    meta = contract.read_meta(run_dir)
    assert meta is not None and meta.status == "killed" and meta.exit_code == 143
    assert meta.error and "SIGTERM" in meta.error
    assert contract.read_result(run_dir) is None
    assert "stopped by SIGTERM" in (run_dir / contract.LOG_FILE).read_text(encoding="utf-8")


def test_corrupt_data_fails_the_run_with_the_traceback(tmp_path: Path, mnist_dir: Path) -> None:
    bad = tmp_path / "bad-data" / "mnist"
    bad.mkdir(parents=True)
    for f in (mnist_dir / "mnist").iterdir():
        (bad / f.name).write_bytes(f.read_bytes()[:40])  # truncated gzip streams
    cfg = _write_config(tmp_path / "c.yaml")
    run_dir = tmp_path / "run"
    code = _finish(_start(cfg, run_dir, bad.parent), run_dir)
    assert code == 1
    meta = contract.read_meta(run_dir)
    assert meta is not None and meta.status == "failed" and meta.exit_code == 1
    assert meta.error and "DataError" in meta.error
    log = (run_dir / contract.LOG_FILE).read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "prepare_data" in log
    assert contract.read_result(run_dir) is None


# ------------------------------------------------------------------------------- in-process runs


def _ctx(tmp_path: Path, data_dir: Path, **sections: Any) -> RunContext:
    cfg = ExperimentConfig.model_validate(_cfg_dict(**sections))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    contract.write_meta(run_dir, contract.RunMeta(run_id="run", name="run"))
    log = logging.getLogger("test.mlp")
    return RunContext(
        cfg=cfg,
        run_dir=run_dir,
        metrics=contract.MetricsWriter(run_dir / contract.METRICS_FILE),
        log=log,
        data_dir=str(data_dir),
    )


def _layer_types(model: Any) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def _check_l1(model: Any) -> None:
    import keras

    assert all(isinstance(d.kernel_regularizer, keras.regularizers.L1) for d in _dense(model))
    assert len(model.losses) == len(_dense(model))


def _check_l2(model: Any) -> None:
    import keras

    assert all(isinstance(d.kernel_regularizer, keras.regularizers.L2) for d in _dense(model))
    assert len(model.losses) == len(_dense(model))


def _check_l1l2(model: Any) -> None:
    import keras

    regs = [d.kernel_regularizer for d in _dense(model)]
    assert all(isinstance(r, keras.regularizers.L1L2) and r.l1 > 0 and r.l2 > 0 for r in regs)


def _check_dropout(model: Any) -> None:
    drops = [layer for layer in model.layers if type(layer).__name__ == "Dropout"]
    assert len(drops) == 2 and all(d.rate == pytest.approx(0.3) for d in drops)


def _check_augment(model: Any) -> None:
    types = _layer_types(model)
    assert types[:4] == ["Reshape", "RandomRotation", "RandomTranslation", "RandomZoom"]
    assert types.index("Flatten") == 4


def _check_sgd(model: Any) -> None:
    opt = model.optimizer
    assert type(opt).__name__ == "SGD" and opt.momentum == 0.0


def _check_momentum(model: Any) -> None:
    opt = model.optimizer
    assert type(opt).__name__ == "SGD" and opt.momentum == pytest.approx(0.8) and opt.nesterov is True


def _check_adam(model: Any) -> None:
    assert type(model.optimizer).__name__ == "Adam"


def _check_plain(model: Any) -> None:
    assert _layer_types(model) == ["Flatten", "Dense", "Dense", "Dense"]
    assert all(d.kernel_regularizer is None for d in _dense(model))


def _dense(model: Any) -> list[Any]:
    return [layer for layer in model.layers if type(layer).__name__ == "Dense"]


def _check_tanh(model: Any) -> None:
    assert [d.activation.__name__ for d in _dense(model)] == ["tanh", "tanh", "softmax"]


# Options are grouped so that each group is one tiny fit (a fit costs seconds of tracing on CPU);
# every option appears in exactly one group and each group checks that its options were built.
OPTION_CASES: dict[str, tuple[dict[str, Any], tuple[Any, ...]]] = {
    "plain-adam": ({}, (_check_plain, _check_adam)),
    "l1-sgd-unit-tanh": (
        {
            "model": {"l1": 1e-4, "activation": "tanh"},
            "optimizer": {"name": "sgd", "lr": 0.05},
            "data": {"normalize": "unit"},
        },
        (_check_l1, _check_sgd, _check_tanh),
    ),
    "l2-momentum-dropout": (
        {
            "model": {"l2": 1e-3, "dropout": 0.3},
            "optimizer": {"name": "momentum", "lr": 0.01, "momentum": 0.8, "nesterov": True},
        },
        (_check_l2, _check_momentum, _check_dropout),
    ),
    "l1l2-augment-early-stopping": (
        {
            "model": {"l1": 1e-4, "l2": 1e-3},
            "augment": {"enabled": True},
            "train": {"epochs": 2, "early_stopping": {"enabled": True, "patience": 1}},
        },
        (_check_l1l2, _check_augment, _check_adam),
    ),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_each_option_builds_and_trains(case: str, tmp_path: Path, mnist_dir: Path) -> None:
    sections, checks = OPTION_CASES[case]
    ctx = _ctx(tmp_path, mnist_dir, **sections)
    model, result = mlp.fit_and_evaluate(ctx)
    ctx.metrics.close()
    for check in checks:
        check(model)
    epochs = _lines(ctx.run_dir, "epoch")
    assert len(epochs) == result["epochs_run"] >= 1
    for line in epochs:
        _check_epoch_line(line, ctx.cfg.train.epochs)
    assert 0.0 <= result["test_acc"] <= 1.0 and math.isfinite(result["test_loss"])
    assert result["params"] == model.count_params()
    meta = contract.read_meta(ctx.run_dir)
    assert meta is not None and meta.device == "cpu" and "tensorflow" in meta.versions


@pytest.mark.parametrize("setting", [True, False, "auto"])
def test_jit_compile_setting_reaches_keras(setting: bool | str) -> None:
    """perf.jit_compile is handed to compile(); 'auto' lets Keras decide: XLA only with a GPU."""
    cfg = ExperimentConfig.model_validate(_cfg_dict(perf={"threads": 1, "jit_compile": setting}))
    keras, device, _ = mlp.setup_framework(cfg)
    model = mlp.build_model(keras, cfg)
    mlp.compile_model(keras, model, cfg)
    expected = device.startswith("cuda") if setting == "auto" else setting
    assert model.jit_compile is expected


def test_augmentation_is_active_only_in_training(tmp_path: Path, mnist_dir: Path) -> None:
    ctx = _ctx(tmp_path, mnist_dir, augment={"enabled": True, "rotation": 0.2})
    keras, _, _ = mlp.setup_framework(ctx.cfg)
    data = mlp.prepare_data(ctx.cfg, str(mnist_dir))
    model = mlp.build_model(keras, ctx.cfg, data.background)
    x = data.x_train[:8]
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.allclose(inference, keras.ops.convert_to_numpy(model(x, training=False)))
    training = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(inference, training)
    # Pixels moved in from outside the image are background, not reflected or wrapped image:
    # rotating all-bright images must bring background into the corners.
    augment = keras.Sequential(model.layers[:4])
    bright = np.full((16, 784), 3.0, dtype=np.float32)
    moved = keras.ops.convert_to_numpy(augment(bright, training=True))
    assert np.isclose(moved, data.background, atol=1e-3).any()
    assert moved.min() >= data.background - 1e-3 and moved.max() <= 3.0 + 1e-3


def _evaluate_val(model: Any, ctx: RunContext) -> dict[str, float]:
    """Loss and accuracy of ``model`` (as returned: weights restored) on the run's validation split."""
    data = mlp.prepare_data(ctx.cfg, ctx.data_dir)
    out = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)
    return {k: float(v) for k, v in out.items()}


def _write_idx_gz(path: Path, arr: np.ndarray) -> None:
    """One MNIST IDX file (unsigned-byte data, big-endian dims), gzip-compressed."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    path.write_bytes(gzip.compress(header + arr.tobytes(), mtime=0))


@pytest.fixture(scope="module")
def misleading_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Learnable digits whose *validation* labels are all wrong (shifted by one class).

    Each class is a bright square at its own place, so training learns fast; the examples
    split_validation holds out carry label (c+1) % 10. The better the model fits, the worse it does on
    validation: validation loss rises every epoch and the first epoch is the best, by construction.
    """
    n_train, n_test = 400, 40
    rng = np.random.default_rng(1)

    def images(labels: np.ndarray) -> np.ndarray:
        x = rng.integers(0, 50, size=(len(labels), 28, 28), dtype=np.uint8)
        for i, c in enumerate(labels):
            r, col = (c // 5) * 14 + 4, (c % 5) * 5 + 1
            x[i, r : r + 6, col : col + 5] = 255
        return x

    y_train = (np.arange(n_train) % 10).astype(np.uint8)
    y_test = (np.arange(n_test) % 10).astype(np.uint8)
    x_train, x_test = images(y_train), images(y_test)
    _, val_idx = split_validation(n_train, 0.1, 0)
    y_train[val_idx] = (y_train[val_idx] + 1) % 10
    root = tmp_path_factory.mktemp("misleading")
    d = root / "mnist"
    d.mkdir()
    for name, arr in (
        ("train-images-idx3-ubyte", x_train),
        ("train-labels-idx1-ubyte", y_train),
        ("t10k-images-idx3-ubyte", x_test),
        ("t10k-labels-idx1-ubyte", y_test),
    ):
        _write_idx_gz(d / f"{name}.gz", arr)
    return root


FAST_FIT = {"model": {"hidden": [64]}, "optimizer": {"name": "adam", "lr": 0.01}}


@pytest.mark.parametrize("monitor", ["val_loss", "val_acc"])
def test_early_stopping_stops_and_restores_the_best_weights(
    monitor: str, tmp_path: Path, misleading_dir: Path
) -> None:
    es = {"enabled": True, "monitor": monitor, "patience": 2}
    ctx = _ctx(
        tmp_path, misleading_dir, **FAST_FIT, train={"epochs": 40, "batch_size": 16, "early_stopping": es}
    )
    model, result = mlp.fit_and_evaluate(ctx)
    ctx.metrics.close()
    epochs = _lines(ctx.run_dir, "epoch")
    val_losses = [line["val_loss"] for line in epochs]
    assert val_losses == sorted(val_losses), "the misleading data should make validation worse every epoch"
    assert result["stopped_early"] is True and result["epochs_run"] == len(epochs) == 3  # best 1 + patience 2
    assert result["best_epoch"] == 1 and result["monitor"] == monitor
    assert result["best_val_acc"] == pytest.approx(epochs[0]["val_acc"])
    restored = _evaluate_val(model, ctx)
    assert restored["loss"] == pytest.approx(val_losses[0], rel=1e-4)
    assert restored["loss"] < val_losses[-1] * 0.99  # not the last epoch's weights


def test_best_weights_are_restored_without_early_stopping(tmp_path: Path, misleading_dir: Path) -> None:
    """Early stopping off: training runs all epochs, the best-val-accuracy epoch's weights are tested."""
    es = {"enabled": False, "monitor": "val_loss"}  # monitor only matters with early stopping on
    ctx = _ctx(
        tmp_path, misleading_dir, **FAST_FIT, train={"epochs": 3, "batch_size": 16, "early_stopping": es}
    )
    model, result = mlp.fit_and_evaluate(ctx)
    ctx.metrics.close()
    epochs = _lines(ctx.run_dir, "epoch")
    assert result["epochs_run"] == len(epochs) == 3 and result["stopped_early"] is False
    accs = [line["val_acc"] for line in epochs]
    best = int(np.argmax(accs)) + 1  # first of equals
    assert result["monitor"] == "val_acc" and result["best_epoch"] == best
    assert result["best_val_acc"] == pytest.approx(max(accs))
    restored = _evaluate_val(model, ctx)
    assert restored["acc"] == pytest.approx(accs[best - 1])
    assert restored["loss"] == pytest.approx(epochs[best - 1]["val_loss"], rel=1e-4)
    assert best < 3 and restored["loss"] < epochs[-1]["val_loss"] * 0.99  # not the last epoch's weights
    # The model really learnt the (correctly labelled) test digits: the misleading part is val only.
    assert result["test_acc"] >= 0.5


def test_empty_validation_split_is_one_clear_error(tmp_path: Path, mnist_dir: Path) -> None:
    ctx = _ctx(tmp_path, mnist_dir, data={"val_split": 0.0})
    with pytest.raises(ValueError, match=r"data\.val_split: 0\.0 .* fix: "):
        mlp.fit_and_evaluate(ctx)


def test_subsets_and_standardisation(tmp_path: Path, mnist_dir: Path) -> None:
    cfg = ExperimentConfig.model_validate(
        _cfg_dict(data={"subset": 100, "test_subset": 15, "val_split": 0.2})
    )
    data = mlp.prepare_data(cfg, str(mnist_dir))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (80, 20, 15)
    assert data.x_train.shape[1] == 784 and data.x_train.dtype == np.float32
    assert abs(float(data.x_train.mean())) < 1e-4 and float(data.x_train.std()) == pytest.approx(
        1.0, rel=1e-3
    )
    assert data.background < 0
    unit = mlp.prepare_data(
        cfg.model_copy(update={"data": cfg.data.model_copy(update={"normalize": "unit"})}), str(mnist_dir)
    )
    assert unit.x_train.min() >= 0.0 and unit.x_train.max() <= 1.0 and unit.background == 0.0


def test_framework_versions_name_the_backend_package() -> None:
    assert set(mlp.framework_versions("tensorflow")) == {"keras", "tensorflow"}
    assert set(mlp.framework_versions("torch")) == {"keras", "torch"}


# ------------------------------------------------------------------------------- real data (slow)


@pytest.mark.slow
def test_baseline_reaches_97_percent_in_3_epochs(
    tmp_path: Path, shared_data_dir: Path, shared_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped baseline on the real MNIST, run exactly as the app runs it (CPU, 3 epochs).

    Band from a measured seed spread: seeds 0-4 on an Intel Xeon (2 cores, 2026-12-07, ``hw2-tui
    run configs/mlp/baseline.yaml --set train.epochs=3 --set seed=S``): 0.9758, 0.9737, 0.9735,
    0.9764, 0.9748 (spread 0.003). The band [0.970, 0.985] holds each with more than the spread
    to spare below (the homework's 97 % is its floor) and two points above."""
    from hw2.config import load_experiment

    cfg = load_experiment(PROJECT_ROOT / "configs" / "mlp" / "baseline.yaml", ["train.epochs=3"])
    config = tmp_path / "baseline-3.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("HW2_CACHE_DIR", str(shared_cache_dir))
    run_dir = tmp_path / "run"
    assert _finish(_start(config, run_dir, shared_data_dir), run_dir) == 0
    result = contract.read_result(run_dir)
    assert result is not None
    epochs = _lines(run_dir, "epoch")
    print(
        f"\nbaseline 3 epochs: test_acc {result['test_acc']:.4f}, "
        f"epoch seconds {[round(e['seconds'], 1) for e in epochs]}, total {result['total_seconds']:.1f}s"
    )
    assert result["n_train"] + result["n_val"] == 60_000 and result["n_test"] == 10_000
    assert 0.970 <= result["test_acc"] <= 0.985
    assert json.loads((run_dir / contract.META_FILE).read_text())["status"] == "done"


def test_a_backend_that_is_not_installed_is_one_clear_error(tmp_path: Path, mnist_dir: Path) -> None:
    if importlib.util.find_spec("jax") is not None:
        pytest.skip("jax is installed here")
    ctx = _ctx(tmp_path, mnist_dir, perf={"keras_backend": "jax"})
    with pytest.raises(RuntimeError, match=r"^perf\.keras_backend: 'jax' needs the 'jax' package.*fix: "):
        mlp.fit_and_evaluate(ctx)


def test_scheduled_lr_reaches_the_optimizer_and_metrics(tmp_path: Path, mnist_dir: Path) -> None:
    """A warm-up + step schedule end to end (a real ``python -m trainers.mlp``): each epoch's lr in
    metrics.jsonl is the one the definition gives (tests/trainers/test_schedules.py holds it)."""
    from tests.trainers.test_schedules import expected_lr

    sections = {
        "optimizer": {
            "name": "momentum",
            "lr": 0.05,
            "schedule": {"name": "step", "milestones": [3], "gamma": 0.1, "warmup_epochs": 1},
        },
        "train": {"epochs": 4, "batch_size": 64, "progress_every": 0},
    }
    cfg_path = _write_config(tmp_path / "sched.yaml", **sections)
    run_dir = tmp_path / "run"
    assert _finish(_start(cfg_path, run_dir, mnist_dir), run_dir) == 0
    cfg = ExperimentConfig.model_validate(_cfg_dict(**sections))
    lrs = [line["lr"] for line in _lines(run_dir, "epoch")]
    assert lrs == pytest.approx([expected_lr(cfg, k) for k in range(1, 5)], rel=1e-6)
    assert lrs == pytest.approx([0.025, 0.05, 0.05, 0.005], rel=1e-6)
    assert (
        "lr schedule: step 0.05, x0.1 after epoch 3, 1 warm-up epoch"
        in (run_dir / contract.LOG_FILE).read_text()
    )
