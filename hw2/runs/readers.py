"""Reading runs once: one run (:func:`load_run`), every run's summary (:func:`list_runs`,
:func:`iter_summaries`), a run's config and epoch lines. The incremental watcher for UIs that poll
several times a second is :mod:`hw2.runs.watcher`, built on the same readers.

Every figure comes from a :class:`~hw2.runs.summary.RunSummary` built by
:func:`~hw2.runs.summary.summarize`; metric lines are split into epoch and progress lines by
:func:`~hw2.runs.summary.fold_lines` only. Status shown is always
:func:`hw2.runs.liveness.effective_status` (a ``running`` run whose process is gone shows as
``failed``), so nothing is ever stuck in ``running``.

Why this is cheap with a semester of runs (1000 finished runs, ~60 MB of metric lines): a
finished run (status done/failed/killed) does not change, so its summary is read once and kept in
the runs folder's summary cache (:mod:`hw2.runs.index`), keyed on its files' stat keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.contract import RunMeta
from hw2.runs import liveness
from hw2.runs.index import SummaryCache, file_keys
from hw2.runs.lifecycle import DIED_ERROR
from hw2.runs.summary import EpochStats, RunSummary, fold_lines, summarize
from hw2.tail import WholeFile

__all__ = [
    "DIED_ERROR",
    "RunView",
    "is_finished",
    "iter_summaries",
    "list_runs",
    "load_run",
    "read_config",
    "read_epoch_lines",
    "read_folder",
]


def is_finished(meta: RunMeta | None) -> bool:
    """A run whose recorded status is final: its files no longer change (cacheable)."""
    return meta is not None and meta.status in contract.FINAL_STATUSES


def status_and_error(meta: RunMeta) -> tuple[str, str | None]:
    status = liveness.effective_status(meta)
    error = meta.error
    if status == "failed" and meta.status == "running":
        error = DIED_ERROR
    return status, error


def read_meta_or_placeholder(run_dir: Path) -> RunMeta:
    meta = contract.read_meta(run_dir)
    if meta is None:
        meta = RunMeta(run_id=run_dir.name, name=run_dir.name, status="failed")
        meta.error = f"{run_dir / contract.META_FILE}: missing or unreadable"
        meta.host = ""
    return meta


def read_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config of a run as a dict ({} when missing or unreadable).

    Parsed as ``yaml.safe_load`` does (SafeConstructor: plain data only), with libyaml's parser
    when PyYAML has it: ~10x faster, which matters when 1000 finished runs are summarised once."""
    import yaml  # only on a cache miss: `ls` with a warm cache never loads YAML

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(
            (Path(run_dir) / contract.CONFIG_FILE).read_bytes()
        )
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def fold_metrics_file(
    path: Path, stats: EpochStats, epochs: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """Fold a whole (finished) ``metrics.jsonl`` into ``stats`` (and ``epochs``); returns the
    latest progress line. Read in bounded chunks, progress lines are never kept
    (:class:`~hw2.tail.WholeFile`)."""
    whole = WholeFile(path)
    progress = fold_lines(whole.lines(), stats, epochs)
    stats.skipped += whole.skipped
    return progress  # type: ignore[return-value]


def read_epoch_lines(run_dir: Path | str) -> list[dict[str, Any]]:
    """A run's epoch lines, in file order, read from disk (garbage and progress lines left out)."""
    epochs: list[dict[str, Any]] = []
    fold_metrics_file(Path(run_dir) / contract.METRICS_FILE, EpochStats(), epochs)
    return epochs


@dataclass
class Folder:
    """Everything read from one run folder in one go."""

    meta: RunMeta
    raw_meta: bool  # meta.json was readable (a placeholder is never cached)
    summary: RunSummary
    config: dict[str, Any]
    result: dict[str, Any] | None
    epochs: list[dict[str, Any]] | None
    progress: dict[str, Any] | None


def read_folder(run_dir: Path, keep_epochs: bool) -> Folder:
    meta = contract.read_meta(run_dir)
    raw = meta is not None
    if meta is None:
        meta = read_meta_or_placeholder(run_dir)
    status, error = status_and_error(meta)
    config = read_config(run_dir)
    result = contract.read_result(run_dir)
    stats = EpochStats()
    epochs: list[dict[str, Any]] | None = [] if keep_epochs else None
    progress = fold_metrics_file(run_dir / contract.METRICS_FILE, stats, epochs)
    summary = summarize(
        run_id=run_dir.name,
        meta=meta,
        status=status,
        error=error,
        config=config,
        result=result,
        stats=stats,
        progress=progress,
        path=str(run_dir),
    )
    return Folder(meta, raw, summary, config, result, epochs, progress)


def _cached_summary(cache: SummaryCache | None, run_dir: Path) -> RunSummary | None:
    """A run's summary from the cache, or read (and, when finished, cached); None when the
    folder has no meta.json (no run folder, as for :func:`hw2.contract.list_run_dirs`)."""
    if cache is None:
        if not (run_dir / contract.META_FILE).exists():
            return None
        return read_folder(run_dir, keep_epochs=False).summary
    keys = file_keys(run_dir)  # taken BEFORE reading: a file changed meanwhile is a miss next time
    if keys[0] is None:  # no meta.json (its stat is the first key)
        return None
    hit = cache.get(run_dir.name, keys)
    if hit is not None:
        return hit
    folder = read_folder(run_dir, keep_epochs=False)
    if folder.raw_meta and is_finished(folder.meta):
        cache.put(keys, folder.summary)
    return folder.summary


@dataclass
class RunView:
    """One run as read from its folder: its :class:`RunSummary` (every figure) plus the raw
    material a caller may need beyond it: meta, config, result, the epoch lines and the latest
    progress line."""

    summary: RunSummary
    meta: RunMeta
    config: dict[str, Any]
    result: dict[str, Any] | None
    epochs: list[dict[str, Any]]
    progress: dict[str, Any] | None
    path: Path


def load_run(run_dir: Path | str) -> RunView:
    """A full snapshot of one run folder (reads every file once; the epoch lines are kept)."""
    run_dir = Path(run_dir)
    f = read_folder(run_dir, keep_epochs=True)
    return RunView(f.summary, f.meta, f.config, f.result, f.epochs or [], f.progress, run_dir)


def iter_summaries(runs_dir: Path | str, cache: SummaryCache | None = None) -> Iterator[RunSummary]:
    """Every run's summary, oldest first (by run id, which starts with a timestamp). Finished runs
    come from ``cache`` when given (and are added to it on a miss); the caller saves it."""
    for run_dir in contract.folders_in(Path(runs_dir)):  # meta.json is stat'ed once, by the keys
        summary = _cached_summary(cache, run_dir)
        if summary is not None:
            yield summary


def list_runs(runs_dir: Path | str, use_cache: bool = True) -> list[RunSummary]:
    """Every run's summary, oldest first; finished runs through the runs folder's summary cache
    (read once, written back when something was added or a run was deleted)."""
    runs_dir = Path(runs_dir)
    cache = SummaryCache(runs_dir) if use_cache and runs_dir.is_dir() else None
    out = list(iter_summaries(runs_dir, cache))
    if cache is not None:
        cache.keep_only(s.run_id for s in out)
        cache.save()
    return out
