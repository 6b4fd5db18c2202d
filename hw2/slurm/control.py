"""Kill and requeue of Slurm runs: what :func:`hw2.executors.local.kill_run` / :func:`hw2.queue.requeue` do for a
run whose meta says ``executor: slurm`` (the CLI's ``kill``/``requeue`` and the TUI's ``k``/``r``).

* :func:`kill`: a queued run is cancelled at once under the queue lock (the job, if it starts
  anyway, finds it killed and does not start the trainer), then ``scancel``; a running run gets
  ``scancel`` (Slurm's SIGTERM: the harness records ``killed``).
* :func:`requeue`: a new run folder from the old run's config (:func:`hw2.queue.requeue`),
  submitted to Slurm in the same queue-lock hold, so no local scheduler can take it meanwhile.
"""

from __future__ import annotations

from pathlib import Path

from hw2 import contract, launch
from hw2.runs import lifecycle
from hw2.runs.summary import awaiting_requeue
from hw2.slurm import EXECUTOR, commands, is_slurm
from hw2.slurm.settings import SlurmSettings, run_settings
from hw2.slurm.submit import submit_locked


class ControlError(Exception):
    """A kill or requeue that could not be done (one line)."""


def _path(runs_dir: Path, run_id: str) -> Path:
    try:
        path = contract.run_path(runs_dir, run_id)
    except contract.ContractError as exc:
        raise ControlError(str(exc)) from exc
    if not (path / contract.META_FILE).exists():
        raise ControlError(f"no run {run_id!r} in {runs_dir}")
    return path


def kill(runs_dir: Path | str, run_id: str) -> bool:
    """Stop a Slurm run: queued → killed (then ``scancel``), running → ``scancel``. False if it had
    already ended. Raises :class:`ControlError` (one line) when Slurm cannot be asked."""
    runs_dir = Path(runs_dir)
    path = _path(runs_dir, run_id)
    with launch.queue_lock(runs_dir):
        meta = contract.read_meta(path)
        if meta is None:
            raise ControlError(f"{path / contract.META_FILE}: unreadable")
        if not is_slurm(meta):
            raise ControlError(f"run {run_id} is not a Slurm run")
        cancelled = meta.status == "queued" and lifecycle.cancel_queued(path)
    job = meta.extra.get("slurm_job_id")
    if awaiting_requeue(meta) and job:  # ended, but Slurm holds its job to resume it: cancel that
        try:
            commands.scancel([str(job)])
        except commands.SlurmError as exc:
            raise ControlError(f"run {run_id}: {exc}") from exc
        contract.append_log_line(path, f"killed: slurm job {job} cancelled before it could resume the run")
        return True
    if meta.status not in ("queued", "running"):
        return False
    if job:
        try:
            commands.scancel([str(job)])
        except commands.SlurmError as exc:
            raise ControlError(f"run {run_id}: {exc}") from exc
    return cancelled or meta.status == "running"


def requeue(runs_dir: Path | str, run_id: str, settings: SlurmSettings | None = None) -> str:
    """A new run from ``run_id``'s config, submitted to Slurm as one job; returns its run id.

    Raises :class:`ControlError` (the old run cannot be read) or
    :class:`hw2.slurm.commands.SlurmError` (``sbatch`` refused; the new run is then ``failed``).
    """
    from hw2 import daemon, queue

    runs_dir = Path(runs_dir).resolve()
    if settings is None:  # the layers as they read now, for the file the run came from
        old = contract.read_meta(contract.run_path(runs_dir, run_id))
        if old is None:
            raise ControlError(f"run {run_id}: meta.json missing or unreadable")
        settings = run_settings(old)
    with launch.queue_lock(runs_dir):
        try:
            new_id = queue.requeue(runs_dir, run_id, extra={"executor": EXECUTOR})
        except queue.QueueError as exc:
            raise ControlError(str(exc)) from exc
        sub = submit_locked(runs_dir, [new_id], settings)
    if not sub.job_id:
        raise ControlError(f"run {new_id}: not submitted: {sub.skipped.get(new_id, 'unknown reason')}")
    daemon.ensure_scheduler(runs_dir)
    return new_id
