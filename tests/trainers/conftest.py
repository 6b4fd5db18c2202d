"""What the trainer tests share: an isolated environment and the trainer command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.data.fixtures import write_cifar_imagefolder

N_PER_CLASS = 8  # 80 train images
N_TEST_PER_CLASS = 3  # 30 test images


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A decode cache of the module's own (tiny fixture data never meets the real cache)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def isolated_trainer_env(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """No downloads, the module's cache, and none of the caller's data/launcher variables."""
    monkeypatch.setenv("HW2_OFFLINE", "1")
    monkeypatch.setenv("HW2_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("HW2_DATA_DIR", raising=False)
    monkeypatch.delenv("HW2_LOG_REDIRECTED", raising=False)


def trainer_argv(module: str, config: Path, run_dir: Path, data_dir: Path) -> list[str]:
    """``python -m trainers.X --config … --run-dir … --data-dir …``, as the launcher runs it."""
    return [
        sys.executable,
        "-m",
        module,
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
        "--data-dir",
        str(data_dir),
    ]


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding ``cifar10/cifar10-jpeg.tar.gz`` laid out like the real one
    (80 train, 30 test images in a real image-folder tar.gz)."""
    root = tmp_path_factory.mktemp("data")
    write_cifar_imagefolder(
        root / "cifar10", as_tar=True, ext="jpg", n_per_class=N_PER_CLASS, n_test_per_class=N_TEST_PER_CLASS
    )
    return root
