"""The PyTorch CNN trainer on a tiny CIFAR-10 written as a real image-folder tar.gz.

End-to-end runs are real ``python -m trainers.cnn`` subprocesses checked against the run contract;
the per-model and determinism checks call ``train`` in-process (one torch import) on the same data.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from hw2 import contract
from hw2.schema import ExperimentConfig
from tests.conftest import PROJECT_ROOT
from tests.trainers.conftest import trainer_argv
from trainers import cnn
from trainers.cnn_models import MODELS, build_model, count_params
from trainers.common import RunContext

pytestmark = pytest.mark.usefixtures("isolated_trainer_env")


def _cfg_dict(**sections: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "cnn-test",
        "trainer": "cnn",
        "seed": 0,
        "data": {"val_split": 0.25},
        "model": {"name": "base"},
        "optimizer": {"name": "momentum", "lr": 0.01},
        "train": {"epochs": 1, "batch_size": 8, "progress_every": 1},
        "perf": {"threads": 1},
    }
    for key, value in sections.items():
        d[key] = {**d.get(key, {}), **value} if isinstance(value, dict) else value
    return d


def _write_config(path: Path, **sections: Any) -> Path:
    path.write_text(yaml.safe_dump(_cfg_dict(**sections), sort_keys=False), encoding="utf-8")
    return path


def _run_cli(
    cfg: Path, run_dir: Path, data_dir: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        trainer_argv("trainers.cnn", cfg, run_dir, data_dir),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return list(contract.iter_metrics(run_dir / contract.METRICS_FILE))


def _train_in_process(
    run_dir: Path, data_dir: Path, **sections: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``cnn.train`` with a real RunContext (meta, metrics file), without the subprocess."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = ExperimentConfig.model_validate(_cfg_dict(**sections))
    contract.write_meta(run_dir, contract.RunMeta(run_id=run_dir.name, name=run_dir.name, status="running"))
    metrics = contract.MetricsWriter(run_dir / contract.METRICS_FILE)
    log = logging.getLogger("hw2.trainer.test")
    ctx = RunContext(cfg=cfg, run_dir=run_dir, metrics=metrics, log=log, data_dir=str(data_dir))
    try:
        result = cnn.train(ctx)
    finally:
        metrics.close()
    return result, _lines(run_dir)


# ------------------------------------------------------------------------------ end to end


def test_cli_run_follows_the_contract(tmp_path: Path, cifar_dir: Path) -> None:
    cfg = _write_config(tmp_path / "exp.yaml", train={"epochs": 2})
    run_dir = tmp_path / "runs" / "r1"
    proc = _run_cli(cfg, run_dir, cifar_dir)
    assert proc.returncode == 0, proc.stderr

    meta = contract.read_meta(run_dir)
    assert meta is not None
    assert meta.status == "done" and meta.exit_code == 0 and meta.error is None
    assert meta.pid and meta.pid != os.getpid() and meta.host == contract.host_name()
    assert meta.trainer == "cnn" and meta.epochs == 2
    assert meta.device == "cpu" and meta.gpu_name is None
    assert (
        meta.versions["torch"] == torch.__version__ and "numpy" in meta.versions and "python" in meta.versions
    )
    assert meta.started and meta.ended and meta.ended >= meta.started

    saved = yaml.safe_load((run_dir / contract.CONFIG_FILE).read_text())
    assert saved["trainer"] == "cnn" and saved["model"]["name"] == "base" and saved["train"]["epochs"] == 2

    lines = _lines(run_dir)
    epochs = [x for x in lines if x["type"] == "epoch"]
    progress = [x for x in lines if x["type"] == "progress"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        assert set(contract.EPOCH_KEYS) | {"type", "epochs", "time"} <= set(e)
        assert e["epochs"] == 2
        assert 0.0 <= e["train_acc"] <= 1.0 and 0.0 <= e["val_acc"] <= 1.0
        assert math.isfinite(e["train_loss"]) and math.isfinite(e["val_loss"]) and e["seconds"] > 0
        assert e["lr"] == pytest.approx(0.01)
    train_batches = math.ceil(60 / 8)  # 80 images, 25 % held out for validation
    assert progress, "no progress lines"
    for p in progress:
        assert {"epoch", "epochs", "batch", "batches", "loss", "acc", "time"} <= set(p)
        assert p["batches"] == train_batches and 1 <= p["batch"] <= train_batches and 0 <= p["acc"] <= 1
    # every epoch ends with a batch == batches progress line, written before its epoch line
    for ep in (1, 2):
        idx_end = next(
            i
            for i, x in enumerate(lines)
            if x["type"] == "progress" and x["epoch"] == ep and x["batch"] == train_batches
        )
        idx_epoch = next(i for i, x in enumerate(lines) if x["type"] == "epoch" and x["epoch"] == ep)
        assert idx_end < idx_epoch

    result = json.loads((run_dir / contract.RESULT_FILE).read_text())
    assert set(contract.RESULT_KEYS) <= set(result)
    assert result["params"] == 62_006
    assert 0.0 <= result["test_acc"] <= 1.0 and math.isfinite(result["test_loss"])
    assert result["best_epoch"] in (1, 2)
    assert result["best_val_acc"] == max(e["val_acc"] for e in epochs)
    assert result["epochs_run"] == 2 and result["device"] == "cpu" and result["peak_mem_mb"] > 0
    assert (result["n_train"], result["n_val"], result["n_test"]) == (60, 20, 30)
    assert result["val_on_test"] is False and result["total_seconds"] > 0

    log = (run_dir / contract.LOG_FILE).read_text()
    assert "epoch 1/2" in log and "epoch 2/2" in log and "done: test_acc" in log
    assert "62,006 parameters" in log and "normalize=standard" in log


def sigterm_after(cfg: Path, run_dir: Path, data_dir: Path, line_type: str) -> None:
    """Start the CNN trainer on ``cfg``, SIGTERM it once its first ``line_type`` metrics line is
    written, and check it ended ``killed`` (exit 143, no result)."""
    proc = subprocess.Popen(
        trainer_argv("trainers.cnn", cfg, run_dir, data_dir),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if any(x["type"] == line_type for x in _lines(run_dir)):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "trainer exited before it was signalled"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 143
    meta = contract.read_meta(run_dir)
    assert meta is not None and meta.status == "killed" and meta.exit_code == 143
    assert not (run_dir / contract.RESULT_FILE).exists()


def test_sigterm_mid_epoch_marks_killed(tmp_path: Path, cifar_dir: Path) -> None:
    # batch 1 on the deeper net, many epochs: it is certainly still training when the signal lands
    cfg = _write_config(
        tmp_path / "slow.yaml",
        model={"name": "deeper"},
        train={"epochs": 500, "batch_size": 1, "progress_every": 1},
    )
    run_dir = tmp_path / "runs" / "slow"
    sigterm_after(cfg, run_dir, cifar_dir, "progress")
    assert len([x for x in _lines(run_dir) if x["type"] == "epoch"]) < 500


def test_corrupt_data_is_a_failed_run_with_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad-data"
    (bad / "cifar10").mkdir(parents=True)
    (bad / "cifar10" / "cifar10-jpeg.tar.gz").write_bytes(b"\x1f\x8b this is not a gzip stream" * 50)
    cfg = _write_config(tmp_path / "exp.yaml")
    run_dir = tmp_path / "runs" / "bad"
    proc = _run_cli(cfg, run_dir, bad)
    assert proc.returncode == 1
    meta = contract.read_meta(run_dir)
    assert meta is not None and meta.status == "failed" and meta.exit_code == 1 and meta.error
    assert "Traceback (most recent call last)" in (run_dir / contract.LOG_FILE).read_text()
    assert not (run_dir / contract.RESULT_FILE).exists()


# ------------------------------------------------------------------------------ in-process


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_trains_one_epoch(tmp_path: Path, cifar_dir: Path, model: str) -> None:
    sections: dict[str, Any] = {"model": {"name": model}}
    if model == "regularized":
        sections = {
            "model": {"name": model, "batch_norm": True, "dropout": 0.2},
            "augment": {"enabled": True},
        }
    result, lines = _train_in_process(tmp_path / model, cifar_dir, **sections)
    (ep,) = [x for x in lines if x["type"] == "epoch"]
    assert math.isfinite(ep["train_loss"]) and 0 <= ep["train_acc"] <= 1 and 0 <= ep["val_acc"] <= 1
    expected = count_params(build_model(ExperimentConfig.model_validate(_cfg_dict(**sections))))
    assert result["params"] == expected
    assert result["epochs_run"] == 1 and result["best_epoch"] == 1 and 0 <= result["test_acc"] <= 1


def test_same_seed_same_first_epoch_loss(tmp_path: Path, cifar_dir: Path) -> None:
    aug = {"augment": {"enabled": True}}  # the augmentation RNG must be seeded too
    first = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        _, lines = _train_in_process(tmp_path / name, cifar_dir, seed=seed, **aug)
        first[name] = next(x for x in lines if x["type"] == "epoch")
    assert first["a"]["train_loss"] == first["b"]["train_loss"]
    assert first["a"]["val_loss"] == first["b"]["val_loss"]
    assert first["a"]["train_loss"] != first["c"]["train_loss"]  # the check can fail: seeds matter


def test_val_split_zero_validates_on_test_and_says_so(
    tmp_path: Path, cifar_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hw2.trainer.test"):
        result, lines = _train_in_process(tmp_path / "r", cifar_dir, data={"val_split": 0.0})
    (ep,) = [x for x in lines if x["type"] == "epoch"]
    assert result["val_on_test"] is True and result["n_val"] == result["n_test"] == 30
    assert result["n_train"] == 80
    assert ep["val_loss"] == pytest.approx(result["test_loss"]) and ep["val_acc"] == result["test_acc"]
    assert "validation metrics below are computed on the TEST set" in caplog.text


def test_subsets_are_seeded_random_samples(tmp_path: Path, cifar_dir: Path) -> None:
    result, _ = _train_in_process(
        tmp_path / "r", cifar_dir, data={"val_split": 0.5, "subset": 40, "test_subset": 10}
    )
    assert (result["n_train"], result["n_val"], result["n_test"]) == (20, 20, 10)


def test_early_stopping_stops_after_patience(tmp_path: Path, cifar_dir: Path) -> None:
    # min_delta 10 makes every epoch after the first "not an improvement": patience 1 stops after epoch 2
    result, lines = _train_in_process(
        tmp_path / "r",
        cifar_dir,
        train={
            "epochs": 6,
            "early_stopping": {"enabled": True, "monitor": "val_loss", "patience": 1, "min_delta": 10.0},
        },
    )
    assert [x["epoch"] for x in lines if x["type"] == "epoch"] == [1, 2]
    assert result["epochs_run"] == 2 and result["stopped_early"] is True


# ------------------------------------------------------------------------------ pieces


def test_early_stopper_counts_epochs_without_improvement() -> None:
    acc = cnn.EarlyStopper("val_acc", patience=2, min_delta=0.01)
    assert [acc.step(0.0, a) for a in (0.5, 0.6, 0.605, 0.61, 0.7, 0.6, 0.6)] == [
        False,
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    loss = cnn.EarlyStopper("val_loss", patience=1, min_delta=0.0)
    assert [loss.step(v, 0.0) for v in (2.0, 1.5, 1.5)] == [False, False, True]


def test_to_tensor_normalisations() -> None:
    x = np.zeros((2, 32, 32, 3), np.uint8)
    x[0, 0, 0] = (0, 255, 51)
    x.setflags(write=False)  # like the memory-mapped cache
    std = cnn.to_tensor(x, torch.device("cpu"), "standard")
    assert std.shape == (2, 3, 32, 32) and std.dtype == torch.float32 and std.is_contiguous()
    # the tutorial's ToTensor + Normalize((0.5,)*3, (0.5,)*3)
    assert std[0, :, 0, 0].tolist() == pytest.approx([-1.0, 1.0, 51 / 255 / 0.5 - 1.0])
    unit = cnn.to_tensor(x, torch.device("cpu"), "unit", channels_last=True)
    assert unit.is_contiguous(memory_format=torch.channels_last)
    assert unit[0, :, 0, 0].tolist() == pytest.approx([0.0, 1.0, 0.2])
    with pytest.raises(ValueError, match="data.normalize"):
        cnn.to_tensor(x, torch.device("cpu"), "zscore")


def test_batch_sampler_covers_every_index_once_in_seeded_order() -> None:
    def epoch_orders(seed: int) -> list[list[int]]:
        g = torch.Generator()
        g.manual_seed(seed)
        s = cnn.BatchIndexSampler(10, 4, shuffle=True, generator=g, device=torch.device("cpu"))
        assert len(s) == 3
        return [[int(i) for b in s for i in b] for _ in range(2)]

    a, b = epoch_orders(0), epoch_orders(0)
    assert a == b  # same seed, same order
    assert sorted(a[0]) == list(range(10)) and sorted(a[1]) == list(range(10))
    assert a[0] != a[1]  # a new shuffle each epoch
    loader = cnn.make_loader(torch.arange(10.0)[:, None], torch.arange(10), 4, seed=0)
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2]
    for xb, yb in batches:  # x and y stay paired
        assert torch.equal(xb[:, 0].long(), yb)


def test_augment_batch_flips_and_crops_per_image() -> None:
    g = torch.Generator()
    g.manual_seed(0)
    x = torch.arange(6 * 3 * 8 * 8, dtype=torch.float32).reshape(6, 3, 8, 8)
    assert torch.equal(cnn.augment_batch(x, flip=False, pad=0, gen=g), x)
    out = cnn.augment_batch(x, flip=True, pad=2, gen=g)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):  # each output is a window of its own padded (maybe flipped) image
        candidates = [padded[i], padded[i].flip(2)]
        found = any(
            torch.equal(out[i], c[:, dy : dy + 8, dx : dx + 8])
            for c in candidates
            for dy in range(5)
            for dx in range(5)
        )
        assert found, i
    flips = cnn.augment_batch(x, flip=True, pad=0, gen=g)
    flipped = [torch.equal(flips[i], x[i].flip(2)) for i in range(6)]
    assert all(f or torch.equal(flips[i], x[i]) for i, f in enumerate(flipped))


@pytest.mark.parametrize(
    ("name", "wd", "cls", "momentum"),
    [
        ("sgd", 0.0, "SGD", 0),
        ("momentum", 0.0, "SGD", 0.9),
        ("adam", 0.0, "Adam", None),
        ("adam", 0.01, "AdamW", None),
    ],
)
def test_make_optimizer(name: str, wd: float, cls: str, momentum: float | None) -> None:
    cfg = ExperimentConfig.model_validate(_cfg_dict(optimizer={"name": name, "lr": 0.05, "weight_decay": wd}))
    opt = cnn.make_optimizer(torch.nn.Linear(3, 2).parameters(), cfg.optimizer)
    assert type(opt).__name__ == cls
    assert opt.defaults["lr"] == 0.05 and opt.defaults.get("momentum") == momentum
    if wd:
        assert opt.defaults["weight_decay"] == wd


def test_auto_threads_share_the_cores_between_cpu_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("HW2_CPU_SLOTS", raising=False)
    assert cnn.auto_threads(torch.device("cpu")) == 8
    monkeypatch.setenv("HW2_CPU_SLOTS", "3")
    assert cnn.auto_threads(torch.device("cpu")) == 2
    monkeypatch.setenv("HW2_CPU_SLOTS", "16")
    assert cnn.auto_threads(torch.device("cpu")) == 1
    for bad in ("", "x", "0", "-2"):  # as the scheduler reads it (hw2.contract.cpu_slots): one slot
        monkeypatch.setenv("HW2_CPU_SLOTS", bad)
        assert cnn.auto_threads(torch.device("cpu")) == 8, bad
    assert cnn.auto_threads(torch.device("cuda")) == 1  # the GPU does the math; packed runs share the host


def test_progress_lines_are_rate_limited(tmp_path: Path, cifar_dir: Path) -> None:
    # progress_every 0: checked ~20 times an epoch, written at most every 0.25 s, plus the epoch's last batch
    _, lines = _train_in_process(
        tmp_path / "r", cifar_dir, train={"epochs": 2, "batch_size": 1, "progress_every": 0}
    )
    progress = [x for x in lines if x["type"] == "progress"]
    for ep in (1, 2):
        mine = [x for x in progress if x["epoch"] == ep]
        assert 1 <= len(mine) <= 21 and mine[-1]["batch"] == mine[-1]["batches"] == 60
