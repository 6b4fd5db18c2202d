"""The incremental watcher (:class:`RunsWatcher`) for UIs that poll a runs folder several times
a second: each :meth:`~RunsWatcher.poll` returns only what changed (:class:`RunUpdate`).

It tails only live runs (queued/running); finished runs cost one summary each (from the runs
folder's summary cache, :mod:`hw2.runs.index`), are re-checked on a slow round-robin, and their
epoch lines are read from disk only when asked for (:meth:`RunsWatcher.epoch_lines`, for the runs
being plotted). Reading a run once is :mod:`hw2.runs.readers`.
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.contract import RunMeta
from hw2.runs.index import FileKeys, SummaryCache, file_keys
from hw2.runs.readers import (
    RunView,
    is_finished,
    read_config,
    read_epoch_lines,
    read_folder,
    read_meta_or_placeholder,
    status_and_error,
)
from hw2.runs.summary import EpochStats, RunSummary, flatten_config, fold_lines, summarize
from hw2.statcache import StatKey, stat_key
from hw2.tail import DEFAULT_MAX_BYTES, MetricsTailer

__all__ = ["RunUpdate", "RunsWatcher"]


@dataclass
class RunUpdate:
    """What changed in one run since the previous :meth:`RunsWatcher.poll`.

    ``summary``: the run's current summary (None only when ``removed``). ``view_changed``:
    meta/result/config/effective status changed (or the run is new). ``config``: the resolved
    config, set when the run is new or its config changed (else None). ``new_lines``: metric lines
    (epoch and progress, in file order) appended since the last poll; only live runs deliver
    lines: a finished run's epoch lines come from :meth:`RunsWatcher.epoch_lines`. After a
    ``truncated`` flag the lines restart from the top of the file (for a finished run: drop what
    you had, ask ``epoch_lines`` again). ``skipped``: garbage lines among the new bytes.
    ``meta``/``result``: as read this poll (None when the watcher did not read them: a removed
    run, or a finished run served from the summary cache; the summary holds their figures).
    ``status``/``error`` are the effective ones. ``trashed``: a removed run's folder went to the
    runs folder's trash (``hw2-tui rm``), rather than away for good.
    """

    run_id: str
    view_changed: bool
    meta: RunMeta | None
    result: dict[str, Any] | None
    new_lines: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    truncated: bool = False
    removed: bool = False
    trashed: bool = False
    new: bool = False
    status: str | None = None
    error: str | None = None
    path: Path | None = None
    summary: RunSummary | None = None
    config: dict[str, Any] | None = None


@dataclass(eq=False)
class _Live:
    """What the watcher holds for a live run (queued or running): a tailer and its lines."""

    tailer: MetricsTailer
    stats: EpochStats = field(default_factory=EpochStats)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    progress: dict[str, Any] | None = None
    meta: RunMeta | None = None
    result: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    meta_key: StatKey | None = None
    result_key: StatKey | None = None
    config_key: StatKey | None = None
    metrics_key: StatKey | None = None
    pending: bool = False  # the tailer left bytes for the next call
    checked: float = float("-inf")  # monotonic time of the last slow check (see recheck_interval)


@dataclass(eq=False)
class _Tracked:
    path: Path
    summary: RunSummary | None = None
    keys: tuple[int | None, ...] | None = None  # a hash per stat key of meta/result/config/metrics (_digest)
    live: _Live | None = None  # None for a finished run: only its summary is held


def _summary_of(run_id: str, t: _Tracked, lv: _Live, status: str, error: str | None) -> RunSummary:
    return summarize(
        run_id=run_id,
        meta=lv.meta,
        status=status,
        error=error,
        config=lv.config,
        result=lv.result,
        stats=lv.stats,
        progress=lv.progress,
        path=str(t.path),
        hparams=lv.hparams,
    )


class RunsWatcher:
    """Polls a runs folder; :meth:`poll` returns only what changed since the previous call.

    Live runs (queued/running) as before: every poll ``stat``s their meta.json and metrics.jsonl
    (new metric bytes are tailed), and every ``recheck_interval`` s their result, config and
    whether a running run's process is alive (a dead trainer flips to ``failed`` within that
    interval plus one poll). Finished runs hold only a summary (from the summary cache when
    valid): they are re-checked (four ``stat`` calls) on a round-robin so that each comes around
    about every ``finished_recheck_interval`` s. New or deleted folders are noticed through the
    runs folder's own mtime (rescanned at least every ``rescan_interval`` s regardless).
    The first poll reports every existing run as new.
    """

    def __init__(
        self,
        runs_dir: Path | str,
        max_bytes_per_run: int = DEFAULT_MAX_BYTES,
        recheck_interval: float = 2.0,
        finished_recheck_interval: float = 8.0,
        max_rechecks_per_s: float = 250.0,
        rescan_interval: float = 10.0,
        epoch_cache_size: int = 32,
        use_cache: bool = True,
        max_new_per_poll: int | None = None,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.max_bytes_per_run = max_bytes_per_run
        # Every poll stats each live run's meta.json and metrics.jsonl; the rest (result, config,
        # and whether a running run's process is alive, which reads /proc) at most this often.
        self.recheck_interval = recheck_interval
        self.finished_recheck_interval = finished_recheck_interval
        # ... but at most this many finished runs per second (four ``stat`` calls each): with
        # 10 000 finished runs each comes around every 40 s instead of every 8, and an idle UI stays
        # under 2 % of a core. A finished run changes only by a resume, a note or a hand edit; the
        # app re-checks the runs it acted on at once (``recheck``).
        self.max_rechecks_per_s = max_rechecks_per_s
        self.rescan_interval = rescan_interval
        self.epoch_cache_size = epoch_cache_size
        # At most this many newly found runs are read per poll, newest first (None: all): a UI
        # shows the newest rows of a large runs folder at once and gets the rest on the next
        # polls, which it makes at once while :attr:`backlog` is non-zero.
        self.max_new_per_poll = max_new_per_poll
        self._backlog: dict[str, Path] = {}  # found, not read yet (see max_new_per_poll)
        self._runs: dict[str, _Tracked] = {}
        self._live: set[str] = set()  # ids of the tracked runs with ``live`` set: polled every time
        self._cache = SummaryCache(self.runs_dir) if use_cache else None
        self._dir_key: tuple[int, int] | None = None
        self._scanned = float("-inf")
        self._pending: set[str] = set()  # folders seen without a meta.json (yet)
        self._order: list[str] = []  # finished runs, round-robin order
        self._finished: set[str] = set()  # the same ids, for membership tests
        self._cursor = 0
        self._budget = 0.0
        self._last_poll: float | None = None
        self._epochs_lru: OrderedDict[str, tuple[Any, list[dict[str, Any]]]] = OrderedDict()

    # ------------------------------------------------------------------ queries

    def run_ids(self) -> list[str]:
        return sorted(self._runs)

    @property
    def backlog(self) -> int:
        """Runs found but not reported yet (only with ``max_new_per_poll``): poll again soon."""
        return len(self._backlog)

    def summary(self, run_id: str) -> RunSummary | None:
        t = self._runs.get(run_id)
        return None if t is None else t.summary

    def is_live(self, run_id: str) -> bool:
        t = self._runs.get(run_id)
        return t is not None and t.live is not None

    def epoch_lines(self, run_id: str) -> list[dict[str, Any]]:
        """The run's epoch lines in file order: the held ones for a live run; for a finished run
        read from disk on demand and kept in a small LRU (``epoch_cache_size`` runs)."""
        t = self._runs.get(run_id)
        if t is None:
            return []
        if t.live is not None:
            return list(t.live.epochs)
        key = stat_key(t.path / contract.METRICS_FILE)
        hit = self._epochs_lru.get(run_id)
        if hit is not None and hit[0] == key:
            self._epochs_lru.move_to_end(run_id)
            return list(hit[1])
        lines = read_epoch_lines(t.path)
        self._epochs_lru[run_id] = (key, lines)
        self._epochs_lru.move_to_end(run_id)
        while len(self._epochs_lru) > self.epoch_cache_size:
            self._epochs_lru.popitem(last=False)
        return list(lines)

    def view(self, run_id: str) -> RunView | None:
        """A :class:`RunView` of a tracked run (a finished run's meta, config and lines are read
        from disk: this is for occasional use, not for every poll)."""
        t = self._runs.get(run_id)
        if t is None or t.summary is None:
            return None
        lv = t.live
        if lv is None or lv.meta is None:
            meta = read_meta_or_placeholder(t.path)
            return RunView(
                t.summary,
                meta,
                read_config(t.path),
                contract.read_result(t.path),
                self.epoch_lines(run_id),
                None,
                t.path,
            )
        return RunView(t.summary, lv.meta, lv.config, lv.result, list(lv.epochs), lv.progress, t.path)

    # ------------------------------------------------------------------ polling

    def _scan_needed(self, now: float) -> bool:
        try:
            st = os.stat(self.runs_dir)
        except OSError:
            return self._dir_key is not None or bool(self._runs)
        key = (st.st_ino, st.st_mtime_ns)
        # A folder made in the same clock tick as the last scan may not move the mtime: while the
        # mtime is recent, scan anyway (git's "racily clean" rule).
        recent = time.time() - st.st_mtime < 2.0
        due = key != self._dir_key or recent or now - self._scanned >= self.rescan_interval
        self._dir_key = key
        return due

    def _scan(self) -> dict[str, Path] | None:
        """Run folders (with a meta.json) by id; None when the runs folder is unreadable now."""
        found: dict[str, Path] = {}
        pending: set[str] = set()
        try:
            with os.scandir(self.runs_dir) as it:
                for entry in it:
                    name = entry.name
                    # a symlink is never a run folder (contract.list_run_dirs), even a known one's name
                    if (
                        name.startswith(".")
                        or entry.is_symlink()
                        or (name not in self._runs and not entry.is_dir(follow_symlinks=False))
                    ):
                        continue
                    # a folder that lost its meta.json is no run any more (as for list_runs)
                    if os.path.exists(os.path.join(entry.path, contract.META_FILE)):
                        known = self._runs.get(name)
                        found[name] = known.path if known is not None else Path(entry.path)
                    else:
                        pending.add(name)
        except FileNotFoundError:
            pass
        except (NotADirectoryError, PermissionError):
            return None
        self._pending = pending
        return found

    def poll(self) -> list[RunUpdate]:
        updates: list[RunUpdate] = []
        now = time.monotonic()
        found: dict[str, Path] | None = None
        fresh: list[str] = []
        if self._scan_needed(now):
            self._scanned = now
            found = self._scan()
        elif self._pending:  # a folder made before its meta.json: the folder's mtime won't move
            for name in list(self._pending):
                p = self.runs_dir / name
                if (p / contract.META_FILE).exists():
                    self._pending.discard(name)
                    self._backlog[name] = p
        if found is not None:
            for run_id in sorted(set(self._runs) - set(found)):
                self._forget(run_id)
                trashed = _in_trash(self.runs_dir, run_id)
                updates.append(
                    RunUpdate(
                        run_id=run_id,
                        view_changed=True,
                        meta=None,
                        result=None,
                        removed=True,
                        trashed=trashed,
                    )
                )
            self._backlog = {r: p for r, p in found.items() if r not in self._runs}
        if self._backlog:
            fresh = sorted(self._backlog, reverse=True)[: self.max_new_per_poll]  # newest first
            for run_id in fresh:
                t = self._runs[run_id] = _Tracked(path=self._backlog.pop(run_id))
                updates.append(self._first_sight(run_id, t))
        just_read = set(fresh)
        for run_id in sorted(self._live - just_read):
            t = self._runs[run_id]
            if t.live is not None:
                upd = self._poll_live(run_id, t, now)
                if upd is not None:
                    updates.append(upd)
        updates += self._recheck_finished(now)
        if self._cache is not None and self._cache.dirty:
            self._cache.keep_only(self._runs)
            self._cache.save()
        updates.sort(key=lambda u: u.run_id)
        return updates

    def _forget(self, run_id: str) -> None:
        del self._runs[run_id]
        self._live.discard(run_id)
        self._epochs_lru.pop(run_id, None)
        self._unorder(run_id)

    def _unorder(self, run_id: str) -> None:
        if run_id in self._finished:
            self._finished.discard(run_id)
            self._order.remove(run_id)

    def _order_finished(self, run_id: str) -> None:
        if run_id not in self._finished:
            self._finished.add(run_id)
            self._order.append(run_id)

    def _first_sight(self, run_id: str, t: _Tracked) -> RunUpdate:
        """A run seen for the first time: a finished one from the cache (or read once), a live one
        tailed from the start of its metrics file."""
        keys = file_keys(t.path)
        if self._cache is not None:
            hit = self._cache.get(run_id, keys)
            if hit is not None:  # no config: a UI reads it when it shows the run (see hw2.runs.index)
                return self._as_finished(run_id, t, keys, hit, None, meta=None, result=None, new=True)
        meta = contract.read_meta(t.path)
        if is_finished(meta):
            folder = read_folder(t.path, keep_epochs=False)
            if folder.raw_meta and is_finished(folder.meta):
                if self._cache is not None:
                    self._cache.put(keys, folder.summary)
                # no config, as from the cache: a UI asks for it when it shows the run (10 000
                # resolved configs held by a UI were ~100 MB)
                return self._as_finished(
                    run_id, t, keys, folder.summary, None, folder.meta, folder.result, new=True
                )
        return self._start_live(run_id, t, new=True)

    def _as_finished(
        self,
        run_id: str,
        t: _Tracked,
        keys: FileKeys,
        summary: RunSummary,
        config: dict[str, Any] | None,
        meta: RunMeta | None,
        result: dict[str, Any] | None,
        new: bool = False,
        truncated: bool = False,
        new_lines: list[dict[str, Any]] | None = None,
        skipped: int = 0,
    ) -> RunUpdate:
        t.summary, t.keys, t.live = summary, _digest(keys), None
        self._live.discard(run_id)
        self._order_finished(run_id)
        return RunUpdate(
            run_id=run_id,
            view_changed=True,
            meta=meta,
            result=result,
            new_lines=new_lines or [],
            skipped=skipped,
            truncated=truncated,
            new=new,
            status=summary.status,
            error=summary.error,
            path=t.path,
            summary=summary,
            config=config,
        )

    def _start_live(self, run_id: str, t: _Tracked, new: bool = False, truncated: bool = False) -> RunUpdate:
        """Tail a run from the top of its metrics file (new, or a finished run that went live)."""
        self._unorder(run_id)
        self._epochs_lru.pop(run_id, None)
        t.live = _Live(MetricsTailer(t.path / contract.METRICS_FILE, self.max_bytes_per_run))
        self._live.add(run_id)
        t.keys = None
        t.summary = None
        upd = self._poll_live(run_id, t, time.monotonic(), force=True)
        assert upd is not None
        upd.new, upd.truncated = new, truncated or upd.truncated
        return upd

    def _poll_live(self, run_id: str, t: _Tracked, now: float, force: bool = False) -> RunUpdate | None:
        lv = t.live
        assert lv is not None
        changed = config_changed = force
        meta_key = stat_key(t.path / contract.META_FILE)
        if force or lv.meta is None or meta_key != lv.meta_key:
            lv.meta_key = meta_key
            lv.meta = read_meta_or_placeholder(t.path)
            changed = True
        status, error = (t.summary.status, t.summary.error) if t.summary is not None else ("", None)
        if changed or now - lv.checked >= self.recheck_interval:
            lv.checked = now
            result_key = stat_key(t.path / contract.RESULT_FILE)
            if force or result_key != lv.result_key:
                lv.result_key = result_key
                lv.result = contract.read_result(t.path) if result_key else None
                changed = True
            config_key = stat_key(t.path / contract.CONFIG_FILE)
            if force or config_key != lv.config_key:
                lv.config_key = config_key
                lv.config = read_config(t.path) if config_key else {}
                lv.hparams = flatten_config(lv.config)
                changed = config_changed = True
            new_status, new_error = status_and_error(lv.meta)
            if (new_status, new_error) != (status, error):
                status, error = new_status, new_error
                changed = True

        new_lines: list[dict[str, Any]] = []
        skipped = 0
        truncated = False
        metrics_key = lv.tailer.stat_key()
        if force or metrics_key != lv.metrics_key or lv.pending:
            lv.metrics_key = metrics_key
            res = lv.tailer.read_new()
            lv.pending = res.more
            truncated = res.truncated
            if truncated:
                lv.stats, lv.epochs, lv.progress = EpochStats(), [], None
            lv.progress = fold_lines(res.lines, lv.stats, lv.epochs, lv.progress, res.skipped)  # type: ignore[assignment]
            new_lines, skipped = res.lines, res.skipped
        if not (changed or new_lines or skipped or truncated):
            return None
        t.summary = _summary_of(run_id, t, lv, status, error)
        upd = RunUpdate(
            run_id=run_id,
            view_changed=changed,
            meta=lv.meta,
            result=lv.result,
            new_lines=new_lines,
            skipped=skipped,
            truncated=truncated,
            status=status,
            error=error,
            path=t.path,
            summary=t.summary,
            config=lv.config if config_changed else None,
        )
        if is_finished(lv.meta) and not lv.pending:
            self._finish(run_id, t, lv)
            upd.summary, upd.result = t.summary, lv.result
        return upd

    def _finish(self, run_id: str, t: _Tracked, lv: _Live) -> None:
        """A live run reached a final status: keep only its summary (cached when the files it was
        built from are still the ones on disk), drop the tailer and the held lines."""
        result_key = stat_key(t.path / contract.RESULT_FILE)
        if result_key != lv.result_key:  # written just before the final meta: fold it in now
            lv.result_key = result_key
            lv.result = contract.read_result(t.path) if result_key else None
            assert t.summary is not None
            t.summary = _summary_of(run_id, t, lv, t.summary.status, t.summary.error)
        assert t.summary is not None
        metrics_key = lv.metrics_key
        if lv.tailer.partial_bytes or (metrics_key is not None and metrics_key[1] != lv.tailer.offset):
            metrics_key = None  # not all of it folded: never matches, the re-check reads it again
            used: FileKeys = [_as_list(lv.meta_key), _as_list(lv.result_key), _as_list(lv.config_key), [-1]]
        else:
            used = [_as_list(k) for k in (lv.meta_key, lv.result_key, lv.config_key, metrics_key)]
        if self._cache is not None and used == file_keys(t.path):
            self._cache.put(used, t.summary)
        t.keys, t.live = _digest(used), None
        self._live.discard(run_id)
        self._order_finished(run_id)

    def _recheck_finished(self, now: float) -> list[RunUpdate]:
        """Re-stat a share of the finished runs, so each comes around every
        ``finished_recheck_interval`` s; a changed one is read again."""
        n = len(self._order)
        if not n:
            self._last_poll = now
            return []
        elapsed = 0.0 if self._last_poll is None else now - self._last_poll
        self._last_poll = now
        interval = self.finished_recheck_interval
        if interval > 0 and self.max_rechecks_per_s > 0:  # 0: every finished run on every poll
            interval = max(interval, n / self.max_rechecks_per_s)
        interval = max(interval, 1e-9)
        self._budget = min(self._budget + n * elapsed / interval, float(n))
        todo = math.floor(self._budget)
        self._budget -= todo
        updates: list[RunUpdate] = []
        for _ in range(todo):
            if not self._order:
                break
            self._cursor %= len(self._order)
            run_id = self._order[self._cursor]
            self._cursor += 1
            upd = self.recheck(run_id)
            if upd is not None:
                updates.append(upd)
        return updates

    def recheck(self, run_id: str) -> RunUpdate | None:
        """Re-check one finished run now (four ``stat`` calls); read it again if a file changed."""
        t = self._runs.get(run_id)
        if t is None or t.live is not None:
            return None
        keys = file_keys(t.path)
        digest = _digest(keys)
        if digest == t.keys:
            return None
        old = t.keys or (None,) * 4
        truncated = digest[3] != old[3]
        meta = contract.read_meta(t.path)
        if not is_finished(meta):  # rewritten as live (or unreadable): tail it from the top again
            return self._start_live(run_id, t, truncated=True)
        folder = read_folder(t.path, keep_epochs=False)
        if self._cache is not None and folder.raw_meta and is_finished(folder.meta):
            self._cache.put(keys, folder.summary)
        self._epochs_lru.pop(run_id, None)
        config = folder.config if digest[2] != old[2] else None
        return self._as_finished(
            run_id, t, keys, folder.summary, config, folder.meta, folder.result, truncated=truncated
        )


def _in_trash(runs_dir: Path, run_id: str) -> bool:
    """Did the run's folder go to the trash (as ``<id>``, or ``<id>~N`` when trashed before)?"""
    trash = os.path.join(runs_dir, contract.TRASH_DIR)
    if os.path.isdir(os.path.join(trash, run_id)):
        return True
    try:
        return any(name.startswith(f"{run_id}~") for name in os.listdir(trash))
    except OSError:
        return False


def _digest(keys: FileKeys) -> tuple[int | None, ...]:
    """What a tracked finished run keeps of its file keys: one hash per file (None for a missing
    one), enough to tell a change (a 10 000-run UI held 8 MB of the keys themselves)."""
    return tuple(None if k is None else hash(tuple(k)) for k in keys)


def _as_list(key: Any) -> list[int] | None:
    return None if key is None else list(key)
