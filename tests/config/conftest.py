"""Fixtures for the config tests: write YAML snippets to files and load them."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """``write_yaml("x.yaml", text)`` writes dedented ``text`` under tmp_path and returns the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def _no_extra_trainers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the built-in trainers unless they register more themselves."""
    monkeypatch.delenv("HW2_EXTRA_TRAINERS", raising=False)
