"""The factorial (pivot) view of a study with a grid over two or more keys.

Rows × columns are two chosen factors (dotted config keys such as ``optimizer.lr``); each cell
aggregates the chosen metric over the done runs whose config has that pair of values (seeds and
any other factor pooled), with marginal means per row and column and the best cell marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hw2.analysis.stats import HIGHER_IS_BETTER, METRICS, Aggregate
from hw2.runs.summary import RunSummary


def factors(runs: Iterable[RunSummary]) -> list[str]:
    """Config keys (flattened) whose values differ between the runs, except the seed: a study's
    grid axes and variant keys, in first-seen order."""
    seen: dict[str, set[str]] = {}
    for r in runs:
        for key, value in r.hparams.items():
            seen.setdefault(key, set()).add(repr(value))
    return [k for k, values in seen.items() if len(values) > 1 and k != "seed"]


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool) or value is None:
        return (2, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


@dataclass(frozen=True)
class Pivot:
    row_key: str
    col_key: str
    metric: str
    rows: tuple[Any, ...]
    cols: tuple[Any, ...]
    cells: dict[tuple[Any, Any], Aggregate]
    row_means: dict[Any, Aggregate]
    col_means: dict[Any, Aggregate]
    best: tuple[Any, Any] | None
    partial: bool
    """Some runs in the grid are not done yet (or failed): figures cover the done ones only."""

    def swapped(self) -> Pivot:
        return Pivot(
            self.col_key,
            self.row_key,
            self.metric,
            self.cols,
            self.rows,
            {(c, r): agg for (r, c), agg in self.cells.items()},
            self.col_means,
            self.row_means,
            (self.best[1], self.best[0]) if self.best else None,
            self.partial,
        )


def pivot(runs: Sequence[RunSummary], row_key: str, col_key: str, metric: str = "best_val_acc") -> Pivot:
    """Aggregate ``metric`` over the done runs for every (row value, column value) pair."""
    get = METRICS[metric]
    buckets: dict[tuple[Any, Any], list[float | None]] = {}
    by_row: dict[Any, list[float | None]] = {}
    by_col: dict[Any, list[float | None]] = {}
    rows: dict[Any, None] = {}
    cols: dict[Any, None] = {}
    partial = False
    for r in runs:
        rv, cv = r.hparams.get(row_key), r.hparams.get(col_key)
        rows.setdefault(rv)
        cols.setdefault(cv)
        buckets.setdefault((rv, cv), [])
        if r.status != "done":
            partial = True
            continue
        value = get(r)
        buckets[(rv, cv)].append(value)
        by_row.setdefault(rv, []).append(value)
        by_col.setdefault(cv, []).append(value)
    cells = {key: Aggregate.of(values) for key, values in buckets.items()}
    higher = metric in HIGHER_IS_BETTER
    scored = [(agg.mean, key) for key, agg in cells.items() if agg.mean is not None]
    best = None
    if scored:
        best = (max if higher else min)(scored, key=lambda t: t[0])[1]
    return Pivot(
        row_key,
        col_key,
        metric,
        tuple(sorted(rows, key=_sort_key)),
        tuple(sorted(cols, key=_sort_key)),
        cells,
        {k: Aggregate.of(v) for k, v in by_row.items()},
        {k: Aggregate.of(v) for k, v in by_col.items()},
        best,
        partial,
    )
