"""The run lifecycle: every change of a run's status, each with one owner.

::

    create ──► queued ──mark_running──► running ──finish──────► done | failed | killed
                 │                        ├──reap_exit───► failed | killed   (the launcher saw the exit)
                 │                        ├──mark_vanished► failed           (nobody saw it)
                 │                        └──fail_launch─► failed            (never started)
                 └──cancel_queued──► killed

    A Slurm run (executor ``slurm``, :mod:`hw2.slurm`):

    create ──► queued ──record_submission──► queued (job id) ──start_on_node──► running ──finish──► ...
                 │                              ├──end_by_executor──► failed | killed   (job ended first)
                 │                              └──cancel_queued────► killed
                 └── running ──end_by_executor──► failed | killed   (Slurm ended the job: TIMEOUT, NODE_FAIL, ...)
                     killed ──overrule_kill──► failed   (the SIGTERM was Slurm enforcing a limit)

    requeue: a finished run is never restarted; :func:`hw2.queue.requeue` creates a new queued
    run from its config (``requeued_from``, ``attempt`` + 1, variant/seed/study carried over).

    resume: failed | killed ──reopen──► queued (the same folder, ``attempt`` + 1, ``resumed`` + 1);
    the trainer then goes on from the folder's last checkpoint (:mod:`hw2.resume`).

| transition | owner | writes |
|---|---|---|
| :func:`create` | the queue (:func:`hw2.queue.create_run`) | ``config.yaml`` and the whole first ``meta.json`` |
| :func:`mark_running`, :func:`record_pid`, :func:`fail_launch` | the launcher (:func:`hw2.launch.start_trainer`) | status, started, host, launcher, executor; then pid |
| :func:`add_fields` | the harness (versions, device, git commit, ...) and the scheduler (GPU peak) | only fields outside the lifecycle's own |
| :func:`finish` | the harness (:func:`trainers.common.main`) | its own end: status, exit code, error, ended |
| :func:`reap_exit` | the launcher that waited for the process (scheduler, ``hw2-tui run``) | what the harness could not record (killed by a signal, crashed before the harness); the exit code of a final run that lacks one |
| :func:`mark_vanished` | whoever finds the process gone with no launcher left to reap it | failed, "process died without finishing" |
| :func:`cancel_queued` | :func:`hw2.executors.local.kill_run`, under the queue lock | killed while queued |
| :func:`record_submission` | the Slurm submitter (:func:`hw2.slurm.submit.submit_runs`), under the queue lock | executor ``slurm``, ``slurm_job_id`` |
| :func:`start_on_node` | the Slurm job itself, on its node (``python -m hw2.slurm.job``), before it becomes the trainer | status, started, host (the node), launched_by, pid; its job id |
| :func:`end_by_executor` | the Slurm monitor (:class:`hw2.slurm.monitor.SlurmMonitor`, run by the scheduler daemon) | a job Slurm ended before the run recorded its end: failed/killed with Slurm's state in ``error`` |
| :func:`overrule_kill` | the Slurm monitor | killed → failed: the harness recorded SIGTERM, Slurm says why (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...) |
| :func:`reopen` | the run's executor (:meth:`hw2.executors.Executor.resume`, through :func:`hw2.resume.reopen`), under the queue lock | failed/killed → queued: attempt, resumed; clears the last attempt's end, process, launcher and Slurm job |
| :func:`set_note` | the person (``hw2-tui note``, the TUI's ``n``), in any status | ``note`` only |

Every change is a locked read-modify-write of the named fields only
(:func:`hw2.contract.update_meta`), and checks the run's current status under that lock: a
transition from the wrong state raises :class:`TransitionError`, except those that may lose a
race by design (:func:`cancel_queued`, :func:`fail_launch`, :func:`reap_exit`,
:func:`mark_vanished`, :func:`end_by_executor`), which then write nothing and say so in what they
return. A final status is never overwritten, with one exception that says what Slurm knows and the
harness cannot: :func:`overrule_kill` turns a Slurm run's ``killed`` (SIGTERM) into ``failed``
when the signal was Slurm enforcing a limit, not a person's request.

A trainer run by hand (``python -m trainers.cnn --config X --run-dir D``) has no queue and no
launcher: its harness plays both roles, through the same functions (:func:`start_by_hand`).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Final

from hw2 import contract
from hw2.contract import FINAL_STATUSES, ContractError, RunMeta
from hw2.runs import liveness

DIED_ERROR: Final = "process died without finishing (exit code unknown)"
NOTE_MAX: Final = 500
"""The longest note (characters): a line for a table cell and a CSV cell, not a lab book."""
KILLED_QUEUED_ERROR: Final = "killed while queued"

LIFECYCLE_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "run_id",
        "status",
        "created",
        "started",
        "ended",
        "pid",
        "pid_create_time",
        "host",
        "exit_code",
        "error",
        "executor",
        "launcher_pid",
        "launcher_pid_create_time",
        "launched_by",
        "slurm_job_id",
        "resumed",
        "note",  # the person's, through set_note only
    }
)
"""Fields only the transitions below write; :func:`add_fields` refuses them."""


class TransitionError(ContractError):
    """A state change that the run's current status does not allow (one line)."""


