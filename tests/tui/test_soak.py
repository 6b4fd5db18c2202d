"""Soak: 16 live runs writing progress lines at 20 Hz; the app's memory must stay flat."""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hw2.contract import RunMeta, host_name, process_create_time, write_meta
from tests.tui.conftest import run_pilot, wait_for
from tui.app import make_app


def _live_runs(runs_dir: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        d = runs_dir / f"soak-{i:02d}"
        d.mkdir()
        (d / "config.yaml").write_text(
            json.dumps({"name": d.name, "trainer": "fake", "model": {"name": "m"}})
        )
        write_meta(
            d,
            RunMeta(
                run_id=d.name,
                name=d.name,
                status="running",
                trainer="fake",
                started=time.time(),
                pid=os.getpid(),
                pid_create_time=process_create_time(os.getpid()),
                host=host_name(),
                epochs=100_000,
            ),
        )
        out.append(d)
    return out


def _writer(dirs: list[Path], hz: float, stop: threading.Event) -> None:
    fhs = [open(d / "metrics.jsonl", "a", buffering=1) for d in dirs]  # noqa: SIM115
    step = 0
    try:
        while not stop.is_set():
            step += 1
            epoch, batch = step // 40 + 1, step % 40
            for fh in fhs:
                if batch == 0:
                    fh.write(
                        json.dumps(
                            {
                                "type": "epoch",
                                "epoch": epoch - 1,
                                "epochs": 100_000,
                                "train_loss": 1 / epoch,
                                "train_acc": 0.5,
                                "val_loss": 1.1 / epoch,
                                "val_acc": 0.5,
                                "lr": 0.1,
                                "seconds": 2.0,
                            }
                        )
                        + "\n"
                    )
                else:
                    fh.write(
                        json.dumps(
                            {
                                "type": "progress",
                                "epoch": epoch,
                                "epochs": 100_000,
                                "batch": batch,
                                "batches": 40,
                                "loss": 0.5,
                                "acc": 0.5,
                            }
                        )
                        + "\n"
                    )
            stop.wait(1 / hz)
    finally:
        for fh in fhs:
            fh.close()


@pytest.mark.soak
def test_sixteen_runs_at_20hz_keep_memory_flat(runs_dir: Path, configs_dir: Path) -> None:
    dirs = _live_runs(runs_dir, 16)
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(dirs, 20.0, stop), daemon=True)
    app = make_app(runs_dir, configs_dir, gpu_stats=lambda: [], start_scheduler=False)
    counts: list[int] = []

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 16 and app.plots.ready, 20, "rows and plots")
        writer.start()
        for _ in range(6):
            await pilot.pause(5)
            gc.collect()
            counts.append(len(gc.get_objects()))
        assert all(st.status == "running" and st.epochs_done >= 2 for st in app.runs.values())

    try:
        run_pilot(app, body, size=(160, 48))
    finally:
        stop.set()
        writer.join(5)
    # after warm-up (the first 15 s), the number of live objects no longer grows
    warm, end = counts[2], counts[-1]
    assert end <= warm * 1.03, counts
