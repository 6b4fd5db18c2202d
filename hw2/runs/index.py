"""The summary cache of finished runs: ``<runs dir>/.summaries.json``.

A finished run (status done, failed or killed) does not change, so its summary is read from its
folder once and kept here with the :func:`hw2.statcache.stat_key` of each file it was built from
(``meta.json``, ``result.json``, ``config.yaml``, ``metrics.jsonl``). The resolved config is not
kept: the summary holds its flattened hyperparameters, which is all a listing needs, and a UI
reads one run's config when it shows it (with 10 000 runs the configs were a third of the file and
of the memory it takes). An entry is valid only while all four keys
still match; any rewrite (a new inode, size or mtime) makes it a miss and the run is read again.

With 1000 finished runs this turns ``hw2-tui ls`` and the TUI's first poll from reading ~60 MB
of metric lines into reading one JSON file and 4000 ``stat`` calls.

Best effort by design: the cache is a copy, never the truth. A missing, damaged or foreign file
reads as empty; a read-only runs folder or a full disk just means no cache. Writers replace the
whole file atomically after merging what is on disk, so two writers at worst recompute a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from sys import intern
from typing import Any

from hw2 import contract
from hw2.runs.summary import EpochPoint, RunSummary
from hw2.statcache import stat_key

CACHE_FILE = ".summaries.json"
CACHE_FORMAT = 4
"""2: summaries carry executor, node and the Slurm status text; 3: no config; 4: a summary is the
list of its fields' values in their order (:func:`pack`), not a dict repeating the names."""
"""Bumped by hand only when a field keeps its name and type but changes meaning."""


def summary_version(cls: type = RunSummary) -> str:
    """The cache's version for summaries of class ``cls``: :data:`CACHE_FORMAT` and a hash of its
    fields' names and types, and of the dataclasses those types name (``EpochPoint``...). Adding,
    removing, renaming or retyping a field changes it, so a cache written before reads as empty."""
    module = sys.modules[cls.__module__]
    schema: list[Any] = []
    todo, seen = [cls], {cls.__name__}
    while todo:
        current = todo.pop(0)
        schema.append(current.__name__)
        for f in dataclasses.fields(current):
            schema.append([f.name, str(f.type)])
            for name in re.findall(r"[A-Za-z_]\w*", str(f.type)):
                nested = getattr(module, name, None)
                if name not in seen and isinstance(nested, type) and dataclasses.is_dataclass(nested):
                    seen.add(name)
                    todo.append(nested)
    digest = hashlib.sha256(json.dumps(schema).encode()).hexdigest()[:16]
    return f"{CACHE_FORMAT}-{digest}"


CACHE_VERSION = summary_version()
"""Written into the cache file and checked on read: older or foreign files then read as empty."""

SUMMARY_FIELDS = tuple(f.name for f in dataclasses.fields(RunSummary))
_LATEST, _HPARAMS = SUMMARY_FIELDS.index("latest"), SUMMARY_FIELDS.index("hparams")
_SHARED_TEXT = tuple(
    SUMMARY_FIELDS.index(name)
    for name in ("status", "study", "variant", "trainer", "device", "executor", "config_path")
)
"""Fields whose text most runs share: interned as read, like the hyperparameters' texts (a
10 000-run UI held 10 000 copies of each study title and optimizer name, ~10 MB)."""
_SEP = "\x1f"  # between the hyperparameters' names: a unit separator never is in a config key
_KEY_TUPLES: dict[str, tuple[str, ...]] = {}  # one tuple of names per distinct set, shared by runs


def pack(summary: RunSummary) -> list[Any]:
    """A summary as the JSON list of its fields' values in declaration order; ``latest`` as the
    list of its values, ``hparams`` as [names joined by \\x1f, values]. With 10 000 runs this
    is 40 % of the dict form, and reads in a third of the time. The order is safe to rely on:
    :data:`CACHE_VERSION` hashes the fields, so a changed class reads every entry as a miss."""
    values = [getattr(summary, name) for name in SUMMARY_FIELDS]
    latest = values[_LATEST]
    values[_LATEST] = None if latest is None else list(dataclasses.astuple(latest))
    hparams = values[_HPARAMS]
    values[_HPARAMS] = [_SEP.join(hparams), list(hparams.values())]
    return values


def unpack(values: Any) -> RunSummary:
    """The summary :func:`pack` wrote (TypeError/ValueError when the entry is not one)."""
    if not isinstance(values, list) or len(values) != len(SUMMARY_FIELDS):
        raise ValueError("not a packed summary")
    values = list(values)
    latest = values[_LATEST]
    if latest is not None:
        values[_LATEST] = EpochPoint(*latest)
    names, hvalues = values[_HPARAMS]
    keys = _KEY_TUPLES.get(names)
    if keys is None:
        keys = _KEY_TUPLES[names] = tuple(names.split(_SEP)) if names else ()
    if len(keys) != len(hvalues):
        raise ValueError("hyperparameter names and values differ in number")
    values[_HPARAMS] = dict(zip(keys, [intern(v) if type(v) is str else v for v in hvalues], strict=True))
    for i in _SHARED_TEXT:
        if type(values[i]) is str:
            values[i] = intern(values[i])
    return RunSummary(*values)


