"""The app's panes: runs table, metric plots, GPU bar, config tree.

Each widget owns one job and is driven by the app with already-folded data from
:mod:`tui.model`; none of them reads files. ``textual_plotext`` (and with it plotext) is imported
only when the plots mount, after the first frame, which keeps cold start short.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.cache import LRUCache
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import MountError
from textual.widgets import DataTable, Static, Tree
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from tui.model import (
    STATUS_STYLES,
    RunState,
    downsample,
    ema,
    fmt_duration,
    fmt_float,
    fmt_pct,
    fmt_value,
    progress_bar,
)

if TYPE_CHECKING:
    from textual_plotext import PlotextPlot

_NULL_STYLE = Style.null()


class Cell(Text):
    """A table cell that also carries the value it sorts by (numbers sort as numbers)."""

    def __init__(self, text: str, style: str = "", sort_key: Any = None, justify: Any = None) -> None:
        super().__init__(text, style=style, justify=justify)
        self.sort_key = (sort_key is None, sort_key if sort_key is not None else 0)


# ---------------------------------------------------------------------- runs table


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    render: Callable[[RunState, float], Cell]


def _num_cell(value: float | None, fmt: Callable[[float | None], str]) -> Cell:
    return Cell(fmt(value), sort_key=value, justify="right")


def _status_cell(r: RunState, now: float) -> Cell:
    status = "deleted" if r.deleted else r.status
    text = status + (f" !{r.garbage}" if r.garbage else "")
    return Cell(text, style=STATUS_STYLES.get(status, ""), sort_key=status)


def _epoch_cell(r: RunState, now: float) -> Cell:
    total = r.epochs_total
    done = r.epochs_done
    label = f"{done}/{total}" if total else (str(done) if done else "–")
    frac = r.epoch_fraction()
    bar = progress_bar(frac, 5) if frac is not None else ""
    return Cell(f"{label:>5} {bar}".rstrip(), sort_key=r.fraction_done())


def short_study(title: str, width: int = 20) -> str:
    """A study title short enough for a table column: the part before ':' or '(' (titles read
    "2.1.4 Optimizers: SGD vs momentum vs Adam (MLP, MNIST)"), cut to ``width`` with an ellipsis."""
    head = title.split(":", 1)[0].split("(", 1)[0].strip() or title
    return head if len(head) <= width else head[: width - 1].rstrip() + "…"


def _study_cell(r: RunState, now: float) -> Cell:
    if not r.study:
        return Cell("–", style="dim", sort_key="")
    return Cell(short_study(r.study), sort_key=r.study)


def _hp(r: RunState, key: str) -> Any:
    return r.hparams().get(key)


BASE_COLUMNS: tuple[Column, ...] = (
    Column("name", "name", lambda r, now: Cell(r.name or r.run_id, sort_key=(r.name or r.run_id).lower())),
    Column("study", "study", _study_cell),
    Column("status", "status", _status_cell),
    Column("device", "dev", lambda r, now: Cell(r.device or "–", sort_key=r.device or "")),
    Column("epoch", "epoch", _epoch_cell),
    Column(
        "train_loss",
        "tr loss",
        lambda r, now: _num_cell(r.latest.train_loss if r.latest else None, fmt_float),
    ),
    Column(
        "val_loss", "va loss", lambda r, now: _num_cell(r.latest.val_loss if r.latest else None, fmt_float)
    ),
    Column(
        "train_acc", "tr acc", lambda r, now: _num_cell(r.latest.train_acc if r.latest else None, fmt_pct)
    ),
    Column("val_acc", "va acc", lambda r, now: _num_cell(r.latest.val_acc if r.latest else None, fmt_pct)),
    Column("best", "best va", lambda r, now: _num_cell(r.best(), fmt_pct)),
    Column("test", "test acc", lambda r, now: _num_cell(r.test_acc(), fmt_pct)),
    Column("elapsed", "elapsed", lambda r, now: _num_cell(r.elapsed(now), fmt_duration)),
    Column("eta", "eta", lambda r, now: _num_cell(r.eta(now), fmt_duration)),
)
KEY_HPARAMS: tuple[str, ...] = ("model.name", "optimizer.name", "optimizer.lr", "train.batch_size")
"""Hyperparameter columns shown when the diff toggle is off."""
TIME_COLUMNS = ("elapsed", "eta")
PROGRESS_COLUMNS = ("epoch", *TIME_COLUMNS)
"""The cells a progress line (batch i of n) can change."""


def _hparam_column(key: str) -> Column:
    label = (
        key.split(".", 1)[-1]
        if key.count(".") == 1 and key.startswith(("optimizer", "train", "model"))
        else key
    )

    def render(r: RunState, now: float) -> Cell:
        v = _hp(r, key)
        sort = (
            v
            if isinstance(v, int | float) and not isinstance(v, bool)
            else (str(v) if v is not None else None)
        )
        return Cell("–" if v is None else fmt_value(v), sort_key=sort)

    return Column(f"hp:{key}", label, render)


def single_line_cell(
    console: Any, cell: Any, width: int, pad: int, pre_style: Style, post_style: Style
) -> list[Segment] | None:
    """The segments DataTable draws for a one-line text cell, without Rich's general renderer.

    DataTable renders every cell as ``Styled(Padding(cell, (0, pad)), pre_style, post_style)``
    through ``Console.render_lines`` (~160 us a cell here); a run's row changes several cells a
    second. For the cells this table makes (a plain ``Text``: one line, one style, no spans, that
    fits its column) the result is a fixed pattern, built here directly. Anything else returns
    None and takes Rich's path. ``tests/tui/test_runs_table.py`` compares the two segment for
    segment over generated cells.
    """
    if not isinstance(cell, Text) or cell.spans or cell.end != "\n" or cell.tab_size not in (None, 8):
        return None
    plain = cell.plain
    justify = cell.justify or "default"
    if justify == "right":
        plain = plain.rstrip()
    elif justify not in ("default", "left"):
        return None
    inner = width - 2 * pad
    if not plain or "\n" in plain or "\t" in plain or pad < 0 or inner <= 0:
        return None
    gap = inner - cell_len(plain)
    if gap < 0:
        return None  # cropped or folded: Rich decides how
    style = console.get_style(cell.style, default=_NULL_STYLE) if cell.style else None
    if justify == "right":
        content = [Segment(" " * gap + plain, style)]
    elif justify == "left":
        content = [Segment(plain + " " * gap, style)]
    else:
        content = [Segment(plain, style)] + ([Segment(" " * gap, _NULL_STYLE)] if gap else [])
    edge = [Segment(" " * pad, _NULL_STYLE)] if pad else []
    return list(Segment.apply_style(edge + content + edge, style=pre_style, post_style=post_style))


class RunsTable(DataTable):
    """The runs, one row each, updated cell by cell (never rebuilt per tick).

    The table keeps the last text of every cell so an update touches only cells that changed.
    """

    DEFAULT_CSS = """
    RunsTable { height: 1fr; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        # DataTable keys its render caches on a global update counter, so after a live update every
        # older entry is dead weight: the stock sizes (10 000 cells, 1 000 rows and lines) keep
        # ~20 MiB of stale segments and old cells alive. Sizes that cover one tall screen keep the
        # TUI's memory flat. (Private attributes: checked, and left alone if Textual renames them.)
        for name, size in (
            ("_cell_render_cache", 2048),
            ("_row_render_cache", 256),
            ("_row_renderable_cache", 256),
            ("_line_cache", 256),
        ):
            if isinstance(getattr(self, name, None), LRUCache):
                setattr(self, name, LRUCache(size))
        self.columns_def: list[Column] = []
        self._cells: dict[str, dict[str, str]] = {}
        # Per-cell render cache. DataTable's own cache is keyed on a counter that every update_cell
        # bumps, so one changed cell (a progress bar, once a second per live run) re-renders every
        # visible cell through Rich. Here a cell is re-rendered only when it changed: the key holds
        # the cell's own version, and a "structure" generation (DataTable's counter minus the bumps
        # made by cell updates) that still invalidates everything on add/remove/sort/resize.
        self._cell_versions: dict[tuple[Any, Any], int] = {}
        self._row_versions: dict[str, int] = {}
        self._cell_only_bumps = 0
        self._own_cell_cache: LRUCache[tuple[Any, ...], Any] = LRUCache(4096)
        self._own_row_cache: LRUCache[tuple[Any, ...], Any] = LRUCache(512)
        self._widths_drawn: tuple[int, ...] = ()
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.marked: set[str] = set()

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        before = self._update_count
        super().update_cell(row_key, column_key, value, update_width=update_width)
        self._cell_only_bumps += self._update_count - before
        k = (str(getattr(row_key, "value", row_key)), str(getattr(column_key, "value", column_key)))
        self._cell_versions[k] = self._cell_versions.get(k, 0) + 1
        self._row_versions[k[0]] = self._row_versions.get(k[0], 0) + 1

    @property
    def _structure_generation(self) -> int:
        """DataTable's update counter without the bumps made by cell updates: it changes only on
        add/remove/sort/resize, which invalidate every cached cell and row."""
        return self._update_count - self._cell_only_bumps

    def _clear_caches(self) -> None:
        super()._clear_caches()
        for name in ("_own_cell_cache", "_own_row_cache"):
            own = getattr(self, name, None)  # DataTable.__init__ calls this before ours exist
            if own is not None:
                own.clear()

    def render_lines(self, crop: Any) -> Any:
        # DataTable keys its line, row and cell caches on its update counter, not on the column
        # widths, which it measures later (on idle, without bumping the counter): a row drawn
        # before that measurement would outlive it, cut to the header labels' widths. Drop them
        # when any width changed (ours are keyed on the widths already).
        widths = tuple(c.get_render_width(self) for c in self.ordered_columns)
        if widths != self._widths_drawn:
            self._widths_drawn = widths
            for name in ("_line_cache", "_row_render_cache", "_cell_render_cache"):
                cache = getattr(self, name, None)
                if cache is not None:
                    cache.clear()
        return super().render_lines(crop)

    def _render_line_in_row(
        self, row_key: Any, line_no: int, base_style: Any, cursor_location: Any, hover_location: Any
    ) -> Any:
        # As for cells: one changed cell must not re-assemble every row (each assembly also
        # rebuilds DataTable's component styles).
        key = (
            row_key,
            self._row_locations.get(row_key),  # zebra stripes and mouse metadata follow the index
            line_no,
            base_style,
            cursor_location,
            hover_location,
            self.cursor_type,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self._structure_generation,
            self._row_versions.get(str(row_key.value), 0),
            tuple(c.get_render_width(self) for c in self.ordered_columns),
        )
        lines = self._own_row_cache.get(key)
        if lines is None:
            lines = super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
            self._own_row_cache[key] = lines
        return lines

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Any,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        if row_index < 0 or column_index < 0:  # the header row: rare, left to DataTable
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            row_index,  # the cell's mouse metadata names its row index (changes on sort)
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self._structure_generation,
            self._cell_versions.get((str(row_key.value), str(column_key.value)), 0),
        )
        lines = self._own_cell_cache.get(key)
        if lines is None:
            lines = self._render_cell_fresh(row_index, column_index, base_style, width, cursor, hover)
            self._own_cell_cache[key] = lines
        return lines

    def _render_cell_fresh(
        self, row_index: int, column_index: int, base_style: Any, width: int, cursor: bool, hover: bool
    ) -> Any:
        """A body cell not in the cache: drawn by :func:`single_line_cell` when it can, else by
        DataTable (through Rich). The styles are DataTable's own, computed as it does."""
        row_key = self._row_locations.get_key(row_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row is not None and row.height == 1 and not row.auto_height:
            try:
                cell = self._get_row_renderables(row_index)[1][column_index]
                component_style, post_style = self._get_styles_to_render_cell(
                    False,
                    False,
                    row_index < self.fixed_rows or column_index < self.fixed_columns,
                    hover,
                    cursor,
                    self.show_cursor,
                    self._show_hover_cursor,
                    self.cursor_foreground_priority == "css",
                    self.cursor_background_priority == "css",
                )
                pre = base_style + Style.from_meta({"row": row_index, "column": column_index})
                line = single_line_cell(
                    self.app.console, cell, width, self.cell_padding, pre + component_style, post_style
                )
            except (AttributeError, IndexError, TypeError):  # a Textual whose internals moved
                line = None
            if line is not None:
                return [line]
        return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)

    # -------------------------------------------------------------- columns

    def set_columns(self, hparam_keys: Sequence[str]) -> bool:
        """Show the base columns plus ``hparam_keys``; True if the set changed."""
        wanted = list(BASE_COLUMNS) + [_hparam_column(k) for k in hparam_keys]
        if [c.key for c in wanted] == [c.key for c in self.columns_def]:
            return False
        current = {c.key for c in self.columns_def}
        for col in self.columns_def:
            if col.key not in {w.key for w in wanted}:
                self.remove_column(col.key)
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
        cells = {c.key: c.render(r, now) for c in self.columns_def}
        if r.run_id in self.marked:
            name = cells["name"]
            cells["name"] = Cell("● " + name.plain, style="bold", sort_key=name.sort_key[1])
        return cells

    def upsert(self, r: RunState, now: float, columns: Iterable[str] | None = None) -> bool:
        """Add the run's row or update its changed cells; True if a sort-relevant cell changed."""
        cells = (
            self._render(r, now)
            if columns is None
            else {k: c.render(r, now) for k in columns for c in self.columns_def if c.key == k}
        )
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

    def drop(self, run_id: str) -> None:
        if run_id in self.rows:
            self.remove_row(run_id)
        self._cells.pop(run_id, None)

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


