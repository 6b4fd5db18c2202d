"""The run contract: what a run folder under ``runs/`` holds. Documented in docs/run-contract.md.

A run is a folder ``runs/<run_id>/`` that the trainer writes and anything can read::

    config.yaml     resolved experiment config (written once, when the run is queued)
    meta.json       status + bookkeeping, rewritten atomically on every change (locked
                    read-modify-write; who may change what: :mod:`hw2.runs.lifecycle`)
    metrics.jsonl   one JSON object per line, flushed as written (epoch and progress lines)
    train.log       the trainer's stdout/stderr
    result.json     final result, written atomically once at the end (done runs only)

Status is one of ``queued``, ``running``, ``done``, ``failed``, ``killed``.

This module is UI-free and framework-free (the standard library, the project's own ``hw2.env`` and
``hw2.locks``, and ``psutil`` when installed), so trainers, the scheduler, the CLI and the TUI all
share it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Literal

from hw2 import locks
from hw2.env import env_int
from hw2.procs import host_name as host_name  # the process primitives, re-exported for the contract's readers
from hw2.procs import pid_alive as pid_alive
from hw2.procs import process_create_time as process_create_time

CONTRACT_VERSION: Final = 1

CONFIG_FILE: Final = "config.yaml"
META_FILE: Final = "meta.json"
METRICS_FILE: Final = "metrics.jsonl"
LOG_FILE: Final = "train.log"
RESULT_FILE: Final = "result.json"
CHECKPOINT_FILES: Final = ("checkpoint.pt", "checkpoint.npz")
"""A trainer's last checkpoint (the CNN's torch file, the MLP's NumPy file): a failed or killed run
with one is resumable (``hw2-tui resume``)."""
TRASH_DIR: Final = ".trash"
"""Where ``hw2-tui rm`` moves run folders (:mod:`hw2.trash`): hidden, so never a run folder."""
BEST_FILES: Final = ("best.pt", "best.npz")
"""The best epoch's weights the trainers keep beside the checkpoint."""

Status = Literal["queued", "running", "done", "failed", "killed"]
STATUSES: Final[tuple[str, ...]] = ("queued", "running", "done", "failed", "killed")
FINAL_STATUSES: Final[frozenset[str]] = frozenset({"done", "failed", "killed"})

# Keys every epoch line carries (accuracies are fractions in [0, 1]).
EPOCH_KEYS: Final = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
# Keys of the final result.
RESULT_KEYS: Final = (
    "test_loss",
    "test_acc",
    "best_epoch",
    "best_val_acc",
    "total_seconds",
    "params",
)

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ContractError(Exception):
    """A run folder or a line in it does not follow the contract."""


def default_runs_dir() -> Path:
    """``$HW2_RUNS_DIR`` or ``./runs``."""
    return Path(os.environ.get("HW2_RUNS_DIR") or "runs")


def make_runs_dir(runs_dir: Path | str) -> Path:
    """Create the runs dir (and missing parents) if it is missing: the runs dir itself ``0700``, so
    other local users can neither read its runs nor open its lock files (docs/security.md: sharing
    one with a group on purpose). An existing folder keeps its mode."""
    path = Path(runs_dir)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def cpu_slots() -> int:
    """``$HW2_CPU_SLOTS``: how many runs the scheduler runs at once without a GPU (default 1).

    The scheduler admits that many; a CNN trainer with ``perf.threads`` unset takes that share of
    the cores. Unset, empty or not a number: 1.
    """
    return env_int("HW2_CPU_SLOTS", 1, minimum=1)


def safe_name(text: str, max_len: int = 60) -> str:
    """A file-system-safe slug: only ``[A-Za-z0-9._-]``, no leading dots, never empty.

    ``../../etc`` becomes ``etc``; absolute paths lose their slashes. Used for run ids so that
    nothing derived from a config can escape the runs dir.
    """
    slug = _SAFE.sub("-", text).strip("-.")
    slug = re.sub(r"-{2,}", "-", slug)[:max_len].strip("-.")
    return slug or "run"


