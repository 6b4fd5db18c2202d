"""Is a ``running`` run still alive? Decided by whoever launched it, behind one interface.

A run's meta names its executor (``meta.json`` key ``executor``, default ``local``): the kind of
launcher that started its process and can tell whether it still runs. A ``local`` run is a pid on
``host``, checked with its creation time so a reused pid is not mistaken for the run. A ``slurm``
run is a Slurm job (``slurm_job_id``): only Slurm can tell whether it runs, and asking it is one
``squeue`` call for all runs, tens of seconds apart, made by the Slurm monitor
(:class:`hw2.slurm.monitor.SlurmMonitor`, in the scheduler daemon), which records every end the
job could not; a reader (:func:`effective_status`, the reaper's
:func:`hw2.runs.lifecycle.mark_vanished`, the scheduler's slot count) never asks Slurm itself and
trusts the meta (:class:`SlurmJob` answers ``None``).

Answers are ``True`` (alive), ``False`` (gone) or ``None`` (cannot tell from here: another host,
an unknown executor); a ``None`` run is trusted as its meta says.
"""

from __future__ import annotations

from typing import Protocol

from hw2 import procs
from hw2.contract import RunMeta

LOCAL = "local"
SLURM = "slurm"


class Liveness(Protocol):
    """What an executor answers about the runs it launched."""

    def is_alive(self, meta: RunMeta) -> bool | None:
        """Whether the run's process (or job) still runs; None when this machine cannot tell."""
        ...

    def exit_will_be_recorded(self, meta: RunMeta) -> bool:
        """Whether the launcher that started the run is still there to record how it exits.

        While it is, nobody else writes the run's end: the launcher knows the exit code, a
        bystander only that the process is gone.
        """
        ...


class LocalProcess:
    """A trainer process on ``meta.host``, started by a launcher process on the same host.

    The launcher writes ``launcher_pid`` (and its creation time) when it marks the run running,
    then the trainer's ``pid`` once the process exists. Between the two, the run is alive while
    its launcher is (it either records the pid or marks the launch failed).
    """

    def is_alive(self, meta: RunMeta) -> bool | None:
        if meta.host != procs.host_name():
            return None
        if meta.pid:
            return procs.pid_alive(meta.pid, meta.pid_create_time)
        return self._launcher_alive(meta)

    def exit_will_be_recorded(self, meta: RunMeta) -> bool:
        if meta.host != procs.host_name():
            return False
        launcher = meta.extra.get("launcher_pid")
        return launcher != meta.pid and self._launcher_alive(meta)

    @staticmethod
    def _launcher_alive(meta: RunMeta) -> bool:
        pid = meta.extra.get("launcher_pid")
        ctime = meta.extra.get("launcher_pid_create_time")
        if not isinstance(pid, int) or isinstance(pid, bool):
            return False
        return procs.pid_alive(pid, ctime if isinstance(ctime, (int, float)) else None)


class SlurmJob:
    """A Slurm job, on whatever node Slurm chose (``host`` once it started).

    Its liveness is Slurm's to tell, and the Slurm monitor is the one that asks (one ``squeue``
    for all runs, see :mod:`hw2.slurm.monitor`) and records how a job ended when the harness could
    not: a reader cannot tell from here (``None``), and nobody but the monitor writes the end.
    """

    def is_alive(self, meta: RunMeta) -> bool | None:
        return None

    def exit_will_be_recorded(self, meta: RunMeta) -> bool:
        return True


EXECUTORS: dict[str, Liveness] = {LOCAL: LocalProcess(), SLURM: SlurmJob()}
"""Executor name (``meta.json`` key ``executor``) → how to tell whether its runs are alive."""


def executor_of(meta: RunMeta) -> Liveness | None:
    """The executor that launched ``meta``'s run, or None for one this installation does not know."""
    name = meta.extra.get("executor", LOCAL)
    return EXECUTORS.get(name) if isinstance(name, str) else None


def is_alive(meta: RunMeta) -> bool | None:
    """Whether ``meta``'s run still runs (True/False), or None when it cannot be told from here."""
    executor = executor_of(meta)
    return None if executor is None else executor.is_alive(meta)


def exit_will_be_recorded(meta: RunMeta) -> bool:
    """Whether the run's own launcher will still record how it ended (see :class:`Liveness`)."""
    executor = executor_of(meta)
    return executor is not None and executor.exit_will_be_recorded(meta)


def effective_status(meta: RunMeta) -> str:
    """The status a reader should show.

    A run marked ``running`` whose process is known to be gone did not finish: it is shown as
    ``failed`` (never stuck in running). Whoever launched the run decides whether it is alive
    (:func:`is_alive`: a local pid today); a run nobody here can check (another host) is trusted
    as written.
    """
    if meta.status != "running":
        return meta.status
    return "failed" if is_alive(meta) is False else meta.status