# ---------------------------------------------------------------------- plots

# Colours per overlaid run (plotext names), and the faint colour for raw curves behind EMA.
PROGRESS_REDRAW_S = 2.0  # the partial epoch (progress lines) redraws the plots at most this often
RUN_COLORS = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")
FAINT = "gray"


def _series(xs: list[float], ys: list[float | None]) -> tuple[list[float], list[float]]:
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _cached_plot_class() -> type[PlotextPlot]:
    """A PlotextPlot that rebuilds its text only when its data, size or theme changed.

    Plain PlotextPlot rebuilds the whole plotext figure on every render, which includes every
    unrelated repaint of the screen region; this keeps the last build instead.
    """
    from textual_plotext import PlotextPlot

    class CachedPlot(PlotextPlot):
        data_serial = 0
        _key: Any = None
        _built: Any = None

        def render(self) -> Any:
            key = (self.data_serial, self.size, self.app.theme, self.theme)
            if key != self._key or self._built is None:
                self._built, self._key = super().render(), key
            return self._built

    return CachedPlot


class MetricPlots(Horizontal):
    """Loss and accuracy against epoch for the highlighted run plus any marked runs."""

    class Ready(Message):
        """The plots are mounted or resized: the app should (re)draw them."""

    DEFAULT_CSS = """
    MetricPlots { height: 1fr; }
    MetricPlots > #plots-placeholder { width: 1fr; content-align: center middle; color: $text-muted; }
    MetricPlots > #plots-empty { width: 1fr; height: 1fr; content-align: center middle; color: $text-muted;
                                 text-align: center; display: none; }
    MetricPlots.-empty > #plots-empty { display: block; }
    MetricPlots.-empty > PlotextPlot { display: none; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.loss: PlotextPlot | None = None
        self.acc: PlotextPlot | None = None
        self._drawn_sig: Any = None
        self._drawn_at = 0.0
        self.draw_count = 0
        self.last_draw_versions: dict[str, int] = {}

    EMPTY_HINT = (
        "No run to plot yet.\n\nPick a config on the left (shift+tab) and press enter to launch it,\n"
        "or s to launch a whole study. Highlight a run in the table to plot it; space overlays more."
    )

    def compose(self) -> ComposeResult:
        yield Static("plots load…", id="plots-placeholder")
        yield Static(self.EMPTY_HINT, id="plots-empty")

    def on_mount(self) -> None:
        self.call_after_refresh(self._mount_plots)

    async def _mount_plots(self) -> None:
        if not self.is_attached or self.app._exit:
            return  # the app quit before its first frame settled
        cls = _cached_plot_class()  # heavy (plotext): after the first frame
        loss, acc = cls(id="loss-plot"), cls(id="acc-plot")
        try:
            await self.query_one("#plots-placeholder").remove()
            await self.mount(loss, acc, before="#plots-empty")
        except MountError:
            return  # closing
        self.loss, self.acc = loss, acc
        self._drawn_sig = None
        self.call_after_refresh(self.post_message, self.Ready())

    def on_resize(self) -> None:
        if self.ready:
            self.post_message(self.Ready())

    @property
    def ready(self) -> bool:
        return self.loss is not None and self.acc is not None

    def draw(self, runs: Sequence[RunState], smooth: bool) -> bool:
        """Redraw if the data, options or size changed since the last draw; True if it drew."""
        if self.loss is None or self.acc is None:
            return False
        if not runs:
            self.set_class(True, "-empty")
            self._drawn_sig = None
            return False
        self.set_class(False, "-empty")
        if self.loss.size.width == 0:
            return False  # just un-hidden: drawn on the resize that follows
        width = max(self.loss.size.width, 20)
        sig = (
            tuple((r.run_id, r.epoch_version, r.status) for r in runs),
            smooth,
            width,
            self.loss.size.height,
        )
        versions = {r.run_id: r.version for r in runs}
        now = time.monotonic()
        # Same epochs, status and options: only progress lines (the partial epoch) may have
        # changed, which is redrawn at most every PROGRESS_REDRAW_S.
        if sig == self._drawn_sig and (
            versions == self.last_draw_versions or now - self._drawn_at < PROGRESS_REDRAW_S
        ):
            return False
        self._drawn_sig, self._drawn_at = sig, now
        npts = max(8, (width - 10) * 2)
        overlay = len(runs) > 1
        for plot, metric, title in ((self.loss, "loss", "loss"), (self.acc, "acc", "accuracy")):
            plt = plot.plt
            plt.clear_data()
            plt.xlabel("epoch")
            if not runs:
                plt.title(f"{title}: highlight a run")
                plot.refresh()
                continue
            for i, r in enumerate(runs):
                color = RUN_COLORS[i % len(RUN_COLORS)]
                self._plot_run(
                    plt, r, metric, color, overlay, smooth, npts, val_color=None if overlay else "orange"
                )
            head = runs[0]
            best, at = head.best(), head.best_at()
            ema_tag = " (EMA)" if smooth else ""
            if metric == "acc" and best is not None and at is not None:
                long = f"{title}{ema_tag} · best val {100 * best:.2f}% @ epoch {at:g}"
                short = f"acc{ema_tag} best {100 * best:.1f}%@{at:g}"
                plt.title(long if len(long) + 8 <= width else short)
            elif metric == "loss" and not overlay:
                # Name the run, and say why the axes are still empty (queued, just started).
                name = head.name or head.run_id
                waiting = (
                    "" if head.epochs_done or head.epoch_fraction() else f" ({head.status}, no epoch yet)"
                )
                long = f"{title}{ema_tag} · {name}{waiting}"
                plt.title(long if len(long) + 8 <= width else title + ema_tag)
            else:
                plt.title(title + ema_tag)
            plot.data_serial += 1
            plot.refresh()
        self.draw_count += 1
        self.last_draw_versions = versions
        return True

    @staticmethod
    def _plot_run(
        plt: Any,
        r: RunState,
        metric: str,
        color: str,
        overlay: bool,
        smooth: bool,
        npts: int,
        val_color: str | None,
    ) -> None:
        xs = [p.epoch for p in r.points]
        if metric == "loss":
            train = [p.train_loss for p in r.points]
            val = [p.val_loss for p in r.points]
        else:
            train = [p.train_acc for p in r.points]
            val = [p.val_acc for p in r.points]
        tx, ty = _series(xs, train)
        # The partial current epoch (running average from progress lines) continues the train curve.
        if r.status == "running" and r.partial:
            px = [p[0] for p in r.partial]
            py = [p[1] if metric == "loss" else p[2] for p in r.partial]
            ptx, pty = _series(px, py)
            tx, ty = tx + ptx, ty + pty
        vx, vy = _series(xs, val)
        name = r.name or r.run_id
        prefix = f"{name[:18]} " if overlay else ""
        for label, x, y, col, marker in (
            ("train", tx, ty, color, "braille"),
            ("val", vx, vy, val_color or color, "hd" if not overlay else "dot"),
        ):
            if not x:
                continue
            x, y = downsample(x, y, npts)
            if smooth and len(y) > 2:
                plt.plot(x, y, color=FAINT, marker="braille")
                y = ema(y)
            if len(x) == 1:
                plt.scatter(x, y, color=col, marker=marker, label=prefix + label)
            else:
                plt.plot(x, y, color=col, marker=marker, label=prefix + label)
        at = r.best_at()
        if at is not None and xs:
            plt.vertical_line(at, color=val_color or color)


# ---------------------------------------------------------------------- GPU bar


def gpu_text(stats: Sequence[Any] | None, counts: dict[str, int]) -> Text:
    """One line: each GPU's utilisation and memory (or CPU only), then run counts."""
    out = Text()
    if stats is None:
        out.append("GPU: checking…", style="dim")
    elif not stats:
        out.append("CPU only — runs use the CPU", style="bold yellow")
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
