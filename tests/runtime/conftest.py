"""Fixtures for the runtime tests: the fake trainer, small configs, and no stray processes.

Every test gets its own runs dir and a scheduler environment tuned for speed (fast fake batches,
a short idle exit). Teardown stops any scheduler and trainer the test left behind, by the pids
recorded in that test's own runs dir only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from hw2 import contract
from tests.conftest import PROJECT_ROOT


@pytest.fixture(autouse=True)
def fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW2_EXTRA_TRAINERS", "fake=tests.fake_trainer")
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.005")
    monkeypatch.setenv("HW2_CPU_SLOTS", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CPU slots even on a GPU box: HW2_CPU_SLOTS rules
    monkeypatch.setenv("HW2_SCHEDULER_IDLE", "0.5")
    monkeypatch.setenv("HW2_KILL_GRACE", "15")  # a loaded CI box may need seconds to unwind
    monkeypatch.delenv("HW2_FAKE_FAIL_AT_EPOCH", raising=False)
    monkeypatch.delenv("HW2_SLOTS_PER_GPU", raising=False)
    monkeypatch.chdir(PROJECT_ROOT)


@pytest.fixture(autouse=True)
def _no_stray_processes(runs_dir: Path) -> Iterator[None]:
    yield
    info = contract.read_json(runs_dir / ".scheduler.json") or {}
    pids = [(info.get("pid"), info.get("pid_create_time"), False)]
    for d in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(d)
        if meta is not None and meta.status == "running":
            pids.append((meta.pid, meta.pid_create_time, True))
    for pid, ctime, group in pids:
        if isinstance(pid, int) and contract.pid_alive(pid, ctime):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                (os.killpg if group else os.kill)(pid, signal.SIGKILL)


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write an experiment YAML for the fake trainer; returns its path."""

    def write(
        name: str = "fake-exp", epochs: int = 2, batches: int = 3, model: str = "fake", **extra: object
    ) -> Path:
        data: dict[str, object] = {
            "name": name,
            "trainer": "fake",
            "model": {"name": model},
            "train": {"epochs": epochs, "batch_size": batches},
        }
        data.update(extra)
        path = tmp_path / "configs" / f"{name.replace('/', '_')}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


def wait_for(pred: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def statuses(runs_dir: Path) -> dict[str, str]:
    out = {}
    for d in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(d)
        out[d.name] = meta.status if meta else "?"
    return out


def all_final(runs_dir: Path) -> bool:
    st = statuses(runs_dir)
    return bool(st) and all(s in contract.FINAL_STATUSES for s in st.values())