class NoteError(ContractError):
    """A note that cannot be stored as given (too long); one line naming the fix."""


def _expect(run_dir: Path, allowed: Collection[str], what: str) -> Callable[[RunMeta], None]:
    def check(meta: RunMeta) -> None:
        if meta.status not in allowed:
            raise TransitionError(
                f"{Path(run_dir).name}: cannot {what} a run that is {meta.status} "
                f"(only a {' or '.join(sorted(allowed))} run)"
            )

    return check


# --------------------------------------------------------------------------- the queue


def create(run_dir: Path, meta: RunMeta, config_text: str | None = None) -> None:
    """A new run: ``config.yaml`` (when given) then ``meta.json`` status ``queued``.

    meta.json is written last (atomically), so a scanner never sees a half-made run. The folder
    must exist and hold no run yet.
    """
    run_dir = Path(run_dir)
    if meta.status != "queued":
        raise TransitionError(f"{run_dir.name}: a new run starts queued, not {meta.status}")
    if (run_dir / contract.META_FILE).exists():
        raise TransitionError(f"{run_dir}: already holds a run")
    if config_text is not None:
        contract.atomic_write_text(run_dir / contract.CONFIG_FILE, config_text)
    contract.write_meta(run_dir, meta)


def cancel_queued(run_dir: Path, error: str = KILLED_QUEUED_ERROR) -> bool:
    """queued → killed. False (nothing written) when the run is no longer queued.

    The caller holds the queue lock (:func:`hw2.launch.queue_lock`), so the run is either
    cancelled or launched, never both.
    """
    try:
        contract.update_meta(
            run_dir,
            only_if=_expect(run_dir, {"queued"}, "cancel"),
            status="killed",
            error=error,
            ended=time.time(),
        )
    except TransitionError:
        return False
    return True


# --------------------------------------------------------------------------- the launcher


def mark_running(run_dir: Path, *, launched_by: str, **fields: Any) -> RunMeta:
    """queued → running, by the launcher about to start the process (under the queue lock).

    Records the launcher itself (this process, on this host, executor ``local``): until the
    trainer's pid is recorded, the run is alive while its launcher is
    (:mod:`hw2.runs.liveness`). ``fields`` are the launcher's own (``gpu``, ``trainer_module``).
    """
    _refuse_lifecycle_fields(fields)
    me = os.getpid()
    return contract.update_meta(
        run_dir,
        only_if=_expect(run_dir, {"queued"}, "start"),
        status="running",
        started=time.time(),
        host=contract.host_name(),
        executor=liveness.LOCAL,
        launched_by=launched_by,
        launcher_pid=me,
        launcher_pid_create_time=contract.process_create_time(me),
        **fields,
    )


def record_pid(run_dir: Path, pid: int) -> RunMeta:
    """The started process's pid (and creation time) on a running run, by its launcher."""
    return contract.update_meta(
        run_dir,
        only_if=_expect(run_dir, {"running"}, "record the pid of"),
        pid=pid,
        pid_create_time=contract.process_create_time(pid),
    )


