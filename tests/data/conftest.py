"""Fixtures for the dataset-loader tests.

The writers themselves live in :mod:`tests.data.fixtures` so other test folders can import them.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _offline_and_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No downloads, no stray env dirs, and a private cache per test (never ~/.cache)."""
    monkeypatch.setenv("HW2_OFFLINE", "1")
    monkeypatch.delenv("HW2_DATA_DIR", raising=False)
    monkeypatch.setenv("HW2_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """An empty data folder for a test to fill with a fixture writer."""
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"
