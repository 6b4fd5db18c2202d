"""The local executor: runs queued in their folders and started by the scheduler daemon on this box
(:mod:`hw2.scheduler`, made sure of by :func:`hw2.daemon.ensure_scheduler`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hw2 import daemon, queue
from hw2.contract import RunMeta
from hw2.executors import LOCAL, ExecutorError, Placement, Submitted, reopen


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
        return bool(_queue_call(queue.kill_run, runs_dir, run_id))

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
