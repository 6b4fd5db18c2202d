"""RunsTable's per-cell render cache: a changed cell is re-rendered, and only it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from hw2.runs.summary import EpochStats, summarize
from tui.model import RunState
from tui.widgets import RunsTable

NOW = 1_800_000_000.0


def _epoch_line(epoch: int, train_loss: float, val_acc: float, **kw: float) -> dict[str, Any]:
    return {
        "type": "epoch",
        "epoch": epoch,
        "epochs": 10,
        "train_loss": train_loss,
        "train_acc": kw.get("train_acc", 0.5),
        "val_loss": kw.get("val_loss", 1.5),
        "val_acc": val_acc,
        "lr": 0.1,
        "seconds": 2.0,
    }


def _summary(run_id: str, name: str, status: str, stats: EpochStats) -> Any:
    meta = {"name": name, "study": "s", "trainer": "cnn", "started": NOW - 60, "epochs": 10}
    return summarize(run_id=run_id, meta=meta, status=status, stats=stats, config={"optimizer": {"lr": 0.1}})


def _run(i: int, status: str = "running") -> RunState:
    stats = EpochStats()
    stats.add(_epoch_line(1, 1.0 + i, 0.4 + i / 100))
    rid = f"run-{i:02d}"
    st = RunState(rid, _summary(rid, f"name-{i:02d}", status, stats))
    st.stats = stats  # type: ignore[attr-defined]  # kept to build the next summary
    return st


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RunsTable(id="t")


def _frame(table: RunsTable) -> list[str]:
    """The table's lines as the compositor asks for them (``render_lines``, not line by line)."""
    return [s.text for s in table.render_lines(Region(0, 0, table.size.width, table.size.height))]


def test_rows_drawn_before_the_widths_are_measured_are_redrawn_at_the_measured_widths() -> None:
    """DataTable measures new rows on idle without bumping its cache counter; a frame drawn in
    between (a busy box) must not leave rows cut to the header labels' widths."""

    async def main() -> None:
        app = _TableApp()
        async with app.run_test(size=(160, 30)) as pilot:
            table = app.query_one(RunsTable)
            table.set_columns([])
            for i in range(5):
                table.upsert(_run(i), NOW)
            _frame(table)  # drawn before DataTable's idle handler measured the new rows
            await pilot.pause()
            await pilot.pause()
            table.refresh()
            lines = _frame(table)
            rows = [line for line in lines if "running" in line]
            assert len(rows) == 5, lines[:6]
            assert {line.index("running") for line in rows} == {lines[0].index("status")}, lines[:6]
            assert all(f"name-{i:02d}" in rows[i] for i in range(5)), lines[:6]

    asyncio.run(main())


