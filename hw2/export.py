"""CSV export of every run: ``results.csv`` (one row per run) and ``metrics.csv`` (one row per
run and epoch), for the report's tables and plots in any spreadsheet or pandas.

Why flatten the config into ``cfg.*`` columns: comparing runs means grouping by hyperparameters,
and a column per field (``cfg.optimizer.lr``) works everywhere without parsing YAML. Columns are
the union over all runs in a stable order (fixed columns, then config fields in first-seen order).
Numbers are written with ``repr`` (exact round trip). Both files are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.store import RunView, list_runs

RESULT_COLUMNS = [
    "run_id",
    "name",
    "config",
    "study",
    "status",
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


def flatten(data: Any, prefix: str = "cfg") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` → ``{"cfg.optimizer.lr": 0.1}``; lists become JSON text."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}"))
    elif isinstance(data, (list, tuple)):
        out[prefix] = json.dumps(list(data))
    else:
        out[prefix] = data
    return out


def _iso(ts: Any) -> str:
    if not isinstance(ts, (int, float)) or not ts:
        return ""
    return datetime.fromtimestamp(float(ts)).astimezone().isoformat(timespec="seconds")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value


def result_row(view: RunView) -> dict[str, Any]:
    res = view.result or {}
    total = view.epochs_total
    row: dict[str, Any] = {
        "run_id": view.run_id,
        "name": view.name,
        "config": view.meta.config_path,
        "study": view.study,
        "status": view.status,
        "trainer": view.meta.trainer,
        "epochs": f"{view.epochs_done}/{total if total is not None else '?'}",
        "best_epoch": res.get("best_epoch"),
        "best_val_acc": res.get("best_val_acc", view.best_val_acc),
        "test_acc": res.get("test_acc"),
        "test_loss": res.get("test_loss"),
        "total_seconds": res.get("total_seconds", view.elapsed),
        "params": res.get("params"),
        "device": view.meta.device or res.get("device"),
        "started": _iso(view.meta.started),
        "ended": _iso(view.meta.ended),
    }
    row.update(flatten(view.config))
    return row


def _csv_text(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buf.getvalue()


def export_csv(runs_dir: Path | str, out_dir: Path | str) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``metrics.csv`` into ``out_dir`` (created); returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    views = list_runs(runs_dir)
    rows = [result_row(v) for v in views]
    columns = list(RESULT_COLUMNS)
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    metric_rows = [
        {"run_id": v.run_id, "name": v.name, **{k: line.get(k) for k in METRIC_COLUMNS[2:]}}
        for v in views
        for line in v.epochs
    ]
    results_path = out_dir / "results.csv"
    metrics_path = out_dir / "metrics.csv"
    contract.atomic_write_text(results_path, _csv_text(columns, rows))
    contract.atomic_write_text(metrics_path, _csv_text(METRIC_COLUMNS, metric_rows))
    return results_path, metrics_path