def fail_launch(run_dir: Path, error: str) -> bool:
    """queued/running → failed: the launcher could not start the process. False if final already."""
    try:
        contract.update_meta(
            run_dir,
            only_if=_expect(run_dir, {"queued", "running"}, "fail the launch of"),
            status="failed",
            error=error,
            ended=time.time(),
        )
    except TransitionError:
        return False
    return True


# --------------------------------------------------------------------------- a cluster executor (Slurm)


def record_submission(run_dir: Path, job_id: str) -> bool:
    """A run handed to Slurm: executor ``slurm`` and its job id (``"123"``, or ``"123_4"`` for an
    array task). By the submitter, under the queue lock, right after ``sbatch`` answered.

    The job may already have started (:func:`start_on_node` wrote the same id) or even ended: then
    only a missing job id is added. False (nothing written) when the run holds another job id or
    is no longer queued/running.
    """

    def check(meta: RunMeta) -> None:
        known = meta.extra.get("slurm_job_id")
        if known not in (None, job_id):
            raise TransitionError(f"{Path(run_dir).name}: already submitted as Slurm job {known}")
        if meta.status != "queued" and known == job_id:
            raise TransitionError(f"{Path(run_dir).name}: already recorded")
        if meta.status not in ("queued", "running"):
            raise TransitionError(f"{Path(run_dir).name}: {meta.status} before its submission was recorded")

    try:
        contract.update_meta(
            run_dir, only_if=check, executor=liveness.SLURM, slurm_job_id=job_id, slurm_state="PENDING"
        )
    except TransitionError:
        return False
    return True


def start_on_node(run_dir: Path, job_id: str, **fields: Any) -> RunMeta:
    """queued → running, by the Slurm job on its compute node, just before it execs the trainer.

    ``host`` is the node; ``pid`` is this process, which becomes the trainer (exec), so the
    harness finds its run already running. Refused (:class:`TransitionError`) when the run is no
    longer queued (killed while pending; a job Slurm restarted reopens its run first,
    :func:`hw2.slurm.requeue.on_restart`) or belongs to another job.
    """
    _refuse_lifecycle_fields(fields)

    def check(meta: RunMeta) -> None:
        _expect(run_dir, {"queued"}, "start")(meta)
        known = meta.extra.get("slurm_job_id")
        if known not in (None, job_id):
            raise TransitionError(f"{Path(run_dir).name}: belongs to Slurm job {known}, not {job_id}")

    me = os.getpid()
    return contract.update_meta(
        run_dir,
        only_if=check,
        status="running",
        started=time.time(),
        host=contract.host_name(),
        executor=liveness.SLURM,
        launched_by="slurm",
        slurm_job_id=job_id,
        slurm_state="RUNNING",  # the job knows before the monitor's next poll
        slurm_reason=None,
        pid=me,
        pid_create_time=contract.process_create_time(me),
        **fields,
    )


def end_by_executor(
    run_dir: Path, status: str, error: str, exit_code: int | None = None, **fields: Any
) -> bool:
    """queued/running → failed/killed: the executor (Slurm) ended the job before the run recorded
    its own end (cancelled while pending, time limit, node lost, a job that never started the
    run). ``error`` carries the executor's state and reason; ``fields`` (the job's last state)
    are written in the same update, so no reader sees the end without them. False if the run is
    final already."""
    if status not in ("failed", "killed"):
        raise TransitionError(f"{Path(run_dir).name}: an executor ends a run failed or killed, not {status}")
    _refuse_lifecycle_fields(fields)
    try:
        contract.update_meta(
            run_dir,
            only_if=_expect(run_dir, {"queued", "running"}, "end"),
            status=status,
            error=error,
            exit_code=exit_code,
            ended=time.time(),
            **fields,
        )
    except TransitionError:
        return False
    return True


def overrule_kill(run_dir: Path, error: str, **fields: Any) -> bool:
    """killed → failed for a Slurm run whose SIGTERM came from Slurm enforcing a limit (TIMEOUT,
    OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, DEADLINE): the harness saw only a signal and recorded
    ``killed``; the executor knows it was no one's request. The exit code and end time stay;
    ``fields`` (the job's last state) are written in the same update."""
    _refuse_lifecycle_fields(fields)

    def check(meta: RunMeta) -> None:
        _expect(run_dir, {"killed"}, "overrule the kill of")(meta)
        if meta.extra.get("executor") != liveness.SLURM:
            raise TransitionError(f"{Path(run_dir).name}: not a Slurm run")

    try:
        contract.update_meta(run_dir, only_if=check, status="failed", error=error, **fields)
    except TransitionError:
        return False
    return True


