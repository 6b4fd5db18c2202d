"""Notes in the app (issue 20 §3): ``n`` opens a line holding the highlighted run's note, enter
saves it through :func:`hw2.runs.lifecycle.set_note` in a worker, escape cancels; the table's note
column (cut to fit, never at the cost of name, status or accuracies), the Config tab and the ``/``
filter show it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.geometry import Region

from hw2 import contract
from hw2.runs import lifecycle
from tests.tui.conftest import fixed_runs_app, run_pilot, wait_for, write_fixed_runs
from tui.app import HW2App

BASELINE = "20260101-000000-mlp-baseline-aaaa"
LR_01 = "20260101-000100-lr-0.1-bbbb"
LONG = "warmup helps: lr 0.1 diverged after epoch 3 without it, try 5 warmup epochs and a cosine decay"


def _app(runs_dir: Path, configs_dir: Path) -> HW2App:
    return fixed_runs_app(runs_dir, configs_dir)


def _note_on_disk(runs_dir: Path, run_id: str) -> object:
    data = contract.read_json(runs_dir / run_id / contract.META_FILE)
    assert data is not None
    return data.get("note")


def _table_lines(app: HW2App) -> list[str]:
    width, height = app.table.outer_size
    return [strip.text for strip in app.table.render_lines(Region(0, 0, width, height))]


async def _highlight(pilot: Any, app: HW2App, run_id: str) -> None:
    await wait_for(pilot, lambda: run_id in app.table.rows, 10, f"the row of {run_id}")
    app.table.focus()
    app.table.move_cursor(row=app.table.get_row_index(run_id), animate=False)
    await wait_for(pilot, lambda: app.table.highlighted_id() == run_id, 5, "the cursor on the run")


def test_n_saves_a_note_the_table_config_tab_and_filter_show(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await _highlight(pilot, app, BASELINE)
        assert "note" not in [c.key for c in app.table.columns_def]  # no run has a note yet
        await pilot.press("n")
        box = app.main.note_box
        assert box.has_focus and box.value == ""
        await pilot.press(*LONG, "enter")
        await wait_for(pilot, lambda: _note_on_disk(runs_dir, BASELINE) == LONG, 10, "the note in meta.json")
        assert app.table.has_focus and not box.has_class("-shown")
        # the finished run's row follows at once (the app has the poller re-read it)
        await wait_for(pilot, lambda: app.runs[BASELINE].summary.note == LONG, 10, "the note in the model")
        await wait_for(pilot, lambda: "note" in [c.key for c in app.table.columns_def], 10, "the note column")
        assert str(app.table.get_cell(BASELINE, "note")) == LONG
        row = next(line for line in _table_lines(app) if "mlp-baseline" in line)
        assert "warmup helps" in row and "…" in row and "cosine decay" not in row  # cut to fit
        assert {"name", "status", "best", "test"} <= {c.key for c in app.table.columns_def}
        # the Config tab says all of it, first
        await wait_for(pilot, lambda: app.main._config_text.startswith(f"# note: {LONG}\n"), 10, "config")
        # the filter finds the run by a word of its note
        await pilot.press("slash", *"cosine")
        await wait_for(pilot, lambda: app.table.row_ids() == [BASELINE], 5, "the filtered row")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "all rows back")

    run_pilot(app, body, size=(160, 40))  # room for the note beside the configs pane


def test_n_holds_the_note_and_escape_cancels_without_writing(runs_dir: Path, configs_dir: Path) -> None:
    write_fixed_runs(runs_dir)
    lifecycle.set_note(runs_dir / LR_01, "kept as it was")
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await _highlight(pilot, app, LR_01)
        before = (runs_dir / LR_01 / contract.META_FILE).stat()
        await pilot.press("n")
        box = app.main.note_box
        assert box.has_focus and box.value == "kept as it was"
        await pilot.press("ctrl+u", *"something else", "escape")
        assert app.table.has_focus and not box.has_class("-shown")
        assert app.filter_text == ""  # escape in the note box is not the filter's
        await pilot.pause(0.5)
        after = (runs_dir / LR_01 / contract.META_FILE).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert _note_on_disk(runs_dir, LR_01) == "kept as it was"
        # an emptied line clears the note
        await pilot.press("n", "ctrl+u", "enter")
        await wait_for(pilot, lambda: _note_on_disk(runs_dir, LR_01) is None, 10, "the note cleared")
        await wait_for(pilot, lambda: app.runs[LR_01].summary.note is None, 10, "the model follows")

    run_pilot(app, body)


def test_the_note_column_never_pushes_out_name_status_or_accuracies_at_80_columns(
    runs_dir: Path, configs_dir: Path
) -> None:
    write_fixed_runs(runs_dir)
    for run_id in contract.list_run_dirs(runs_dir):
        lifecycle.set_note(run_id, LONG)
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 10, "rows")
        keys = [c.key for c in app.table.columns_def]
        assert keys[:2] == ["name", "status"] and {"best", "test", "epoch"} <= set(keys)
        assert all(len(line) <= 80 for line in _table_lines(app))
        if "note" in keys:  # what room is left, cut
            assert keys[-1] == "note"
            assert any("…" in line for line in _table_lines(app))

    run_pilot(app, body, size=(80, 24))
