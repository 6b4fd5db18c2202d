"""The app's panes: runs table, GPU bar, config tree, log, footer (the plots are in :mod:`tui.plots`).

Each widget owns one job and is driven by the app with already-folded data from
:mod:`tui.model`; none of them reads files.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.measure import Measurement
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Log, Static, Tree
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from hw2.runs.summary import fmt_duration, fmt_float, fmt_pct
from tui.compat import CachedDataTable
from tui.model import HPARAM_LABELS, STATUS_STYLES, RunState, fmt_value, progress_bar


class Cell(Text):
    """A table cell that also carries the value it sorts by (numbers sort as numbers, missing last)."""

    def __init__(self, text: str, style: str = "", sort_key: Any = None, justify: Any = None) -> None:
        super().__init__(text, style=style, justify=justify)
        self.sort_key: tuple[bool, tuple[int, Any]] = sort_value(sort_key)
        self.run_id = ""
        """Set on the name cell: the row's run (the table sorts by a column it does not show)."""

    def __rich_measure__(self, console: Any, options: Any) -> Measurement:
        # A cell is one line that is never wrapped: its width is its length. (Text measures its
        # lines and words; the table measures every cell of every new row, 17 000 for 1000 runs.)
        width = self.cell_len
        return Measurement(width, width)


def sort_value(value: Any) -> tuple[bool, tuple[int, Any]]:
    """(missing, (kind, value)): numbers before text, so a column of mixed values (a
    hyperparameter that is a number in one run and a word in another) still sorts."""
    if value is None:
        return True, (0, 0)
    if isinstance(value, bool | int | float):
        return False, (0, float(value))
    return False, (1, str(value))


# ---------------------------------------------------------------------- runs table


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    render: Callable[[RunState, float], Cell]
    help: str = ""
    """What the column holds: the help screen's and the README's glossary."""
    descending: bool = False
    """Sorted largest first (accuracies, progress); losses, names and times sort smallest first."""
    optional: bool = False
    """Left out while every listed run's cell is empty (no study, no device, nothing running)."""
    varying: bool = False
    """Left out while every listed run's cell is the same (the runs of one study)."""
    cut: int = 0
    """Free text that, when not all of it fits, is cut to the room left (ending in …) rather than
    left out, if that room is at least this many cells (padding included); 0: never cut."""


def _num_cell(value: float | None, fmt: Callable[[float | None], str]) -> Cell:
    return Cell(fmt(value), sort_key=value, justify="right")


def _status_cell(r: RunState, now: float) -> Cell:
    status = "deleted" if r.deleted else r.summary.status
    skipped = r.summary.skipped_lines
    text = ("deleted" if r.deleted else r.summary.status_text()) + (f" !{skipped}" if skipped else "")
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


def _note_cell(r: RunState, now: float) -> Cell:
    """The run's note, whole: the column's fixed width crops it with an ellipsis when it is cut."""
    note = r.summary.note or ""
    cell = Cell(note, sort_key=note.lower() or None)
    cell.no_wrap, cell.overflow = True, "ellipsis"
    return cell


def _name_cell(r: RunState, now: float) -> Cell:
    name = r.summary.name or r.run_id
    cell = (
        Cell("● " + name, style="bold", sort_key=name.lower())
        if r.marked
        else Cell(name, sort_key=name.lower())
    )
    cell.run_id = r.run_id
    return cell


def _latest(field: str, fmt: Callable[[float | None], str]) -> Callable[[RunState, float], Cell]:
    def render(r: RunState, now: float) -> Cell:
        latest = r.summary.latest
        return _num_cell(getattr(latest, field) if latest else None, fmt)

    return render


NOTE_MIN_CELLS = 12
"""The least room (padding included) the note column is cut to; with less it is left out."""

