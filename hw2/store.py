"""Reading runs: a snapshot of one run (:func:`load_run`), all runs (:func:`list_runs`), and an
incremental watcher (:class:`RunsWatcher`) for UIs that poll several times a second.

Why a watcher: re-reading every meta.json and metrics.jsonl on each UI tick would be wasteful
and slow with hundreds of runs. The watcher ``stat``s files and only re-reads what changed;
metric lines come through one :class:`~hw2.tail.MetricsTailer` per run, so only appended bytes
are read. Status shown is always :func:`hw2.contract.effective_status` (a ``running`` run whose
process is gone shows as ``failed``), so nothing is ever stuck in ``running``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hw2 import contract
from hw2.contract import RunMeta
from hw2.launch import DIED_ERROR
from hw2.tail import MetricsTailer

__all__ = ["DIED_ERROR", "RunUpdate", "RunView", "RunsWatcher", "list_runs", "load_run", "read_config"]


@dataclass
class RunView:
    """One run as a reader sees it. ``status`` is the effective status; ``epochs`` are the epoch
    lines so far; ``progress`` is the latest progress line (or None)."""

    run_id: str
    name: str
    study: str | None
    status: str
    meta: RunMeta
    config: dict[str, Any]
    result: dict[str, Any] | None
    epochs: list[dict[str, Any]]
    progress: dict[str, Any] | None
    path: Path
    error: str | None = None
    skipped_lines: int = 0

    @property
    def epochs_total(self) -> int | None:
        if self.meta.epochs:
            return int(self.meta.epochs)
        for line in (self.progress, self.epochs[-1] if self.epochs else None):
            if line and line.get("epochs"):
                return int(line["epochs"])
        train = self.config.get("train") if isinstance(self.config, dict) else None
        if isinstance(train, dict) and isinstance(train.get("epochs"), int):
            return train["epochs"]
        return None

    @property
    def epochs_done(self) -> int:
        return int(self.epochs[-1]["epoch"]) if self.epochs else 0

    @property
    def last_val_acc(self) -> float | None:
        return float(self.epochs[-1]["val_acc"]) if self.epochs else None

    @property
    def best_val_acc(self) -> float | None:
        if self.result and self.result.get("best_val_acc") is not None:
            return float(self.result["best_val_acc"])
        vals = [float(e["val_acc"]) for e in self.epochs if e.get("val_acc") is not None]
        return max(vals) if vals else None

    @property
    def test_acc(self) -> float | None:
        if self.result and self.result.get("test_acc") is not None:
            return float(self.result["test_acc"])
        return None

    @property
    def elapsed(self) -> float | None:
        """Seconds from start to end (or to now while running); None if never started."""
        if not self.meta.started:
            return None
        end = self.meta.ended or (time.time() if self.status == "running" else None)
        if end is None:
            return None
        return max(0.0, float(end) - float(self.meta.started))


def _status_and_error(meta: RunMeta) -> tuple[str, str | None]:
    status = contract.effective_status(meta)
    error = meta.error
    if status == "failed" and meta.status == "running":
        error = DIED_ERROR
    return status, error


def _read_meta_or_placeholder(run_dir: Path) -> RunMeta:
    meta = contract.read_meta(run_dir)
    if meta is None:
        meta = RunMeta(run_id=run_dir.name, name=run_dir.name, status="failed")
        meta.error = f"{run_dir / contract.META_FILE}: missing or unreadable"
        meta.host = ""
    return meta


def read_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config of a run as a dict ({} when missing or unreadable)."""
    try:
        data = yaml.safe_load((Path(run_dir) / contract.CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(run_dir: Path | str) -> RunView:
    """A full snapshot of one run folder (reads every file once)."""
    run_dir = Path(run_dir)
    meta = _read_meta_or_placeholder(run_dir)
    status, error = _status_and_error(meta)
    epochs: list[dict[str, Any]] = []
    progress: dict[str, Any] | None = None
    tailer = MetricsTailer(run_dir / contract.METRICS_FILE, max_bytes=1 << 62)
    res = tailer.read_new()
    for line in res.lines:
        if line["type"] == "epoch":
            epochs.append(line)
        else:
            progress = line
    return RunView(
        run_id=run_dir.name,
        name=meta.name,
        study=meta.study,
        status=status,
        meta=meta,
        config=read_config(run_dir),
        result=contract.read_result(run_dir),
        epochs=epochs,
        progress=progress,
        path=run_dir,
        error=error,
        skipped_lines=res.skipped,
    )


def list_runs(runs_dir: Path | str) -> list[RunView]:
    """Every run under ``runs_dir``, oldest first (by run id, which starts with a timestamp)."""
    return [load_run(p) for p in contract.list_run_dirs(Path(runs_dir))]


# --------------------------------------------------------------------------- watcher


@dataclass
class RunUpdate:
    """What changed in one run since the previous :meth:`RunsWatcher.poll`.

    ``view_changed``: meta/result/config/effective status changed (or the run is new); ``meta``
    and ``result`` are the current ones either way. ``new_lines``: metric lines appended since
    last time (after a ``truncated`` flag they restart from the top of the file). ``removed``: the
    run folder is gone. ``status``/``error`` are the effective ones.
    """

    run_id: str
    view_changed: bool
    meta: RunMeta | None
    result: dict[str, Any] | None
    new_lines: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    truncated: bool = False
    removed: bool = False
    new: bool = False
    status: str | None = None
    error: str | None = None
    path: Path | None = None


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class _Tracked:
    path: Path
    tailer: MetricsTailer
    meta_key: tuple[int, int, int] | None = None
    result_key: tuple[int, int, int] | None = None
    config_key: tuple[int, int, int] | None = None
    metrics_key: tuple[int, int, int] | None = None
    meta: RunMeta | None = None
    result: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "queued"
    error: str | None = None
    epochs: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, Any] | None = None
    skipped: int = 0
    pending: bool = False  # the tailer left bytes for the next call
    checked: float = float("-inf")  # monotonic time of the last full check (see recheck_interval)


class RunsWatcher:
    """Polls a runs folder; :meth:`poll` returns only what changed since the previous call.

    Cheap when nothing changed: one ``scandir`` plus a few ``stat`` calls per run (and a process
    check for runs marked running, so a dead trainer flips to ``failed`` without any file change).
    The first poll reports every existing run as new. :meth:`view` gives the accumulated
    :class:`RunView` of a run (epoch lines kept, only the latest progress line).
    """

    def __init__(
        self,
        runs_dir: Path | str,
        max_bytes_per_run: int = 4 * 1024 * 1024,
        recheck_interval: float = 2.0,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.max_bytes_per_run = max_bytes_per_run
        # Every poll stats each run's meta.json and metrics.jsonl; the rest (result, config, and
        # whether a running run's process is alive, which reads /proc) at most this often. With
        # 16 live runs polled 4x a second these checks were the poller's biggest cost. A trainer
        # that died still shows as failed within this interval plus one poll.
        self.recheck_interval = recheck_interval
        self._runs: dict[str, _Tracked] = {}

    def run_ids(self) -> list[str]:
        return sorted(self._runs)

    def view(self, run_id: str) -> RunView | None:
        t = self._runs.get(run_id)
        if t is None or t.meta is None:
            return None
        return RunView(
            run_id=run_id,
            name=t.meta.name,
            study=t.meta.study,
            status=t.status,
            meta=t.meta,
            config=t.config,
            result=t.result,
            epochs=list(t.epochs),
            progress=t.progress,
            path=t.path,
            error=t.error,
            skipped_lines=t.skipped,
        )

    def views(self) -> list[RunView]:
        return [v for rid in self.run_ids() if (v := self.view(rid)) is not None]

    def _scan(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        try:
            with os.scandir(self.runs_dir) as it:
                for entry in it:
                    if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                        continue
                    p = Path(entry.path)
                    if (p / contract.META_FILE).exists():
                        found[entry.name] = p
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            pass
        return found

    def poll(self) -> list[RunUpdate]:
        updates: list[RunUpdate] = []
        found = self._scan()
        for run_id in sorted(set(self._runs) - set(found)):
            del self._runs[run_id]
            updates.append(RunUpdate(run_id=run_id, view_changed=True, meta=None, result=None, removed=True))
        for run_id in sorted(found):
            t = self._runs.get(run_id)
            is_new = t is None
            if t is None:
                path = found[run_id]
                t = _Tracked(
                    path=path, tailer=MetricsTailer(path / contract.METRICS_FILE, self.max_bytes_per_run)
                )
                self._runs[run_id] = t
            upd = self._poll_one(run_id, t, is_new)
            if upd is not None:
                updates.append(upd)
        return updates

    def _poll_one(self, run_id: str, t: _Tracked, is_new: bool) -> RunUpdate | None:
        changed = is_new
        meta_key = _stat_key(t.path / contract.META_FILE)
        if meta_key != t.meta_key or t.meta is None:
            t.meta_key = meta_key
            t.meta = _read_meta_or_placeholder(t.path)
            changed = True
        # meta.json is checked on every poll (it carries the status); what rarely changes between
        # two meta writes (result, config, a running run's process) every recheck_interval.
        now = time.monotonic()
        slow = changed or now - t.checked >= self.recheck_interval
        if slow:
            t.checked = now
            result_key = _stat_key(t.path / contract.RESULT_FILE)
            if result_key != t.result_key:
                t.result_key = result_key
                t.result = contract.read_result(t.path) if result_key else None
                changed = True
            config_key = _stat_key(t.path / contract.CONFIG_FILE)
            if config_key != t.config_key:
                t.config_key = config_key
                t.config = read_config(t.path) if config_key else {}
                changed = True
            status, error = _status_and_error(t.meta)
        else:
            status, error = t.status, t.error
        if (status, error) != (t.status, t.error):
            t.status, t.error = status, error
            changed = True

        new_lines: list[dict[str, Any]] = []
        skipped = 0
        truncated = False
        metrics_key = t.tailer.stat_key()
        if metrics_key != t.metrics_key or t.pending:
            t.metrics_key = metrics_key
            res = t.tailer.read_new()
            t.pending = res.more
            truncated = res.truncated
            if truncated:
                t.epochs, t.progress, t.skipped = [], None, 0
            for line in res.lines:
                if line["type"] == "epoch":
                    t.epochs.append(line)
                else:
                    t.progress = line
            new_lines, skipped = res.lines, res.skipped
            t.skipped += skipped
        if not (changed or new_lines or skipped or truncated):
            return None
        return RunUpdate(
            run_id=run_id,
            view_changed=changed,
            meta=t.meta,
            result=t.result,
            new_lines=new_lines,
            skipped=skipped,
            truncated=truncated,
            new=is_new,
            status=t.status,
            error=t.error,
            path=t.path,
        )
