"""Resume on Slurm, by itself: a time limit, a preemption or a lost node requeues the job, and the
run goes on from its checkpoint in the same folder.

Every job is submitted with ``--requeue`` and ``--signal=B:USR1@<grace>``
(:func:`hw2.slurm.submit.job_script`), and the batch shell *is* the trainer (the script execs
``hw2.slurm.job``, which execs the trainer), so the USR1 reaches the harness
(:func:`trainers.common.main`). Two halves:

**In the trainer, before the limit** (:class:`Warned`, :func:`end_attempt`). Slurm's signal is a
trigger, not a clock: it may come up to a minute early, and a restarted job of Slurm 22.05 gets it
within a second of starting. So on USR1 the harness asks Slurm how long the job has left
(``squeue -o %L``) and acts on that: ``grace`` seconds before the end it stops at the next epoch
boundary (the checkpoint of the epoch just finished is whole), and :data:`MARGIN_S` seconds before
the end at the latest, mid-epoch (the previous epoch's checkpoint stands; the lost partial epoch is
trained again). Then, while restarts are left (``SLURM_RESTART_COUNT`` < ``executor.max_restarts``),
it asks ``scontrol requeue`` for its own job, records the run ``killed`` with why, and exits with
:data:`EXIT_REQUEUE`; with none left it records the run ``failed``, saying so, and the job ends.

**In the job, when Slurm starts it again** (:func:`on_restart`, from :mod:`hw2.slurm.job`). The
run is this job's (its ``slurm_job_id``) and ended (``killed`` by the harness above, by Slurm's
SIGTERM on preemption or ``scontrol requeue``) or still says ``running`` (a lost node: nobody
recorded the end). Within ``max_restarts`` it is reopened in place (:func:`hw2.resume.reopen_locked`,
keeping its job id) and started like any queued run: the trainer loads its checkpoint. Past
``max_restarts``, or when its config or the trainers' code changed, it is left ``failed`` with one
line saying why and how to go on (``hw2-tui resume RUN``).

Only the job reopens a requeued run: while Slurm holds the job pending, ``hw2-tui resume`` and
``requeue --failed`` leave the run alone (:func:`hw2.runs.summary.awaiting_requeue`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Final

from hw2 import contract, launch, resume
from hw2.runs import lifecycle
from hw2.slurm import commands

GRACE_ENV: Final = "HW2_SLURM_GRACE"
"""Seconds before the time limit to stop at (the job script exports ``executor.grace``)."""
MAX_RESTARTS_ENV: Final = "HW2_SLURM_MAX_RESTARTS"
"""``executor.max_restarts``, exported by the job script."""
EXIT_REQUEUE: Final = 75  # EX_TEMPFAIL: "try again later", the job is back in Slurm's queue
MARGIN_S: Final = 15.0
"""Seconds before the end of the job at which the trainer stops mid-epoch at the latest (Slurm's
SIGTERM comes at the end, then SIGKILL after ``KillWait``)."""


def in_job() -> bool:
    """Whether this process is a Slurm job of ours that may requeue itself."""
    return bool(os.environ.get("SLURM_JOB_ID")) and os.environ.get(GRACE_ENV) not in (None, "", "0")


def job_id() -> str:
    """This job's own id (an array task's too), the one ``scontrol requeue`` takes."""
    return os.environ.get("SLURM_JOB_ID", "")


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def restart_count() -> int:
    """How many times Slurm restarted this job (``SLURM_RESTART_COUNT``; 0 the first time)."""
    return _env_int("SLURM_RESTART_COUNT", 0)


def max_restarts() -> int:
    return _env_int(MAX_RESTARTS_ENV, 3)


def grace_s() -> int:
    return _env_int(GRACE_ENV, 0)


def time_left_s() -> float | None:
    """Seconds until this job's time limit as Slurm sees it now; None when Slurm cannot say."""
    try:
        return commands.time_left_s(job_id())
    except commands.SlurmError:
        return None


