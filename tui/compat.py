"""The one module that reaches into Textual's ``DataTable`` internals, and checks them first.

Why: the runs table changes a few cells a second (progress bars, times). Stock ``DataTable``
keys its render caches on one counter that every ``update_cell`` bumps, so one changed cell
re-renders every visible cell through Rich. :class:`CachedDataTable` keeps its own per-cell and
per-row caches keyed on each cell's version instead, and draws one-line text cells directly
(:func:`single_line_cell`) — together ~1-2 points of one core at 16 runs x 20 Hz (benchmark 4).

That needs DataTable's private attributes and methods (``_update_count``, ``_row_locations``,
``_get_styles_to_render_cell``, ``_render_cell``…). They were written for Textual
:data:`WRITTEN_FOR`; :func:`self_check` verifies at import that they are still there with the
same signatures, and when they are not, :data:`PROBLEM` says why and every override below
defers to stock ``DataTable`` (correct, only somewhat slower). Nothing else in ``tui`` touches
these privates.

It also holds the one other private the app uses: :func:`write_to_terminal` writes raw escape
sequences (the desktop notifications of :mod:`hw2.notify`) through the App's ``_driver``, the way
Textual's own ``App.bell`` and ``App.copy_to_clipboard`` do; without such a driver it writes nothing.
"""

from __future__ import annotations

import inspect
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import DataTable

WRITTEN_FOR = "8.2"
"""The Textual minor version these overrides were written and checked against."""

_NULL_STYLE = Style.null()

# method -> its parameters (after self) as this module calls or overrides it
_METHODS: dict[str, tuple[str, ...]] = {
    "_render_cell": ("row_index", "column_index", "base_style", "width", "cursor", "hover"),
    "_render_line_in_row": ("row_key", "line_no", "base_style", "cursor_location", "hover_location"),
    "_get_styles_to_render_cell": (
        "is_header_cell",
        "is_row_label_cell",
        "is_fixed_style_cell",
        "hover",
        "cursor",
        "show_cursor",
        "show_hover_cursor",
        "has_css_foreground_priority",
        "has_css_background_priority",
    ),
    "_get_row_renderables": ("row_index",),
    "_clear_caches": (),
    "update_cell": ("row_key", "column_key", "value", "update_width"),
    "render_lines": ("crop",),
}
_ATTRIBUTES = (
    "_update_count",
    "_row_locations",
    "_column_locations",
    "_show_hover_cursor",
    "_pseudo_class_state",
    "_cell_render_cache",
    "_row_render_cache",
    "_line_cache",
)


def self_check() -> str | None:
    """None when DataTable's internals are the ones this module was written for; else what differs."""
    for name, params in _METHODS.items():
        fn = getattr(DataTable, name, None)
        if not callable(fn):
            return f"DataTable.{name} is gone"
        try:
            got = tuple(inspect.signature(fn).parameters)[1:]
        except (TypeError, ValueError):
            return f"DataTable.{name}: signature unreadable"
        if got != params:
            return f"DataTable.{name}{got} is not {params}"
    return None


PROBLEM: str | None = self_check()
"""Why the fast path is off (None: it is on)."""


def single_line_cell(
    console: Any, cell: Any, width: int, pad: int, pre_style: Style, post_style: Style
) -> list[Segment] | None:
    """The segments DataTable draws for a one-line text cell, without Rich's general renderer.

    DataTable renders every cell as ``Styled(Padding(cell, (0, pad)), pre_style, post_style)``
    through ``Console.render_lines`` (~160 us a cell here); a run's row changes several cells a
    second. For the cells the runs table makes (a plain ``Text``: one line, one style, no spans,
    that fits its column) the result is a fixed pattern, built here directly. Anything else
    returns None and takes Rich's path. ``tests/tui/test_runs_table.py`` compares the two segment
    for segment over generated cells.
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


class CachedDataTable(DataTable):
    """A DataTable that re-renders only the cells that changed (see the module docstring).

    With :data:`PROBLEM` set (or an instance missing one of the private attributes) every
    override is a plain call to DataTable's own method.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fast = PROBLEM is None and all(hasattr(self, name) for name in _ATTRIBUTES)
        """The caches and the one-line renderer are in use (else: stock DataTable)."""
        self._cell_versions: dict[tuple[Any, Any], int] = {}
        self._row_versions: dict[str, int] = {}
        self._cell_only_bumps = 0
        # One tall screen's cells and rows: stale entries (older versions) are dead weight, and a
        # larger cache only takes longer to fill, i.e. for the TUI's memory to level off.
        self._own_cell_cache: LRUCache[tuple[Any, ...], Any] = LRUCache(1024)
        self._own_row_cache: LRUCache[tuple[Any, ...], Any] = LRUCache(128)
        self._widths_drawn: tuple[int, ...] = ()
        if not self.fast:
            return
        # DataTable keys its render caches on a global update counter, so after a live update every
        # older entry is dead weight: the stock sizes (10 000 cells, 1 000 rows and lines) keep
        # ~20 MiB of stale segments and old cells alive. Sizes that cover one tall screen keep the
        # TUI's memory flat. (Private attributes: checked, and left alone if Textual renames them.)
        for name, size in (
            ("_cell_render_cache", 512),  # behind ours: header cells and multi-line cells only
            ("_row_render_cache", 256),
            ("_row_renderable_cache", 256),
            ("_line_cache", 256),
        ):
            if isinstance(getattr(self, name, None), LRUCache):
                setattr(self, name, LRUCache(size))
        # Per-cell render cache. DataTable's own cache is keyed on a counter that every update_cell
        # bumps, so one changed cell (a progress bar, once a second per live run) re-renders every
        # visible cell through Rich. Here a cell is re-rendered only when it changed: the key holds
        # the cell's own version, and a "structure" generation (DataTable's counter minus the bumps
        # made by cell updates) that still invalidates everything on add/remove/sort/resize
        # (the attributes are set above, before the early return).

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        if not self.fast:
            super().update_cell(row_key, column_key, value, update_width=update_width)
            return
        before = self._update_count
        super().update_cell(row_key, column_key, value, update_width=update_width)
        self._cell_only_bumps += self._update_count - before
        k = (str(getattr(row_key, "value", row_key)), str(getattr(column_key, "value", column_key)))
        self._cell_versions[k] = self._cell_versions.get(k, 0) + 1
        self._row_versions[k[0]] = self._row_versions.get(k[0], 0) + 1

    def set_column_label(self, column_key: str, label: Text) -> None:
        """Change a column's header (the sort mark). DataTable has no public way: its header
        cells are cached on its update counter, which a label change does not bump, so the
        caches are dropped here (a header changes only when the sort does)."""
        column = self.columns.get(column_key)  # type: ignore[call-overload]
        if column is None or column.label == label:
            return
        column.label = label
        self._clear_caches()
        self.refresh()

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
        if not self.fast:
            return super().render_lines(crop)
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
        if not self.fast:
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
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
        if not self.fast or row_index < 0 or column_index < 0:  # the header row: rare, left to DataTable
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


def write_to_terminal(app: Any, data: str) -> bool:
    """Write ``data`` (escape sequences, BEL) to the terminal the app draws on, once, between frames.

    Textual has no public call for raw output: ``App.bell`` writes ``BEL`` through ``app._driver``
    and skips a headless app; this does the same for any sequence. False when nothing was written
    (headless, no driver yet or any more, or a driver without ``write``: Textual changed).
    """
    if not data or getattr(app, "is_headless", True):
        return False
    driver = getattr(app, "_driver", None)
    write = getattr(driver, "write", None)
    if not callable(write):
        return False
    write(data)
    return True
