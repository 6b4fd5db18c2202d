"""Data-dir resolution, validation split, download fallback, lazy framework imports, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import modules_after, top_level
from tests.data.fixtures import mnist_arrays, write_cifar_imagefolder, write_mnist_idx, write_mnist_npz
from trainers import data as D
from trainers.data import locating

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------- resolution
def test_argument_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    want = write_mnist_idx(tmp_path / "arg", seed=1)
    write_mnist_idx(tmp_path / "env", seed=2)
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "env"))
    res = D.load("mnist", tmp_path / "arg")
    assert res.info.origin == "argument"
    np.testing.assert_array_equal(res.arrays.x_train, want.x_train)


def test_env_beats_cwd_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    want = write_mnist_idx(tmp_path / "env", seed=2)
    write_mnist_idx(tmp_path / "work" / "data" / "mnist", seed=3)
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "env"))
    res = D.load("mnist")
    assert res.info.origin == "HW2_DATA_DIR"
    np.testing.assert_array_equal(res.arrays.x_train, want.x_train)


def test_env_is_authoritative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A named folder without the data is an error, not a silent switch to another copy."""
    write_mnist_idx(tmp_path / "work" / "data" / "mnist")
    (tmp_path / "env").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(D.DataError, match="HW2_DATA_DIR, empty"):
        D.load_mnist()


def test_cwd_data_then_parent_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locating, "PROJECT_ROOT", tmp_path / "elsewhere" / "proj")
    work = tmp_path / "proj"
    work.mkdir()
    monkeypatch.chdir(work)
    shared = write_mnist_npz(tmp_path / "shared" / "data" / "mnist", seed=4)
    res = D.load("mnist")
    assert res.info.origin == "../shared/data"
    np.testing.assert_array_equal(res.arrays.x_train, shared.x_train)
    local = write_mnist_idx(work / "data", seed=5)
    res = D.load("mnist")
    assert res.info.origin == "./data"
    np.testing.assert_array_equal(res.arrays.x_train, local.x_train)


def test_project_shared_data_is_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locating, "PROJECT_ROOT", tmp_path / "repo")
    want = write_cifar_imagefolder(tmp_path / "shared" / "data" / "cifar10", ext="png", n_per_class=1)
    elsewhere = tmp_path / "x" / "y"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    dirs = D.candidate_dirs()
    assert [o for _, o in dirs] == ["./data", "../shared/data", "project ../shared/data"]
    res = D.load("cifar10")
    assert res.info.origin == "project ../shared/data"
    np.testing.assert_array_equal(res.arrays.x_train, want.x_train)


def test_candidate_dirs_dedup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locating, "PROJECT_ROOT", tmp_path / "repo")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert [o for _, o in D.candidate_dirs()] == ["./data", "../shared/data"]


# ------------------------------------------------------------------------------------- val split
def test_split_validation_fixed_by_seed() -> None:
    tr, va = D.split_validation(1000, 0.1, seed=7)
    tr2, va2 = D.split_validation(1000, 0.1, seed=7)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(va, va2)
    assert len(va) == 100 and len(tr) == 900
    assert np.intersect1d(tr, va).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(1000))
    _, va3 = D.split_validation(1000, 0.1, seed=8)
    assert set(va3.tolist()) != set(va.tolist())
    perm = np.random.default_rng(7).permutation(1000)
    assert set(va.tolist()) == set(perm[:100].tolist())


@pytest.mark.parametrize(
    ("n", "frac", "n_val"), [(60000, 0.1, 6000), (50000, 0.2, 10000), (7, 0.3, 2), (10, 0.0, 0)]
)
def test_split_validation_sizes(n: int, frac: float, n_val: int) -> None:
    tr, va = D.split_validation(n, frac, seed=0)
    assert len(va) == n_val and len(tr) == n - n_val
    assert tr.dtype == np.int64 and va.dtype == np.int64


def test_split_validation_rejects_bad_args() -> None:
    with pytest.raises(ValueError, match="val_split"):
        D.split_validation(10, 1.0, 0)
    with pytest.raises(ValueError, match="val_split"):
        D.split_validation(10, -0.1, 0)
    with pytest.raises(ValueError, match="n must be"):
        D.split_validation(-1, 0.1, 0)


