"""Sweep planning: which of a study's planned runs already have a done, queued or running twin
(:func:`plan_sweep`), queueing the rest (:func:`enqueue_sweep`), and the smoke test a study may
run first (:func:`smoke_test`). Twins are runs of one identity (:func:`hw2.run_keys.identity`).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from hw2 import contract, launch
from hw2.contract import RunMeta
from hw2.runs import liveness
from hw2.runs.liveness import LOCAL

if TYPE_CHECKING:  # pydantic costs a quarter second to import; `ls` and `kill` never need it
    pass

from hw2.daemon import ensure_scheduler
from hw2.executors.local import kill_run
from hw2.queue import PlannedLike, QueueError, _writable_runs_dir, create_run
from hw2.run_keys import identity

BLOCKING_STATUSES: Final = frozenset({"done", "queued", "running"})
"""A planned run with a twin (same :func:`identity`) in one of these is not queued again."""


@dataclass(frozen=True)
class Twin:
    """A planned run left out of a sweep, and the existing run that already does its work."""

    planned: PlannedLike
    run_id: str
    status: str


@dataclass
class SweepPlan:
    """What a sweep queues (``to_queue``) and leaves out (``skipped``, each with its twin);
    ``queued`` holds the run ids :func:`enqueue_sweep` created."""

    to_queue: list[PlannedLike]
    skipped: list[Twin] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a dialog or the CLI, e.g. ``4 of 6 already done or queued: queue 2``."""
        total, queue_n = len(self.to_queue) + len(self.skipped), len(self.to_queue)
        what = f"queue {queue_n}" if queue_n else "queue none"
        if not self.skipped:
            return f"none of {total} done or queued yet: {what}"
        return f"{len(self.skipped)} of {total} already done or queued: {what}"


class _Existing:
    """A run in the runs folder as a sweep sees it; its identity is read only when asked for (a run
    queued before identities were recorded costs a config parse)."""

    __slots__ = ("_identity", "meta", "path", "run_id", "smoke", "status")

    def __init__(self, path: Path, meta: RunMeta) -> None:
        self.path, self.meta, self.run_id = path, meta, path.name
        self.status = liveness.effective_status(meta)
        self.smoke = meta.extra.get("smoke") is True
        self._identity: str | None | bool = False  # False: not read yet

    @property
    def identity(self) -> str | None:
        if self._identity is False:
            self._identity = run_identity(self.path, self.meta)
        return self._identity  # type: ignore[return-value]


def run_identity(run_dir: Path, meta: RunMeta) -> str | None:
    """The :func:`identity` of an existing run: its meta's, or (a run queued before identities
    were recorded) computed from its ``config.yaml`` read through the schema. None when the
    config cannot be read: such a run is nobody's twin."""
    recorded = meta.extra.get("identity")
    if isinstance(recorded, str):
        return recorded
    from hw2.schema import ExperimentConfig

    try:
        data = yaml.safe_load((Path(run_dir) / contract.CONFIG_FILE).read_text(encoding="utf-8"))
        cfg = ExperimentConfig.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError):
        return None
    return identity(cfg, smoke=meta.extra.get("smoke") is True)


def _existing_runs(runs_dir: Path) -> list[_Existing]:
    """Every readable run, oldest first by creation time (run ids order by second only: two runs
    created in one second would sort by their random suffix, and "the newest twin" would be a
    coin toss)."""
    out = []
    for path in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(path)
        if meta is not None:
            out.append(_Existing(path, meta))
    out.sort(key=lambda e: (e.meta.created or 0.0, e.run_id))
    return out


def _blocking_twins(existing: list[_Existing]) -> dict[str, _Existing]:
    """identity → the newest run of that identity that is done, queued or running."""
    twins: dict[str, _Existing] = {}
    for run in existing:  # oldest first: a later one replaces an earlier one
        if run.status in BLOCKING_STATUSES and run.identity is not None:
            twins[run.identity] = run
    return twins


def plan_sweep(
    runs_dir: Path | str, planned: list[PlannedLike], *, force: bool = False, smoke: bool = False
) -> SweepPlan:
    """Which of ``planned`` a sweep queues: those with no ``done``, ``queued`` or ``running`` twin
    (same :func:`identity`) in ``runs_dir``; ``failed`` and ``killed`` twins do not count.
    ``force`` queues all. ``smoke`` says the planned runs are smoke runs (their identities are
    smoke identities, so only smoke runs can be their twins). Reads only; :func:`enqueue_sweep`
    decides and queues under the queue lock."""
    if force:
        return SweepPlan(to_queue=list(planned))
    twins = _blocking_twins(_existing_runs(Path(runs_dir)))
    plan = SweepPlan(to_queue=[])
    for p in planned:
        twin = twins.get(identity(p.cfg, smoke=smoke))
        if twin is None:
            plan.to_queue.append(p)
        else:
            plan.skipped.append(Twin(planned=p, run_id=twin.run_id, status=twin.status))
    return plan


