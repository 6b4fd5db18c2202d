"""Executors: who starts, stops and restarts a run, behind one interface.

A run folder is the same whoever runs it (:mod:`hw2.queue` creates it, :mod:`hw2.runs.lifecycle`
writes its states). What differs is the executor, named in the run's ``meta.json`` (key
``executor``; absent means ``local``):

* ``local`` (:mod:`hw2.executors.local`): the scheduler daemon on this box (:mod:`hw2.scheduler`);
* ``slurm`` (:mod:`hw2.executors.slurm`): a Slurm job or job array (:mod:`hw2.slurm`).

The CLI (``run``, ``sweep``, ``kill``, ``requeue``), the TUI and ``requeue --failed``
(:func:`hw2.sweep.requeue_failed`) go through :class:`Executor` only; no other module chooses
between executors. Adding one is one module that defines ``EXECUTOR`` (an :class:`Executor`) and
one line in :data:`REGISTRY`. The modules are imported on first use, so the TUI and ``ls`` never
load Slurm's code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hw2.contract import RunMeta
from hw2.runs.liveness import LOCAL, SLURM

if TYPE_CHECKING:
    from hw2.queue import PlannedLike

__all__ = [
    "LOCAL",
    "REGISTRY",
    "Placement",
    "SLURM",
    "Executor",
    "ExecutorError",
    "Submitted",
    "get",
    "launch",
    "meta_extra",
    "names",
    "of_run",
    "resolve",
]

REGISTRY: dict[str, str] = {
    LOCAL: "hw2.executors.local",
    SLURM: "hw2.executors.slurm",
}
"""Executor name (``meta.json`` key ``executor``, ``--executor``) → the module defining its ``EXECUTOR``."""


def reopen(runs_dir: Path, run_id: str, force: bool) -> RunMeta:
    """:func:`hw2.resume.reopen` with its refusal as an :class:`ExecutorError` (each executor's
    ``resume`` starts with it)."""
    from hw2 import resume

    try:
        return resume.reopen(runs_dir, run_id, force=force)
    except resume.ResumeError as exc:
        raise ExecutorError(str(exc)) from exc


class ExecutorError(Exception):
    """An executor could not do what was asked; ``str()`` is one line meant for the user."""


@dataclass(frozen=True)
class Placement:
    """Where a launch's runs run, for the launch dialog's plan (:mod:`hw2.launch_plan`): ``kind``
    the executor's name, ``slots`` how many at once (None: as many as the executor starts),
    ``device`` ``cpu`` or ``gpu`` (the device kind an estimate is measured on), and a few words for
    the dialog (``what``)."""

    kind: str
    slots: int | None
    device: str
    what: str

    def at_once(self) -> str:
        """``one at a time``, ``up to 4 at once`` or ``as many at once as Slurm starts``."""
        if self.slots is None:
            return "as many at once as Slurm starts"
        return "one at a time" if self.slots == 1 else f"up to {self.slots} at once"


@dataclass
class Submitted:
    """What :meth:`Executor.submit` did: the runs handed over, the ones left out and why, and one
    line saying where they went (empty when there is nothing to say)."""

    run_ids: list[str]
    message: str = ""
    skipped: dict[str, str] = field(default_factory=dict)


class Executor(Protocol):
    """Starts, stops and restarts runs whose folders :mod:`hw2.queue` created."""

    name: str
    """The registry name, written into each run's meta (``executor``) unless it is ``local``."""
    where: str
    """How a notice says where runs went: ``""`` (this box) or ``" on Slurm"``."""
    foreground: bool
    """Whether ``hw2-tui run`` may run it in its own process and follow it (only ``local``)."""

    def submit(self, runs_dir: Path, run_ids: Sequence[str], settings: Any = None) -> Submitted:
        """Hand queued run folders over to be run. ``settings``: the resolved ``executor:``
        settings (:func:`resolve`); None: the project's. Raises :class:`ExecutorError`."""
        ...

    def kill(self, runs_dir: Path, run_id: str) -> bool:
        """Stop a queued or running run; False when it had ended already."""
        ...

    def requeue(self, runs_dir: Path, run_id: str) -> str:
        """A new run (a new folder, ``attempt`` + 1) from the run's config, handed over; its id."""
        ...

    def resume(self, runs_dir: Path, run_id: str, *, force: bool = False) -> str:
        """Continue the same run folder from its last checkpoint (:func:`hw2.resume.reopen`, then
        started as any queued run); returns one line for the user. ``force``: even when its config
        or the trainers' code changed. Raises :class:`ExecutorError`."""
        ...

    def describe(self, meta: RunMeta) -> str | None:
        """What the executor last said about the run, for a status column; None: nothing to add."""
        ...

    def plan(self, runs_dir: Path, settings: Any) -> Placement:
        """Where runs would run with ``settings``, for the launch dialog's plan (:mod:`hw2.launch_plan`)."""
        ...


def names() -> tuple[str, ...]:
    """The registered executors' names, ``local`` first."""
    return tuple(REGISTRY)


def get(name: str | None) -> Executor:
    """The executor called ``name`` (None: ``local``). Raises :class:`ExecutorError` for an unknown one."""
    name = name or LOCAL
    module = REGISTRY.get(name)
    if module is None:
        raise ExecutorError(f"unknown executor {name!r}; fix: use one of {', '.join(REGISTRY)}")
    return importlib.import_module(module).EXECUTOR  # type: ignore[no-any-return]


def of_run(meta: RunMeta) -> Executor:
    """The executor of an existing run (its meta's ``executor``, default ``local``)."""
    name = meta.extra.get("executor", LOCAL)
    if not isinstance(name, str):
        raise ExecutorError(f"run {meta.run_id}: meta.json: executor {name!r} is not a name")
    try:
        return get(name)
    except ExecutorError as exc:
        raise ExecutorError(f"run {meta.run_id}: {exc}") from exc


def meta_extra(name: str | None) -> dict[str, Any]:
    """The meta fields a new run of executor ``name`` gets (none for ``local``: the default)."""
    return {} if not name or name == LOCAL else {"executor": name}


def resolve(config_file: str | Path | None, name: str | None = None) -> tuple[Executor, Any]:
    """``(executor, settings)`` for launching ``config_file`` (an experiment or a study; None: the
    project file only): ``name`` when given, else the files' ``executor.kind``, else ``local``
    (the layers of :mod:`hw2.slurm.settings`). Raises :class:`hw2.config.ConfigError` or
    :class:`ExecutorError`."""
    from hw2.slurm.settings import resolve as resolve_settings  # the layered `executor:` settings

    kind, settings = resolve_settings(config_file, name)
    return get(kind), settings


def resolve_planned(planned: Any, name: str | None = None) -> tuple[Executor, Any]:
    """:func:`resolve` for a planned run: its study file, else the experiment it came from."""
    return resolve(planned.study_file or planned.config_path, name)


def launch(
    runs_dir: Path | str,
    planned: Sequence[PlannedLike],
    executor: Executor,
    settings: Any = None,
    *,
    data_dir: str | None = None,
    created: Callable[[list[str]], None] | None = None,
) -> Submitted:
    """Create a queued run folder for each of ``planned`` (:func:`hw2.queue.create_run`) and hand
    them to ``executor`` (:meth:`Executor.submit`); ``created(ids)`` is called in between (the TUI
    waits there for its poller to list the runs as queued)."""
    from hw2 import queue

    extra = meta_extra(executor.name) or None
    ids = [queue.create_run(runs_dir, p, data_dir=data_dir, extra=extra) for p in planned]
    if created is not None:
        created(ids)
    return executor.submit(Path(runs_dir), ids, settings)
