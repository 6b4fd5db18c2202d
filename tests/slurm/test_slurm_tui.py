"""The TUI with Slurm runs, on the real one-node Slurm of tests/slurm/start-local-slurm.sh.

* A study launched from the launch dialog with executor ``slurm`` (one job array throttled to one
  task at a time, so some runs are pending while one runs); the TUI quit and reopened, with the
  local scheduler daemon (the Slurm monitor) gone meanwhile as after a reboot of the login node:
  the reopened TUI re-attaches (lists every run with Slurm's state, follows the running run's
  epochs, shows ``slurm: N pending · M running``) and restarts the monitor, and ``k`` cancels.
* Two TUIs and the CLI relaunching the same study at once: each run is submitted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hw2 import contract, daemon
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import wait_for as wait_until
from tests.tui.conftest import open_launch_dialog, put_tree_cursor, tree_nodes, wait_for, write_configs
from tui.app import HW2App, make_app
from tui.launch import LaunchScreen
from tui.screens import ConfirmScreen

pytestmark = pytest.mark.slurm

LONG_S = 180.0  # Slurm's scheduling cycle and a loaded box


def _app(runs_dir: Path, configs_dir: Path) -> HW2App:
    return make_app(runs_dir, configs_dir, poll_interval=0.1, gpu_stats=lambda: [])


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **executor: object) -> None:
    path = tmp_path / "hw2-slurm.yaml"
    path.write_text(yaml.safe_dump({"executor": executor}))
    monkeypatch.setenv("HW2_SLURM_CONFIG", str(path))


async def _launch_on_slurm(pilot: Any, app: HW2App) -> None:
    """Open the launch dialog on the study, choose executor slurm, launch; or close the dialog when
    its plan (on Slurm) finds every run queued already by a concurrent launcher."""
    screen = await open_launch_dialog(pilot, app)
    screen.query_one("#exec-slurm").value = True
    # the plan follows the executor; launching waits for it
    await wait_for(
        pilot,
        lambda: screen.plan is not None and screen.plan.executor.kind == "slurm",
        20,
        "the plan on Slurm",
    )
    assert screen.choice().executor == "slurm"
    if screen.plan.count:
        assert "to Slurm" in screen.plan_text, screen.plan_text
        await pilot.press("ctrl+s")
    else:  # twins of every run: the dialog offers Close only
        assert "nothing to queue" in screen.plan_text, screen.plan_text
        await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen), 10, "the dialog closed")


def _cell(app: HW2App, rid: str) -> str:
    return str(app.table.get_cell(rid, "status"))


def _bar(app: HW2App) -> str:
    return str(app.main.gpu_bar.render())


def _stop_daemon(runs_dir: Path) -> None:
    info = contract.read_json(runs_dir / ".scheduler.json") or {}
    pid = info.get("pid")
    if isinstance(pid, int) and contract.pid_alive(pid, info.get("pid_create_time")):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=30)


def test_tui_reopened_reattaches_to_pending_and_running_slurm_jobs(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.05")
    _settings(tmp_path, monkeypatch, array_parallelism=1)  # one task at a time: the rest pend
    configs = write_configs(tmp_path / "configs", epochs=400, batches=4)  # the 4-run study: ~80 s a run
    first = _app(runs_dir, configs)
    seen: dict[str, int] = {}

    async def launch(pilot: Any) -> None:
        await _launch_on_slurm(pilot, first)
        await wait_for(pilot, lambda: len(first.runs) == 4, 30, "4 runs listed")

        def one_running_three_pending() -> bool:
            states = [s.status for s in first.runs.values()]
            reasons = [s.summary.slurm for s in first.runs.values() if s.status == "queued"]
            running = [s for s in first.runs.values() if s.status == "running"]
            return (
                states.count("running") == 1
                and states.count("queued") == 3
                and all(r and r.startswith("pending:") for r in reasons)
                and bool(running[0].points)
            )

        await wait_for(pilot, one_running_three_pending, LONG_S, "one run running with epochs, three pending")
        for rid, st in first.runs.items():
            assert st.summary.executor == "slurm"
            if st.status == "queued":  # Slurm's reason, e.g. "queued · pending: JobArrayTaskLimit"
                assert _cell(first, rid).startswith("queued · pending: "), _cell(first, rid)
            else:
                seen[rid] = st.epochs_done
                assert _cell(first, rid) == f"running · {contract.host_name()}", _cell(first, rid)
        await wait_for(pilot, lambda: "slurm: 3 pending · 1 running" in _bar(first), 10, "the slurm line")
        await pilot.press("q")

    asyncio.run(_run(first, launch))
    [running] = seen
    _stop_daemon(runs_dir)  # the login node lost every local process; Slurm's jobs go on

    second = _app(runs_dir, configs)

    async def reattach(pilot: Any) -> None:
        await wait_for(pilot, lambda: len(second.runs) == 4, 10, "the 4 runs listed again")
        st = second.runs[running]
        assert st.status == "running" and st.summary.executor == "slurm"
        start = st.epochs_done
        assert start >= seen[running]
        await wait_for(pilot, lambda: st.epochs_done >= start + 2, 60, "new epochs after reopening")
        await wait_for(pilot, lambda: "slurm: 3 pending · 1 running" in _bar(second), 10, "the slurm line")
        # the reopened TUI started the monitor again: it follows Slurm (the kill below ends the run)
        await wait_for(pilot, lambda: daemon.scheduler_lock_held(runs_dir), 20, "the monitor restarted")
        second.table.focus()
        second.table.move_cursor(row=second.table.get_row_index(running))
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(second.screen, ConfirmScreen), 5, "confirm")
        await pilot.press("y")
        await wait_for(
            pilot, lambda: second.runs[running].status == "killed", LONG_S, "killed through scancel"
        )
        # the array's throttle lets the next task start
        await wait_for(
            pilot,
            lambda: sum(s.status == "running" for s in second.runs.values()) == 1,
            LONG_S,
            "the next task running",
        )

    asyncio.run(_run(second, reattach))


async def _run(app: HW2App, body: Any) -> None:
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, app.first_poll_done.is_set, 20, "the first poll")
        await body(pilot)


def test_two_tuis_and_the_cli_relaunching_a_study_submit_each_run_once(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = write_configs(tmp_path / "configs", epochs=2, batches=2)
    study = configs / "fake-sweep.yaml"
    apps = [_app(runs_dir, configs), _app(runs_dir, configs)]
    argv = [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), "sweep", str(study)]
    argv += ["--executor", "slurm", "--yes", "--detach"]

    async def both() -> subprocess.CompletedProcess[str]:
        async def tui(app: HW2App) -> None:
            await _run(app, lambda pilot: _launch_on_slurm(pilot, app))

        cli = asyncio.create_task(asyncio.to_thread(_cli, argv))
        await asyncio.gather(tui(apps[0]), tui(apps[1]))
        return await cli

    proc = asyncio.run(both())
    assert proc.returncode == 0, proc.stderr
    # 4 runs in the study: whoever came first queued them, the others found their twins
    assert wait_until(lambda: len(contract.list_run_dirs(runs_dir)) == 4, timeout=30)
    metas = [contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)]
    assert all(m is not None for m in metas)
    jobs = [m.extra.get("slurm_job_id") for m in metas if m is not None]
    assert None not in jobs and len(set(jobs)) == 4, jobs
    assert len({m.extra.get("identity") for m in metas if m is not None}) == 4
    assert wait_until(
        lambda: all(
            (m := contract.read_meta(d)) is not None and m.status in contract.FINAL_STATUSES
            for d in contract.list_run_dirs(runs_dir)
        ),
        timeout=LONG_S,
    )
    done = [contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)]
    assert [m.status for m in done if m is not None] == ["done"] * 4, [
        (m.status, m.error) for m in done if m is not None
    ]
    assert len(contract.list_run_dirs(runs_dir)) == 4  # and nothing was submitted afterwards


def _cli(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240)


def test_enter_on_an_experiment_whose_kind_is_slurm_submits_it(runs_dir: Path, tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "configs", epochs=2, batches=2)
    exp = configs / "fake-one.yaml"
    exp.write_text(exp.read_text() + "executor: {kind: slurm, cpus: 1}\n")
    app = _app(runs_dir, configs)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, app.configs_loaded.is_set, 20, "configs")
        [node] = [n for n in tree_nodes(app) if n.data is not None and n.data.kind == "experiment"]
        await put_tree_cursor(pilot, app, node)
        await pilot.press("enter")
        # the "queued … on Slurm" toast lasts 3 s: look for it now, not after the run has ended
        await wait_for(
            pilot, lambda: any("on Slurm" in str(n.message) for n in app._notifications), 30, "the notice"
        )
        await wait_for(pilot, lambda: len(app.runs) == 1, 30, "the run listed")
        [st] = app.runs.values()
        await wait_for(pilot, lambda: st.status == "done", LONG_S, "the Slurm run done")
        assert st.summary.executor == "slurm" and st.summary.node == contract.host_name()

    asyncio.run(_run(app, body))
    [meta] = [contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)]
    assert meta is not None and meta.extra.get("slurm_job_id") and meta.extra["launched_by"] == "slurm"