def enqueue_sweep(
    runs_dir: Path | str,
    planned: list[PlannedLike],
    *,
    force: bool = False,
    data_dir: str | None = None,
    smoke: bool = False,
    executor: str | None = None,
) -> SweepPlan:
    """Queue the runs of a sweep that have no done/queued/running twin (all with ``force``); returns
    the plan with ``queued`` filled. Deciding and creating happen under the queue lock
    (:func:`hw2.launch.queue_lock`), so two TUIs and the CLI relaunching one study at once queue
    each run once. ``executor`` names the runs' executor (:mod:`hw2.executors`; None or
    ``local``: the local scheduler). Does not start anything: hand ``queued`` to the executor
    (:meth:`hw2.executors.Executor.submit`) afterwards; the local scheduler never launches a run
    of another executor."""
    runs_dir = _writable_runs_dir(runs_dir)
    try:
        with launch.queue_lock(runs_dir):
            plan = plan_sweep(runs_dir, planned, force=force, smoke=smoke)
            for p in plan.to_queue:
                extra = {"executor": executor} if executor and executor != LOCAL else None
                plan.queued.append(create_run(runs_dir, p, data_dir=data_dir, smoke=smoke, extra=extra))
    except launch.LaunchError as exc:
        raise QueueError(str(exc)) from exc
    return plan


@dataclass(frozen=True)
class SmokeFailure:
    """A smoke run that did not finish ``done``: where its config came from and why."""

    file: str
    """The study file (or the experiment file of a single run)."""
    variant: str
    """The variant (or the run name when it has none)."""
    error: str
    """One line: the run's recorded error, else the last line of its ``train.log``."""
    run_id: str

    def line(self) -> str:
        """``FILE: variant V: ERROR``, one line for the CLI and the TUI."""
        return f"{self.file}: variant {self.variant}: {self.error}"


@dataclass
class SmokeTest:
    """What :func:`smoke_test` found: its smoke runs and the ones that failed."""

    run_ids: list[str]
    failures: list[SmokeFailure]

    @property
    def passed(self) -> bool:
        return not self.failures

    def tidy(self, runs_dir: Path | str) -> str:
        """Once the real runs are queued: a passed test's smoke runs go to the trash (they are
        one epoch on a subset, no answer to anything); a failed test's stay, as the evidence.
        Returns the line that says which (for the sweep's output or a toast)."""
        if not self.run_ids:
            return ""
        if not self.passed:
            return (
                f"smoke runs kept as evidence: {len(self.run_ids)} "
                "(hw2-tui ls --include-smoke; hw2-tui rm --smoke when done with them)"
            )
        from hw2 import trash
        from hw2.runs.summary import fmt_bytes

        runs_dir = Path(runs_dir)
        moved = trash.remove(runs_dir, [runs_dir / rid for rid in self.run_ids])
        line = (
            f"smoke runs moved to the trash: {len(moved.removed)} ({fmt_bytes(moved.size_bytes)}; "
            "hw2-tui restore RUN brings one back, hw2-tui gc empties the trash)"
        )
        return line + "".join(f"; kept: {why}" for why in moved.refused)


def smoke_test(
    runs_dir: Path | str,
    planned: list[Any],
    timeout: float = 600.0,
    *,
    data_dir: str | None = None,
    poll: float = 0.2,
) -> SmokeTest:
    """Run every planned config as a smoke run (:func:`hw2.config.smoke_config`: one epoch on a
    small subset, through the real trainer) and wait for them; returns the smoke runs and one
    :class:`SmokeFailure` per run that did not end ``done`` (none: the real runs may be queued;
    then :meth:`SmokeTest.tidy` moves the smoke runs to the trash).

    The smoke runs are real queued runs (meta ``smoke: true``, names ``smoke-…``): the scheduler
    runs them (:func:`ensure_scheduler`), behind any run already queued. One still unfinished
    after ``timeout`` seconds is killed and reported as such.
    """
    from hw2.config import smoke_planned

    runs_dir = _writable_runs_dir(runs_dir)
    smoke = [smoke_planned(p) for p in planned]
    plan = enqueue_sweep(runs_dir, smoke, force=True, data_dir=data_dir, smoke=True)
    by_id = dict(zip(plan.queued, smoke, strict=True))
    ensure_scheduler(runs_dir)
    deadline = time.monotonic() + timeout
    metas: dict[str, RunMeta | None] = {}
    while True:
        metas = {rid: contract.read_meta(runs_dir / rid) for rid in by_id}
        pending = [
            rid
            for rid, m in metas.items()
            if m is None or liveness.effective_status(m) not in contract.FINAL_STATUSES
        ]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    failures = []
    for rid, p in by_id.items():
        meta = metas.get(rid)
        status = liveness.effective_status(meta) if meta is not None else "missing"
        if status == "done":
            continue
        if meta is None:
            error = f"its run folder {rid} vanished or its meta.json is unreadable"
        elif status not in contract.FINAL_STATUSES:
            with contextlib.suppress(QueueError):
                kill_run(runs_dir, rid)
            error = f"did not finish within {timeout:g} s (killed)"
        else:
            error = meta.error or _last_log_line(runs_dir / rid) or status
        failures.append(
            SmokeFailure(
                file=str(getattr(p, "study_file", None) or p.config_path),
                variant=str(getattr(p, "variant", None) or p.name),
                error=" ".join(error.split()),
                run_id=rid,
            )
        )
    return SmokeTest(list(by_id), failures)


def _last_log_line(run_dir: Path) -> str | None:
    """The last non-empty line of a run's ``train.log`` (its tail only), or None."""
    try:
        with open(run_dir / contract.LOG_FILE, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None
