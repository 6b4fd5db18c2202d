"""Fixtures for the tests against a real one-node Slurm (tests/slurm/start-local-slurm.sh).

The daemons must be up (``sinfo`` answers and the node is idle/mixed/allocated). Where they are
not, the tests skip with the reason, except under CI (``$CI`` set), where that is a failure: CI
runs start-local-slurm.sh before the tests. Every test gets its own runs folder; teardown cancels
the Slurm jobs recorded there and stops the scheduler daemon it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw2 import contract
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import _no_stray_processes, fake_env, write_config  # noqa: F401 - fixtures

START_SCRIPT = Path(__file__).with_name("start-local-slurm.sh")


def _slurm_problem() -> str | None:
    """Why the tests cannot use Slurm here (None: they can)."""
    try:
        out = subprocess.run(
            ["sinfo", "--noheader", "--format", "%T"], capture_output=True, text=True, timeout=20, check=False
        )
    except FileNotFoundError:
        return "Slurm is not installed (sinfo not found)"
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 20 s (slurmctld down?)"
    if out.returncode != 0:
        return f"sinfo failed: {' '.join(out.stderr.split())[:200]}"
    states = out.stdout.split()
    if not any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states):
        return f"no Slurm node is up (sinfo says {states or 'nothing'})"
    return None


@pytest.fixture(scope="session")
def slurm_up() -> None:
    problem = _slurm_problem()
    if problem is None:
        return
    msg = f"{problem}; start it with: sudo bash {START_SCRIPT.relative_to(PROJECT_ROOT)}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Slurm tests: {msg}")
    pytest.skip(msg)


@pytest.fixture(autouse=True)
def slurm_env(slurm_up: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW2_SLURM_POLL_S", "1")  # tests poll fast; a cluster gets the 30 s default
    monkeypatch.delenv("HW2_SLURM_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _cancel_jobs(runs_dir: Path) -> Iterator[None]:
    yield
    jobs = []
    for d in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(d)
        if meta is not None and meta.extra.get("slurm_job_id"):
            jobs.append(str(meta.extra["slurm_job_id"]))
    if jobs:
        subprocess.run(["scancel", *jobs], capture_output=True, check=False, timeout=30)
    info = contract.read_json(runs_dir / ".scheduler.json") or {}
    pid = info.get("pid")
    if isinstance(pid, int) and contract.pid_alive(pid, info.get("pid_create_time")):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
