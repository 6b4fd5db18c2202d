"""The app's panes: runs table, GPU bar, config tree (the plots are in :mod:`tui.plots`).

Each widget owns one job and is driven by the app with already-folded data from
:mod:`tui.model`; none of them reads files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.measure import Measurement
from rich.text import Text
from textual.widgets import Static, Tree
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from hw2.runs.summary import fmt_duration, fmt_float, fmt_pct
from tui.compat import CachedDataTable
from tui.model import STATUS_STYLES, RunState, fmt_value, progress_bar


class Cell(Text):
    """A table cell that also carries the value it sorts by (numbers sort as numbers)."""

    def __init__(self, text: str, style: str = "", sort_key: Any = None, justify: Any = None) -> None:
        super().__init__(text, style=style, justify=justify)
        self.sort_key = (sort_key is None, sort_key if sort_key is not None else 0)

    def __rich_measure__(self, console: Any, options: Any) -> Measurement:
        # A cell is one line that is never wrapped: its width is its length. (Text measures its
        # lines and words; the table measures every cell of every new row, 17 000 for 1000 runs.)
        width = self.cell_len
        return Measurement(width, width)


# ---------------------------------------------------------------------- runs table


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    render: Callable[[RunState, float], Cell]


def _num_cell(value: float | None, fmt: Callable[[float | None], str]) -> Cell:
    return Cell(fmt(value), sort_key=value, justify="right")


def _status_cell(r: RunState, now: float) -> Cell:
    status = "deleted" if r.deleted else r.summary.status
    skipped = r.summary.skipped_lines
    text = status + (f" !{skipped}" if skipped else "")
    s = r.summary
    if s.executor == "slurm" and not r.deleted:  # "queued · pending: Resources", "running · node07"
        where = s.slurm if status == "queued" else s.node
        text += f" · {where}" if where else " · slurm"
    return Cell(text, style=STATUS_STYLES.get(status, ""), sort_key=status)


def _epoch_cell(r: RunState, now: float) -> Cell:
    s = r.summary
    total, done = s.epochs_total, s.epochs_done
    label = f"{done}/{total}" if total else (str(done) if done else "–")
    frac = s.epoch_fraction()
    bar = progress_bar(frac, 5) if frac is not None else ""
    return Cell(f"{label:>5} {bar}".rstrip(), sort_key=s.fraction_done())


def short_study(title: str, width: int = 20) -> str:
    """A study title short enough for a table column: the part before ':' or '(' (titles read
    "2.1.4 Optimizers: SGD vs momentum vs Adam (MLP, MNIST)"), cut to ``width`` with an ellipsis."""
    head = title.split(":", 1)[0].split("(", 1)[0].strip() or title
    return head if len(head) <= width else head[: width - 1].rstrip() + "…"


def _study_cell(r: RunState, now: float) -> Cell:
    study = r.summary.study
    if not study:
        return Cell("–", style="dim", sort_key="")
    return Cell(short_study(study), sort_key=study)


def _name_cell(r: RunState, now: float) -> Cell:
    name = r.summary.name or r.run_id
    if r.marked:
        return Cell("● " + name, style="bold", sort_key=name.lower())
    return Cell(name, sort_key=name.lower())


def _latest(field: str, fmt: Callable[[float | None], str]) -> Callable[[RunState, float], Cell]:
    def render(r: RunState, now: float) -> Cell:
        latest = r.summary.latest
        return _num_cell(getattr(latest, field) if latest else None, fmt)

    return render


BASE_COLUMNS: tuple[Column, ...] = (
    Column("name", "name", _name_cell),
    Column("study", "study", _study_cell),
    Column("status", "status", _status_cell),
    Column("device", "dev", lambda r, now: Cell(r.summary.device or "–", sort_key=r.summary.device or "")),
    Column("epoch", "epoch", _epoch_cell),
    Column("train_loss", "tr loss", _latest("train_loss", fmt_float)),
    Column("val_loss", "va loss", _latest("val_loss", fmt_float)),
    Column("train_acc", "tr acc", _latest("train_acc", fmt_pct)),
    Column("val_acc", "va acc", _latest("val_acc", fmt_pct)),
    Column("best", "best va", lambda r, now: _num_cell(r.summary.best_val_acc, fmt_pct)),
    Column("test", "test acc", lambda r, now: _num_cell(r.summary.test_acc, fmt_pct)),
    Column("elapsed", "elapsed", lambda r, now: _num_cell(r.summary.elapsed(now), fmt_duration)),
    Column("eta", "eta", lambda r, now: _num_cell(r.summary.eta(now), fmt_duration)),
)
KEY_HPARAMS: tuple[str, ...] = ("model.name", "optimizer.name", "optimizer.lr", "train.batch_size")
"""Hyperparameter columns shown when the diff toggle is off."""
TIME_COLUMNS = ("elapsed", "eta")
PROGRESS_COLUMNS = ("epoch", *TIME_COLUMNS)
"""The cells a progress line (batch i of n) can change."""

HPARAM_LABELS: dict[str, str] = {
    "model.name": "model",
    "optimizer.name": "optimizer",
    "optimizer.lr": "lr",
    "train.batch_size": "batch",
    "train.epochs": "epochs",
}
"""Short headers for common hyperparameters; others show their leaf name, or their dotted path
when two shown keys share a leaf (``model.dropout`` and ``train.dropout``)."""


def hparam_labels(keys: Sequence[str]) -> dict[str, str]:
    """A unique, readable header for each hyperparameter key."""
    leaf = {k: HPARAM_LABELS.get(k) or k.rsplit(".", 1)[-1] for k in keys}
    counts: dict[str, int] = {}
    for label in leaf.values():
        counts[label] = counts.get(label, 0) + 1
    return {k: (label if counts[label] == 1 else k) for k, label in leaf.items()}


def _hparam_column(key: str, label: str) -> Column:
    def render(r: RunState, now: float) -> Cell:
        v = r.summary.hparams.get(key)
        sort = (
            v
            if isinstance(v, int | float) and not isinstance(v, bool)
            else (str(v) if v is not None else None)
        )
        return Cell("–" if v is None else fmt_value(v), sort_key=sort)

    return Column(f"hp:{key}", label, render)


class RunsTable(CachedDataTable):
    """The runs, one row each, updated cell by cell (never rebuilt per tick).

    The table keeps the last text of every cell so an update touches only cells that changed;
    its render caches are :class:`tui.compat.CachedDataTable`'s.
    """

    DEFAULT_CSS = """
    RunsTable { height: 1fr; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.columns_def: list[Column] = []
        self._cells: dict[str, dict[str, str]] = {}
        self._states: dict[str, RunState] = {}
        self.sort_column: str | None = None
        self.sort_reverse = False

    @property
    def marked(self) -> frozenset[str]:
        """The marked runs among the rows."""
        return frozenset(rid for rid, st in self._states.items() if st.marked)

    # -------------------------------------------------------------- columns

    def set_columns(self, hparam_keys: Sequence[str]) -> bool:
        """Show the base columns plus ``hparam_keys``; True if the set changed."""
        labels = hparam_labels(hparam_keys)
        wanted = list(BASE_COLUMNS) + [_hparam_column(k, labels[k]) for k in hparam_keys]
        if [(c.key, c.label) for c in wanted] == [(c.key, c.label) for c in self.columns_def]:
            return False
        current = {c.key for c in self.columns_def}
        keep = {(w.key, w.label) for w in wanted}
        for col in self.columns_def:
            if (col.key, col.label) not in keep:
                self.remove_column(col.key)
                current.discard(col.key)
        for col in wanted:
            if col.key not in current:
                self.add_column(col.label, key=col.key)
        self.columns_def = wanted
        self._cells.clear()  # new columns: rerender rows in full on the next update
        if self.sort_column and self.sort_column not in {c.key for c in wanted}:
            self.sort_column = None
        return True

    # -------------------------------------------------------------- rows

    def row_ids(self) -> list[str]:
        return [str(rk.value) for rk in self.rows]

    def ordered_ids(self) -> list[str]:
        """Row keys in display order."""
        return [str(self.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(self.row_count)]

    def _render(self, r: RunState, now: float) -> dict[str, Cell]:
        return {c.key: c.render(r, now) for c in self.columns_def}

    def upsert(self, r: RunState, now: float, columns: Iterable[str] | None = None) -> bool:
        """Add the run's row or update its changed cells; True if a sort-relevant cell changed."""
        cells = (
            self._render(r, now)
            if columns is None
            else {k: c.render(r, now) for k in columns for c in self.columns_def if c.key == k}
        )
        self._states[r.run_id] = r
        cache = self._cells.get(r.run_id)
        if r.run_id not in self.rows:
            self.add_row(*(cells[c.key] for c in self.columns_def), key=r.run_id)
            self._cells[r.run_id] = {k: v.plain for k, v in cells.items()}
            return True
        if cache is None:
            cache = self._cells[r.run_id] = {}
        sort_hit = False
        for key, cell in cells.items():
            if cache.get(key) != cell.plain:
                # Re-measuring column widths costs a full pass over the table: only when it grows.
                col = self.columns.get(ColumnKey(key))
                grow = col is None or cell.cell_len > col.content_width
                try:
                    self.update_cell(r.run_id, key, cell, update_width=grow)
                except (CellDoesNotExist, RowDoesNotExist):
                    continue
                cache[key] = cell.plain
                sort_hit = sort_hit or key == self.sort_column
        return sort_hit

    def clear_rows(self) -> None:
        """Remove every row (the columns stay)."""
        self.clear(columns=False)
        self._cells.clear()
        self._states.clear()

    def drop(self, run_id: str) -> None:
        if run_id in self.rows:
            self.remove_row(run_id)
        self._cells.pop(run_id, None)
        self._states.pop(run_id, None)

    def apply_sort(self) -> None:
        """Sort by the chosen column, keeping the cursor on the same run."""
        if not self.sort_column or self.row_count == 0:
            return
        keep = self.highlighted_id()
        self.sort(
            self.sort_column, key=lambda cell: getattr(cell, "sort_key", (True, 0)), reverse=self.sort_reverse
        )
        if keep is not None:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    def highlighted_id(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return str(self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value)
        except CellDoesNotExist:
            return None


# ---------------------------------------------------------------------- GPU bar


def gpu_text(stats: Sequence[Any] | None, counts: dict[str, int], slurm: str | None = None) -> Text:
    """One line: each GPU's utilisation and memory (or CPU only), then the Slurm line
    (``slurm: 3 pending · 2 running``) when a Slurm run is queued or running, then run counts. With
    a Slurm line the CPU-only note is short, so all of it fits 80 columns."""
    out = Text()
    if stats is None:
        out.append("GPU: checking…", style="dim")
    elif not stats:
        out.append("CPU only" if slurm else "CPU only — runs use the CPU", style="bold yellow")
    else:
        for i, g in enumerate(stats):
            if i:
                out.append("  ")
            used, total = float(g.mem_used), float(g.mem_total) or 1.0
            util = float(g.util)
            out.append(f"GPU{g.index} ", style="bold")
            out.append(
                f"{progress_bar(util / 100, 5)} {util:3.0f}% ", style="green" if util < 80 else "yellow"
            )
            # GpuStat memory is in MiB (nvml bytes / 2**20 per hw2.gpu); shown in GiB.
            out.append(f"mem {used / 1024:.1f}/{total / 1024:.1f}G", style="cyan")
    if slurm:
        out.append("   │ " + slurm, style="bold magenta")
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    if parts:
        out.append("   │ " + " · ".join(parts), style="dim")
    return out


class GpuBar(Static):
    """One line; updated without a layout pass, and only when its text changes."""

    DEFAULT_CSS = """
    GpuBar { height: 1; width: 1fr; padding: 0 1; background: $boost; }
    """

    _last: str = ""

    def show(self, text: Text) -> None:
        key = text.markup
        if key != self._last:
            self._last = key
            self.update(text, layout=False)


# ---------------------------------------------------------------------- config tree


@dataclass(frozen=True)
class NodeData:
    """What a config-tree node stands for: kind is experiment, study, run (of a study) or invalid."""

    kind: str
    entry: Any
    planned: Any = None


class ConfigTree(Tree[NodeData]):
    DEFAULT_CSS = """
    ConfigTree { height: 1fr; }
    """

    def load(self, entries: Sequence[Any], configs_dir: Path) -> None:
        """Show ``hw2.config.discover`` entries: studies (with their runs), experiments, errors.

        Error lines name files relative to ``configs_dir`` (short, and the same on every machine).
        """
        self.clear()
        self.show_root = False
        self.root.set_label(Text(configs_dir.name + "/", style="bold"))
        prefixes = sorted(
            {str(configs_dir) + os.sep, str(configs_dir.resolve()) + os.sep}, key=len, reverse=True
        )

        def rel(text: str) -> str:
            for p in prefixes:
                text = text.replace(p, "")
            return text

        self.root.expand()
        studies = [e for e in entries if e.error is None and e.kind == "study"]
        plains = [e for e in entries if e.error is None and e.kind != "study"]
        bad = [e for e in entries if e.error is not None]
        for e in studies:
            title = e.study_title or e.name
            node = self.root.add(
                Text.assemble((title, "bold"), (f"  {len(e.runs)} runs", "dim")),
                data=NodeData("study", e),
                expand=False,
            )
            for p in e.runs:
                node.add_leaf(p.name, data=NodeData("run", e, p))
        for e in plains:
            self.root.add_leaf(e.name, data=NodeData("experiment", e, e.runs[0] if e.runs else None))
        for e in bad:
            label = Text.assemble(("✗ ", "bold red"), (str(getattr(e, "name", e.path)), "red"))
            node = self.root.add(label, data=NodeData("invalid", e), expand=True)
            node.add_leaf(Text(rel(str(e.error)), style="red"), data=NodeData("invalid", e))
        if not entries:
            self.root.add_leaf(Text("no configs found", style="dim"))
