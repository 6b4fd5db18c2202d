"""Soak: 16 live runs writing progress lines at 20 Hz for a minute while a user types.

The app (headless ``run_test``, in this process, default poll interval) launches 16 fake runs
through the real scheduler (16 CPU slots) and is driven by key presses the whole time. Measured:

* per-key latency — from the key press to its visible effect (cursor moved, tab switched,
  toggle flipped, filter applied); every key must be answered, each under ``KEY_LIMIT_S`` (2 s;
  stretched by the load factor when other work oversubscribes the CPUs, see the assertion);
* memory — this process's RSS after warm-up must grow by less than ``RSS_GROWTH_LIMIT_MB``
  while ~19 000 progress lines arrive (series are capped, see tui/model.py);
* completeness — the TUI's own export (key ``e``) has one metrics.csv row per epoch line the
  trainers wrote.

The figures are printed (run with ``-s``) and written to ``soak-figures.json`` under the test's
temp folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from hw2 import contract
from tests.reliability.conftest import Reaper, csv_rows, enqueue_config, raw_metric_lines, write_fake_config
from tests.tui.conftest import wait_for
from tui.app import HW2App, make_app
from tui.model import MAX_EPOCHS_KEPT, MAX_PARTIAL_KEPT

RUNS = 16
HZ = 20
EPOCHS = 30
BATCHES = 40  # 30 epochs x 40 batches at 20 Hz: about 60 s per run
KEY_LIMIT_S = 2.0
RSS_GROWTH_LIMIT_MB = 60.0
WARMUP_S = 8.0

pytestmark = [pytest.mark.soak, pytest.mark.usefixtures("fake_env")]


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


# key name → the character a terminal sends with it
CHARS: dict[str, str | None] = {"down": None, "up": None, "escape": "\x1b", "space": " ", "slash": "/"}


def _send_key(app: HW2App, key: str) -> None:
    """Deliver a key exactly as the terminal driver does, without ``pilot.press``'s extra waits.

    ``Pilot.press`` also waits until the whole process looks idle (up to a second, twice); with 16
    runs streaming in, it never is, so it would measure the harness, not the app.
    """
    from textual import events

    event = events.Key(key, CHARS.get(key, key))
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)


def _keys(app: HW2App) -> list[tuple[str, Callable[[], Any]]]:
    """(key, probe) pairs: the probe's value must change once the key is handled."""
    tabs = app.main.tabs
    table = app.table
    return [
        ("down", lambda: table.cursor_row),
        ("2", lambda: tabs.active),
        ("m", lambda: app.smooth),
        ("up", lambda: table.cursor_row),
        ("3", lambda: tabs.active),
        ("space", lambda: frozenset(table.marked)),
        ("d", lambda: app.diff_mode),
        ("1", lambda: tabs.active),
        ("o", lambda: (table.sort_column, table.sort_reverse)),
        ("down", lambda: table.cursor_row),
        ("O", lambda: (table.sort_column, table.sort_reverse)),
        ("slash", lambda: app.main.filter_box.has_focus),
        ("s", lambda: app.filter_text),
        ("escape", lambda: app.filter_text),
        ("up", lambda: table.cursor_row),
    ]


