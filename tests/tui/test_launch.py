"""The launch dialog: the plan with twins ("2 of the 4 planned runs are done or queued already"),
repeat, force, smoke test first (a failing config queues nothing), through the real queue and
scheduler. Launching takes ctrl+s (or the Launch button): enter in a field does not launch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.tui.conftest import open_launch_dialog, run_pilot, tree_nodes, wait_for, write_configs
from tui.app import HW2App, make_app


def _app(runs_dir: Path, configs_dir: Path) -> HW2App:
    return make_app(runs_dir, configs_dir, poll_interval=0.05, gpu_stats=lambda: [])


def _finished(app: HW2App, n: int) -> bool:
    return len(app.runs) == n and all(s.status in ("done", "failed", "killed") for s in app.runs.values())


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_dialog_plans_twins_and_queues_exactly_the_missing_runs(
    runs_dir: Path, configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the scheduler's CPU slots ($HW2_CPU_SLOTS=2), GPU or not
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        screen = await open_launch_dialog(pilot, app)
        assert screen.plan_text.splitlines()[0] == "None of the 4 planned runs is done or queued yet."
        assert screen.plan.count == 4
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _finished(app, 4), 120, "the first sweep")

        # again with repeat 2: the 4 seed-1 runs are done twins, the 4 new seeds are queued
        screen = await open_launch_dialog(pilot, app)
        assert screen.plan_text == "All 4 planned runs are done or queued already (twins): nothing to queue."
        screen.query_one("#launch-repeat").value = "2"
        await wait_for(pilot, lambda: "of the 8" in screen.plan_text, 20, "the plan with repeat 2")
        assert (
            screen.plan_text.splitlines()[0] == "4 of the 8 planned runs are done or queued already (twins)."
        )
        assert "Queue 4 runs × 3 epochs" in screen.plan_text
        assert screen.choice().repeat == 2
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _finished(app, 8), 120, "the second sweep")
        assert sorted(s.summary.seed for s in app.runs.values()) == [1, 1, 1, 1, 2, 2, 2, 2]

        # force queues all of them again; cancel leaves everything as it was
        screen = await open_launch_dialog(pilot, app)
        screen.query_one("#launch-force").value = True
        await wait_for(pilot, lambda: screen.plan_text.startswith("force:"), 20, "force")
        assert screen.plan_text.splitlines()[:2] == [
            "force: all 4 planned runs are queued, 4 of them again (they have a twin).",
            "Queue 4 runs × 3 epochs on local CPU, up to 2 at once.",
        ]
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert len(app.runs) == 8

    run_pilot(app, body)
    assert len(list(runs_dir.glob("*/meta.json"))) == 8


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_smoke_failure_queues_nothing(runs_dir: Path, tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "bad", model="fail")
    app = _app(runs_dir, configs)

    async def body(pilot: Any) -> None:
        screen = await open_launch_dialog(pilot, app)
        screen.query_one("#launch-smoke").value = True
        assert screen.choice().smoke
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: any("nothing queued" in str(n.message) for n in app._notifications),
            120,
            "the smoke test's verdict",
        )
        failures = [n for n in app._notifications if n.title == "Smoke test failed"]
        assert len(failures) == 4
        assert "fake-sweep.yaml: variant" in str(failures[0].message)
        assert "fake failure at epoch 1" in str(failures[0].message)

    run_pilot(app, body)
    # only the 4 smoke runs exist, all failed: no real run was queued
    from hw2.runs.readers import list_runs

    runs = list_runs(runs_dir)
    assert len(runs) == 4 and all(s.smoke for s in runs), [(s.name, s.smoke) for s in runs]


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_report_and_requeue_failed_keys_on_a_failed_study(runs_dir: Path, tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "bad", model="fail")
    app = make_app(
        runs_dir, configs, poll_interval=0.05, gpu_stats=lambda: [], reports_dir=tmp_path / "reports"
    )

    async def body(pilot: Any) -> None:
        await open_launch_dialog(pilot, app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _finished(app, 4), 120, "the sweep")
        assert {s.status for s in app.runs.values()} == {"failed"}
        # P on the study in the configs tree: a report that says what is missing
        await pilot.press("P")
        await wait_for(pilot, lambda: app.last_report is not None, 60, "the report")
        assert app.last_report == tmp_path / "reports" / "fake-sweep" / "report.md"
        assert app.last_report.is_file()
        assert any(str(app.last_report.resolve()) in str(n.message) for n in app._notifications)
        # F from a run of the study in the table: each failed run queued again, once
        app.table.focus()
        await pilot.press("F")
        await wait_for(
            pilot,
            lambda: any(
                "re-queued 4 failed or killed run(s) of 'Fake sweep'" in str(n.message)
                for n in app._notifications
            ),
            30,
            "the requeue",
        )
        await wait_for(pilot, lambda: len(app.runs) == 8, 20, "the new runs")

    run_pilot(app, body)


@pytest.mark.usefixtures("fake_env")
def test_dialog_starts_on_the_executor_the_files_name(runs_dir: Path, tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "configs")
    study = configs / "fake-sweep.yaml"
    study.write_text(study.read_text() + "executor: {kind: slurm, partition: gpu}\n")
    app = make_app(runs_dir, configs, poll_interval=0.05, gpu_stats=lambda: [], start_scheduler=False)

    async def body(pilot: Any) -> None:
        screen = await open_launch_dialog(pilot, app)
        assert screen.query_one("#exec-slurm").value is True
        assert screen.query_one("#exec-local").value is False
        # the set's highlight is on the pressed button too, not on its first one
        await wait_for(pilot, lambda: screen.query_one("#exec-slurm").has_class("-selected"), 5, "highlight")
        assert not screen.query_one("#exec-local").has_class("-selected")
        assert screen.choice().executor == "slurm"
        await pilot.press("escape")
        # a broken section makes the study invalid in the tree, with the one-line error
        study.write_text(study.read_text().replace("partition: gpu", "gpus: -2"))
        await pilot.press("R")
        await wait_for(
            pilot,
            lambda: any(
                n.data is not None and n.data.kind == "invalid" and "executor.gpus" in str(n.data.entry.error)
                for n in tree_nodes(app)
            ),
            20,
            "the study marked invalid",
        )

    run_pilot(app, body)
