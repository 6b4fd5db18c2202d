"""Snapshot tests of the launch dialog at 80x24 and 160x48 (issue 17).

The dialog is shown over a bare host app, not the main screen, so these snapshots change only when
the dialog does. Its plan is the real one (:func:`hw2.launch_plan.make_plan`) over the fixed run
folders of the main screen's snapshots ("LR sweep": one run done with 10 epochs, one failed, one
running, one queued) for a study that plans 20 epochs, on a fixed executor (one CPU slot), so the
text is the same on every machine.

Update after an intended change with
``pytest tests/tui/test_snapshots_launch.py --snapshot-update`` and review the SVGs in
``tests/tui/__snapshots__/test_snapshots_launch/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from hw2.config import discover
from hw2.executors import Placement as Executor
from hw2.executors.slurm import placement as slurm_executor
from hw2.launch_plan import LaunchPlan, make_plan, planned_runs
from tests.tui.conftest import wait_for, write_fixed_runs
from tui.launch import LaunchScreen, dialog_title

CPU1 = Executor("local", 1, "cpu", "local CPU")

BASE = """\
name: mlp
trainer: mlp
seed: 0
model: {name: mlp, hidden: [256, 128]}
optimizer: {name: sgd, lr: 0.01}
train: {epochs: 10, batch_size: 128}
"""

STUDY = """\
study: "LR sweep"
description: the learning rate of the fixed runs, for 20 epochs instead of 10
base: mlp.yaml
set: {train.epochs: 20}
grid:
  optimizer.lr: [0.1, 0.5, 0.05, 1.0]
"""


class _Host(App[None]):
    """A bare app that opens the launch dialog of ``study`` over ``runs_dir``."""

    def __init__(self, runs_dir: Path, study: Path) -> None:
        super().__init__()
        self.runs_dir, self.study = runs_dir, study

    def on_mount(self) -> None:
        (entry,) = [e for e in discover(self.study.parent) if e.path == self.study]

        def plan(repeat: int | None, force: bool, kind: str) -> LaunchPlan:
            where = slurm_executor(1, 4) if kind == "slurm" else CPU1
            runs = planned_runs(entry, repeat)
            return make_plan(self.runs_dir, runs, force=force, executor=where, study="LR sweep")

        self.push_screen(LaunchScreen(dialog_title(entry), plan))


def _host(tmp_path: Path, runs_dir: Path, **study: str) -> _Host:
    write_fixed_runs(runs_dir)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "mlp.yaml").write_text(BASE)
    (configs / "lr-sweep.yaml").write_text(study.get("text", STUDY))
    return _Host(runs_dir, configs / "lr-sweep.yaml")


async def _planned(pilot: Any) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, LaunchScreen)
    await wait_for(pilot, lambda: bool(screen.plan_text), 20, "the plan")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_launch_dialog(snap_compare: Any, tmp_path: Path, runs_dir: Path, size: tuple[int, int]) -> None:
    assert snap_compare(_host(tmp_path, runs_dir), terminal_size=size, run_before=_planned)


def test_launch_dialog_with_nothing_to_queue(snap_compare: Any, tmp_path: Path, runs_dir: Path) -> None:
    """The study as the fixed runs ran it (10 epochs), planning only the learning rates of its done
    and queued runs: both are twins, so the dialog offers Close only."""
    text = STUDY.replace("set: {train.epochs: 20}\n", "").replace("[0.1, 0.5, 0.05, 1.0]", "[0.1, 1.0]")
    assert snap_compare(_host(tmp_path, runs_dir, text=text), terminal_size=(80, 24), run_before=_planned)