# -------------------------------------------------------------------------------------- downloads
def test_injected_downloader_used_when_nothing_local(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HW2_OFFLINE")
    arrays = mnist_arrays(12, 4)
    seen: list[Path] = []

    def fake(dest: Path) -> D.Arrays:
        seen.append(dest)
        return D.Arrays(
            arrays.x_train, arrays.y_train.astype(np.int64), arrays.x_test, arrays.y_test.astype(np.int64)
        )

    res = D.load("mnist", data_root, download=fake)
    assert res.info.format == "download" and len(seen) == 1
    np.testing.assert_array_equal(res.arrays.x_train, arrays.x_train)


def test_default_downloader_is_replaceable_and_failure_is_reported(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HW2_OFFLINE")

    def offline(dest: Path) -> D.Arrays:
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setitem(D.DOWNLOADERS, "cifar10", offline)
    with pytest.raises(D.DataError) as ei:
        D.load_cifar10(data_root)
    msg = str(ei.value)
    assert msg.startswith("CIFAR-10 not found; tried: ")
    assert f"{data_root} (argument, empty)" in msg
    assert "download failed: OSError: [Errno 101] Network is unreachable" in msg
    assert "set HW2_DATA_DIR to a folder holding cifar10/cifar10-jpeg.tar.gz" in msg


def test_offline_never_calls_downloader(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setitem(D.DOWNLOADERS, "mnist", lambda dest: calls.append(1))  # type: ignore[arg-type,func-returns-value]
    with pytest.raises(D.DataError, match=r"downloads disabled \(HW2_OFFLINE=1\)"):
        D.load_mnist(data_root)
    with pytest.raises(D.DataError, match="downloads disabled"):
        D.load_mnist(data_root, download=lambda dest: calls.append(1))  # type: ignore[arg-type,func-returns-value]
    assert calls == []


def test_download_false_and_bad_download(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HW2_OFFLINE")
    with pytest.raises(D.DataError, match="downloads disabled;"):
        D.load_mnist(data_root, download=False)
    bad = D.Arrays(*(np.zeros((3, 5), np.uint8) for _ in range(4)))
    with pytest.raises(D.DataError, match="download failed: DataError: MNIST download: x_train is uint8"):
        D.load_mnist(data_root, download=lambda dest: bad)


def test_module_imports_no_framework() -> None:
    loaded = top_level(modules_after("import trainers.data as d; d.split_validation(10, .5, 0)"))
    assert "trainers" in loaded  # the probe works
    assert not loaded & {"torch", "torchvision", "tensorflow", "keras"}, loaded


# -------------------------------------------------------------------------------------------- CLI
def test_cli_check_json_and_text(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_mnist_idx(data / "mnist", n_train=20, n_test=10)
    write_cifar_imagefolder(data / "cifar10", as_tar=True, ext="png", n_per_class=2, n_test_per_class=1)
    cache = tmp_path / "c"
    base = [
        sys.executable,
        "-m",
        "trainers.data",
        "check",
        "--data-dir",
        str(data),
        "--cache-dir",
        str(cache),
    ]
    out = subprocess.run([*base, "--json"], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["dataset"] for r in rows] == ["mnist", "cifar10"]
    m, c = rows
    assert m["x_train"] == [20, 28, 28] and m["train_counts"] == [2] * 10 and m["format"] == "idx"
    assert c["x_train"] == [20, 32, 32, 3] and c["test_counts"] == [1] * 10 and c["from_cache"] is False
    assert c["cache"].startswith(str(cache))

    out = subprocess.run(base, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "MNIST: idx at" in out.stdout and "train (20, 28, 28) test (10, 28, 28) uint8" in out.stdout
    assert "train per class 2 2 2 2 2 2 2 2 2 2" in out.stdout
    assert "CIFAR-10: tar at" in out.stdout and "cache hit" in out.stdout


def test_cli_one_dataset_missing(tmp_path: Path) -> None:
    write_mnist_idx(tmp_path / "mnist")
    cmd = [sys.executable, "-m", "trainers.data", "check", "--data-dir", str(tmp_path), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert out.returncode == 1
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows[0]["ok"] is True and rows[1]["ok"] is False
    assert rows[1]["error"].startswith("CIFAR-10 not found; tried: ")