def test_soak_sixteen_runs_at_20hz_while_typing(
    runs_dir: Path, tmp_path: Path, reaper: Reaper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_CPU_SLOTS", str(RUNS))
    monkeypatch.setenv("HW2_FAKE_SLEEP", str(1 / HZ))
    configs = tmp_path / "configs"
    ids = [
        enqueue_config(
            runs_dir, write_fake_config(configs, f"soak-{i:02d}", epochs=EPOCHS, batches=BATCHES, seed=i)
        )[0]
        for i in range(RUNS)
    ]
    app = make_app(runs_dir, configs, gpu_stats=lambda: [], export_dir=tmp_path / "exports")
    latencies: list[tuple[str, float]] = []
    loads: list[float] = []  # 1-minute load average when each key was answered
    rss: list[tuple[float, float]] = []
    figures: dict[str, Any] = {}

    async def body(pilot: Any) -> None:
        await wait_for(pilot, app.first_poll_done.is_set, 20, "the first poll")
        await wait_for(
            pilot,
            lambda: sum(s.status == "running" for s in app.runs.values()) == RUNS,
            90,
            "all 16 runs running",
        )
        app.table.focus()
        t_start = time.monotonic()
        cpu_start = psutil.Process().cpu_times()
        keys = _keys(app)
        i = 0
        baseline: float | None = None
        while not all(s.status in contract.FINAL_STATUSES for s in app.runs.values()):
            key, probe = keys[i % len(keys)]
            i += 1
            if key == "up" and app.table.cursor_row == 0:
                key = "down"
            if key == "down" and app.table.cursor_row >= app.table.row_count - 1:
                key = "up"
            before = probe()
            t0 = time.perf_counter()
            _send_key(app, key)
            while probe() == before:
                if time.perf_counter() - t0 > 60:
                    raise AssertionError(f"key {key!r} was never answered (still {before!r})")
                await asyncio.sleep(0.005)
            latencies.append((key, time.perf_counter() - t0))
            now = time.monotonic() - t_start
            if now >= WARMUP_S:
                if baseline is None:
                    baseline = _rss_mb()
                rss.append((now, _rss_mb()))
            loads.append(os.getloadavg()[0])
            await asyncio.sleep(0.1)
            if now > 240:
                raise AssertionError("the runs did not finish within 4 minutes")
        wall = time.monotonic() - t_start
        cpu_end = psutil.Process().cpu_times()
        figures["typing_seconds"] = round(wall, 1)
        figures["app_cpu_percent"] = round(
            100 * ((cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)) / wall, 1
        )
        figures["load_average_1min_max"] = round(max(loads), 1)
        figures["cpus"] = os.cpu_count()
        # The key loop may stop right after "/" (filter box focused, still empty): leave the
        # box, or the "e" below is typed into it instead of exporting.
        if app.filter_text or app.main.filter_box.has_focus:
            await pilot.press("escape")
        assert not app.main.filter_box.has_focus and not app.filter_text
        # Every run must show done, and the TUI's own export must hold every epoch line.
        await wait_for(pilot, lambda: all(s.status == "done" for s in app.runs.values()), 30, "all done")
        await pilot.press("e")
        await wait_for(pilot, lambda: app.last_export is not None, 30, "the export")
        for st in app.runs.values():
            assert len(st.points) <= MAX_EPOCHS_KEPT and len(st.partial) <= MAX_PARTIAL_KEPT
            assert st.epochs_done == EPOCHS and st.garbage == 0, (st.run_id, st.epochs_done, st.garbage)

    from tests.tui.conftest import run_pilot

    run_pilot(app, body, size=(160, 48))

    # ---- completeness: export rows == epoch lines written
    assert app.last_export is not None
    rows = csv_rows(app.last_export[1])
    lines = {rid: raw_metric_lines(runs_dir / rid) for rid in ids}
    for rid, (epochs, progress, other) in lines.items():
        assert (epochs, other) == (EPOCHS, 0), rid
        assert progress == EPOCHS * BATCHES, rid
        assert sum(1 for r in rows if r["run_id"] == rid) == epochs, rid
    assert len(rows) == RUNS * EPOCHS

    # ---- figures
    lat = sorted(x for _, x in latencies)
    worst_key, worst = max(latencies, key=lambda kv: kv[1])
    growth = max(m for _, m in rss) - rss[0][1] if rss else 0.0
    figures.update(
        {
            "keys": len(lat),
            "latency_median_ms": round(1000 * statistics.median(lat), 1),
            "latency_p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
            "latency_max_ms": round(1000 * worst, 1),
            "latency_max_key": worst_key,
            "keys_over_2s": sum(1 for x in lat if x >= 2.0),
            "rss_after_warmup_mb": round(rss[0][1], 1) if rss else None,
            "rss_max_mb": round(max(m for _, m in rss), 1) if rss else None,
            "rss_growth_mb": round(growth, 1),
            "progress_lines": sum(p for _, p, _ in lines.values()),
            "epoch_lines": sum(e for e, _, _ in lines.values()),
        }
    )
    (tmp_path / "soak-figures.json").write_text(json.dumps(figures, indent=2))
    print("\nsoak figures:", json.dumps(figures))
    assert len(lat) >= 50, f"too few keys pressed: {len(lat)}"
    # The bound is KEY_LIMIT_S on a machine that is not oversubscribed; when other work keeps
    # more runnable processes than CPUs (shared CI, parallel test jobs), the app simply gets less
    # CPU time, so the bound stretches by that factor (1-minute load average / CPUs), reported.
    cpus = os.cpu_count() or 1
    for (key, took), load in zip(latencies, loads, strict=True):
        limit = KEY_LIMIT_S * max(1.0, load / cpus)
        assert took < limit, (
            f"key {key!r} took {took:.2f}s (limit {limit:.1f}s at load {load:.1f}); {figures}"
        )
    assert growth < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth:.1f} MB after warm-up; figures {figures}"
