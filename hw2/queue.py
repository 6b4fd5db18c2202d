"""The run queue, on disk: creating runs (and whole sweeps), local kill, requeue folders, and the scheduler daemon's lifecycle.

Why on disk: a queued or running experiment must outlive the TUI or the SSH session that started
it. A queued run is just a run folder whose ``meta.json`` says ``queued``; the scheduler daemon
(:mod:`hw2.scheduler`) launches them oldest first. The queue owns a run's creation (its
``config.yaml`` and first ``meta.json``) and the cancellation of a queued run, through
:mod:`hw2.runs.lifecycle`. Every state change of a queued run happens under
:func:`hw2.launch.queue_lock`, and only the process holding ``runs/.scheduler.lock`` launches
anything, so two TUIs/CLIs never start a run twice.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import yaml

from hw2 import contract, launch, locks
from hw2.contract import RunMeta
from hw2.runs import lifecycle, liveness
from hw2.runs.liveness import LOCAL

if TYPE_CHECKING:  # pydantic costs a quarter second to import; `ls` and `kill` never need it
    from hw2.schema import ExperimentConfig

SCHEDULER_LOCK = ".scheduler.lock"
SCHEDULER_INFO = ".scheduler.json"
SCHEDULER_LOG = ".scheduler.log"


class QueueError(Exception):
    """A queue operation failed; ``str()`` is one line meant for the user."""


class PlannedLike(Protocol):
    """What :func:`create_run` needs from a :class:`hw2.config.PlannedRun`."""

    name: str
    cfg: ExperimentConfig
    config_path: str
    study: str | None
    overrides: dict[str, Any]


@dataclass
class _Planned:
    """A PlannedRun stand-in for requeue (same fields)."""

    name: str
    cfg: ExperimentConfig
    config_path: str
    study: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    seed: int | None = None
    study_file: str | None = None


def _writable_runs_dir(runs_dir: Path | str) -> Path:
    runs_dir = Path(runs_dir)
    try:
        contract.make_runs_dir(runs_dir)
    except OSError as exc:
        raise QueueError(
            f"cannot create runs dir {runs_dir}: {exc.strerror}; fix: pass a writable --runs-dir"
        ) from exc
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise QueueError(
            f"runs dir {runs_dir} is not writable; fix: pass a writable --runs-dir or fix its permissions"
        )
    return runs_dir


_ADDED_LATER: Final = ("optimizer.schedule", "model.block_dropout")
"""Config sections added to the schema after runs were recorded: at their defaults they are left
out of a run's identity and hash, so a run recorded without them stays the twin of the same config
written today. A section added to the schema later goes here, and nowhere else."""


def _dumped(cfg: ExperimentConfig | dict[str, Any]) -> dict[str, Any]:
    """The config as a dict, less the :data:`_ADDED_LATER` sections that sit at their defaults."""
    data = dict(cfg) if isinstance(cfg, dict) else cfg.model_dump(mode="json")
    for dotted, default in _later_defaults().items():
        *parents, key = dotted.split(".")
        holder: Any = data
        for part in parents:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and holder.get(key) == default:
            # copy the path down to the section, so the caller's dict is left as it was
            data = _without(data, [*parents, key])
    return data


def _without(data: dict[str, Any], path: list[str]) -> dict[str, Any]:
    head, *rest = path
    if not rest:
        return {k: v for k, v in data.items() if k != head}
    return {**data, head: _without(data[head], rest)}


@functools.cache
def _later_defaults() -> dict[str, Any]:
    """Each :data:`_ADDED_LATER` section's default, as the schema dumps it."""
    from hw2.schema import ExperimentConfig

    out = {}
    for dotted in _ADDED_LATER:
        # walk the schema's classes, not an instance: some parents (model) have no default
        owner: Any = ExperimentConfig
        *parents, key = dotted.split(".")
        for part in parents:
            owner = owner.model_fields[part].annotation
        field = owner.model_fields[key]
        default = field.get_default(call_default_factory=True)
        out[dotted] = default.model_dump(mode="json") if hasattr(default, "model_dump") else default
    return out


def config_hash(cfg: ExperimentConfig | dict[str, Any]) -> str:
    """Hash of what a run computes (name/description excluded): runs of "the same config" share it."""
    data = _dumped(cfg)
    data.pop("name", None)
    data.pop("description", None)
    return _hash(data)


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# Config keys (dotted) left out of a run's identity: free text, and where the data lives on this
# machine (the same files anywhere give the same run).
NOT_IDENTITY: Final = frozenset({"name", "description", "data.data_dir"})


