"""What the trainer tests share: an isolated environment and the trainer command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


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
