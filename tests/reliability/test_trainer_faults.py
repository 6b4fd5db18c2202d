"""A trainer that raises, runs out of memory, or is SIGKILLed takes down only its own run.

One queue, launched by the TUI (headless pilot, real scheduler daemon, real fake-trainer
processes): a run that raises, one that hits a real ``MemoryError`` (its address space capped with
``RLIMIT_AS``), one SIGKILLed from outside mid-training (what the kernel's OOM killer does), and
three good ones queued behind them with two slots. The bad runs end ``failed``/``killed`` with
their exit code and the last lines of their traceback in meta.json and train.log, and the TUI
shows them in the row's status and in the log pane; the good runs still finish ``done``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Log, Static

from hw2 import contract
from tests.reliability.conftest import Reaper, enqueue_config, wait_until, write_fake_config
from tests.tui.conftest import run_pilot, wait_for
from tui.app import HW2App, make_app

pytestmark = pytest.mark.usefixtures("fake_env")


def _log_text(app: HW2App) -> str:
    return "\n".join(str(line) for line in app.query_one("#log", Log).lines)


def _config_text(app: HW2App) -> str:
    return str(app.query_one("#config-view", Static).content)


def test_failing_trainers_are_recorded_and_the_queue_goes_on(
    runs_dir: Path, tmp_path: Path, reaper: Reaper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_CPU_SLOTS", "2")
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.02")
    configs = tmp_path / "configs"
    plan = [
        ("boom", "fail", 3),  # raises RuntimeError at epoch 1
        ("hog", "oom", 3),  # real MemoryError at epoch 1
        ("victim", "ok", 200),  # SIGKILLed from outside while training
        ("good-1", "ok", 3),
        ("good-2", "ok", 3),
        ("good-3", "ok", 3),
    ]
    ids = {
        name: enqueue_config(
            runs_dir, write_fake_config(configs, name, epochs=epochs, batches=5, model=model)
        )[0]
        for name, model, epochs in plan
    }
    app = make_app(runs_dir, configs, poll_interval=0.1, gpu_stats=lambda: [])

    async def body(pilot: Any) -> None:
        # The TUI saw queued runs and started the scheduler; kill the victim once it trains.
        victim = runs_dir / ids["victim"]

        def victim_training() -> bool:
            meta = contract.read_meta(victim)
            epochs = list(contract.iter_metrics(victim / contract.METRICS_FILE))
            return bool(meta and meta.status == "running" and meta.pid and epochs)

        await wait_for(pilot, victim_training, 60, "the victim run training")
        meta = contract.read_meta(victim)
        assert meta is not None and meta.pid
        os.kill(meta.pid, signal.SIGKILL)

        await wait_for(
            pilot,
            lambda: (
                len(app.runs) == 6 and all(s.status in contract.FINAL_STATUSES for s in app.runs.values())
            ),
            90,
            "every run final in the TUI",
        )
        shown = {app.runs[rid].name: app.runs[rid].status for rid in ids.values()}
        assert shown == {
            "boom": "failed",
            "hog": "failed",
            "victim": "killed",
            "good-1": "done",
            "good-2": "done",
            "good-3": "done",
        }
        for name in ("boom", "hog", "victim"):
            rid = ids[name]
            assert str(app.table.get_cell(rid, "status")).startswith(shown[name])
            expected = _expected(name)
            app.table.focus()
            app.table.move_cursor(row=app.table.get_row_index(rid))
            await pilot.press("2")
            await wait_for(
                pilot,
                lambda exp=expected: all(e in _log_text(app) for e in exp["log"]),
                10,
                f"the log pane of {name} to show {expected['log']}",
            )
            await pilot.press("3")
            await wait_for(
                pilot,
                lambda exp=expected: f"# error: {exp['error']}" in _config_text(app),
                10,
                f"the config pane of {name} to show its error",
            )
        await pilot.press("1")
        assert app.is_running

    run_pilot(app, body)

    # The same facts on disk, for every reader (CLI, export, scripts).
    for name, rid in ids.items():
        meta = contract.read_meta(runs_dir / rid)
        assert meta is not None
        log = (runs_dir / rid / contract.LOG_FILE).read_text(encoding="utf-8")
        if name.startswith("good"):
            assert meta.status == "done" and meta.exit_code == 0, (name, meta)
            assert contract.read_result(runs_dir / rid) is not None
            continue
        exp = _expected(name)
        assert (meta.status, meta.exit_code) == (exp["status"], exp["code"]), (name, meta)
        assert meta.error is not None and meta.error.startswith(exp["error"]), (name, meta.error)
        assert contract.read_result(runs_dir / rid) is None, f"{name} left a result.json"
        tail = "\n".join(log.strip().splitlines()[-6:])
        for needle in exp["log"]:
            assert needle in tail, f"{name}: {needle!r} not in the last lines of train.log:\n{tail}"


def _expected(name: str) -> dict[str, Any]:
    return {
        "boom": {
            "status": "failed",
            "code": 1,
            "error": "RuntimeError: fake failure at epoch 1",
            "log": ["RuntimeError: fake failure at epoch 1", "--- hw2: trainer exited with code 1: failed"],
        },
        "hog": {
            "status": "failed",
            "code": 1,
            "error": "out of memory: MemoryError",
            "log": ["MemoryError", "--- hw2: trainer exited with code 1: failed (out of memory"],
        },
        "victim": {
            "status": "killed",
            "code": -9,
            "error": "killed by SIGKILL",
            "log": ["--- hw2: trainer exited with code -9: killed (killed by SIGKILL)"],
        },
    }[name]


def test_trainer_traceback_lines_reach_the_log_pane_for_the_cli_too(
    runs_dir: Path, tmp_path: Path, reaper: Reaper
) -> None:
    """``hw2-tui run`` (foreground, no scheduler) records an OOM the same way and says so in one line."""
    from tests.reliability.conftest import cli

    cfg = write_fake_config(tmp_path / "configs", "fg-hog", epochs=2, batches=3, model="oom")
    proc = cli("run", str(cfg), "--runs-dir", str(runs_dir))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "failed: out of memory: MemoryError" in last and "exit code 1" in last, proc.stderr
    wait_until(lambda: bool(contract.list_run_dirs(runs_dir)), 5, "the run folder")
    (d,) = contract.list_run_dirs(runs_dir)
    log = (d / contract.LOG_FILE).read_text()
    assert "MemoryError" in log and "--- hw2: trainer exited with code 1: failed" in log
