"""The launch dialog cannot misfire, and says what will run (issue 17), at 80x24 through the pilot
with the real queue, scheduler and fake trainer:

* typing a number right after opening lands in the repeat box; enter there does not launch;
  ctrl+s or the Launch button does;
* the toggles read ``[x]``/``[ ]`` and ``(•)``/``( )`` in plain text, not in colour alone;
* the plan names the count, the epochs, the executor and a time estimate ("unknown" without
  history), and why earlier runs of the study with other settings are not twins;
* with nothing to queue the dialog offers Close only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hw2.config import expand_study
from hw2.daemon import ensure_scheduler
from hw2.planning import enqueue_sweep
from tests.tui.conftest import open_launch_dialog, run_pilot, wait_for
from tui.app import HW2App, make_app
from tui.launch import LaunchScreen

SMALL = (80, 24)


def _app(runs_dir: Path, configs_dir: Path, **kw: Any) -> HW2App:
    return make_app(runs_dir, configs_dir, poll_interval=0.05, gpu_stats=lambda: [], **kw)


def screen_lines(app: HW2App) -> list[str]:
    """The terminal's text as a user sees it, one string a row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def _shown(app: HW2App, text: str) -> bool:
    return any(text in line for line in screen_lines(app))


def _queued_folders(runs_dir: Path) -> int:
    return len(list(runs_dir.glob("*/meta.json")))


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local scheduler's CPU slots ($HW2_CPU_SLOTS=2 from fake_env), on a GPU machine too."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.mark.usefixtures("fake_env", "cleanup_runs", "cpu_only")
def test_typing_lands_in_the_repeat_box_and_enter_does_not_launch(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        screen = await open_launch_dialog(pilot, app)
        assert screen.focused is not None and screen.focused.id == "launch-repeat"
        await pilot.press("3")
        assert screen.query_one("#launch-repeat").value == "3"
        await wait_for(pilot, lambda: "12 planned runs" in screen.plan_text, 20, "the plan with repeat 3")
        assert _shown(app, "repeat (seeds)  3")
        # a reflexive enter moves to the next field and launches nothing
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, LaunchScreen)
        assert screen.focused is not None and screen.focused.id == "launch-executor"
        assert _queued_folders(runs_dir) == 0
        # the keys are on screen, and ctrl+s launches the 12 runs the plan announced
        assert _shown(app, "Launch (ctrl+s)")
        assert _shown(app, "ctrl+s/ctrl+enter: launch")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen), 10, "the dialog closed")
        await wait_for(pilot, lambda: _queued_folders(runs_dir) == 12, 30, "12 runs queued")

    run_pilot(app, body, size=SMALL)


@pytest.mark.usefixtures("fake_env")
def test_toggles_read_their_state_in_text(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir, start_scheduler=False)

    async def body(pilot: Any) -> None:
        screen = await open_launch_dialog(pilot, app)
        assert _shown(app, "[ ] smoke test first")
        assert _shown(app, "[ ] force: queue runs")
        assert _shown(app, "(•) local") and _shown(app, "( ) slurm")
        screen.query_one("#launch-smoke").focus()
        await pilot.press("space")
        await pilot.pause(0.1)
        assert _shown(app, "[x] smoke test first") and screen.choice().smoke
        await pilot.press("space")
        await pilot.pause(0.1)
        assert _shown(app, "[ ] smoke test first") and not screen.choice().smoke
        # the executor: right moves the highlight, space presses it; the text follows
        screen.query_one("#launch-executor").focus()
        await pilot.press("right", "space")
        await wait_for(pilot, lambda: _shown(app, "(•) slurm"), 5, "slurm pressed")
        assert _shown(app, "( ) local") and screen.choice().executor == "slurm"
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen), 5, "closed")

    run_pilot(app, body, size=SMALL)


@pytest.mark.usefixtures("fake_env", "cleanup_runs", "cpu_only")
def test_the_plan_says_what_will_run_and_why_earlier_runs_are_not_twins(
    runs_dir: Path, configs_dir: Path
) -> None:
    app = _app(runs_dir, configs_dir)
    study = configs_dir / "fake-sweep.yaml"

    async def body(pilot: Any) -> None:
        # no history: the count, epochs and executor, and an unknown time
        screen = await open_launch_dialog(pilot, app)
        assert screen.plan_text.splitlines() == [
            "None of the 4 planned runs is done or queued yet.",
            "Queue 4 runs × 3 epochs on local CPU, up to 2 at once.",
            "Time: unknown (no earlier finished run of this model, batch size and data).",
        ]
        assert _shown(app, "Time: unknown")
        await pilot.press("escape")

        # history: the same study run with 2 epochs (`--set train.epochs=2`), through the real queue
        enqueue_sweep(runs_dir, list(expand_study(study, ["train.epochs=2"])))
        ensure_scheduler(runs_dir)
        await wait_for(
            pilot,
            lambda: len(app.runs) == 4 and all(s.status == "done" for s in app.runs.values()),
            120,
            "the 2-epoch sweep",
        )
        screen = await open_launch_dialog(pilot, app)
        lines = screen.plan_text.splitlines()
        assert lines[:2] == [
            "None of the 4 planned runs is done or queued yet.",
            "Queue 4 runs × 3 epochs on local CPU, up to 2 at once.",
        ]
        assert re.fullmatch(
            r"Time: under a minute \([\d.]+ s/epoch measured( on cpu)? over 4 earlier runs\)\.", lines[2]
        ), lines[2]
        assert lines[3] == "4 runs of Fake sweep with other settings (2 epochs, planned 3) are not twins."
        assert _shown(app, "with other settings (2 epochs, planned 3)")

        # the Launch button launches
        await pilot.click("#launch-yes")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen), 10, "the dialog closed")
        await wait_for(pilot, lambda: _queued_folders(runs_dir) == 8, 30, "4 more runs queued")

        # now every planned run has a twin: nothing to queue, so Close only; ctrl+s does nothing
        screen = await open_launch_dialog(pilot, app)
        assert screen.plan_text.startswith("All 4 planned runs are done or queued already (twins)")
        assert not screen.query_one("#launch-yes").display
        assert _shown(app, "Close (esc)")
        assert not _shown(app, "Launch (ctrl+s)") and not _shown(app, "ctrl+s/ctrl+enter")
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, LaunchScreen)
        assert any("nothing to queue" in str(n.message) for n in app._notifications)
        assert _queued_folders(runs_dir) == 8
        # a larger repeat has runs to queue again: Launch comes back
        await pilot.press("2")
        await wait_for(pilot, lambda: "of the 8 planned" in screen.plan_text, 20, "the plan with repeat 2")
        assert screen.query_one("#launch-yes").display
        assert _shown(app, "Launch (ctrl+s)")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen), 5, "closed")
        assert _queued_folders(runs_dir) == 8

    run_pilot(app, body, size=SMALL)
