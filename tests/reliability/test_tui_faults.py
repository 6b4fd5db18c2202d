"""The real ``hw2-tui`` in a real terminal (tmux) dies under live runs; nothing is lost.

Four fake runs are queued with four CPU slots; the TUI (started in tmux on a private socket)
sees them queued and starts the scheduler daemon itself. Once all four are training, the TUI is
killed (SIGKILL) or its terminal hangs up (``tmux kill-session`` → SIGHUP). The runs must keep
going and finish ``done``; a second TUI re-attaches while they still run, shows them, and their
rows turn ``done``; its export (key ``e``) has exactly one metrics.csv row per epoch line the
trainers wrote.

Also: two TUIs (and the CLI) on one runs dir never launch a run twice and show the same state.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hw2 import contract
from tests.reliability.conftest import (
    HW2_TUI,
    Reaper,
    Tmux,
    all_final,
    cli,
    csv_rows,
    enqueue_config,
    launch_count,
    names_and_statuses,
    process_gone,
    raw_metric_lines,
    rows_in_capture,
    statuses,
    tui_env,
    wait_until,
    write_fake_config,
)

pytestmark = pytest.mark.usefixtures("fake_env")

EPOCHS = 10
BATCHES = 15  # progress lines per epoch; HW2_FAKE_SLEEP=0.1 → about 15 s of training per run


def _tui(tmux: Tmux, session: str, runs_dir: Path, configs: Path, cwd: Path, env: dict[str, str]) -> int:
    argv = [HW2_TUI, "--runs-dir", str(runs_dir), "--configs-dir", str(configs)]
    return tmux.new_session(session, argv, cwd=cwd, env=tui_env(env))


def _wait_rows(tmux: Tmux, session: str, names: list[str], want: set[str], timeout: float) -> dict[str, str]:
    """Poll the screen until every name shows a status in ``want``; returns the last rows seen."""
    seen: dict[str, str] = {}

    def ok() -> bool:
        nonlocal seen
        seen = rows_in_capture(tmux.capture(session), names)
        return set(seen) == set(names) and set(seen.values()) <= want

    try:
        wait_until(ok, timeout, f"{names} shown as {want} in tmux session {session}", interval=0.2)
    except AssertionError as exc:
        sizes = tmux.cmd(
            "list-windows", "-a", "-F", "#{session_name} #{window_width}x#{window_height}"
        ).stdout
        raise AssertionError(
            f"{exc}; last rows {seen}; windows {sizes!r}; screen:\n{tmux.capture(session)}"
        ) from None
    return seen


def _export_from_tui(tmux: Tmux, session: str, cwd: Path) -> Path:
    """Press ``e`` in the TUI and return the metrics.csv it wrote under ``cwd/exports``."""
    before = set((cwd / "exports").glob("*/metrics.csv"))
    tmux.send(session, "e")
    wait_until(
        lambda: bool(set((cwd / "exports").glob("*/metrics.csv")) - before), 20, "the TUI's export (key e)"
    )
    (path,) = set((cwd / "exports").glob("*/metrics.csv")) - before
    wait_until(lambda: (path.parent / "results.csv").exists(), 5, "results.csv")
    return path


@pytest.mark.parametrize("how", ["sigkill", "hangup"])
def test_tui_death_loses_no_run_and_no_line(
    how: str,
    runs_dir: Path,
    tmp_path: Path,
    tmux: Tmux,
    reaper: Reaper,
    fake_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**fake_env, "HW2_FAKE_SLEEP": "0.1", "HW2_CPU_SLOTS": "4"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    configs = tmp_path / "configs"
    names = [f"surv-{i}" for i in range(1, 5)]
    ids = [
        enqueue_config(runs_dir, write_fake_config(configs, n, epochs=EPOCHS, batches=BATCHES))[0]
        for n in names
    ]
    cwd = tmp_path / "work"
    cwd.mkdir()

    # 1. The TUI opens, sees four queued runs, starts the scheduler; all four train.
    pid = _tui(tmux, "first", runs_dir, configs, cwd, env)
    reaper.add_pid(pid)
    _wait_rows(tmux, "first", names, {"running"}, 60)
    wait_until(
        lambda: all(raw_metric_lines(runs_dir / rid)[0] >= 1 for rid in ids), 60, "an epoch line in every run"
    )
    trainers = [(m.pid, m.pid_create_time) for rid in ids if (m := contract.read_meta(runs_dir / rid))]
    assert len(trainers) == 4 and all(p for p, _ in trainers)

    # 2. The TUI dies while all four are live.
    assert set(statuses(runs_dir).values()) == {"running"}
    if how == "sigkill":
        os.kill(pid, signal.SIGKILL)
    else:
        tmux.kill_session("first")  # the terminal hangs up: SIGHUP to the TUI
    assert process_gone(pid, 10), f"the TUI (pid {pid}) survived {how}"
    # tmux notices that the session's only process is gone on a later event-loop pass, not at once.
    wait_until(lambda: not tmux.has_session("first"), 10, "tmux to close the dead TUI's session")
    alive = [p for p, ct in trainers if contract.pid_alive(p, ct)]
    assert len(alive) == 4, f"trainers died with the TUI: {len(alive)} of 4 alive"
    assert set(statuses(runs_dir).values()) == {"running"}

    # 3. A new TUI re-attaches while they run, and sees them finish.
    pid2 = _tui(tmux, "second", runs_dir, configs, cwd, env)
    reaper.add_pid(pid2)
    first_seen = _wait_rows(tmux, "second", names, {"running", "done"}, 60)
    assert "running" in first_seen.values(), f"re-attached too late to see a live run: {first_seen}"
    _wait_rows(tmux, "second", names, {"done"}, 90)
    assert statuses(runs_dir) == dict.fromkeys(ids, "done")

    # 4. Nothing lost: every epoch line the trainers wrote is a row of the TUI's export.
    metrics_csv = _export_from_tui(tmux, "second", cwd)
    rows = csv_rows(metrics_csv)
    for rid in ids:
        epochs, progress, garbage = raw_metric_lines(runs_dir / rid)
        assert (epochs, progress, garbage) == (EPOCHS, EPOCHS * BATCHES, 0), rid
        assert sum(1 for r in rows if r["run_id"] == rid) == epochs, rid
    assert len(rows) == sum(raw_metric_lines(runs_dir / rid)[0] for rid in ids) == 4 * EPOCHS
    for rid in ids:
        assert launch_count(runs_dir / rid) == (1, 1), f"{rid} started more than once"

    # 5. Quitting the second TUI is clean.
    tmux.send("second", "q")
    assert process_gone(pid2, 10)


def test_two_tuis_and_the_cli_never_launch_a_run_twice(
    runs_dir: Path,
    tmp_path: Path,
    tmux: Tmux,
    reaper: Reaper,
    fake_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**fake_env, "HW2_FAKE_SLEEP": "0.05", "HW2_CPU_SLOTS": "2"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    configs = tmp_path / "configs"
    names = [f"dual-{i}" for i in range(1, 7)]
    for n in names:
        enqueue_config(runs_dir, write_fake_config(configs, n, epochs=3, batches=5))
    cwd = tmp_path / "work"
    cwd.mkdir()

    # Two TUIs open on the same queue at once; both see queued runs and both try to start the
    # scheduler, and the CLI asks for one too.
    pid_a = _tui(tmux, "a", runs_dir, configs, cwd, env)
    pid_b = _tui(tmux, "b", runs_dir, configs, cwd, env)
    reaper.add_pid(pid_a)
    reaper.add_pid(pid_b)
    assert cli("scheduler", "start", "--runs-dir", str(runs_dir), env=env).returncode == 0
    # While both watch, the CLI queues one more run.
    late = write_fake_config(configs, "dual-late", epochs=2, batches=5)
    proc = cli("run", str(late), "--detach", "--runs-dir", str(runs_dir), env=env)
    assert proc.returncode == 0, proc.stderr
    names.append("dual-late")

    wait_until(lambda: len(statuses(runs_dir)) == 7 and all_final(runs_dir), 120, "all seven runs final")
    assert names_and_statuses(runs_dir) == dict.fromkeys(names, "done")
    rows_a = _wait_rows(tmux, "a", names, {"done"}, 30)
    rows_b = _wait_rows(tmux, "b", names, {"done"}, 30)
    assert rows_a == rows_b == dict.fromkeys(names, "done")

    for d in contract.list_run_dirs(runs_dir):
        assert launch_count(d) == (1, 1), f"{d.name} was launched {launch_count(d)} times"
        meta = contract.read_meta(d)
        assert meta is not None and meta.epochs is not None
        assert raw_metric_lines(d)[0] == meta.epochs, f"{d.name}: duplicated or missing epoch lines"
    log = (runs_dir / ".scheduler.log").read_text()
    assert log.count(": started pid") == 7, log

    # Both TUIs are still responsive and quit cleanly.
    tmux.send("a", "q")
    tmux.send("b", "q")
    assert process_gone(pid_a, 10) and process_gone(pid_b, 10)


def test_tui_start_with_unusable_runs_dir_is_one_line(tmp_path: Path, fake_env: dict[str, str]) -> None:
    """Opening the TUI on a runs dir that cannot exist fails before the screen, with one line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for bad in (blocker / "runs", Path(f"/proc/hw2-{time.time_ns()}/runs")):
        proc = cli("--runs-dir", str(bad), env={**fake_env, "HW2_RUNS_DIR": str(bad)})
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("hw2-tui: error:"), proc.stderr
