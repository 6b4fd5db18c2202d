"""The app's delete key (issue 20 §2): the dialog names the runs and their size, the move runs in
a worker, the rows go, the header shows the runs folder's and the trash's sizes; a run moved by
``hw2-tui rm`` while the app watches disappears too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hw2 import trash
from hw2.runs.summary import fmt_bytes
from tests.tui.conftest import fixed_runs_app, run_pilot, wait_for
from tui.app import HW2App
from tui.screens import ConfirmScreen
from tui.study import study_runs

DONE_A = "20260101-000000-mlp-baseline-aaaa"
DONE_B = "20260101-000100-lr-0.1-bbbb"
FAILED = "20260101-000200-lr-0.5-cccc"
RUNNING = "20260101-000300-lr-0.05-dddd"
QUEUED = "20260101-000400-lr-1.0-eeee"


def _app(runs_dir: Path, configs_dir: Path) -> HW2App:
    return fixed_runs_app(runs_dir, configs_dir)


def _header(app: HW2App) -> str:
    return app.main.gpu_bar._last


def test_delete_key_moves_the_marked_runs_after_a_dialog(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir)
    size = trash.folder_size(runs_dir / DONE_A) + trash.folder_size(runs_dir / DONE_B)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        await wait_for(pilot, lambda: app.disk is not None, 10, "the sizes in the header")
        assert "trash 0 B" in _header(app)
        app.table.focus()
        for rid in (DONE_A, DONE_B):
            app.table.move_cursor(row=app.table.get_row_index(rid))
            await pilot.press("space")
        # no: nothing moves
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "the dialog")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert (runs_dir / DONE_A).is_dir() and app.table.row_count == 5
        # yes: the dialog named both runs and their size; both rows go, the header counts the trash
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "the dialog")
        question = app.screen.question
        assert question.startswith(f"Move 2 runs ({fmt_bytes(size)}) to .trash?")
        assert "mlp-baseline" in question and "lr-0.1" in question
        await pilot.press("y")
        await wait_for(pilot, lambda: app.table.row_count == 3, 10, "the rows gone")
        assert DONE_A not in app.runs and DONE_B not in app.runs
        assert sorted(p.name for p in (runs_dir / ".trash").iterdir()) == [DONE_A, DONE_B]
        await wait_for(pilot, lambda: f"trash {fmt_bytes(size)}" in _header(app), 10, "the trash size")
        assert not any(st.marked for st in app.runs.values())
        # a queued run is refused without a dialog
        app.table.move_cursor(row=app.table.get_row_index(QUEUED))
        await pilot.press("D")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert (runs_dir / QUEUED).is_dir()

    run_pilot(app, body)


def test_a_run_moved_by_the_cli_leaves_the_app(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        assert FAILED in [s.run_id for s in study_runs(app, "LR sweep")]
        app.table.move_cursor(row=app.table.get_row_index(FAILED))  # highlighted and plotted
        await pilot.pause(0.2)
        done = trash.remove(runs_dir, [runs_dir / FAILED])
        assert [r.run_id for r in done.removed] == [FAILED]
        await wait_for(pilot, lambda: FAILED not in app.runs, 10, "the run gone")
        assert app.table.row_count == 4 and FAILED not in app.table.rows
        assert all(st.run_id != FAILED for st in app.plotted_runs())
        assert FAILED not in [s.run_id for s in study_runs(app, "LR sweep")]
        # restored: it comes back as it was
        trash.restore(runs_dir, FAILED)
        await wait_for(pilot, lambda: FAILED in app.runs and app.table.row_count == 5, 10, "the run back")
        assert app.runs[FAILED].status == "failed"

    run_pilot(app, body)