def new_run_id(name: str, now: float | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<name>-<4 hex>``: sortable by creation, unique, safe."""
    t = time.time() if now is None else now
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t))
    return f"{stamp}-{safe_name(name)}-{os.urandom(2).hex()}"


def run_path(runs_dir: Path, run_id: str) -> Path:
    """The folder of ``run_id`` inside ``runs_dir``; refuses ids that would leave it."""
    if run_id != safe_name(run_id, max_len=200) or run_id in {".", ".."}:
        raise ContractError(f"unsafe run id {run_id!r}: only letters, digits, '.', '_' and '-' are allowed")
    root = runs_dir.resolve()
    path = (root / run_id).resolve()
    if path.parent != root:
        raise ContractError(f"run id {run_id!r} resolves outside {root}")
    return path


# --------------------------------------------------------------------------- atomic files


@contextlib.contextmanager
def atomic_writer(path: Path, newline: str | None = None) -> Iterator[IO[str]]:
    """A text file handle whose content replaces ``path`` only when the block ends without error,
    so readers see the old or the new file, never half of one (written as it goes: a long CSV
    streams through it).

    Writes a temp file in the same folder, fsyncs it, then ``os.replace``s it over ``path``. On
    any error (disk full, read-only dir) the temp file is removed and the error propagates; the old
    file, if any, is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_writer`)."""
    with atomic_writer(path) as fh:
        fh.write(text)


def atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or not (yet) valid JSON."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- metric lines


def parse_metric_line(line: str | bytes) -> dict[str, Any] | None:
    """One ``metrics.jsonl`` line → dict, or None for a blank/garbage/non-object line."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return None
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("type") not in {"epoch", "progress"}:
        return None
    return obj


def iter_metrics(path: Path) -> Iterator[dict[str, Any]]:
    """Every valid line of a metrics file (garbage and a partial last line are skipped)."""
    try:
        with open(path, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # partial last line: still being written
                obj = parse_metric_line(raw)
                if obj is not None:
                    yield obj
    except FileNotFoundError:
        return


# --------------------------------------------------------------------------- meta


@dataclass
class RunMeta:
    """``meta.json``. Unknown keys are kept in ``extra`` so newer writers stay readable."""

    run_id: str
    name: str
    status: str = "queued"
    trainer: str = ""
    config_path: str | None = None
    study: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    pid: int | None = None
    pid_create_time: float | None = None
    host: str = field(default_factory=host_name)
    device: str | None = None
    gpu_name: str | None = None
    cuda_visible_devices: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    exit_code: int | None = None
    error: str | None = None
    epochs: int | None = None
    attempt: int = 1
    contract: int = CONTRACT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunMeta:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        if "run_id" not in kwargs or "name" not in kwargs:
            raise ContractError("meta.json lacks run_id or name")
        return cls(**kwargs, extra=extra)


def of_study(meta: RunMeta, study: str) -> bool:
    """Whether a run belongs to ``study``: its title, or the study file it was expanded from (the
    one reading of a study name that ``requeue --failed`` and ``rm --study`` share)."""
    if meta.study == study:
        return True
    study_file = meta.extra.get("study_file")
    if not isinstance(study_file, str):
        return False
    return os.path.realpath(study_file) == os.path.realpath(study)


def write_meta(run_dir: Path, meta: RunMeta) -> None:
    atomic_write_json(Path(run_dir) / META_FILE, meta.to_dict())


def read_meta(run_dir: Path) -> RunMeta | None:
    data = read_json(Path(run_dir) / META_FILE)
    if data is None:
        return None
    try:
        return RunMeta.from_dict(data)
    except (ContractError, TypeError):
        return None


def update_meta(
    run_dir: Path, *, only_if: Callable[[RunMeta], None] | None = None, **changes: Any
) -> RunMeta:
    """Change the named fields of ``meta.json`` and nothing else; returns the meta as written.

    A locked read-modify-write: the run folder is locked (:func:`hw2.locks.locked_dir`) while the file
    is read, changed and atomically replaced, so two writers never lose each other's fields. Keys
    are set on the file's own JSON object: a field another writer added meanwhile is kept as is.
    ``only_if`` sees the current meta under the lock and raises to refuse the change (the
    lifecycle's source-state checks).
    """
    path = Path(run_dir) / META_FILE
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locks.locked_dir(run_dir))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ContractError(f"{path}: missing or unreadable") from exc
        data = read_json(path)
        if data is None:
            raise ContractError(f"{path}: missing or unreadable")
        current = RunMeta.from_dict(data)
        if only_if is not None:
            only_if(current)
        data.update(changes)
        meta = RunMeta.from_dict(data)
        write_meta(run_dir, meta)
    return meta


# --------------------------------------------------------------------------- writer (trainers)


class MetricsWriter:
    """Appends contract lines to ``metrics.jsonl``, each flushed as written (line-buffered)."""

    def __init__(self, path: Path) -> None:
        self._fh: IO[str] = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, obj: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":"), default=float) + "\n")
        self._fh.flush()

    def epoch(
        self,
        *,
        epoch: int,
        epochs: int,
        train_loss: float,
        train_acc: float,
        val_loss: float,
        val_acc: float,
        lr: float,
        seconds: float,
        **more: Any,
    ) -> None:
        self.write(
            {
                "type": "epoch",
                "epoch": int(epoch),
                "epochs": int(epochs),
                "train_loss": float(train_loss),
                "train_acc": float(train_acc),
                "val_loss": float(val_loss),
                "val_acc": float(val_acc),
                "lr": float(lr),
                "seconds": float(seconds),
                "time": time.time(),
                **more,
            }
        )

    def progress(
        self,
        *,
        epoch: int,
        epochs: int,
        batch: int,
        batches: int,
        loss: float | None = None,
        acc: float | None = None,
        **more: Any,
    ) -> None:
        line: dict[str, Any] = {
            "type": "progress",
            "epoch": int(epoch),
            "epochs": int(epochs),
            "batch": int(batch),
            "batches": int(batches),
            "time": time.time(),
        }
        if loss is not None:
            line["loss"] = float(loss)
        if acc is not None:
            line["acc"] = float(acc)
        line.update(more)
        self.write(line)

    def close(self) -> None:
        self._fh.close()


def write_result(run_dir: Path, result: Mapping[str, Any]) -> None:
    """Atomically write ``result.json``; refuses a result missing a contract key."""
    missing = [k for k in RESULT_KEYS if k not in result]
    if missing:
        raise ContractError(f"result lacks {', '.join(missing)}")
    atomic_write_json(Path(run_dir) / RESULT_FILE, result)


def read_result(run_dir: Path) -> dict[str, Any] | None:
    return read_json(Path(run_dir) / RESULT_FILE)


# --------------------------------------------------------------------------- listing


def list_run_dirs(runs_dir: Path) -> list[Path]:
    """Run folders (those holding a meta.json), oldest first by run id.

    A symbolic link is never a run folder, even to one: the scheduler would launch it and write
    its ``train.log`` and ``meta.json`` wherever it points, and :func:`run_path` refuses it (so
    ``kill`` could not stop it). :func:`symlinked_run_dirs` names those skipped.
    """
    return [p for p in folders_in(runs_dir) if (p / META_FILE).exists()]


def folders_in(runs_dir: Path) -> list[Path]:
    """The folders in ``runs_dir`` that may be run folders (not hidden, not symlinks), by name;
    :func:`list_run_dirs` keeps those with a meta.json. For a caller that stats meta.json anyway."""
    try:
        with os.scandir(runs_dir) as it:
            names = sorted(
                e.name for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            )
    except FileNotFoundError:
        return []
    return [Path(runs_dir) / name for name in names]


def symlinked_run_dirs(runs_dir: Path) -> list[str]:
    """Names of the symbolic links to folders in ``runs_dir``, which :func:`list_run_dirs` skips."""
    try:
        with os.scandir(runs_dir) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.is_symlink() and e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


RESUMABLE_STATUSES: Final = frozenset({"failed", "killed"})
"""The statuses a run resumes from (``hw2-tui resume``), when its folder holds a checkpoint."""


def append_log_line(run_dir: Path | str, line: str) -> None:
    """One ``--- hw2: …`` line at the end of the run's ``train.log``, where the launcher, the Slurm
    monitor and resume say what happened to the run; a log that cannot be written is skipped (the
    meta holds the fact)."""
    with contextlib.suppress(OSError), open(Path(run_dir) / LOG_FILE, "a", encoding="utf-8") as fh:
        fh.write(f"--- hw2: {line}\n")


def checkpoint_file(run_dir: Path | str) -> Path | None:
    """The run folder's last checkpoint (:data:`CHECKPOINT_FILES`), or None when it has none."""
    for name in CHECKPOINT_FILES:
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None


def trainer_code_hash(root: Path | str | None = None) -> str:
    """A hash of the trainers' source (every ``trainers/*.py`` of this checkout): a checkpoint
    written by other code is not resumed without ``--force`` (:func:`hw2.resume.check`)."""
    import hashlib

    base = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted((base / "trainers").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