def test_cell_update_rerenders_only_that_cell_and_shows_the_new_value(monkeypatch: Any) -> None:
    calls: list[tuple[int, int]] = []
    stock = RunsTable._render_cell_fresh  # every body cell drawn anew (not from the cache)

    def counting(self: Any, row_index: int, column_index: int, *a: Any, **kw: Any) -> Any:
        calls.append((row_index, column_index))
        return stock(self, row_index, column_index, *a, **kw)

    monkeypatch.setattr(RunsTable, "_render_cell_fresh", counting)

    async def main() -> None:
        app = _TableApp()
        async with app.run_test(size=(160, 30)) as pilot:
            table = app.query_one(RunsTable)
            table.set_columns([])
            runs = [_run(i) for i in range(8)]
            for st in runs:
                table.upsert(st, NOW)
            await pilot.pause()
            first = "\n".join(_frame(table))
            assert "name-00" in first and "name-07" in first

            # Steady state: nothing changed, nothing re-rendered.
            calls.clear()
            table.refresh()
            _frame(table)
            assert [c for c in calls if c[0] >= 0] == []

            # One run's epoch moves on: only its changed cells are rendered again.
            stats = runs[3].stats  # type: ignore[attr-defined]
            stats.add(_epoch_line(2, 0.123, 0.875, train_acc=0.9, val_loss=0.456))
            runs[3].summary = _summary("run-03", "name-03", "running", stats)
            calls.clear()
            table.upsert(runs[3], NOW)
            await pilot.pause()
            shown = "\n".join(_frame(table))
            body = [c for c in calls if c[0] >= 0]
            assert body, "the changed cells were not re-rendered"
            row3 = table.get_row_index("run-03")
            assert {r for r, _ in body} == {row3}, body
            name_col = table.get_column_index("name")
            assert (row3, name_col) not in body, body  # its unchanged cells come from the cache
            assert "87.5" in shown and "2/10" in shown  # the new val acc and epoch are on screen

            # A sort moves rows: every cell is rendered again at its new place, content intact.
            calls.clear()
            table.sort_column, table.sort_reverse = "name", True
            table.apply_sort()
            await pilot.pause()
            lines = _frame(table)
            assert any(c[0] >= 0 for c in calls)
            order = [n for line in lines for n in [f"name-{i:02d}" for i in range(8)] if n in line]
            assert order == [f"name-{i:02d}" for i in reversed(range(8))]

            # A longer name widens its column: every row (cached or not) follows the new width.
            runs[5].summary = replace(runs[5].summary, name="a-much-longer-run-name-that-widens-the-column")
            table.upsert(runs[5], NOW)
            await pilot.pause()
            await pilot.pause()
            lines = [line for line in _frame(table) if "running" in line]
            assert len(lines) == 8 and any("a-much-longer-run-name" in line for line in lines)
            assert len({line.index("running") for line in lines}) == 1, lines

    asyncio.run(main())


# --------------------------------------------------------------- the one-line cell fast path


def _rich_cell(console: Any, cell: Any, width: int, pad: int, pre: Any, post: Any) -> list[Any]:
    """What DataTable draws for a cell of height 1 (its own recipe, through Rich)."""
    from rich.padding import Padding
    from textual.renderables.styled import Styled

    options = console.options.update_dimensions(width, 1).update(no_wrap=True)
    return console.render_lines(Styled(Padding(cell, (0, pad)), pre_style=pre, post_style=post), options)


def test_single_line_cell_draws_what_rich_draws() -> None:
    import random

    from rich.console import Console
    from rich.style import Style
    from rich.text import Text

    from tui.compat import single_line_cell
    from tui.widgets import Cell

    rng = random.Random(0)
    console = Console(width=200, color_system="truecolor", force_terminal=True)
    texts = [
        "1.2345",
        "87.50%",
        "2/10 ▊░░░░",
        "–",
        "running",
        "x",
        "trailing  ",
        "  lead",
        "a b",
        "日本",
        "█" * 7,
    ]
    styles: list[Any] = ["", "bold", "dim cyan", "bold red on blue", Style(italic=True), Style.null(), "none"]
    pres = [
        Style(color="white", bgcolor="black") + Style.from_meta({"row": 1, "column": 2}),
        Style.from_meta({"row": 0, "column": 0}),
        Style(bgcolor="#223344", bold=True),
    ]
    posts = [Style(), Style(reverse=True), Style(color="yellow")]
    fast_taken = checked = 0
    for _ in range(3000):
        text = rng.choice(texts)
        cell = rng.choice([Cell, Text])(
            text, style=rng.choice(styles), justify=rng.choice([None, "left", "right"])
        )
        width, pad = rng.randint(0, 16), rng.choice([0, 1, 2])
        pre, post = rng.choice(pres), rng.choice(posts)
        fast = single_line_cell(console, cell, width, pad, pre, post)
        checked += 1
        if fast is not None:
            fast_taken += 1
            assert [fast] == _rich_cell(console, cell, width, pad, pre, post), (text, cell.style, width, pad)
    assert checked == 3000 and fast_taken > 1000  # the fast path is the common case, and it matches

    # Cells it must leave to Rich: too wide (cropped), several lines, spans, centred.
    assert single_line_cell(console, Text("too long for it"), 8, 1, pres[0], posts[0]) is None
    assert single_line_cell(console, Text("two\nlines"), 20, 1, pres[0], posts[0]) is None
    assert single_line_cell(console, Text.assemble("a", ("b", "red")), 20, 1, pres[0], posts[0]) is None
    assert single_line_cell(console, Text("mid", justify="center"), 20, 1, pres[0], posts[0]) is None