# --------------------------------------------------------------------------- resume


def reopen(run_dir: Path, *, keep_slurm_job: bool = False) -> RunMeta:
    """failed/killed → queued: the same run folder, to go on from its last checkpoint
    (:meth:`hw2.executors.Executor.resume`, under the queue lock). ``attempt`` + 1 and ``resumed``
    + 1; the last attempt's end, process, launcher and Slurm job are cleared (its ``created`` stays,
    and ``started`` is set again by the next start). The trainer resumes because ``resumed`` is
    set (:func:`trainers.common.main`). A ``done`` run is refused: it has nothing left to do.
    ``keep_slurm_job``: the run's Slurm job was requeued and restarts it (:mod:`hw2.slurm.requeue`),
    so its job id stays (the job's node clears it no more than the monitor's last word on it)."""

    meta = contract.read_meta(run_dir)
    resumed = int((meta.extra.get("resumed") if meta else 0) or 0)
    attempt = int(meta.attempt or 1) if meta else 1
    return contract.update_meta(
        run_dir,
        only_if=_expect(run_dir, contract.RESUMABLE_STATUSES, "resume"),
        status="queued",
        attempt=attempt + 1,
        resumed=resumed + 1,
        started=None,
        ended=None,
        pid=None,
        pid_create_time=None,
        exit_code=None,
        error=None,
        launcher_pid=None,
        launcher_pid_create_time=None,
        launched_by=None,
        **({} if keep_slurm_job else {"slurm_job_id": None, "slurm_state": None, "slurm_reason": None}),
    )


# --------------------------------------------------------------------------- the person


def clean_note(text: str) -> str | None:
    """A note as stored: one line (line breaks, tabs and runs of spaces become one space, other
    control characters are dropped), stripped; None for an empty one (it clears the note). Longer
    than :data:`NOTE_MAX` characters: :class:`NoteError`."""
    flat = " ".join("".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in text).split())
    if len(flat) > NOTE_MAX:
        raise NoteError(f"note: {len(flat)} characters, at most {NOTE_MAX}; fix: shorten it")
    return flat or None


def set_note(run_dir: Path, text: str) -> RunMeta:
    """Set the run's ``note`` (:func:`clean_note`; an empty text clears it), in any status: a
    person's words about the run, shown in the table, ``ls``, the filter and the export.

    A locked read-modify-write of ``note`` alone, so a harness or launcher writing the same
    meta.json at the same time loses nothing, and neither does the note. A changed meta.json
    (new inode) is what makes the summary cache and the TUI's watcher read the run again.
    """
    return contract.update_meta(run_dir, note=clean_note(text))


# --------------------------------------------------------------------------- the harness


def add_fields(run_dir: Path, **fields: Any) -> RunMeta:
    """Add or change fields outside the lifecycle's own (versions, device, git commit, GPU peak).

    Allowed in any status (the scheduler records a run's GPU peak after it ended); a lifecycle
    field (status, pid, exit code, ...) is refused: those change only through a transition.
    """
    _refuse_lifecycle_fields(fields)
    return contract.update_meta(run_dir, **fields)


def finish(run_dir: Path, status: str, exit_code: int, error: str | None) -> RunMeta:
    """running → done | failed | killed, recorded by the harness itself as it ends."""
    if status not in FINAL_STATUSES:
        raise TransitionError(f"{Path(run_dir).name}: {status!r} is not a final status")
    return contract.update_meta(
        run_dir,
        only_if=_expect(run_dir, {"running"}, "finish"),
        status=status,
        exit_code=exit_code,
        error=error,
        ended=time.time(),
    )