BASE_COLUMNS: tuple[Column, ...] = (
    Column("name", "name", _name_cell, "the run's name (● marked: overlaid on the plots)"),
    Column(
        "status",
        "status",
        _status_cell,
        "queued, running, done, failed, killed or deleted; · resumable: failed or killed with a "
        "checkpoint (u resumes it); · resumed N×: resumed N times; !N: N unreadable metric lines "
        "skipped; on Slurm also the reason it waits or its node",
    ),
    Column(
        "epoch", "epoch", _epoch_cell, "epochs done/planned, and the current epoch's bar", descending=True
    ),
    Column(
        "best",
        "best va",
        lambda r, now: _num_cell(r.summary.best_val_acc, fmt_pct),
        "best validation accuracy so far",
        descending=True,
    ),
    Column(
        "test",
        "test acc",
        lambda r, now: _num_cell(r.summary.test_acc, fmt_pct),
        "test accuracy of the finished run",
        descending=True,
    ),
    Column(
        "study",
        "study",
        _study_cell,
        "the study the run belongs to, named as in the configs tree (2.2.3 ReLU); shown when the "
        "listed runs are of several studies",
        optional=True,
        varying=True,
    ),
    Column(
        "device",
        "dev",
        lambda r, now: Cell(r.summary.device or "–", sort_key=r.summary.device or None),
        "device the run trains on (cpu, cuda:0…)",
        optional=True,
    ),
    Column("train_loss", "tr loss", _latest("train_loss", fmt_float), "training loss of the latest epoch"),
    Column("val_loss", "va loss", _latest("val_loss", fmt_float), "validation loss of the latest epoch"),
    Column(
        "train_acc",
        "tr acc",
        _latest("train_acc", fmt_pct),
        "training accuracy of the latest epoch",
        descending=True,
    ),
    Column(
        "val_acc",
        "va acc",
        _latest("val_acc", fmt_pct),
        "validation accuracy of the latest epoch",
        descending=True,
    ),
    Column(
        "elapsed",
        "elapsed",
        lambda r, now: _num_cell(r.summary.elapsed(now), fmt_duration),
        "time since the run started (m:ss or h:mm:ss)",
    ),
    Column(
        "eta",
        "eta",
        lambda r, now: _num_cell(r.summary.eta(now), fmt_duration),
        "estimated time left of a running run",
        optional=True,
    ),
    Column(
        "note",
        "note",
        _note_cell,
        "your note on the run (n edits it), cut to fit the room left (all of it at the top of the "
        "Config tab); shown when a listed run has one",
        optional=True,
        cut=NOTE_MIN_CELLS,
    ),
)
"""The runs table's columns in display order; the hyperparameter columns go after ``test``."""
BY_KEY: dict[str, Column] = {c.key: c for c in BASE_COLUMNS}

RESULT_KEYS = ("name", "status", "test", "best", "epoch")
"""Offered first at any width (in this priority), before the differing hyperparameters."""
FIRST_HPARAMS = 3
"""Differing hyperparameters offered right after the results; the others come after the study
(a folder of several studies differs in many, each set by one study)."""
MORE_KEYS = ("study", "note", "elapsed", "eta", "val_loss", "train_loss", "device", "val_acc", "train_acc")
"""Offered after the first differing hyperparameters (the study and the note, when a run has one;
the other differing ones after them), as room allows, in this priority. The note, cut, takes what
room is left after the study: the columns after it come only when it fits whole (a note the user
wrote weighs more than a fourth differing hyperparameter; in full in the Config tab)."""
MORE_FIRST = 2
"""How many of MORE_KEYS come before the rest of the differing hyperparameters."""
DIFF_KEYS = ("name", "status", "best", "test")
"""The diff view (``d``): these, then every differing hyperparameter."""
KEY_HPARAMS: tuple[str, ...] = ("model.name", "optimizer.name", "optimizer.lr", "train.batch_size")
"""Differing hyperparameters come in this order first; those that do not differ are shown last,
when room is left (one run alone still says its model and learning rate)."""
LAST_HPARAMS = ("seed", "trainer")
"""Differing, but said by the run's name (``-s0``) or the model: the last of the differing ones."""
TIME_COLUMNS = ("elapsed", "eta")
PROGRESS_COLUMNS = ("epoch", *TIME_COLUMNS)
"""The cells a progress line (batch i of n) can change."""
SORT_MARKS = {False: " ▲", True: " ▼"}
"""The sorted column's header mark: ▼ largest first, ▲ smallest first."""