def test_runs_table_cells_match_datatable_rendering() -> None:
    """In a mounted table, every body cell (cursor, hover, zebra rows, every column) is drawn by
    the fast path exactly as DataTable's own _render_cell draws it."""

    async def main() -> None:
        app = _TableApp()
        async with app.run_test(size=(200, 30)) as pilot:
            table = app.query_one(RunsTable)
            table.set_columns(["optimizer.lr"])
            runs = [
                _run(i, status) for i, status in enumerate(["running", "done", "failed", "queued", "killed"])
            ]
            for st in runs:
                table.upsert(st, NOW)
            await pilot.pause()
            base = table.rich_style
            compared = fast = 0
            for row in range(len(runs)):
                for col, column in enumerate(table.ordered_columns):
                    width = column.get_render_width(table)
                    for cursor, hover in ((False, False), (True, False), (False, True)):
                        ours = table._render_cell_fresh(row, col, base, width, cursor, hover)
                        stock = DataTable._render_cell(table, row, col, base, width, cursor, hover)
                        assert ours == stock, (row, column.key, cursor, hover)
                        compared += 1
                        cell = table._get_row_renderables(row)[1][col]
                        fast += (
                            single_line_cell(app.console, cell, width, table.cell_padding, base, base)
                            is not None
                        )
            assert compared == len(runs) * len(table.ordered_columns) * 3 and fast > compared // 2

    from tui.compat import single_line_cell

    asyncio.run(main())


# --------------------------------------------------------------- tui.compat: the self-check and its fallback


def test_compat_self_check_passes_on_the_pinned_textual_and_notices_a_moved_private(monkeypatch: Any) -> None:
    from tui import compat

    assert compat.self_check() is None and compat.PROBLEM is None  # the fast path is on here

    def moved(self: Any, row_index: int, column_index: int, style: Any) -> Any:  # a different signature
        return None

    monkeypatch.setattr(DataTable, "_render_cell", moved)
    assert "_render_cell" in (compat.self_check() or "")
    monkeypatch.delattr(DataTable, "_get_row_renderables")
    assert compat.self_check() is not None


def test_when_the_self_check_fails_the_table_is_stock_datatable_and_still_right(monkeypatch: Any) -> None:
    from tui import compat

    monkeypatch.setattr(compat, "PROBLEM", "DataTable._render_cell moved (pretend)")
    called: list[str] = []
    monkeypatch.setattr(RunsTable, "_render_cell_fresh", lambda *a, **k: called.append("fast"))

    async def main() -> None:
        app = _TableApp()
        async with app.run_test(size=(160, 30)) as pilot:
            table = app.query_one(RunsTable)
            assert not table.fast
            table.set_columns(["optimizer.lr"])
            runs = [_run(i) for i in range(5)]
            for st in runs:
                table.upsert(st, NOW)
            await pilot.pause()
            await pilot.pause()
            lines = [line for line in _frame(table) if "running" in line]
            assert len(lines) == 5 and all(f"name-{i:02d}" in lines[i] for i in range(5)), lines
            stats = runs[2].stats  # type: ignore[attr-defined]
            stats.add(_epoch_line(2, 0.123, 0.875))
            runs[2].summary = _summary("run-02", "name-02", "running", stats)
            table.upsert(runs[2], NOW)
            await pilot.pause()
            assert "87.50%" in "\n".join(_frame(table))
            assert called == []  # nothing of the fast path ran

    asyncio.run(main())


def test_only_tui_compat_touches_datatable_privates() -> None:
    from pathlib import Path

    import tui
    from tui import compat

    privates = [n for n in (*compat._METHODS, *compat._ATTRIBUTES) if n.startswith("_")]
    assert len(privates) >= 10  # the probe works: the names compat checks
    users = sorted(
        p.name for p in Path(tui.__file__).parent.glob("*.py") if any(n in p.read_text() for n in privates)
    )
    assert users == ["compat.py"], users