def identity(cfg: ExperimentConfig | dict[str, Any], *, smoke: bool = False) -> str:
    """A run's identity: the hash of its resolved config, seed included, name, description and
    ``data.data_dir`` left out. Two runs with one identity compute the same thing (twins); a sweep
    does not queue a run whose twin is done, queued or running (:func:`plan_sweep`).

    A smoke run (:func:`hw2.config.smoke_config`) has ``smoke=True`` folded in, so a smoke run
    and a real run are never twins, whatever their configs.
    """
    data = _dumped(cfg)
    kept = {k: v for k, v in _flat(data).items() if k not in NOT_IDENTITY}
    if smoke:
        kept["<smoke>"] = True
    return _hash(kept)


# Config keys (dotted) that do not change how much GPU memory a run takes, left out of its memory
# key. Everything else is in it: the trainer and the whole model (which network, its widths, batch
# norm), train.batch_size (activations scale with it), the optimizer's *name* (plain SGD keeps no
# state, momentum one tensor per weight, Adam two), data.dataset/subset/test_subset (with
# perf.data_on_device the decoded set lives on the GPU), augment.enabled/crop_padding (extra and
# padded batch tensors) and the perf settings (device, precision, memory format, compilation,
# Keras backend and XLA). A key not listed here counts, so a field added to the schema later can
# only keep runs apart, never make two runs of different sizes share a measured peak.
_NOT_MEMORY: Final = frozenset(
    {
        "name",  # free text
        "description",
        "seed",  # same tensors, other numbers
        "data.data_dir",  # where the files are, not their size
        "data.val_split",  # splits one set: the total on the device is the same
        "data.normalize",  # float32 either way
        "optimizer.schedule",  # the lr per epoch: one number either way
        "model.activation",  # same tensor shapes for relu/tanh/sigmoid/linear
        "model.l1",  # regularisation strengths: a scalar in the loss
        "model.l2",
        "augment.rotation",  # amounts, not sizes
        "augment.translation",
        "augment.zoom",
        "augment.flip",
        "optimizer.lr",  # hyper-parameter values: no tensor changes size
        "optimizer.momentum",
        "optimizer.nesterov",
        "optimizer.weight_decay",
        "train.epochs",  # how long, not how big
        "train.early_stopping",  # the best weights are kept in every run (test on best weights)
        "train.progress_every",
        "perf.num_workers",  # host processes, not GPU memory
        "perf.threads",
    }
)


def memory_key(cfg: ExperimentConfig | dict[str, Any]) -> str:
    """Hash of what determines a run's GPU memory: runs sharing it share a measured memory peak.

    Two runs of one study that differ only in seed, learning rate, epochs or regularisation share
    it; a different batch size, model, optimizer kind or precision does not (:data:`_NOT_MEMORY`).
    ``model.dropout`` and ``model.block_dropout`` count only as on/off: a dropout layer keeps a
    mask whatever its rate.
    """
    kept = {k: v for k, v in _flat(_dumped(cfg)).items() if not any(_within(k, x) for x in _NOT_MEMORY)}
    for key in ("model.dropout", "model.block_dropout"):
        if kept.get(key) is not None:
            kept[key] = bool(kept[key])
    return _hash(kept)


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, path + "."))
        else:
            out[path] = value
    return out