def hparam_labels(keys: Sequence[str]) -> dict[str, str]:
    """A unique, readable header for each hyperparameter key."""
    leaf = {k: HPARAM_LABELS.get(k) or k.rsplit(".", 1)[-1] for k in keys}
    counts: dict[str, int] = {}
    for label in leaf.values():
        counts[label] = counts.get(label, 0) + 1
    return {k: (label if counts[label] == 1 else k) for k, label in leaf.items()}


def hparam_order(keys: Sequence[str]) -> list[str]:
    """Differing hyperparameters in the order the table shows them: the key ones (model,
    optimizer, lr, batch) first, the seed and trainer last, the others as found."""
    first = [k for k in KEY_HPARAMS if k in keys]
    last = [k for k in LAST_HPARAMS if k in keys]
    return first + [k for k in keys if k not in first and k not in last] + last


def _hparam_column(key: str, label: str) -> Column:
    def render(r: RunState, now: float) -> Cell:
        v = r.summary.hparams.get(key)
        return Cell("–" if v is None else fmt_value(v), sort_key=v)

    return Column(f"hp:{key}", label, render, f"hyperparameter {key}")


def fit_columns(columns: Sequence[Column], width_of: Callable[[Column], int], room: int) -> list[Column]:
    """The columns (in priority order) that fit ``room`` cells: each in turn if it fits what is
    left, skipped otherwise (a narrower one after it may still fit); the first always. A column
    that may be cut (:attr:`Column.cut`) and does not fit takes the rest of the room, when that is
    at least its ``cut`` cells."""
    out: list[Column] = []
    used = 0
    for i, col in enumerate(columns):
        w = width_of(col)
        if i == 0 or used + w <= room:
            out.append(col)
            used += w
        elif col.cut and room - used >= col.cut:
            out.append(col)
            used = room
    return out


