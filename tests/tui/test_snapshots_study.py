"""Snapshot tests of the study view and the factorial view at 80x24 and 160x48 (issue 17), on
fixed run folders with a fake clock and no GPU.

Update after an intended visual change with
``pytest tests/tui/test_snapshots_study.py --snapshot-update`` and review the SVGs in
``tests/tui/__snapshots__/test_snapshots_study/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.tui.conftest import FIXED_NOW, wait_for
from tests.tui.test_study import _grid, _study_run
from tui.app import make_app
from tui.study import PivotScreen, StudyScreen

SIZES = [(80, 24), (160, 48)]
IDS = ["80x24", "160x48"]


def _app(runs_dir: Path, configs_dir: Path) -> Any:
    return make_app(
        runs_dir,
        configs_dir,
        clock=lambda: FIXED_NOW,
        gpu_stats=lambda: [],
        start_scheduler=False,
        subtitle="runs",
        poll_interval=0.05,
    )


def _variants(runs_dir: Path) -> None:
    """Three variants of two seeds each: 2.1.3's shape."""
    i = 0
    for variant, lr, shift in (
        ("baseline", 0.01, -0.02),
        ("early-stopping", 0.02, -0.01),
        ("augmentation", 0.03, 0.01),
    ):
        for seed in (1, 2):
            i += 1
            _study_run(runs_dir, i, variant, seed, lr=lr, shift=shift + 0.004 * seed)


def _diagonal(runs_dir: Path) -> None:
    """2.1.4's shape: each variant sets the model and the learning rate together."""
    i = 0
    for variant, model, lr in (("sgd", "mlp", 0.1), ("momentum", "cnn", 0.01), ("adam", "big", 0.001)):
        for seed in (1, 2):
            i += 1
            _study_run(runs_dir, i, variant, seed, lr=lr, model=model, shift=0.002 * i)


async def _study(pilot: Any) -> None:
    """Open the highlighted run's study and wait until its table and curves are drawn."""
    app = pilot.app
    await wait_for(pilot, app.first_poll_done.is_set, 10, "first poll")
    await wait_for(pilot, app.configs_loaded.is_set, 20, "configs")
    app.table.focus()
    await wait_for(pilot, lambda: app.table.row_count > 0, 10, "rows")
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), 5, "the study view")
    screen = app.screen
    await wait_for(pilot, lambda: screen.figures is not None and screen.table.row_count > 0, 20, "its rows")
    runs = sum(len(g.runs) for g in screen.figures.groups)
    await wait_for(pilot, lambda: len(screen.series) == runs, 20, "every run's curve")
    await pilot.pause(0.3)
    await pilot.wait_for_scheduled_animations()


async def _pivot(pilot: Any) -> None:
    await _study(pilot)
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PivotScreen), 5, "the factorial view")
    await pilot.pause(0.3)
    await pilot.wait_for_scheduled_animations()


Fill = Callable[[Path], None]
Before = Callable[[Any], Awaitable[None]]


@pytest.mark.usefixtures("fake_env")
@pytest.mark.parametrize("size", SIZES, ids=IDS)
@pytest.mark.parametrize(
    ("fill", "before"),
    [(_variants, _study), (_grid, _pivot), (_diagonal, _pivot)],
    ids=["study_view", "factorial_grid", "factorial_diagonal"],
)
def test_study_views(
    snap_compare: Any, runs_dir: Path, configs_dir: Path, size: tuple[int, int], fill: Fill, before: Before
) -> None:
    fill(runs_dir)
    assert snap_compare(_app(runs_dir, configs_dir), terminal_size=size, run_before=before)


@pytest.mark.usefixtures("fake_env")
def test_empty_study_view(snap_compare: Any, runs_dir: Path, configs_dir: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(configs_dir.parent)  # the hint names configs/fake-sweep.yaml

    async def before(pilot: Any) -> None:
        app = pilot.app
        await wait_for(pilot, app.first_poll_done.is_set, 10, "first poll")
        app.push_screen(StudyScreen("Fake sweep", str(configs_dir / "fake-sweep.yaml")))
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), 5, "the study view")
        await wait_for(pilot, lambda: app.screen.figures is not None, 10, "its figures")
        await pilot.pause(0.3)

    assert snap_compare(_app(runs_dir, configs_dir), terminal_size=(80, 24), run_before=before)
