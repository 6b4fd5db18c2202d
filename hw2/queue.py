"""The run queue, on disk: creating run folders (a requeue makes a new one) and finding them.
Run keys are :mod:`hw2.run_keys`, the daemon's control :mod:`hw2.daemon`, sweep planning
:mod:`hw2.planning`.

Why on disk: a queued or running experiment must outlive the TUI or the SSH session that started
it. A queued run is just a run folder whose ``meta.json`` says ``queued``; the scheduler daemon
(:mod:`hw2.scheduler`) launches them oldest first. The queue owns a run's creation (its
``config.yaml`` and first ``meta.json``, through :mod:`hw2.runs.lifecycle`); stopping a local run
is the local executor's (:func:`hw2.executors.local.kill_run`). Every state change of a queued run happens under
:func:`hw2.launch.queue_lock`, and only the process holding ``runs/.scheduler.lock`` launches
anything, so two TUIs/CLIs never start a run twice.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from hw2 import contract, launch
from hw2.contract import RunMeta
from hw2.run_keys import config_hash, identity, memory_key
from hw2.runs import lifecycle

if TYPE_CHECKING:  # pydantic costs a quarter second to import; `ls` and `kill` never need it
    from hw2.schema import ExperimentConfig


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


# --------------------------------------------------------------------------- kill / requeue


def run_dir_of(runs_dir: Path | str, run_id: str) -> Path:
    try:
        path = contract.run_path(Path(runs_dir), run_id)
    except contract.ContractError as exc:
        raise QueueError(str(exc)) from exc
    if not (path / contract.META_FILE).exists():
        raise QueueError(f"no run {run_id!r} in {runs_dir}")
    return path


def requeue(runs_dir: Path | str, run_id: str, *, extra: dict[str, Any] | None = None) -> str:
    """Queue a new run from an old run's config.yaml; its meta says ``requeued_from``, and keeps the
    old run's study identity (``variant``, ``seed``, ``study_file``), its :func:`identity` (same
    config, same hash), its smoke mark, and ``attempt`` + 1.

    Creates the folder only: its executor hands it over (:meth:`hw2.executors.Executor.requeue`);
    ``extra`` adds meta fields (``executor`` for a run that is not local)."""
    runs_dir = Path(runs_dir)
    path = run_dir_of(runs_dir, run_id)
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