class Warned:
    """The harness's plan after a USR1: when to stop at an epoch boundary (``stop_at``) and when
    at the latest (``deadline``), both ``time.monotonic()`` values, from the time Slurm says is
    left (:func:`time_left_s`; unknown: now)."""

    def __init__(self, left_s: float | None, grace: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        left = grace if left_s is None else left_s
        self.left_s = left_s
        self.stop_at = now + max(0.0, left - grace)
        self.deadline = now + max(0.0, left - min(MARGIN_S, grace / 2))


def end_attempt(run_dir: Path, epochs_done: int | None) -> tuple[str, int, str]:
    """``(status, exit code, error)`` for an attempt the time limit stopped: requeue the job
    while restarts are left (``killed``, :data:`EXIT_REQUEUE`), else ``failed`` saying so. The
    caller (the harness) ignores SIGTERM first: ``scontrol requeue`` sends one to this job."""
    job, count, most = job_id(), restart_count(), max_restarts()
    at = f"after epoch {epochs_done}" if epochs_done else "before its first checkpoint"
    resume_hint = f"fix: hw2-tui resume {run_dir.name}, or raise executor.time"
    if count >= most:
        return (
            "failed",
            1,
            f"slurm: time limit near, stopped {at}; not requeued: job {job} restarted {count} "
            f"time(s), executor.max_restarts is {most}; {resume_hint} or executor.max_restarts",
        )
    try:
        commands.requeue(job)
    except commands.SlurmError as exc:
        return (
            "failed",
            1,
            f"slurm: time limit near, stopped {at}; scontrol requeue {job} failed: {exc}; {resume_hint}",
        )
    with contextlib.suppress(contract.ContractError, OSError):  # reads `killed · requeued` at once
        lifecycle.add_fields(run_dir, slurm_state="REQUEUED", slurm_reason="time limit near")
    return (
        "killed",
        EXIT_REQUEUE,
        f"slurm: time limit near, stopped {at}; requeued job {job} "
        f"(restart {count + 1} of {most}) to resume from its checkpoint",
    )


def on_restart(run_dir: Path, job: str) -> str | None:
    """In a job Slurm started again (``SLURM_RESTART_COUNT`` > 0): reopen this job's run to go on
    from its checkpoint (see the module docstring). None: the run is queued and may start; else
    the one line why not (the run is left ``failed``, saying so)."""
    meta = contract.read_meta(run_dir)
    if meta is None or str(meta.extra.get("slurm_job_id") or "") != job:
        return None  # not this job's run: start_on_node refuses it with its own words
    count, most = restart_count(), max_restarts()
    over = (
        f"slurm restarted job {job} {count} times, more than executor.max_restarts {most}: "
        f"not resuming; fix: hw2-tui resume {run_dir.name}, or raise executor.max_restarts"
        if count > most
        else None
    )
    if meta.status == "running":  # a lost node or a hard requeue: the last attempt never ended it
        _stop_orphan(meta)
        error = f"slurm requeued job {job}: the attempt on {meta.host or 'its node'} ended unrecorded"
        lifecycle.end_by_executor(run_dir, "failed", f"{error}; {over}" if over else error)
        contract.append_log_line(run_dir, error)
        meta = contract.read_meta(run_dir) or meta
    if meta.status not in contract.RESUMABLE_STATUSES:
        return None
    if over is not None:
        _leave_failed(run_dir, over)
        return over
    try:
        with launch.queue_lock(run_dir.parent):
            resume.reopen_locked(
                run_dir, keep_slurm_job=True, why=f"slurm restarted job {job} (restart {count} of {most})"
            )
    except (resume.ResumeError, launch.LaunchError) as exc:
        why = f"slurm restarted job {job} but the run cannot resume: {exc}"
        _leave_failed(run_dir, why)
        return why
    return None


def _stop_orphan(meta: contract.RunMeta, wait_s: float = 30.0) -> None:
    """The requeued attempt may still be alive on this node (its slurmd was lost, not the node):
    SIGKILL it, and wait for it to go, before a new attempt writes the same files."""
    if meta.host != contract.host_name() or not meta.pid or meta.pid == os.getpid():
        return
    if launch.signal_group(meta.pid, meta.pid_create_time, signal.SIGKILL):
        deadline = time.monotonic() + wait_s
        while contract.pid_alive(meta.pid, meta.pid_create_time) and time.monotonic() < deadline:
            time.sleep(0.1)


def _leave_failed(run_dir: Path, why: str) -> None:
    """The run stays ended, ``failed`` with ``why`` when the harness had recorded ``killed`` (no
    one asked for it: Slurm stopped it), with ``why`` in ``train.log`` either way."""
    lifecycle.overrule_kill(run_dir, why)
    contract.append_log_line(run_dir, why)