# --------------------------------------------------------------- columns by priority, to the width


class _SizedTableApp(App[None]):
    CSS = "RunsTable { width: 80; }"

    def compose(self) -> ComposeResult:
        yield RunsTable(id="t")


def test_columns_fit_the_width_by_priority_and_refit_when_a_value_grows() -> None:
    """The table shows the columns that fit, by priority, whole; a value that grows (a longer
    name) drops a column rather than being cut; the diff view pins the name and scrolls."""

    async def main() -> None:
        app = _SizedTableApp()
        async with app.run_test(size=(120, 30)) as pilot:
            table = app.query_one(RunsTable)
            table.set_columns(["optimizer.lr"], ["model.name"])
            runs = [_run(i, status) for i, status in enumerate(["running", "done", "failed"])]
            for st in runs:
                table.upsert(st, NOW)
            await pilot.pause()
            await pilot.pause()

            def fits() -> list[str]:
                shown = [c.key for c in table.columns_def]
                used = sum(c.get_render_width(table) for c in table.ordered_columns)
                assert used <= table.size.width and table.max_scroll_x == 0, (shown, used)
                return shown

            shown = fits()
            assert shown[:5] == ["name", "status", "epoch", "best", "test"] and "hp:optimizer.lr" in shown
            assert "train_acc" not in shown  # the lowest priority did not fit
            header = _frame(table)[0]
            assert all(c.label in header for c in table.columns_def), header

            runs[1].summary = replace(runs[1].summary, name="a-very-long-run-name-that-takes-room")
            table.upsert(runs[1], NOW)
            await pilot.pause()
            await pilot.pause()
            narrower = fits()
            assert len(narrower) < len(shown) and narrower[:2] == ["name", "status"] and "test" in narrower
            assert any("a-very-long-run-name-that-takes-room" in line for line in _frame(table))

            runs[1].summary = replace(runs[1].summary, name="name-01")
            table.upsert(runs[1], NOW)
            assert table.set_columns(["optimizer.lr"], diff=True)  # the diff view: name, status, accuracies
            assert [c.key for c in table.columns_def] == ["name", "status", "best", "test", "hp:optimizer.lr"]
            # More differing hyperparameters than fit: a last column says so; → and ← page through them.
            many = ["optimizer.lr", *(f"model.a_rather_long_key_{i}" for i in range(4))]
            table.set_columns(many, diff=True)
            await pilot.pause()
            keys = lambda: [c.key for c in table.columns_def]  # noqa: E731
            first = keys()
            assert first[:5] == ["name", "status", "best", "test", "hp:optimizer.lr"] and first[-1] == "more"
            fits()
            after = table.hidden_hparams[1]
            assert after > 0 and f"{after} →" in _frame(table)[0]
            await pilot.press("right")
            assert "hp:optimizer.lr" not in keys() and table.hidden_hparams[0] == 1
            assert "← 1" in _frame(table)[0]
            fits()
            await pilot.press("left")
            assert keys() == first

    asyncio.run(main())


def test_sort_keeps_runs_without_a_value_last_both_ways() -> None:
    async def main() -> None:
        app = _TableApp()
        async with app.run_test(size=(200, 30)) as pilot:
            table = app.query_one(RunsTable)
            table.set_columns([])
            runs = [_run(i) for i in range(4)]
            runs[2].summary = replace(runs[2].summary, best_val_acc=None)
            for st in runs:
                table.upsert(st, NOW)
            await pilot.pause()
            table.sort_column = "best"  # an accuracy: best first
            table.apply_sort()
            assert table.ordered_ids() == ["run-03", "run-01", "run-00", "run-02"]
            table.sort_reverse = True
            table.apply_sort()
            assert table.ordered_ids() == ["run-00", "run-01", "run-03", "run-02"]
            table.sort_column, table.sort_reverse = "name", False  # names: a to z
            table.apply_sort()
            table.show_sort_marks()
            assert table.ordered_ids() == ["run-00", "run-01", "run-02", "run-03"]
            assert _frame(table)[0].startswith(" name ▲")

    asyncio.run(main())
