"""The local executor: runs queued in their folders and started by the scheduler daemon on this box
(:mod:`hw2.scheduler`, made sure of by :func:`hw2.daemon.ensure_scheduler`), and stopped here
(:func:`kill_run`: a queued run cancelled under the queue lock, a running one signalled)."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hw2 import contract, daemon, launch, queue
from hw2.contract import RunMeta
from hw2.executors import LOCAL, ExecutorError, Placement, Submitted, reopen
from hw2.runs import lifecycle


class LocalExecutor:
    """Queued run folders, launched oldest first by the scheduler daemon (GPU or CPU slots)."""

    name = LOCAL
    where = ""
    foreground = True

    def submit(self, runs_dir: Path, run_ids: Sequence[str], settings: Any = None) -> Submitted:
        if run_ids:
            _queue_call(daemon.ensure_scheduler, runs_dir)
        return Submitted(list(run_ids))

    def kill(self, runs_dir: Path, run_id: str) -> bool:
        return bool(_queue_call(kill_run, runs_dir, run_id))

    def requeue(self, runs_dir: Path, run_id: str) -> str:
        new_id = str(_queue_call(queue.requeue, runs_dir, run_id))
        _queue_call(daemon.ensure_scheduler, runs_dir)
        return new_id

    def resume(self, runs_dir: Path, run_id: str, *, force: bool = False) -> str:
        meta = reopen(runs_dir, run_id, force)
        _queue_call(daemon.ensure_scheduler, runs_dir)
        return f"resumed {run_id} (attempt {meta.attempt}): queued on this box"

    def describe(self, meta: RunMeta) -> str | None:
        return None

    def plan(self, runs_dir: Path, settings: Any) -> Placement:
        return placement(runs_dir)


def kill_run(runs_dir: Path | str, run_id: str, grace: float | None = None) -> bool:
    """Stop a run. Queued → ``killed`` at once, under the queue lock
    (:func:`hw2.runs.lifecycle.cancel_queued`). Running → SIGTERM to its process group (the
    harness records ``killed``), then SIGKILL after ``grace`` seconds (``$HW2_KILL_GRACE``,
    default 10) by a small detached helper. False if the run was already finished.
    """
    runs_dir = Path(runs_dir)
    path = queue.run_dir_of(runs_dir, run_id)
    first = contract.read_meta(path)
    if first is not None and first.extra.get("executor", LOCAL) != LOCAL:
        raise queue.QueueError(
            f"run {run_id} is a {first.extra.get('executor')} run; kill it through its executor (hw2.executors)"
        )
    try:
        with launch.queue_lock(runs_dir):
            meta = contract.read_meta(path)
            if meta is None:
                raise queue.QueueError(f"{path / contract.META_FILE}: unreadable")
            if meta.status == "queued":
                return lifecycle.cancel_queued(path)
    except launch.LaunchError as exc:
        raise queue.QueueError(str(exc)) from exc
    if meta.status != "running":
        return False
    if meta.host != contract.host_name():
        raise queue.QueueError(f"run {run_id} runs on host {meta.host}; kill it there")
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


def placement(runs_dir: Path | str) -> Placement:
    """The local scheduler as it is (its ``.scheduler.json`` while one runs) or would start now:
    GPUs x ``$HW2_SLOTS_PER_GPU``, or ``$HW2_CPU_SLOTS`` runs at once on the CPU."""
    info: dict[str, Any] | None = None
    try:
        info = daemon.scheduler_info(runs_dir)
    except queue.QueueError:  # a runs folder we cannot lock: describe the scheduler that would start
        info = None
    slots, gpus = (info or {}).get("slots"), (info or {}).get("gpus")
    if not (isinstance(slots, int) and isinstance(gpus, int)):
        from hw2.scheduler import Scheduler

        sched = Scheduler(Path(runs_dir))
        slots, gpus = sched.total_slots, sched.n_gpus
    what = f"local GPU{'s' if gpus > 1 else ''} ({gpus})" if gpus else "local CPU"
    return Placement(LOCAL, max(1, slots), "gpu" if gpus else "cpu", what)


def _queue_call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except queue.QueueError as exc:
        raise ExecutorError(str(exc)) from exc


EXECUTOR = LocalExecutor()
