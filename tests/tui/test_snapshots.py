"""Snapshot tests of the main screen with fixed run folders, a fake clock and no GPU.

Update after an intended visual change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and review the SVGs in ``tests/tui/__snapshots__/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.tui.conftest import FIXED_NOW, wait_for, write_fixed_runs
from tui.app import make_app


def _app(runs_dir: Path, configs_dir: Path) -> Any:
    write_fixed_runs(runs_dir)
    return make_app(
        runs_dir,
        configs_dir,
        clock=lambda: FIXED_NOW,
        gpu_stats=lambda: [],
        start_scheduler=False,
        subtitle="runs",
    )


async def _settled(pilot: Any) -> None:
    app = pilot.app
    await wait_for(pilot, app.first_poll_done.is_set, 10, "first poll")
    await wait_for(pilot, app.configs_loaded.is_set, 20, "configs")
    await wait_for(pilot, lambda: app.table.row_count == 5, 10, "rows")
    await wait_for(pilot, lambda: app.gpu is not None, 10, "gpu bar")
    await wait_for(pilot, lambda: app.disk is not None, 10, "runs and trash sizes")
    await wait_for(pilot, lambda: app.plots.ready and app.plots.draw_count > 0, 10, "plots")
    await pilot.pause(0.3)
    await pilot.wait_for_scheduled_animations()


@pytest.mark.usefixtures("fake_env")
@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen(snap_compare: Any, runs_dir: Path, configs_dir: Path, size: tuple[int, int]) -> None:
    assert snap_compare(_app(runs_dir, configs_dir), terminal_size=size, run_before=_settled)


@pytest.mark.usefixtures("fake_env")
def test_overlay_and_smoothing(snap_compare: Any, runs_dir: Path, configs_dir: Path) -> None:
    async def before(pilot: Any) -> None:
        await _settled(pilot)
        await pilot.press("space", "down", "space", "m")
        await pilot.pause(0.3)

    assert snap_compare(_app(runs_dir, configs_dir), terminal_size=(160, 48), run_before=before)
