"""The scheduler daemon's control from outside: is one running (:func:`scheduler_info`), start one
unless one holds the lock (:func:`ensure_scheduler`), stop it (:func:`stop_scheduler`). The daemon
itself is :mod:`hw2.scheduler`; its lock and self-description live in the runs folder
(``.scheduler.lock``, ``.scheduler.json``, its log ``.scheduler.log``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hw2 import contract, launch, locks
from hw2.runs import liveness

if TYPE_CHECKING:  # pydantic costs a quarter second to import; `ls` and `kill` never need it
    pass

from hw2.queue import QueueError, _writable_runs_dir, queued_run_dirs

SCHEDULER_LOCK = ".scheduler.lock"
SCHEDULER_INFO = ".scheduler.json"
SCHEDULER_LOG = ".scheduler.log"


def _lock_path(runs_dir: Path) -> Path:
    return Path(runs_dir) / SCHEDULER_LOCK


def scheduler_lock_held(runs_dir: Path | str) -> bool:
    """Whether some process holds the scheduler lock (probe: try it and let go at once)."""
    try:
        return locks.is_locked(_lock_path(Path(runs_dir)))
    except locks.UnsafeLockFile as exc:
        raise QueueError(str(exc)) from exc
    except OSError as exc:
        raise QueueError(f"runs dir {runs_dir} is not writable: {exc.strerror}") from exc


def scheduler_info(runs_dir: Path | str) -> dict[str, Any] | None:
    """The running scheduler's self-description (pid, slots, started), or None if none runs."""
    if not scheduler_lock_held(runs_dir):
        return None
    info = contract.read_json(Path(runs_dir) / SCHEDULER_INFO) or {}
    pid = info.get("pid")
    if info.get("host") not in (None, contract.host_name()):
        return info  # alive on its own host (it holds the lock); its pid says nothing here
    if not (isinstance(pid, int) and contract.pid_alive(pid, info.get("pid_create_time"))):
        info = {"pid": None}
    return info


def ensure_scheduler(runs_dir: Path | str, wait: float = 5.0) -> None:
    """Start the scheduler daemon unless one already holds the lock.

    The daemon is fully detached (new session, stdin/stdout on /dev/null, stderr into
    ``runs/.scheduler.log``), so it survives the caller. Concurrent callers may both spawn one;
    the loser cannot take the lock and exits, so there is only ever one. Waits up to ``wait``
    seconds for the daemon to hold the lock (or exit because the queue is empty).
    """
    runs_dir = _writable_runs_dir(runs_dir)
    if scheduler_lock_held(runs_dir):
        return
    launch.spawn_detached(
        ["-m", "hw2.scheduler", "--runs-dir", str(runs_dir.resolve())],
        log_path=runs_dir / SCHEDULER_LOG,
        cwd=os.getcwd(),
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        info = contract.read_json(runs_dir / SCHEDULER_INFO) or {}
        pid = info.get("pid")
        if isinstance(pid, int) and contract.pid_alive(pid) and scheduler_lock_held(runs_dir):
            return
        if not queued_run_dirs(runs_dir) and not _any_running(runs_dir):
            return  # nothing to do: a daemon exits at once anyway
        time.sleep(0.05)


def _any_running(runs_dir: Path) -> bool:
    for p in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(p)
        if meta is not None and liveness.effective_status(meta) == "running":
            return True
    return False


def stop_scheduler(runs_dir: Path | str, timeout: float = 10.0) -> bool:
    """Ask the scheduler daemon to exit (SIGTERM). Runs it started keep running and finish on
    their own (their harness records the status). True if a daemon was stopped."""
    info = scheduler_info(runs_dir)
    if not info or not info.get("pid"):
        return False
    pid = int(info["pid"])
    if info.get("host") not in (None, contract.host_name()):
        raise QueueError(
            f"{Path(runs_dir) / SCHEDULER_INFO}: the scheduler (pid {pid}) runs on host {info['host']}; "
            f"fix: run `hw2-tui scheduler stop` on {info['host']}"
        )
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not scheduler_lock_held(runs_dir):
            return True
        time.sleep(0.05)
    return False
