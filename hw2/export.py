"""CSV export of every run: ``results.csv`` (one row per run) and ``metrics.csv`` (one row per
run and epoch), for the report's tables and plots in any spreadsheet or pandas.

Every figure of ``results.csv`` comes from the run's :class:`~hw2.runs.summary.RunSummary` (the
same one ``hw2-tui ls`` and the TUI show): the fixed columns, then the summary's other figures
(:meth:`RunSummary.row`), then the flattened hyperparameters as ``cfg.*`` columns
(:attr:`RunSummary.hparams`: ``cfg.optimizer.lr``), the union over all runs in first-seen order.
Why a column per field: comparing runs means grouping by hyperparameters, and that works
everywhere without parsing YAML.

Streaming: summaries come through the runs folder's summary cache (finished runs are not re-read),
rows are written one by one, and ``metrics.csv`` reads one run's epoch lines at a time, so memory
holds one summary per run and never every run's metric lines. Numbers are written with ``repr`` (exact round trip);
integral floats as integers. Both files appear atomically (temp file, then rename).

Every CSV the tool writes (these two, a report's ``runs.csv``, the TUI's pivot export) goes through
:func:`write_csv_rows`, so every cell goes through :func:`csv_cell`: free text (run names, study
titles, config values) that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, a
tab or a carriage return first) gets a leading ``'``, OWASP's rule against CSV injection. Numbers
are never prefixed (``-0.5`` stays a number). A carriage return in text is written as a line feed
(quoted), so no text can end a row early.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from hw2 import contract
from hw2.runs.index import SummaryCache
from hw2.runs.readers import iter_summaries, read_epoch_lines
from hw2.runs.summary import RunSummary

RESULT_COLUMNS = [
    "run_id",
    "name",
    "config",
    "study",
    "status",
    "note",
    "trainer",
    "epochs",
    "best_epoch",
    "best_val_acc",
    "test_acc",
    "test_loss",
    "total_seconds",
    "params",
    "device",
    "started",
    "ended",
]
"""The first columns, in this order; the summary's other figures (:meth:`RunSummary.row`) follow."""
METRIC_COLUMNS = [
    "run_id",
    "name",
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
]


def default_export_dir() -> Path:
    """Where exports go unless told: ``$HW2_EXPORT_DIR``, else ``./exports`` (ignored by git)."""
    return Path(os.environ.get("HW2_EXPORT_DIR") or "exports")


def _iso(ts: Any) -> str:
    if not isinstance(ts, (int, float)) or not ts:
        return ""
    return datetime.fromtimestamp(float(ts)).astimezone().isoformat(timespec="seconds")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula when a text cell begins with it (OWASP)."""


def csv_cell(value: Any) -> Any:
    """One cell as a CSV file of the tool holds it: None empty, booleans ``true``/``false``,
    integral floats as integers, numbers as they are, and text that would start a formula in a
    spreadsheet prefixed with ``'`` (the student opens the export in one; a run named
    ``=HYPERLINK(...)`` must stay a name)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    # a carriage return is not quoted under the "\n" line ending and a reader ends the row there
    # (the rest of the cell would start a row of its own): line breaks in text are line feeds
    return text.replace("\r\n", "\n").replace("\r", "\n")


def write_csv_rows(fh: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """The one CSV writer of the tool: ``header``, then ``rows``, every cell through
    :func:`csv_cell`; ``fh`` opened with ``newline=""``."""
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])


def result_row(summary: RunSummary, now: float) -> dict[str, Any]:
    """One ``results.csv`` row: the summary's figures, ``epochs`` as ``done/total``, times as ISO
    text, ``total_seconds`` the result's (else the elapsed time), then ``cfg.*``."""
    row = summary.row(now)
    total = summary.epochs_total
    row.update(
        config=summary.config_path,
        epochs=f"{summary.epochs_done}/{total if total is not None else '?'}",
        total_seconds=summary.total_seconds if summary.total_seconds is not None else row["elapsed"],
        started=_iso(summary.started),
        ended=_iso(summary.ended),
    )
    row.update({f"cfg.{k}": v for k, v in summary.hparams.items()})
    return row


def _write_csv(path: Path, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write rows one by one to a temp file next to ``path``, then rename it over ``path``."""
    with contract.atomic_writer(path, newline="") as fh:
        write_csv_rows(fh, columns, ([row.get(k) for k in columns] for row in rows))


def _metric_rows(summaries: Iterable[RunSummary]) -> Iterator[dict[str, Any]]:
    for s in summaries:
        for line in read_epoch_lines(s.path):
            yield {"run_id": s.run_id, "name": s.name, **{k: line.get(k) for k in METRIC_COLUMNS[2:]}}


def export_csv(
    runs_dir: Path | str,
    out_dir: Path | str,
    *,
    only: Callable[[RunSummary], bool] | None = None,
    include_smoke: bool = False,
) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``metrics.csv`` into ``out_dir`` (created); returns both paths.

    ``only`` keeps the runs it answers True for (the report exports one study's runs). Smoke runs
    (``hw2-tui sweep --smoke``) are left out unless ``include_smoke``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_dir = Path(runs_dir)
    cache = SummaryCache(runs_dir) if runs_dir.is_dir() else None
    now = time.time()
    # Pass 1: the columns (the cfg.* union). What is held is one summary per run (finished runs
    # straight from the cache); rows are built one at a time and epoch lines read run by run.
    columns = list(RESULT_COLUMNS)
    seen = set(columns)
    summaries = [
        s
        for s in iter_summaries(runs_dir, cache)
        if (include_smoke or not s.smoke) and (only is None or only(s))
    ]
    for s in summaries:
        for key in [*s.row(now), *(f"cfg.{k}" for k in s.hparams)]:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    if cache is not None:
        cache.save()
    results_path = out_dir / "results.csv"
    metrics_path = out_dir / "metrics.csv"
    _write_csv(results_path, columns, (result_row(s, now) for s in summaries))
    _write_csv(metrics_path, METRIC_COLUMNS, _metric_rows(summaries))
    return results_path, metrics_path
