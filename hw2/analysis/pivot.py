"""The factorial (pivot) view of a study with a grid over two or more keys.

Rows × columns are two chosen factors (dotted config keys such as ``optimizer.lr``); each cell
aggregates the chosen metric over the done runs whose config has that pair of values (seeds and
any other factor pooled), with marginal means per row and column and the best cell marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hw2.analysis.latex import escape
from hw2.analysis.stats import HIGHER_IS_BETTER, METRIC_NAMES, METRICS, Aggregate, mean_std_text
from hw2.runs.summary import RunSummary


def factors(runs: Iterable[RunSummary]) -> list[str]:
    """Config keys (flattened) whose values differ between the runs, except the seed: a study's
    grid axes and variant keys, in first-seen order."""
    seen: dict[str, set[str]] = {}
    for r in runs:
        for key, value in r.hparams.items():
            seen.setdefault(key, set()).add(repr(value))
    return [k for k, values in seen.items() if len(values) > 1 and k != "seed"]


def full_grid(runs: Sequence[RunSummary], keys: Sequence[str], metric: str = "best_val_acc") -> Pivot | None:
    """The pivot of the first two of ``keys`` whose values form a full grid over ``runs`` (every
    pair of values has runs, at least 2 × 2), e.g. a study's ``grid:`` of learning rate × dropout;
    None when no pair does (variants that change two keys together are not a grid)."""
    for i, row_key in enumerate(keys):
        for col_key in keys[i + 1 :]:
            pv = pivot(runs, row_key, col_key, metric)
            if len(pv.rows) >= 2 and len(pv.cols) >= 2 and len(pv.cells) == len(pv.rows) * len(pv.cols):
                return pv
    return None


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


def _scale(metric: str) -> tuple[float, int]:
    """Accuracies in percent with two decimals; other metrics as they are, four decimals."""
    return (100.0, 2) if metric.endswith("acc") else (1.0, 4)


def table(pv: Pivot) -> list[list[str]]:
    """The pivot as text rows: a header, one row per row value (the best cell starred), and a
    marginal-means row; the last column holds the row means."""
    scale, digits = _scale(pv.metric)
    header = [f"{pv.row_key} \\ {pv.col_key}", *map(_value_text, pv.cols), "mean"]
    rows = [header]
    for r in pv.rows:
        line = [_value_text(r)]
        for c in pv.cols:
            text = mean_std_text(pv.cells.get((r, c), Aggregate.of([])), scale, digits)
            line.append(text + (" *" if pv.best == (r, c) else ""))
        line.append(mean_std_text(pv.row_means.get(r, Aggregate.of([])), scale, digits))
        rows.append(line)
    rows.append(
        ["mean", *(mean_std_text(pv.col_means.get(c, Aggregate.of([])), scale, digits) for c in pv.cols), ""]
    )
    return rows


def _value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def to_csv(pv: Pivot) -> str:
    """The pivot as CSV: numbers, not text (mean and std columns per cell), written by the tool's
    one CSV writer (:func:`hw2.export.write_csv_rows`: no cell a spreadsheet reads as a formula)."""
    import io

    from hw2.export import write_csv_rows

    buf = io.StringIO(newline="")
    header = [pv.row_key, pv.col_key, f"{pv.metric}_mean", f"{pv.metric}_std", "n", "best"]
    rows = []
    for r in pv.rows:
        for c in pv.cols:
            agg = pv.cells.get((r, c), Aggregate.of([]))
            rows.append([r, c, agg.mean, agg.std, agg.n, "yes" if pv.best == (r, c) else ""])
    write_csv_rows(buf, header, rows)
    return buf.getvalue()


def to_latex(pv: Pivot, caption: str = "", label: str | None = None) -> str:
    """The pivot as a booktabs table fragment (the best cell in bold), labelled ``label`` if given."""
    rows = table(pv)
    out = [
        "\\begin{table}[htbp]",
        "\\centering",
        "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%",
        "\\begin{tabular}{l" + "r" * (len(rows[0]) - 1) + "}",
        "\\toprule",
        " & ".join(escape(h) for h in rows[0]) + " \\\\",
        "\\midrule",
    ]
    for line in rows[1:-1]:
        cells = [
            escape(x.removesuffix(" *")) if not x.endswith(" *") else f"\\textbf{{{escape(x[:-2])}}}"
            for x in line
        ]
        out.append(" & ".join(cells) + " \\\\")
    out += [
        "\\midrule",
        " & ".join(escape(x) for x in rows[-1]) + " \\\\",
        "\\bottomrule",
        "\\end{tabular}}",
    ]
    name = METRIC_NAMES.get(pv.metric, pv.metric)
    what = f"{escape(name)}, mean $\\pm$ std over seeds, by {escape(pv.row_key)} and {escape(pv.col_key)}"
    partial = " Partial: some runs are not done." if pv.partial else ""
    out += [
        f"\\caption{{{escape(caption) + ': ' if caption else ''}{what}; best cell in bold.{partial}}}",
        *([f"\\label{{{label}}}"] if label else []),
        "\\end{table}",
    ]
    return "\n".join(out) + "\n"
