"""Fixtures for the reliability tests: real processes, a real terminal (tmux), and no leftovers.

Why real: the promises here are about process trees (a TUI killed under its runs, a trainer killed
under the scheduler), terminals (a hang-up) and the file system (disk full, not a folder). Mocks
would prove nothing. Every test gets

* its own runs dir (``runs_dir`` from tests/conftest.py, exported as ``$HW2_RUNS_DIR``) and an
  environment for the fake trainer (``fake_env``);
* ``reaper``: on teardown, even after a failure, stops that runs dir's scheduler and SIGKILLs the
  process group of every trainer it recorded, plus every process the test registered;
* ``tmux``: a tmux server on a private socket (``-L hw2rel-<random>``), killed on teardown.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hw2 import contract
from tests.conftest import PROJECT_ROOT

HW2_TUI = str(Path(sys.executable).with_name("hw2-tui"))
TMUX = shutil.which("tmux") or "/usr/bin/tmux"
STATUS_WORDS = ("queued", "running", "done", "failed", "killed", "deleted")


# ---------------------------------------------------------------------- environment


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, runs_dir: Path) -> dict[str, str]:
    """Environment for the fake trainer under the real scheduler; also returned for subprocesses."""
    values = {
        "HW2_EXTRA_TRAINERS": "fake=tests.fake_trainer",
        "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HW2_FAKE_SLEEP": "0.02",
        "HW2_CPU_SLOTS": "4",
        "CUDA_VISIBLE_DEVICES": "",  # CPU slots even on a GPU box
        "HW2_SCHEDULER_IDLE": "1",
        "HW2_KILL_GRACE": "3",
        "HW2_RUNS_DIR": str(runs_dir),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in ("HW2_FAKE_FAIL_AT_EPOCH", "HW2_SLOTS_PER_GPU", "HW2_FAKE_GPU_MB"):
        monkeypatch.delenv(key, raising=False)
    return values


def write_fake_config(
    folder: Path, name: str, *, epochs: int = 3, batches: int = 5, model: str = "ok", **extra: Any
) -> Path:
    """An experiment YAML for the fake trainer (``batches`` = progress lines per epoch)."""
    data: dict[str, Any] = {
        "name": name,
        "trainer": "fake",
        "model": {"name": model},
        "optimizer": {"name": "sgd", "lr": 0.05},
        "train": {"epochs": epochs, "batch_size": batches},
    }
    data.update(extra)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def enqueue_config(runs_dir: Path, path: Path) -> list[str]:
    """Queue every planned run of ``path`` without starting a scheduler; returns the run ids."""
    from hw2.config import expand_study
    from hw2.queue import create_run

    return [create_run(runs_dir, p) for p in expand_study(path)]


def cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (``python -m hw2.cli``)."""
    return subprocess.run(
        [sys.executable, "-m", "hw2.cli", *args],
        cwd=cwd or PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        preexec_fn=preexec_fn,  # noqa: PLW1509 - only sets an rlimit, no threads involved
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The CLI failed with exactly one ``hw2-tui: error:`` line and no traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hw2-tui: "), proc.stderr
    return lines[0]


# ---------------------------------------------------------------------- reading runs


def wait_until(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def statuses(runs_dir: Path) -> dict[str, str]:
    """Run id → status as written in meta.json."""
    out: dict[str, str] = {}
    for d in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(d)
        out[d.name] = meta.status if meta else "?"
    return out


def names_and_statuses(runs_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(d)
        if meta is not None:
            out[meta.name] = meta.status
    return out


def all_final(runs_dir: Path) -> bool:
    st = statuses(runs_dir)
    return bool(st) and all(s in contract.FINAL_STATUSES for s in st.values())


def raw_metric_lines(run_dir: Path) -> tuple[int, int, int]:
    """(epoch lines, progress lines, other lines) exactly as the trainer wrote them."""
    epochs = progress = other = 0
    path = run_dir / contract.METRICS_FILE
    if not path.exists():
        return 0, 0, 0
    for raw in path.read_bytes().split(b"\n"):
        if not raw.strip():
            continue
        try:
            kind = json.loads(raw).get("type")
        except (ValueError, AttributeError):
            other += 1
            continue
        if kind == "epoch":
            epochs += 1
        elif kind == "progress":
            progress += 1
        else:
            other += 1
    return epochs, progress, other


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def launch_count(run_dir: Path) -> tuple[int, int]:
    """(launcher lines, harness start lines) in train.log: a run started twice shows 2 of each."""
    try:
        log = (run_dir / contract.LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return 0, 0
    launched = log.count("--- hw2: launching ")
    started = len(re.findall(rf"run {re.escape(run_dir.name)}: trainer \S+, pid \d+", log))
    return launched, started


# ---------------------------------------------------------------------- cleanup


class Reaper:
    """Kills what a test started: its scheduler, its trainers, and registered processes."""

    def __init__(self, runs_dirs: list[Path]) -> None:
        self.runs_dirs = runs_dirs
        self.procs: list[subprocess.Popen[Any]] = []
        self.pids: list[int] = []

    def add(self, proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.procs.append(proc)
        return proc

    def add_pid(self, pid: int) -> None:
        self.pids.append(pid)

    def trainer_pids(self) -> list[tuple[int, float | None]]:
        out = []
        for rd in self.runs_dirs:
            for d in contract.list_run_dirs(rd):
                meta = contract.read_meta(d)
                if meta is not None and meta.pid:
                    out.append((meta.pid, meta.pid_create_time))
        return out

    def cleanup(self) -> None:
        for rd in self.runs_dirs:
            info = contract.read_json(rd / ".scheduler.json") or {}
            pid = info.get("pid")
            if isinstance(pid, int) and contract.pid_alive(pid, info.get("pid_create_time")):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for pid, ctime in self.trainer_pids():
            if contract.pid_alive(pid, ctime):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def reaper(runs_dir: Path) -> Iterator[Reaper]:
    r = Reaper([runs_dir])
    try:
        yield r
    finally:
        r.cleanup()


# ---------------------------------------------------------------------- tmux


class Tmux:
    """A private tmux server: ``-L hw2rel-<random>``, so nothing touches anyone else's sessions."""

    def __init__(self) -> None:
        self.socket = f"hw2rel-{uuid.uuid4().hex[:10]}"

    def cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, timeout=20, check=check
        )

    def new_session(
        self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str], size: tuple[int, int] = (200, 50)
    ) -> int:
        """Start ``argv`` (exec'd directly, no shell) in a new detached session; returns its pid."""
        env_args: list[str] = []
        # Textual sizes itself from $COLUMNS/$LINES when set (a stale 80x24 leaks into tmux from
        # some parents); say the real size.
        env = {**env, "COLUMNS": str(size[0]), "LINES": str(size[1])}
        for key, value in env.items():
            env_args += ["-e", f"{key}={value}"]
        self.cmd(
            "new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), "-c", str(cwd),
            *env_args, *argv,
        )  # fmt: skip
        self.cmd("set-option", "-t", name, "remain-on-exit", "off", check=False)
        # A second detached session would get the server's default 80x24: pin the size.
        self.cmd("resize-window", "-t", name, "-x", str(size[0]), "-y", str(size[1]), check=False)
        return self.pane_pid(name)

    def pane_pid(self, name: str) -> int:
        out = self.cmd("list-panes", "-t", name, "-F", "#{pane_pid}").stdout.split()
        return int(out[0])

    def capture(self, name: str) -> str:
        proc = self.cmd("capture-pane", "-p", "-t", name, check=False)
        return proc.stdout if proc.returncode == 0 else ""

    def send(self, name: str, *keys: str) -> None:
        self.cmd("send-keys", "-t", name, *keys)

    def has_session(self, name: str) -> bool:
        return self.cmd("has-session", "-t", name, check=False).returncode == 0

    def kill_session(self, name: str) -> None:
        self.cmd("kill-session", "-t", name, check=False)

    def kill_server(self) -> None:
        self.cmd("kill-server", check=False)
        # tmux leaves its socket file behind; it is ours, remove it
        base = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        with contextlib.suppress(OSError):
            (base / self.socket).unlink()


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if not Path(TMUX).exists():
        pytest.skip("tmux is not installed")
    t = Tmux()
    try:
        yield t
    finally:
        t.kill_server()


def tui_env(fake: dict[str, str]) -> dict[str, str]:
    """What a TUI in tmux needs: the fake-trainer environment and a sane terminal."""
    return {**fake, "COLORTERM": "truecolor", "LANG": "C.UTF-8"}


def rows_in_capture(screen: str, names: list[str]) -> dict[str, str]:
    """Name → status word for each of ``names`` shown as a row of the runs table on screen."""
    found: dict[str, str] = {}
    for line in screen.splitlines():
        for name in names:
            m = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])\s.*?\b({'|'.join(STATUS_WORDS)})\b", line)
            if m:
                found[name] = m.group(1)
    return found


def process_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not contract.pid_alive(pid):
            return True
        time.sleep(0.05)
    return not contract.pid_alive(pid)