class RunsTable(CachedDataTable):
    """The runs, one row each, updated cell by cell (never rebuilt per tick), with the columns
    that fit its width.

    Its candidate columns come by priority (:meth:`set_columns`): the results first, then the
    differing hyperparameters, then the rest. :meth:`refit` shows those that fit, whole (a
    column is dropped rather than a value cut), in display order; the diff view pages through
    the differing hyperparameters with ← →. It keeps the last text of every candidate cell
    (shown or not) so an update touches only cells that changed and the widths are known
    without drawing; its render caches are :class:`tui.compat.CachedDataTable`'s.
    """

    DEFAULT_CSS = """
    RunsTable { height: 1fr; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.columns_def: list[Column] = []
        """The columns shown, in display order."""
        self.candidates: list[Column] = []
        """Every column that may be shown, in priority order."""
        self._display: dict[str, int] = {}
        self.diff = False
        self.hp_offset = 0
        """The diff view's first differing hyperparameter shown (← → move it)."""
        self.hidden_hparams = (0, 0)
        """The diff view's differing hyperparameters left out before and after those shown."""
        self._cells: dict[str, dict[str, str]] = {}
        self._states: dict[str, RunState] = {}
        self._widths: dict[str, int] = {}
        self._filled: set[str] = set()
        self._seen: dict[str, set[str]] = {c.key: set() for c in BASE_COLUMNS if c.varying}
        """Up to two texts of each varying column: does it vary?"""
        self._measured = True
        self._fit_due = False
        self._now = 0.0
        self.sort_column: str | None = None
        self.sort_reverse = False
        """Sorted against the column's own direction (``O``, a second click on its header)."""
        self.study_names: dict[str, str] = {}
        """Short names of the studies (title → ``2.2.3 ReLU``, as the configs tree says them)."""
        self._base = dict(BY_KEY, study=replace(BY_KEY["study"], render=self._study_cell))
        self._cut_widths: dict[str, int] = {}
        """The cut columns' content widths, as shown (:meth:`wanted_columns`)."""

    def _study_cell(self, r: RunState, now: float) -> Cell:
        study = r.summary.study
        if not study:
            return Cell("–", style="dim", sort_key="")
        return Cell(self.study_names.get(study) or short_study(study), sort_key=study)

    def set_study_names(self, names: dict[str, str]) -> None:
        """Name the studies as the configs tree does (their cells are drawn again)."""
        if names == self.study_names:
            return
        self.study_names = dict(names)
        for st in list(self._states.values()):
            self.upsert(st, self._now, columns=("study",))
        self._measured = False
        self.refit_soon()

    @property
    def marked(self) -> frozenset[str]:
        """The marked runs among the rows."""
        return frozenset(rid for rid, st in self._states.items() if st.marked)

    # -------------------------------------------------------------- columns

    def set_columns(
        self, hparam_keys: Sequence[str], spare_keys: Sequence[str] = (), *, diff: bool = False
    ) -> bool:
        """Offer the results, then ``hparam_keys`` (the differing hyperparameters), then the rest
        and ``spare_keys`` (hyperparameters worth showing when room is left); with ``diff`` only
        the name, status, accuracies and every one of ``hparam_keys``. True if the shown columns changed."""
        labels = hparam_labels([*hparam_keys, *spare_keys])
        hps = [_hparam_column(k, labels[k]) for k in hparam_keys]
        spare = [_hparam_column(k, labels[k]) for k in spare_keys]
        if diff:
            cands = [self._base[k] for k in DIFF_KEYS] + hps
            display = cands
        else:
            first, rest = hps[:FIRST_HPARAMS], hps[FIRST_HPARAMS:]
            more = [self._base[k] for k in MORE_KEYS]
            cands = (
                [self._base[k] for k in RESULT_KEYS]
                + first
                + more[:MORE_FIRST]
                + rest
                + more[MORE_FIRST:]
                + spare
            )
            split = [c.key for c in BASE_COLUMNS].index("test") + 1
            cut = [c for c in BASE_COLUMNS if c.cut]  # free text last: it ends the row
            after = [c for c in BASE_COLUMNS[split:] if not c.cut]
            display = [*BASE_COLUMNS[:split], *hps, *after, *spare, *cut]
        known = {c.key for c in self.candidates}
        for col in cands:  # a column not offered before: its texts, for its width
            if col.key not in known:
                for rid, st in self._states.items():
                    self._cells.setdefault(rid, {})[col.key] = col.render(st, self._now).plain
        if diff != self.diff:
            self.hp_offset = 0
        self.diff = diff
        self.candidates = cands
        self._display = {c.key: i for i, c in enumerate(display)}
        self._measured = False
        return self.refit()

    def header(self, col: Column) -> Text:
        """The column's header: its label, and the sort mark on the sorted column (room for
        it is kept on every header, so sorting never changes a width)."""
        mark = "  " if col.key != "more" else ""
        if col.key == self.sort_column:
            mark = SORT_MARKS[col.descending != self.sort_reverse]
        return Text(col.label + mark)

    def column_width(self, col: Column) -> int:
        """Cells the column takes: its widest text among the listed runs, or its header with room
        for the sort mark, plus the padding."""
        return max(len(self.header(col)), self._widths.get(col.key, 0)) + 2 * self.cell_padding

    def room(self) -> int:
        """Cells a row may take without scrolling sideways (the vertical scrollbar's taken off
        when the rows overflow the height)."""
        width, height = self.size
        if width <= 0:
            return max(self.app.size.width - 2, 20)
        if self.row_count + self.header_height > height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def wanted_columns(self) -> list[Column]:
        """The columns to show now, in display order."""
        if not self._measured:
            self._measure()
        cands = [
            c
            for c in self.candidates
            if (not c.optional or c.key in self._filled) and (not c.varying or len(self._seen[c.key]) > 1)
        ]
        if self.diff:
            return self._diff_columns(cands)
        room = self.room()
        chosen = fit_columns(cands, self.column_width, room)
        self._cut_widths = {}
        for col in chosen:
            if col.cut:
                left = room - sum(self.column_width(c) for c in chosen if c is not col)
                self._cut_widths[col.key] = max(1, min(self.column_width(col), left) - 2 * self.cell_padding)
        return sorted(chosen, key=lambda c: self._display[c.key])

    def _diff_columns(self, cands: list[Column]) -> list[Column]:
        """The diff view: name, status, accuracies, and the differing hyperparameters from
        ``hp_offset`` on, as many as fit whole; a last column says how many are left out and
        that ← → show them."""
        base, hps = cands[: len(DIFF_KEYS)], cands[len(DIFF_KEYS) :]
        by_priority = sorted(base, key=lambda c: RESULT_KEYS.index(c.key))
        fitted = {c.key for c in fit_columns(by_priority, self.column_width, self.room())}
        base = [c for c in base if c.key in fitted]
        room = self.room() - sum(map(self.column_width, base))
        if sum(map(self.column_width, hps)) <= room:  # all of them: no paging
            self.hp_offset, self.hidden_hparams = 0, (0, 0)
            return base + hps
        self.hp_offset = max(0, min(self.hp_offset, len(hps) - 1))
        room -= len(f"← {len(hps)} {len(hps)} →") + 2 * self.cell_padding  # the note's column
        shown: list[Column] = []
        for col in hps[self.hp_offset :]:
            room -= self.column_width(col)
            if room < 0 and shown:
                break
            shown.append(col)
        before, after = self.hp_offset, len(hps) - self.hp_offset - len(shown)
        self.hidden_hparams = (before, after)
        note = " ".join(x for x in (f"← {before}" if before else "", f"{after} →" if after else "") if x)
        return [
            *base,
            *shown,
            Column("more", note, lambda r, now: Cell(""), "differing hyperparameters not shown"),
        ]

    def action_cursor_right(self) -> None:
        """In the diff view: the next differing hyperparameter (else DataTable's own)."""
        if self.diff and self.hidden_hparams[1]:
            self.hp_offset += 1
            self.refit()
        elif not self.diff:
            super().action_cursor_right()

    def action_cursor_left(self) -> None:
        """In the diff view: the previous differing hyperparameter (else DataTable's own)."""
        if self.diff and self.hp_offset:
            self.hp_offset -= 1
            self.refit()
        elif not self.diff:
            super().action_cursor_left()

    def refit(self) -> bool:
        """Show the columns that fit (rebuilding the table when that set changed); True if it did."""
        self._fit_due = False
        shown = self._cut_widths
        wanted = self.wanted_columns()
        same = [(c.key, c.label) for c in wanted] == [(c.key, c.label) for c in self.columns_def]
        if same and self._cut_widths == shown:
            return False
        self._rebuild(wanted)
        return True

    def refit_soon(self) -> None:
        """Refit once after this batch of updates (a width grew, rows came or went)."""
        if not self._fit_due:
            self._fit_due = True
            self.call_after_refresh(self.refit_if_due)

    def refit_if_due(self) -> None:
        """Refit now if an update asked for it (the main screen, at the end of a batch)."""
        if self._fit_due:
            self.refit()

    def on_resize(self) -> None:
        self.refit()

    def _measure(self) -> None:
        """Widths and filled columns from the kept cell texts of the listed runs."""
        self._widths.clear()
        self._filled.clear()
        for seen in self._seen.values():
            seen.clear()
        for cells in self._cells.values():
            self._note(cells)
        self._measured = True

    def _note(self, cells: dict[str, str]) -> bool:
        """Widen and fill the columns by these cell texts; True if the fit may change."""
        grew = False
        for key, text in cells.items():
            if len(text) > self._widths.get(key, 0):
                self._widths[key] = len(text)
                grew = True
            if key not in self._filled and text not in ("–", ""):
                self._filled.add(key)
                grew = True
            seen = self._seen.get(key)
            if seen is not None and len(seen) < 2 and text not in seen:
                seen.add(text)
                grew = True
        return grew

    def _rebuild(self, wanted: list[Column]) -> None:
        """Show ``wanted``: the rows are added again, in their order, the cursor on the same run."""
        keep = self.highlighted_id()
        order = self.ordered_ids()
        self.clear(columns=True)
        self.columns_def = wanted
        for col in wanted:
            self.add_column(self.header(col), key=col.key, width=self._cut_widths.get(col.key))
        for rid in order:
            cells = {c.key: c.render(self._states[rid], self._now) for c in wanted}
            plain = {k: v.plain for k, v in cells.items()}
            self._cells.setdefault(rid, {}).update(plain)
            if self._note(plain):
                self.refit_soon()
            self.add_row(*cells.values(), key=rid)
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)
        if self.sort_column and self.sort_column not in {c.key for c in self.candidates}:
            self.sort_column = None

    def show_sort_marks(self) -> None:
        """Put the sort mark on the sorted column's header (and take it off the others)."""
        for col in self.columns_def:
            self.set_column_label(col.key, self.header(col))

    # -------------------------------------------------------------- rows

    def row_ids(self) -> list[str]:
        return [str(rk.value) for rk in self.rows]

    def ordered_ids(self) -> list[str]:
        """Row keys in display order."""
        return [str(self.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(self.row_count)]

    def upsert(self, r: RunState, now: float, columns: Iterable[str] | None = None) -> bool:
        """Add the run's row or update its changed cells; True if a sort-relevant cell changed."""
        self._now = now
        new = r.run_id not in self.rows
        if columns is None or new:
            cols = self.candidates
        else:
            wanted = set(columns)
            cols = [c for c in self.candidates if c.key in wanted]
        cells = {c.key: c.render(r, now) for c in cols}
        self._states[r.run_id] = r
        plain = {k: v.plain for k, v in cells.items()}
        if self._note(plain):
            self.refit_soon()
        if new:
            self.add_row(*(cells[c.key] for c in self.columns_def), key=r.run_id)
            self._cells[r.run_id] = plain
            self.refit_soon()  # the vertical scrollbar may come
            return True
        cache = self._cells.setdefault(r.run_id, {})
        shown = {c.key for c in self.columns_def}
        sort_hit = False
        for key, cell in cells.items():
            if cache.get(key) == cell.plain:
                continue
            if key in shown:
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
        self._measured = False
        self.refit_soon()

    def drop(self, run_id: str) -> None:
        if run_id in self.rows:
            self.remove_row(run_id)
        self._cells.pop(run_id, None)
        self._states.pop(run_id, None)
        self._measured = False  # a column may have lost its widest cell
        self.refit_soon()

    def sort_column_def(self) -> Column | None:
        return next((c for c in self.candidates if c.key == self.sort_column), None)

    def sorted_descending(self) -> bool:
        """The sorted column's order now: largest first?"""
        col = self.sort_column_def()
        return col is not None and col.descending != self.sort_reverse

    def apply_sort(self) -> None:
        """Sort by the chosen column (shown or not): accuracies best first, losses and names
        smallest first, either reversed by ``sort_reverse``; runs without a value always last.
        The cursor stays on the same run."""
        col = self.sort_column_def()
        if col is None or self.row_count == 0:
            return
        keep = self.highlighted_id()
        shown = col.key in {c.key for c in self.columns_def}
        keys: dict[str, tuple[bool, tuple[int, Any]]] = {}
        for rid in self.ordered_ids():
            cell = self.get_cell(rid, col.key) if shown else col.render(self._states[rid], self._now)
            keys[rid] = getattr(cell, "sort_key", (True, (0, 0)))
        present = sorted(
            (rid for rid, k in keys.items() if not k[0]),
            key=lambda rid: keys[rid][1],
            reverse=self.sorted_descending(),
        )
        rank = {rid: i for i, rid in enumerate(present + [rid for rid, k in keys.items() if k[0]])}
        self.sort("name", key=lambda cell: rank.get(getattr(cell, "run_id", ""), len(rank)))
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


def gpu_text(
    stats: Sequence[Any] | None, counts: dict[str, int], slurm: str | None = None, disk: str | None = None
) -> Text:
    """One line: each GPU's utilisation and memory (or CPU only), then the Slurm line
    (``slurm: 3 pending · 2 running``) when a Slurm run is queued or running, then run counts, then
    the runs folder's and its trash's size (``runs 1.2 GB · trash 300 MB``) once measured. With
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
    if disk:
        out.append("   │ " + disk, style="dim")
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


def study_label(title: str, stem: str, width: int) -> str:
    """A study's name in the configs tree, at most ``width`` cells: its question number and the
    words of its file name, spelled as the title spells them (``2.2.6-regularised.yaml`` titled
    "2.2.6 Regularised vs overfit CNN (CIFAR-10, bonus)" → ``2.2.6 Regularised``; ``2.2.3-relu``
    → ``2.2.3 ReLU``); a file not named so gives its title's head. Cut at a word, else with "…"."""
    m = re.match(r"(\d+(?:\.\d+)*)[-_ ]+(.+)$", stem)
    if m:
        spelled = {w.lower(): w for w in re.findall(r"[^\W_]+", title)}
        words = [spelled.get(w.lower(), w) for w in re.split(r"[-_ ]+", m.group(2)) if w]
        words[:1] = [w[:1].upper() + w[1:] for w in words[:1]]
        text = " ".join([m.group(1), *words])
    else:
        text = title.split(":", 1)[0].split("(", 1)[0].strip() or title or stem
    while len(text) > width and " " in text.strip():
        shorter = text.rsplit(" ", 1)[0]
        if len(shorter) < width // 2:
            break
        text = shorter
    return text if len(text) <= width else text[: max(width - 1, 1)].rstrip() + "…"


class ConfigTree(Tree[NodeData]):
    """The configs: studies (short names, their runs inside), experiments, invalid files in red.
    Study labels fit the pane's width (relabelled when it changes); the Config tab shows the
    highlighted study's full title."""

    DEFAULT_CSS = """
    ConfigTree { height: 1fr; }
    """

    _label_width = 0

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
            node = self.root.add(self._study_text(e), data=NodeData("study", e), expand=False)
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

    def _room(self) -> int:
        """Cells a study's label may take: the pane less the expand icon (and a scrollbar)."""
        width = self.scrollable_content_region.width or 30
        return max(width - 2, 8)

    def _study_text(self, e: Any) -> Text:
        room = self._room()
        self._label_width = room
        name = study_label(e.study_title or e.name, Path(e.path).stem, room)
        count = f"  {len(e.runs)} run{'s' if len(e.runs) != 1 else ''}"
        if len(name) + len(count) > room:
            count = ""
        return Text.assemble((name, "bold"), (count, "dim"))

    def on_resize(self) -> None:
        if self._room() == self._label_width:
            return
        for node in self.root.children:
            data: NodeData | None = node.data
            if data is not None and data.kind == "study":
                node.set_label(self._study_text(data.entry))


# ---------------------------------------------------------------------- log


def wrap_line(line: str, width: int, indent: str = "  ") -> list[str]:
    """A log line as display lines of at most ``width`` cells, continued under ``indent``
    (words kept whole unless one is longer than a line); ``width`` 0: as it is."""
    if width <= len(indent) + 8 or len(line) <= width:
        return [line]
    return textwrap.wrap(
        line, width, subsequent_indent=indent, break_on_hyphens=False, replace_whitespace=False
    ) or [line]


class WrapLog(Log):
    """The Log tab: long lines wrap at the pane's width under a two-space indent, so the end of
    an epoch line (``val_acc``) shows at 80 columns; the lines re-wrap when the width changes.

    It keeps the log's lines as written (at most ``max_lines``). A line that arrives in pieces
    (no newline yet) is shown once it ends, or after :data:`PARTIAL_LINE_S` as it is."""

    PARTIAL_LINE_S = 0.5

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.raw: deque[str] = deque(maxlen=self.max_lines)
        self._tail = ""
        self._wrap_width = 0
        self._timer: Any = None

    def reset_text(self) -> None:
        self.raw.clear()
        self._tail = ""
        self.clear()

    def add_text(self, text: str) -> None:
        """Append what the log file gained (whole lines shown now, a last piece soon)."""
        lines = (self._tail + text).split("\n")
        self._tail = lines.pop()
        self._add_lines(lines)
        if self._tail and self._timer is None:
            self._timer = self.set_timer(self.PARTIAL_LINE_S, self._flush_tail)

    def _flush_tail(self) -> None:
        self._timer = None
        if self._tail:
            tail, self._tail = self._tail, ""
            self._add_lines([tail])

    def _add_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        self.raw.extend(lines)
        width = self._width_now()
        self.write_lines([part for line in lines for part in wrap_line(line, width)])

    def _width_now(self) -> int:
        self._wrap_width = self.scrollable_content_region.width - 1
        return self._wrap_width

    def on_resize(self) -> None:
        if self.scrollable_content_region.width - 1 == self._wrap_width:
            return
        width = self._width_now()
        at_end = self.is_vertical_scroll_end
        self.clear()
        self.write_lines([part for line in self.raw for part in wrap_line(line, width)], scroll_end=False)
        if at_end:  # after the new height is laid out
            self.call_after_refresh(self.scroll_end, animate=False)


# ---------------------------------------------------------------------- footer


class FittedFooter(Footer):
    """The footer, fitted: the keys the screen names for the focused pane (its
    ``footer_actions()``, most wanted first), as many as fit the width; without room for
    every full label, labels lose their part in brackets first ("Quit (runs go on)" → "Quit").
    Keys left out still work; help (``?``) and the palette (``ctrl+p``) list them all."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("compact", True)
        super().__init__(**kw)
        self._fitted_width = 0

    def compose(self) -> ComposeResult:
        made = list(super().compose())
        palette = [w for w in made if w.has_class("-command-palette")]
        keys = [w for w in made if not w.has_class("-command-palette")]
        wanted = getattr(self.screen, "footer_actions", None)
        if callable(wanted):
            order = {a: i for i, a in enumerate(wanted())}
            keys = sorted(
                (w for w in keys if getattr(w, "action", None) in order), key=lambda w: order[w.action]
            )
        room = (self.size.width or self.app.size.width) - sum(_key_width(w) + 2 for w in palette)
        self._fitted_width = self.size.width
        if sum(_key_width(w) for w in keys) > room:
            for w in keys:
                w.description = w.description.split(" (", 1)[0]
        used = 0
        for w in keys:
            if used + _key_width(w) <= room:
                used += _key_width(w)
                yield w
        yield from palette

    def on_resize(self) -> None:
        if self.size.width != self._fitted_width:
            self.call_after_refresh(self.recompose)


def _key_width(key: Any) -> int:
    """Cells a compact footer key takes: key, space, label, and the gap after it."""
    description = getattr(key, "description", "")
    return len(getattr(key, "key_display", "")) + (len(description) + 1 if description else 0) + 1


def column_glossary() -> list[tuple[str, str]]:
    """(header, what it holds) for every runs-table column: the help screen's and the README's."""
    rows = [(c.label, c.help) for c in BASE_COLUMNS]
    short = ", ".join(f"{label} = {key}" for key, label in HPARAM_LABELS.items())
    rows.append(
        (
            "others",
            "hyperparameters that differ between the listed runs, by their last part or short name "
            f"({short}); then model, optimizer, lr and batch when room is left",
        )
    )
    rows.append(("▲ ▼", "the sorted column: ▲ smallest first, ▼ largest first (o, O, or click the header)"))
    return rows


def columns_table() -> str:
    """The README's "Columns of the runs table" (Markdown)."""
    rows = ["| column | what it holds |", "|---|---|"]
    rows += [f"| `{label}` | {text} |" for label, text in column_glossary()]
    return "\n".join(rows)
