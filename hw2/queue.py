"""The run queue, on disk: enqueue, kill, requeue, and the scheduler daemon's lifecycle.

Why on disk: a queued or running experiment must outlive the TUI or the SSH session that started
it. A queued run is just a run folder whose ``meta.json`` says ``queued``; the scheduler daemon
(:mod:`hw2.scheduler`) launches them oldest first. Every state change of a queued run happens
under :func:`hw2.launch.queue_lock`, and only the process holding ``runs/.scheduler.lock`` launches
anything, so two TUIs/CLIs never start a run twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from hw2 import contract, launch
from hw2.contract import RunMeta

if TYPE_CHECKING:  # pydantic costs a quarter second to import; `ls` and `kill` never need it
    from hw2.schema import ExperimentConfig

SCHEDULER_LOCK = ".scheduler.lock"
SCHEDULER_INFO = ".scheduler.json"
SCHEDULER_LOG = ".scheduler.log"


class QueueError(Exception):
    """A queue operation failed; ``str()`` is one line meant for the user."""


class PlannedLike(Protocol):
    """What :func:`enqueue` needs from a :class:`hw2.config.PlannedRun`."""

    name: str
    cfg: ExperimentConfig
    config_path: str
    study: str | None
    overrides: dict[str, Any]


@dataclass
class _Planned:
    """A PlannedRun stand-in for requeue (same fields)."""

    name: str
    cfg: ExperimentConfig
    config_path: str
    study: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def _writable_runs_dir(runs_dir: Path | str) -> Path:
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QueueError(
            f"cannot create runs dir {runs_dir}: {exc.strerror}; fix: pass a writable --runs-dir"
        ) from exc
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise QueueError(
            f"runs dir {runs_dir} is not writable; fix: pass a writable --runs-dir or fix its permissions"
        )
    return runs_dir


def config_hash(cfg: ExperimentConfig | dict[str, Any]) -> str:
    """Hash of what a run computes (name/description excluded): runs of "the same config" share it."""
    data = dict(cfg) if isinstance(cfg, dict) else cfg.model_dump(mode="json")
    data.pop("name", None)
    data.pop("description", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def create_run(
    runs_dir: Path | str,
    planned: PlannedLike,
    *,
    data_dir: str | None = None,
    extra: dict[str, Any] | None = None,
    attempt: int = 1,
) -> str:
    """Create ``runs/<id>/`` with config.yaml and a ``queued`` meta.json; returns the run id.

    meta.json is written last (atomically), so a scanner never sees a half-made run.
    """
    runs_dir = _writable_runs_dir(runs_dir)
    cfg = planned.cfg
    try:
        module = launch.trainer_module(cfg.trainer)
    except launch.LaunchError as exc:
        raise QueueError(f"{planned.config_path}: trainer: {exc}") from exc
    name = planned.name or cfg.name or "run"
    for _ in range(20):
        run_id = contract.new_run_id(name)
        path = contract.run_path(runs_dir, run_id)
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise QueueError(f"cannot create {path}: {exc.strerror}") from exc
    else:  # pragma: no cover - 20 random collisions in one second
        raise QueueError(f"could not pick a unique run id for {name!r}")
    resolved = cfg.model_dump(mode="json")
    meta = RunMeta(
        run_id=run_id,
        name=name,
        status="queued",
        trainer=cfg.trainer,
        config_path=str(planned.config_path) if planned.config_path else None,
        study=planned.study,
        epochs=cfg.train.epochs,
        attempt=attempt,
    )
    meta.extra.update(
        {
            "trainer_module": module,
            "overrides": dict(planned.overrides or {}),
            "config_hash": config_hash(resolved),
        }
    )
    if data_dir:
        meta.extra["data_dir"] = str(data_dir)
    if extra:
        meta.extra.update(extra)
    try:
        contract.atomic_write_text(path / contract.CONFIG_FILE, yaml.safe_dump(resolved, sort_keys=False))
        contract.write_meta(path, meta)
    except OSError as exc:  # disk full, quota, I/O error: leave no half-made run folder behind
        shutil.rmtree(path, ignore_errors=True)
        raise QueueError(
            f"cannot write run folder {path}: {exc.strerror or exc}; fix: free disk space or pass another --runs-dir"
        ) from exc
    return run_id


def enqueue(runs_dir: Path | str, planned: PlannedLike, *, data_dir: str | None = None) -> str:
    """Queue one planned run (folder + config.yaml + meta ``queued``); returns its run id.

    Does not start anything: call :func:`ensure_scheduler` afterwards (once per batch).
    """
    return create_run(runs_dir, planned, data_dir=data_dir)


def queued_run_dirs(runs_dir: Path | str) -> list[Path]:
    """Folders of queued runs, oldest first."""
    out = []
    for p in contract.list_run_dirs(Path(runs_dir)):
        meta = contract.read_meta(p)
        if meta is not None and meta.status == "queued":
            out.append(p)
    return out


# --------------------------------------------------------------------------- scheduler lifecycle


def _lock_path(runs_dir: Path) -> Path:
    return Path(runs_dir) / SCHEDULER_LOCK


def scheduler_lock_held(runs_dir: Path | str) -> bool:
    """Whether some process holds the scheduler lock (probe: try it and let go at once)."""
    path = _lock_path(Path(runs_dir))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise QueueError(f"runs dir {runs_dir} is not writable: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def scheduler_info(runs_dir: Path | str) -> dict[str, Any] | None:
    """The running scheduler's self-description (pid, slots, started), or None if none runs."""
    if not scheduler_lock_held(runs_dir):
        return None
    info = contract.read_json(Path(runs_dir) / SCHEDULER_INFO) or {}
    pid = info.get("pid")
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
        if meta is not None and contract.effective_status(meta) == "running":
            return True
    return False