def start_by_hand(
    run_dir: Path,
    *,
    name: str,
    config_path: str | None = None,
    trainer: str = "",
    epochs: int | None = None,
    config_text: str | None = None,
) -> RunMeta:
    """A harness run by hand is its own queue and launcher: create the run if the folder holds none,
    then queued → running with this process as both launcher and trainer.

    ``config_text`` (the resolved config) is written to a folder that has no ``config.yaml``: run
    by hand, nobody queued the run, and the contract's folder holds its config like any other. A
    folder whose run is already running (a launcher marked it and started this process) is
    returned as it is; a finished run is refused (:class:`TransitionError`): a run never restarts.
    """
    run_dir = Path(run_dir)
    meta = contract.read_meta(run_dir)
    if meta is not None and meta.status == "running":
        return meta
    if meta is not None and meta.status != "queued":
        raise TransitionError(
            f"{run_dir}: holds a {meta.status} run, which never restarts; fix: pass a new --run-dir"
        )
    if config_text is not None and not (run_dir / contract.CONFIG_FILE).exists():
        contract.atomic_write_text(run_dir / contract.CONFIG_FILE, config_text)
    if meta is None:
        create(
            run_dir,
            RunMeta(run_id=run_dir.name, name=name, trainer=trainer, config_path=config_path, epochs=epochs),
        )
    mark_running(run_dir, launched_by="hand")
    return record_pid(run_dir, os.getpid())


# --------------------------------------------------------------------------- the reaper


def describe_exit(returncode: int) -> tuple[str, str]:
    """(status, error) for a trainer that exited with ``returncode`` without recording a status."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return "killed", f"killed by {name}"
    return "failed", f"trainer exited with code {returncode} without recording a status"


def reap_exit(run_dir: Path, returncode: int) -> RunMeta | None:
    """Record what the harness could not, once the launcher has the process's exit code.

    A run still ``running`` (SIGKILL, segfault, the OOM killer, a crash before the harness ran)
    becomes killed/failed with the code; a final run keeps its status and only gains
    the exit code if it has none. Returns the meta as it now stands (None: unreadable).
    """
    status, error = describe_exit(returncode)
    try:
        return contract.update_meta(
            run_dir,
            only_if=_expect(run_dir, {"running"}, "reap"),
            status=status,
            error=error,
            exit_code=returncode,
            ended=time.time(),
        )
    except TransitionError:
        pass
    except (ContractError, OSError):
        return None
    try:
        return contract.update_meta(run_dir, only_if=_expect_no_exit_code(run_dir), exit_code=returncode)
    except TransitionError:
        return contract.read_meta(run_dir)
    except (ContractError, OSError):
        return None


def _expect_no_exit_code(run_dir: Path) -> Callable[[RunMeta], None]:
    def check(meta: RunMeta) -> None:
        if meta.exit_code is not None:
            raise TransitionError(f"{Path(run_dir).name}: exit code already recorded")

    return check


def mark_vanished(run_dir: Path) -> bool:
    """running → failed (:data:`DIED_ERROR`) when the run's process is gone and no launcher is left
    to record its exit. True if marked.

    Nothing is written while the run is alive, while this machine cannot tell
    (:func:`hw2.runs.liveness.is_alive` None: another host), or while its launcher still waits for
    the exit code (a foreground ``hw2-tui run`` that has not reaped its child yet): the launcher's
    answer is better than this guess, so the guess is never made.
    """
    meta = contract.read_meta(run_dir)
    if meta is None or meta.status != "running" or not _vanished(meta):
        return False

    def check(current: RunMeta) -> None:
        _expect(run_dir, {"running"}, "mark vanished")(current)
        if not _vanished(current):
            raise TransitionError(f"{Path(run_dir).name}: alive again")

    try:
        contract.update_meta(run_dir, only_if=check, status="failed", error=DIED_ERROR, ended=time.time())
    except (ContractError, OSError):
        return False
    return True


def _vanished(meta: RunMeta) -> bool:
    return liveness.is_alive(meta) is False and not liveness.exit_will_be_recorded(meta)


def _refuse_lifecycle_fields(fields: Collection[str]) -> None:
    bad = sorted(set(fields) & LIFECYCLE_FIELDS)
    if bad:
        raise TransitionError(f"{', '.join(bad)}: written only by a lifecycle transition")
