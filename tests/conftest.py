"""Shared fixtures. Area-specific fixtures live in each test folder's own conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def modules_after(code: str, timeout: float = 300) -> set[str]:
    """Every module loaded once ``code`` has run in a fresh interpreter in the project root."""
    probe = f"{code}\nimport sys\nprint(','.join(sorted(sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.strip().splitlines()[-1].split(","))


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def find_shared_data() -> Path | None:
    """The real datasets: ``$HW2_DATA_DIR`` if set, else ``../shared/data`` beside the project."""
    candidates = []
    if os.environ.get("HW2_DATA_DIR"):
        candidates.append(Path(os.environ["HW2_DATA_DIR"]))
    candidates.append(PROJECT_ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "mnist").is_dir() or (c / "cifar10").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real MNIST/CIFAR-10 folder; skips the test with a reason when it is absent."""
    d = find_shared_data()
    if d is None:
        pytest.skip("real data not found: set HW2_DATA_DIR or provide ../shared/data")
    return d


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One decode cache for the whole session (decoding CIFAR-10 JPEGs takes a while).

    Honours ``$HW2_CACHE_DIR`` so CI and developers can keep the cache between runs.
    """
    if os.environ.get("HW2_CACHE_DIR"):
        return Path(os.environ["HW2_CACHE_DIR"])
    return tmp_path_factory.mktemp("hw2-cache")


@pytest.fixture
def runs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty runs folder, also exported as ``$HW2_RUNS_DIR`` for subprocesses."""
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("HW2_RUNS_DIR", str(d))
    return d


@pytest.fixture(autouse=True)
def _no_notifications_from_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own ``$HW2_NOTIFY_CMD`` (their phone) is never run by the tests, and the
    channels are the defaults; the notification tests set both themselves."""
    monkeypatch.delenv("HW2_NOTIFY_CMD", raising=False)
    monkeypatch.delenv("HW2_NOTIFY", raising=False)
