"""RunsTable's per-cell render cache: a changed cell is re-rendered, and only it."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from tui.model import RunState
from tui.widgets import RunsTable

NOW = 1_800_000_000.0


def _run(i: int, status: str = "running") -> RunState:
    st = RunState(f"run-{i:02d}", name=f"name-{i:02d}", study="s", trainer="cnn", started=NOW - 60)
    st.set_status(status)
    st.epochs_total = 10
    st.add_epochs(
        [
            {
                "type": "epoch",
                "epoch": 1,
                "epochs": 10,
                "train_loss": 1.0 + i,
                "train_acc": 0.5,
                "val_loss": 1.5,
                "val_acc": 0.4 + i / 100,
                "lr": 0.1,
                "seconds": 2.0,
            }
        ]
    )
    return st


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RunsTable(id="t")


def _screen_text(table: RunsTable) -> str:
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


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
    stock = DataTable._render_cell

    def counting(self: Any, row_index: int, column_index: int, *a: Any, **kw: Any) -> Any:
        calls.append((row_index, column_index))
        return stock(self, row_index, column_index, *a, **kw)

    monkeypatch.setattr(DataTable, "_render_cell", counting)

    async def main() -> None:
        app = _TableApp()
        async with app.run_test(size=(160, 30)) as pilot:
            table = app.query_one(RunsTable)
            table.set_columns([])
            runs = [_run(i) for i in range(8)]
            for st in runs:
                table.upsert(st, NOW)
            await pilot.pause()
            first = _screen_text(table)
            assert "name-00" in first and "name-07" in first

            # Steady state: nothing changed, nothing re-rendered.
            calls.clear()
            table.refresh()
            _screen_text(table)
            assert [c for c in calls if c[0] >= 0] == []

            # One run's epoch moves on: only its changed cells are rendered again.
            runs[3].add_epochs(
                [
                    {
                        "type": "epoch",
                        "epoch": 2,
                        "epochs": 10,
                        "train_loss": 0.123,
                        "train_acc": 0.9,
                        "val_loss": 0.456,
                        "val_acc": 0.875,
                        "lr": 0.1,
                        "seconds": 2.0,
                    }
                ]
            )
            calls.clear()
            table.upsert(runs[3], NOW)
            await pilot.pause()
            shown = _screen_text(table)
            body = [c for c in calls if c[0] >= 0]
            assert body, "the changed cells were not re-rendered"
            row3 = table.get_row_index("run-03")
            assert {r for r, _ in body} == {row3}, body
            assert "87.5" in shown and "2/10" in shown  # the new val acc and epoch are on screen

            # A sort moves rows: every cell is rendered again at its new place, content intact.
            calls.clear()
            table.sort_column, table.sort_reverse = "name", True
            table.apply_sort()
            await pilot.pause()
            lines = _screen_text(table).splitlines()
            assert any(c[0] >= 0 for c in calls)
            order = [n for line in lines for n in [f"name-{i:02d}" for i in range(8)] if n in line]
            assert order == [f"name-{i:02d}" for i in reversed(range(8))]

            # A longer name widens its column: every row (cached or not) follows the new width.
            runs[5].name = "a-much-longer-run-name-that-widens-the-column"
            table.upsert(runs[5], NOW)
            await pilot.pause()
            await pilot.pause()
            lines = [line for line in _screen_text(table).splitlines() if "running" in line]
            assert len(lines) == 8 and any("a-much-longer-run-name" in line for line in lines)
            assert len({line.index("running") for line in lines}) == 1, lines

    asyncio.run(main())