def stop_scheduler(runs_dir: Path | str, timeout: float = 10.0) -> bool:
    """Ask the scheduler daemon to exit (SIGTERM). Runs it started keep running and finish on
    their own (their harness records the status). True if a daemon was stopped."""
    info = scheduler_info(runs_dir)
    if not info or not info.get("pid"):
        return False
    pid = int(info["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not scheduler_lock_held(runs_dir):
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------- kill / requeue


def _run_dir(runs_dir: Path | str, run_id: str) -> Path:
    try:
        path = contract.run_path(Path(runs_dir), run_id)
    except contract.ContractError as exc:
        raise QueueError(str(exc)) from exc
    if not (path / contract.META_FILE).exists():
        raise QueueError(f"no run {run_id!r} in {runs_dir}")
    return path


def kill_run(runs_dir: Path | str, run_id: str, grace: float | None = None) -> bool:
    """Stop a run. Queued → ``killed`` at once. Running → SIGTERM to its process group (the
    harness records ``killed``), then SIGKILL after ``grace`` seconds (``$HW2_KILL_GRACE``,
    default 10) by a small detached helper. False if the run was already finished.
    """
    runs_dir = Path(runs_dir)
    path = _run_dir(runs_dir, run_id)
    try:
        with launch.queue_lock(runs_dir):
            meta = contract.read_meta(path)
            if meta is None:
                raise QueueError(f"{path / contract.META_FILE}: unreadable")
            if meta.status == "queued":
                contract.update_meta(path, status="killed", error="killed while queued", ended=time.time())
                return True
    except launch.LaunchError as exc:
        raise QueueError(str(exc)) from exc
    if meta.status != "running":
        return False
    if meta.host != contract.host_name():
        raise QueueError(f"run {run_id} runs on host {meta.host}; kill it there")
    if not meta.pid:
        return False
    if not launch.signal_group(meta.pid, meta.pid_create_time, signal.SIGTERM):
        launch.mark_dead_run(path)
        return False
    grace = launch.kill_grace() if grace is None else grace
    args = ["-m", "hw2.launch", "escalate", "--pid", str(meta.pid), "--grace", str(grace)]
    if meta.pid_create_time is not None:
        args += ["--create-time", repr(meta.pid_create_time)]
    launch.spawn_detached(args)
    return True


def requeue(runs_dir: Path | str, run_id: str) -> str:
    """Queue a new run from an old run's config.yaml; its meta says ``requeued_from``."""
    runs_dir = Path(runs_dir)
    path = _run_dir(runs_dir, run_id)
    old = contract.read_meta(path)
    if old is None:
        raise QueueError(f"{path / contract.META_FILE}: unreadable")
    from hw2.schema import ExperimentConfig

    cfg_file = path / contract.CONFIG_FILE
    try:
        data = yaml.safe_load(cfg_file.read_text(encoding="utf-8"))
        cfg = ExperimentConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise QueueError(f"{cfg_file}: cannot read: {exc}") from exc
    except ValueError as exc:  # pydantic.ValidationError
        first = str(exc).splitlines()[0]
        raise QueueError(f"{cfg_file}: invalid config: {first}") from exc
    planned = _Planned(
        name=old.name,
        cfg=cfg,
        config_path=old.config_path or str(cfg_file),
        study=old.study,
        overrides=dict(old.extra.get("overrides") or {}),
    )
    data_dir = old.extra.get("data_dir")
    return create_run(
        runs_dir,
        planned,
        data_dir=data_dir if isinstance(data_dir, str) else None,
        extra={"requeued_from": run_id},
        attempt=int(old.attempt or 1) + 1,
    )