def _with_names_index(entry: dict[str, Any], table: dict[str, int]) -> dict[str, Any]:
    """``entry`` for the file: its hyperparameter names replaced by their index in ``table``."""
    try:
        packed = list(entry["summary"])
        names, values = packed[_HPARAMS]
        packed[_HPARAMS] = [table.setdefault(names, len(table)), values]
    except (LookupError, TypeError, ValueError):
        return entry  # not a packed summary: reads as a miss, as it would have
    return {**entry, "summary": packed}


KEYED_FILES = (contract.META_FILE, contract.RESULT_FILE, contract.CONFIG_FILE, contract.METRICS_FILE)

FileKeys = list[list[int] | None]


def file_keys(run_dir: Path | str) -> FileKeys:
    """The stat keys of the files a summary is built from (None for a missing one), as JSON lists."""
    base = os.fspath(run_dir)
    out: FileKeys = []
    for name in KEYED_FILES:
        key = stat_key(os.path.join(base, name))
        out.append(list(key) if key is not None else None)
    return out


class SummaryCache:
    """``get``/``put`` cached summaries of one runs folder; ``save`` writes them back (if changed).

    An entry is handed out once: every reader asks for each run once (``list_runs``, a watcher's
    first sight) and keeps the summary, so ``get`` forgets a hit, and a UI does not hold 10 000
    entries (40 MB) for its whole session beside the summaries made from them. The ids stay
    known, so ``keep_only`` still drops the entries of deleted runs from the file."""

    def __init__(self, runs_dir: Path | str) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / CACHE_FILE
        self._dirty: set[str] = set()
        self._dropped: set[str] = set()
        self._entries: dict[str, dict[str, Any]] = self._read()
        self._ids: set[str] = set(self._entries)  # in the file or put: what keep_only may drop

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        runs, names = data.get("runs"), data.get("hparam_names")
        if not isinstance(runs, dict) or not isinstance(names, list):
            return {}
        for entry in runs.values():  # hyperparameter names are stored once per distinct set
            with contextlib.suppress(LookupError, TypeError):
                hparams = entry["summary"][_HPARAMS]
                hparams[0] = names[hparams[0]]
        return runs

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, run_id: str, keys: FileKeys) -> RunSummary | None:
        """The cached summary of a run whose files still have ``keys``, else None."""
        entry = self._entries.get(run_id)
        if not isinstance(entry, dict) or entry.get("keys") != keys:
            return None
        if run_id not in self._dirty:  # handed out once (the file keeps it until a save drops it)
            del self._entries[run_id]
        try:
            return unpack(entry["summary"])
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, keys: FileKeys, summary: RunSummary) -> None:
        """Remember a FINISHED run's summary (the caller checks the status) for files with ``keys``."""
        self._entries[summary.run_id] = {"keys": keys, "summary": pack(summary)}
        self._ids.add(summary.run_id)
        self._dirty.add(summary.run_id)
        self._dropped.discard(summary.run_id)

    def drop(self, run_id: str) -> None:
        self._entries.pop(run_id, None)
        if run_id in self._ids:
            self._ids.discard(run_id)
            self._dropped.add(run_id)
            self._dirty.discard(run_id)

    def keep_only(self, run_ids: Iterable[str]) -> None:
        """Forget the entries of runs no longer in the folder (deleted runs)."""
        keep = set(run_ids)
        for run_id in [r for r in self._ids if r not in keep]:
            self.drop(run_id)

    @property
    def dirty(self) -> bool:
        return bool(self._dirty or self._dropped)

    def save(self) -> bool:
        """Write the changes (merged over what another writer may have saved meanwhile); True if
        written. Never raises: a cache that cannot be written is only slower next time."""
        if not self.dirty:
            return False
        merged = self._read()
        for run_id in self._dropped:
            merged.pop(run_id, None)
        for run_id in self._dirty:
            if run_id in self._entries:
                merged[run_id] = self._entries[run_id]
        table: dict[str, int] = {}
        runs = {run_id: _with_names_index(entry, table) for run_id, entry in merged.items()}
        text = json.dumps(
            {"version": CACHE_VERSION, "hparam_names": list(table), "runs": runs},
            separators=(",", ":"),
            default=str,
        )
        try:
            fd, tmp = tempfile.mkstemp(prefix=f"{CACHE_FILE}.", suffix=".tmp", dir=self.runs_dir)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
        for run_id in self._dirty:  # written: the reader that put it holds the summary
            self._entries.pop(run_id, None)
        self._dirty.clear()
        self._dropped.clear()
        return True