def _within(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def create_run(
    runs_dir: Path | str,
    planned: PlannedLike,
    *,
    data_dir: str | None = None,
    extra: dict[str, Any] | None = None,
    attempt: int = 1,
    smoke: bool = False,
) -> str:
    """Create ``runs/<id>/`` with config.yaml and a ``queued`` meta.json; returns the run id.

    The queue's transition (:func:`hw2.runs.lifecycle.create`): meta.json is written last
    (atomically), so a scanner never sees a half-made run. The meta holds the run's
    :func:`identity`; a study run's meta also names its ``variant``, ``seed`` and ``study_file``
    (from the planned run), so runs group by variant without parsing names. ``smoke`` marks a
    smoke run (meta ``smoke: true``, see :func:`smoke_test`).
    """
    runs_dir = _writable_runs_dir(runs_dir)
    cfg = planned.cfg
    try:
        module = launch.trainer_module(cfg.trainer)
    except launch.LaunchError as exc:
        raise QueueError(f"{planned.config_path}: trainer: {exc}") from exc
    name = planned.name or cfg.name or "run"
    for _ in range(20):
        run_id = contract.new_run_id(name)
        path = contract.run_path(runs_dir, run_id)
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise QueueError(f"cannot create {path}: {exc.strerror}") from exc
    else:  # pragma: no cover - 20 random collisions in one second
        raise QueueError(f"could not pick a unique run id for {name!r}")
    resolved = cfg.model_dump(mode="json")
    meta = RunMeta(
        run_id=run_id,
        name=name,
        status="queued",
        trainer=cfg.trainer,
        config_path=str(planned.config_path) if planned.config_path else None,
        study=planned.study,
        epochs=cfg.train.epochs,
        attempt=attempt,
    )
    meta.extra.update(
        {
            "trainer_module": module,
            "overrides": dict(planned.overrides or {}),
            "config_hash": config_hash(resolved),
            "memory_key": memory_key(resolved),
            "identity": identity(resolved, smoke=smoke),
        }
    )
    if smoke:
        meta.extra["smoke"] = True
    for key in ("variant", "seed", "study_file"):
        value = getattr(planned, key, None)
        if value is not None:
            meta.extra[key] = value
    if data_dir:
        meta.extra["data_dir"] = str(data_dir)
    if extra:
        meta.extra.update(extra)
    try:
        lifecycle.create(path, meta, yaml.safe_dump(resolved, sort_keys=False))
    except OSError as exc:  # disk full, quota, I/O error: leave no half-made run folder behind
        shutil.rmtree(path, ignore_errors=True)
        raise QueueError(
            f"cannot write run folder {path}: {exc.strerror or exc}; fix: free disk space or pass another --runs-dir"
        ) from exc
    return run_id


def queued_run_dirs(runs_dir: Path | str) -> list[Path]:
    """Folders of queued runs, oldest first."""
    out = []
    for p in contract.list_run_dirs(Path(runs_dir)):
        meta = contract.read_meta(p)
        if meta is not None and meta.status == "queued":
            out.append(p)
    return out


# --------------------------------------------------------------------------- scheduler lifecycle


def _lock_path(runs_dir: Path) -> Path:
    return Path(runs_dir) / SCHEDULER_LOCK


def scheduler_lock_held(runs_dir: Path | str) -> bool:
    """Whether some process holds the scheduler lock (probe: try it and let go at once)."""
    try:
        return locks.is_locked(_lock_path(Path(runs_dir)))
    except locks.UnsafeLockFile as exc:
        raise QueueError(str(exc)) from exc
    except OSError as exc:
        raise QueueError(f"runs dir {runs_dir} is not writable: {exc.strerror}") from exc


def scheduler_info(runs_dir: Path | str) -> dict[str, Any] | None:
    """The running scheduler's self-description (pid, slots, started), or None if none runs."""
    if not scheduler_lock_held(runs_dir):
        return None
    info = contract.read_json(Path(runs_dir) / SCHEDULER_INFO) or {}
    pid = info.get("pid")
    if info.get("host") not in (None, contract.host_name()):
        return info  # alive on its own host (it holds the lock); its pid says nothing here
    if not (isinstance(pid, int) and contract.pid_alive(pid, info.get("pid_create_time"))):
        info = {"pid": None}
    return info


def ensure_scheduler(runs_dir: Path | str, wait: float = 5.0) -> None:
    """Start the scheduler daemon unless one already holds the lock.

    The daemon is fully detached (new session, stdin/stdout on /dev/null, stderr into
    ``runs/.scheduler.log``), so it survives the caller. Concurrent callers may both spawn one;
    the loser cannot take the lock and exits, so there is only ever one. Waits up to ``wait``
    seconds for the daemon to hold the lock (or exit because the queue is empty).
    """
    runs_dir = _writable_runs_dir(runs_dir)
    if scheduler_lock_held(runs_dir):
        return
    launch.spawn_detached(
        ["-m", "hw2.scheduler", "--runs-dir", str(runs_dir.resolve())],
        log_path=runs_dir / SCHEDULER_LOG,
        cwd=os.getcwd(),
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        info = contract.read_json(runs_dir / SCHEDULER_INFO) or {}
        pid = info.get("pid")
        if isinstance(pid, int) and contract.pid_alive(pid) and scheduler_lock_held(runs_dir):
            return
        if not queued_run_dirs(runs_dir) and not _any_running(runs_dir):
            return  # nothing to do: a daemon exits at once anyway
        time.sleep(0.05)


def _any_running(runs_dir: Path) -> bool:
    for p in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(p)
        if meta is not None and liveness.effective_status(meta) == "running":
            return True
    return False


def stop_scheduler(runs_dir: Path | str, timeout: float = 10.0) -> bool:
    """Ask the scheduler daemon to exit (SIGTERM). Runs it started keep running and finish on
    their own (their harness records the status). True if a daemon was stopped."""
    info = scheduler_info(runs_dir)
    if not info or not info.get("pid"):
        return False
    pid = int(info["pid"])
    if info.get("host") not in (None, contract.host_name()):
        raise QueueError(
            f"{Path(runs_dir) / SCHEDULER_INFO}: the scheduler (pid {pid}) runs on host {info['host']}; "
            f"fix: run `hw2-tui scheduler stop` on {info['host']}"
        )
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not scheduler_lock_held(runs_dir):
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------- kill / requeue


def _run_dir(runs_dir: Path | str, run_id: str) -> Path:
    try:
        path = contract.run_path(Path(runs_dir), run_id)
    except contract.ContractError as exc:
        raise QueueError(str(exc)) from exc
    if not (path / contract.META_FILE).exists():
        raise QueueError(f"no run {run_id!r} in {runs_dir}")
    return path


def kill_run(runs_dir: Path | str, run_id: str, grace: float | None = None) -> bool:
    """Stop a run. Queued → ``killed`` at once, under the queue lock
    (:func:`hw2.runs.lifecycle.cancel_queued`). Running → SIGTERM to its process group (the
    harness records ``killed``), then SIGKILL after ``grace`` seconds (``$HW2_KILL_GRACE``,
    default 10) by a small detached helper. False if the run was already finished.
    """
    runs_dir = Path(runs_dir)
    path = _run_dir(runs_dir, run_id)
    first = contract.read_meta(path)
    if first is not None and first.extra.get("executor", LOCAL) != LOCAL:
        raise QueueError(
            f"run {run_id} is a {first.extra.get('executor')} run; kill it through its executor (hw2.executors)"
        )
    try:
        with launch.queue_lock(runs_dir):
            meta = contract.read_meta(path)
            if meta is None:
                raise QueueError(f"{path / contract.META_FILE}: unreadable")
            if meta.status == "queued":
                return lifecycle.cancel_queued(path)
    except launch.LaunchError as exc:
        raise QueueError(str(exc)) from exc
    if meta.status != "running":
        return False
    if meta.host != contract.host_name():
        raise QueueError(f"run {run_id} runs on host {meta.host}; kill it there")
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


def requeue(runs_dir: Path | str, run_id: str, *, extra: dict[str, Any] | None = None) -> str:
    """Queue a new run from an old run's config.yaml; its meta says ``requeued_from``, and keeps the
    old run's study identity (``variant``, ``seed``, ``study_file``), its :func:`identity` (same
    config, same hash), its smoke mark, and ``attempt`` + 1.

    Creates the folder only: its executor hands it over (:meth:`hw2.executors.Executor.requeue`);
    ``extra`` adds meta fields (``executor`` for a run that is not local)."""
    runs_dir = Path(runs_dir)
    path = _run_dir(runs_dir, run_id)
    old = contract.read_meta(path)
    if old is None:
        raise QueueError(f"{path / contract.META_FILE}: unreadable")
    from hw2.schema import ExperimentConfig

    cfg_file = path / contract.CONFIG_FILE
    try:
        data = yaml.safe_load(cfg_file.read_text(encoding="utf-8"))
        cfg = ExperimentConfig.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise QueueError(f"{cfg_file}: cannot read: {exc}") from exc
    except ValueError as exc:  # pydantic.ValidationError
        first = str(exc).splitlines()[0]
        raise QueueError(f"{cfg_file}: invalid config: {first}") from exc
    planned = _Planned(
        name=old.name,
        cfg=cfg,
        config_path=old.config_path or str(cfg_file),
        study=old.study,
        overrides=dict(old.extra.get("overrides") or {}),
        variant=_str_or_none(old.extra.get("variant")),
        seed=old.extra.get("seed") if isinstance(old.extra.get("seed"), int) else None,
        study_file=_str_or_none(old.extra.get("study_file")),
    )
    data_dir = old.extra.get("data_dir")
    return create_run(
        runs_dir,
        planned,
        data_dir=data_dir if isinstance(data_dir, str) else None,
        extra={"requeued_from": run_id, **(extra or {})},
        attempt=int(old.attempt or 1) + 1,
        smoke=old.extra.get("smoke") is True,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- sweeps: twins, requeue, smoke

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
    """Every readable run, oldest first."""
    out = []
    for path in contract.list_run_dirs(runs_dir):
        meta = contract.read_meta(path)
        if meta is not None:
            out.append(_Existing(path, meta))
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


def smoke_test(
    runs_dir: Path | str,
    planned: list[Any],
    timeout: float = 600.0,
    *,
    data_dir: str | None = None,
    poll: float = 0.2,
) -> list[SmokeFailure]:
    """Run every planned config as a smoke run (:func:`hw2.config.smoke_config`: one epoch on a
    small subset, through the real trainer) and wait for them; returns one :class:`SmokeFailure`
    per run that did not end ``done`` (empty: the real runs may be queued).

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
    return failures


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
