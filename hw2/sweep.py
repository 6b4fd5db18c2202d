"""Study-wide operations across executors: ``requeue --failed`` (and the TUI's ``F``).

Run folders are :mod:`hw2.queue`'s; who runs them is the runs' executor's (:mod:`hw2.executors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hw2 import contract, executors, launch, planning, queue, resume
from hw2.runs.summary import awaiting_requeue


@dataclass
class Requeued:
    """What :func:`requeue_failed` did: new runs (``requeued``), runs resumed in their own folders
    (``resumed``), and one line per run that could not resume (``refused``; left as it was)."""

    requeued: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def requeue_failed(runs_dir: Path | str, study: str | None = None, *, fresh: bool = False) -> Requeued:
    """Every ``failed`` or ``killed`` run (of ``study``: its title or study file; all runs when
    None) whose identity has no done, queued or running twin goes again: resumed in its own folder
    from its checkpoint when it has one (:func:`hw2.resume.reopen_locked`), else (or with
    ``fresh``) requeued as a new run (:func:`hw2.queue.requeue`).

    Each identity goes once (its newest failed or killed run), under the queue lock, so calling it
    twice, or from two processes at once, queues nothing twice. Each run keeps its executor and is
    handed to it (:meth:`hw2.executors.Executor.submit`) after the lock. Smoke runs and runs whose
    config cannot be read (nobody's twin, and :func:`hw2.queue.requeue` could not read them
    either) are left alone. Raises :class:`hw2.queue.QueueError` or
    :class:`hw2.executors.ExecutorError` (one line).
    """
    runs_dir = queue._writable_runs_dir(runs_dir)
    out = Requeued()
    by_executor: dict[str, list[str]] = {}  # created or reopened under the lock, handed over after it
    try:
        with launch.queue_lock(runs_dir):
            existing = planning._existing_runs(runs_dir)
            taken = set(planning._blocking_twins(existing))
            for run in reversed(existing):  # newest first
                if run.status not in {"failed", "killed"} or run.smoke:
                    continue
                if study is not None and not contract.of_study(run.meta, study):
                    continue
                if run.identity is None or run.identity in taken:
                    continue
                if awaiting_requeue(run.meta):  # its requeued Slurm job resumes it when it starts
                    taken.add(run.identity)
                    continue
                executor = executors.of_run(run.meta)
                run_dir = runs_dir / run.run_id
                if not fresh and contract.checkpoint_file(run_dir) is not None:
                    try:
                        resume.reopen_locked(run_dir)
                    except resume.ResumeError as exc:
                        out.refused.append(f"{exc} (or requeue --failed --fresh)")
                        continue
                    rid = run.run_id
                    out.resumed.append(rid)
                else:
                    extra = executors.meta_extra(executor.name)
                    rid = queue.requeue(runs_dir, run.run_id, extra=extra)
                    out.requeued.append(rid)
                by_executor.setdefault(executor.name, []).append(rid)
                taken.add(run.identity)
    except launch.LaunchError as exc:
        raise queue.QueueError(str(exc)) from exc
    for name, ids in by_executor.items():
        executors.get(name).submit(runs_dir, ids)
    return out
