"""Watching Slurm runs: one ``squeue`` for all of them per poll, and the ends the harness could not record.

Run by the scheduler daemon (:mod:`hw2.scheduler`) while any Slurm run is active, every
``$HW2_SLURM_POLL_S`` seconds (default 30: a rate a shared cluster's slurmctld tolerates; never
one call per run). Per poll:

* ``squeue`` (one call, this user's jobs): a listed job's state and reason go into the run's meta
  (``slurm_state``, ``slurm_reason``: "pending: Resources" in the TUI) when they changed;
* a job no longer listed has ended: Slurm is asked how (accounting, else ``scontrol show job``,
  once per ended job or array) and the run's end follows
  (:func:`hw2.runs.lifecycle.end_by_executor`, :func:`~hw2.runs.lifecycle.overrule_kill`):

  ================  ===========================  =============================================
  run is            Slurm says                   the run becomes
  ================  ===========================  =============================================
  queued            CANCELLED                    killed "slurm: CANCELLED while pending"
  queued            anything else (or nothing)   failed: the job never started the run (the
                                                 compute node cannot see the runs folder)
  running           CANCELLED                    killed (the harness usually said so first)
  running           TIMEOUT, OUT_OF_MEMORY,      failed "slurm: TIMEOUT ..." (a ``killed`` the
                    NODE_FAIL, PREEMPTED, ...    harness recorded on Slurm's SIGTERM included)
  running           COMPLETED, FAILED            failed: the trainer never recorded its end
  running           nothing (forgotten)          failed "slurm job N vanished"
  done/failed       anything                     unchanged (only ``slurm_state`` recorded)
  ================  ===========================  =============================================

A job Slurm *requeued* (PENDING again: the harness asked for it as the time limit neared, or a
preemption, a lost node, ``scontrol requeue``) stays in ``squeue`` and is left to itself: when it
starts again it resumes its run (:mod:`hw2.slurm.requeue`). Meanwhile its run reads
``killed · requeued`` (:func:`hw2.runs.summary.awaiting_requeue`).

A run is watched until its ``slurm_state`` is an ended one (:data:`ENDED`), so even a run the
harness finished gets Slurm's last word. A poll whose ``squeue`` fails (slurmctld down) concludes
nothing; on a machine without Slurm's commands the monitor says so once (:attr:`SlurmMonitor.unavailable`)
and the scheduler stops waiting for those runs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from hw2 import contract
from hw2.contract import RunMeta
from hw2.env import env_float
from hw2.runs import lifecycle
from hw2.slurm import commands, is_slurm
from hw2.slurm.commands import JobInfo, SlurmError
from hw2.slurm.job import SHARED_FS_HINT

log = logging.getLogger("hw2.slurm")

DEFAULT_POLL_S: Final = 30.0
GONE: Final = "GONE"
"""``slurm_state`` of a job Slurm no longer knows (ended long ago, no accounting)."""
LIMITS: Final = frozenset({"TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "DEADLINE", "BOOT_FAIL"})
"""Ends Slurm imposes (the job's SIGTERM was no one's request): the run is ``failed``."""
ENDED: Final = frozenset({"COMPLETED", "CANCELLED", "FAILED", "REVOKED", GONE} | LIMITS)
_WHY: Final = {
    "TIMEOUT": "the job reached its time limit; fix: raise executor.time",
    "OUT_OF_MEMORY": "the job exceeded its memory; fix: raise executor.mem",
    "NODE_FAIL": "the node was lost",
    "PREEMPTED": "preempted by a higher-priority job",
    "DEADLINE": "the job reached its deadline",
    "BOOT_FAIL": "the node failed to boot",
}


def poll_s() -> float:
    """``$HW2_SLURM_POLL_S``: seconds between two polls of Slurm (default 30)."""
    return env_float("HW2_SLURM_POLL_S", DEFAULT_POLL_S, minimum=0.1)


def watched(meta: RunMeta) -> bool:
    """Whether the monitor still has something to learn about this run from Slurm."""
    if not is_slurm(meta) or not meta.extra.get("slurm_job_id"):
        return False
    if not commands.valid_job_id(meta.extra["slurm_job_id"]):
        return False  # an edited meta.json: never handed to Slurm's commands (kill says why)
    return meta.status in ("queued", "running") or meta.extra.get("slurm_state") not in ENDED


class SlurmMonitor:
    """Polls Slurm for the runs given to :meth:`maybe_poll` (see the module docstring)."""

    def __init__(self, interval_s: float | None = None) -> None:
        self.interval_s = poll_s() if interval_s is None else interval_s
        self._last = float("-inf")
        self.unavailable: str | None = None  # why Slurm cannot be asked from this machine at all

    def maybe_poll(self, runs: Iterable[tuple[Path, RunMeta]]) -> int:
        """:meth:`poll` if ``interval_s`` passed since the last one; returns the runs ended."""
        if time.monotonic() - self._last < self.interval_s:
            return 0
        return self.poll(runs)

    def poll(self, runs: Iterable[tuple[Path, RunMeta]]) -> int:
        """One ``squeue`` (and, for jobs that left it, one look at how they ended); returns how
        many runs this poll ended."""
        mine = [(path, meta) for path, meta in runs if watched(meta)]
        if not mine:
            return 0
        self._last = time.monotonic()
        try:
            live = commands.squeue()
        except commands.SlurmMissing as exc:  # run folders copied off the cluster: nothing to ask
            if self.unavailable is None:
                log.warning("slurm runs left as they are: %s", exc)
            self.unavailable = str(exc)
            return 0
        except SlurmError as exc:
            log.warning("slurm poll skipped: %s", exc)
            return 0
        gone: list[tuple[Path, str]] = []
        for path, meta in mine:
            job = str(meta.extra["slurm_job_id"])
            info = live.get(job)
            if info is None:
                gone.append((path, job))
            else:
                self._note(path, meta, info)
        if not gone:
            return 0
        ended = commands.ended_jobs(job for _, job in gone)
        return sum(self.settle(path, job, ended.get(job)) for path, job in gone)

    def _note(self, path: Path, meta: RunMeta, info: JobInfo) -> None:
        # A requeued job (PENDING again after a time limit, a preemption, a lost node) is left to
        # itself: when it starts it resumes its run (hw2.slurm.requeue.on_restart).
        if (meta.extra.get("slurm_state"), meta.extra.get("slurm_reason")) != (info.state, info.reason):
            with contextlib.suppress(contract.ContractError, OSError):
                lifecycle.add_fields(path, slurm_state=info.state, slurm_reason=info.reason)

    def settle(self, path: Path, job: str, info: JobInfo | None) -> bool:
        """Record how the job of a run that left ``squeue`` ended; True if this ended the run."""
        meta = contract.read_meta(path)  # read after squeue: an end the harness wrote is seen
        if meta is None:
            return False
        state = info.state if info else GONE
        reason = info.reason if info else ""
        status, error = _end_of(meta, job, state, info, path)
        ended = False
        job_state = {"slurm_state": state, "slurm_reason": reason}  # in the ending update itself
        if meta.status in ("queued", "running"):
            code = _exit_code(info) if state in ("COMPLETED", "FAILED") else None  # else Slurm says 0:0
            ended = lifecycle.end_by_executor(path, status, error, exit_code=code, **job_state)
        elif meta.status == "killed" and state in LIMITS:
            ended = lifecycle.overrule_kill(path, error, **job_state)
        if not ended:
            with contextlib.suppress(contract.ContractError, OSError):
                lifecycle.add_fields(path, **job_state)
        if ended:
            log.info("%s: slurm job %s %s -> %s (%s)", path.name, job, state, status, error)
            contract.append_log_line(path, f"slurm job {job} ended {state}: {status} ({error})")
        return ended


def _end_of(meta: RunMeta, job: str, state: str, info: JobInfo | None, path: Path) -> tuple[str, str]:
    """(status, error) for a run whose job ended in ``state``."""
    if state == "CANCELLED":
        return "killed", f"slurm: CANCELLED{' while pending' if meta.status == 'queued' else ''} (job {job})"
    if meta.status == "queued" and state not in LIMITS:
        node = f" on {info.node}" if info and info.node and info.node != "(null)" else ""
        return "failed", f"slurm job {job} ended {state}{node} without starting the run: {SHARED_FS_HINT}"
    if state in LIMITS:
        return "failed", f"slurm: {state} (job {job}: {_WHY[state]})"
    if state == GONE:
        return "failed", f"slurm job {job} vanished: not in squeue and Slurm no longer knows it"
    code = f", exit code {info.exit_code}" if info and info.exit_code else ""
    return "failed", f"slurm: {state} (job {job}{code}) but the trainer never recorded its end; see train.log"


def _exit_code(info: JobInfo | None) -> int | None:
    code = (info.exit_code if info else "").split(":", 1)[0]
    return int(code) if code.isdigit() else None
