"""Damaged ``metrics.jsonl`` and vanished run folders: skipped and counted, never a crash.

The tailer's own unit tests live in tests/runtime/test_tail.py; these go one level up, where a
user would notice: the incremental watcher the TUI polls, a one-shot ``load_run``, the CSV export,
``hw2-tui ls``, and the TUI itself (headless pilot) while the file is damaged under it. A file
truncated while tailed restarts the run's series from the top; a run folder deleted while shown
turns its row ``deleted`` and the app keeps going.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.export import export_csv
from hw2.runs.readers import load_run
from hw2.runs.watcher import RunsWatcher
from tests.reliability.conftest import cli, csv_rows
from tests.tui.conftest import run_pilot, wait_for
from tui.app import make_app

RID = "20260101-000000-damaged-abcd"


def _epoch(i: int, epochs: int = 20) -> str:
    line = {
        "type": "epoch",
        "epoch": i,
        "epochs": epochs,
        "train_loss": 1.0 / i,
        "train_acc": 0.5,
        "val_loss": 1.1 / i,
        "val_acc": min(0.99, 0.4 + 0.01 * i),
        "lr": 0.01,
        "seconds": 1.0,
        "time": time.time(),
    }
    return json.dumps(line) + "\n"


def _run(runs_dir: Path, rid: str = RID, status: str = "running") -> Path:
    """A run folder as a live trainer leaves it (meta names this test process, so it stays running)."""
    d = runs_dir / rid
    d.mkdir(parents=True)
    contract.atomic_write_text(d / contract.CONFIG_FILE, "name: damaged\ntrainer: fake\nmodel: {name: x}\n")
    contract.write_meta(
        d,
        contract.RunMeta(
            run_id=rid,
            name="damaged",
            status=status,
            trainer="fake",
            epochs=20,
            started=time.time(),
            pid=os.getpid() if status == "running" else None,
            pid_create_time=contract.process_create_time(os.getpid()) if status == "running" else None,
        ),
    )
    (d / contract.LOG_FILE).write_text("fake log\n")
    return d


def _append(path: Path, data: str | bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


GARBAGE = [
    b"this is not json\n",
    b'{"type": "epoch", "epoch": \n',  # a line cut short, then a newline (a crashed writer)
    b"[1, 2, 3]\n",  # JSON, not an object
    b'{"type": "weird"}\n',  # unknown type
    b"\xff\xfe\x00binary\n",  # not UTF-8
]


def test_watcher_load_run_and_export_skip_and_count_damage(runs_dir: Path, tmp_path: Path) -> None:
    d = _run(runs_dir)
    m = d / contract.METRICS_FILE
    w = RunsWatcher(runs_dir)
    assert [u.run_id for u in w.poll()] == [RID]

    _append(m, _epoch(1) + _epoch(2))
    _append(m, _epoch(3)[:25])  # partial last line: the trainer is mid-write
    (u,) = w.poll()
    assert [x["epoch"] for x in u.new_lines] == [1, 2] and u.skipped == 0
    _append(m, _epoch(3)[25:])  # ... and finishes it
    (u,) = w.poll()
    assert [x["epoch"] for x in u.new_lines] == [3] and u.skipped == 0

    for g in GARBAGE:
        _append(m, g)
    _append(m, _epoch(4))
    (u,) = w.poll()
    assert [x["epoch"] for x in u.new_lines] == [4]
    assert u.skipped == len(GARBAGE)
    view = w.view(RID)
    assert view is not None and view.summary.skipped_lines == len(GARBAGE) and view.summary.epochs_done == 4

    # One-shot readers agree: load_run counts the same lines; export keeps the 4 good epochs.
    snap = load_run(d)
    assert snap.summary.skipped_lines == len(GARBAGE) and [e["epoch"] for e in snap.epochs] == [1, 2, 3, 4]
    _, metrics = export_csv(runs_dir, tmp_path / "out")
    assert [r["epoch"] for r in csv_rows(metrics)] == ["1", "2", "3", "4"]

    # Truncated while tailed (a restarted trainer rewrote the file): the series restarts.
    with open(m, "w") as fh:
        fh.write(_epoch(1))
    (u,) = w.poll()
    assert u.truncated and [x["epoch"] for x in u.new_lines] == [1]
    view = w.view(RID)
    assert view is not None and view.summary.epochs_done == 1 and len(view.epochs) == 1

    # Replaced by a new file (another inode) with less in it: also a restart.
    tmp = d / "metrics.new"
    tmp.write_text(_epoch(1) + _epoch(2) + "{broken\n")
    os.replace(tmp, m)
    (u,) = w.poll()
    assert u.truncated and [x["epoch"] for x in u.new_lines] == [1, 2] and u.skipped == 1

    # A huge line with no newline at all is dropped as garbage, not buffered forever.
    from hw2.tail import MAX_PARTIAL_BYTES

    _append(m, b"x" * (MAX_PARTIAL_BYTES + 10))
    for _ in range(10):
        w.poll()
    _append(m, b"\n" + _epoch(3).encode())
    got: list[int] = []
    for _ in range(10):
        for u in w.poll():
            got += [x["epoch"] for x in u.new_lines]
    assert got == [3]

    # The file vanishes (folder kept): the run is still listed, nothing raises.
    m.unlink()
    w.poll()
    assert w.view(RID) is not None
    shutil.rmtree(d)
    (u,) = w.poll()
    assert u.removed and w.view(RID) is None


def test_ls_reads_a_damaged_run(runs_dir: Path) -> None:
    d = _run(runs_dir, status="done")
    m = d / contract.METRICS_FILE
    _append(m, _epoch(1))
    for g in GARBAGE:
        _append(m, g)
    _append(m, _epoch(2)[:30])
    proc = cli("ls", "--json", "--runs-dir", str(runs_dir))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["run_id"] == RID and row["epoch"] == 1


def test_tui_survives_damaged_metrics_and_a_deleted_folder(runs_dir: Path, tmp_path: Path) -> None:
    d = _run(runs_dir)
    other = _run(runs_dir, "20260101-000100-neighbour-ef01")
    m = d / contract.METRICS_FILE
    _append(m, _epoch(1) + _epoch(2) + _epoch(3))
    _append(other / contract.METRICS_FILE, _epoch(1))
    configs = tmp_path / "configs"
    configs.mkdir()
    app = make_app(runs_dir, configs, poll_interval=0.05, gpu_stats=lambda: [], start_scheduler=False)

    def status_cell() -> str:
        return str(app.table.get_cell(RID, "status"))

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: RID in app.runs and app.runs[RID].epochs_done == 3, 10, "3 epochs")
        st = app.runs[RID]
        app.table.move_cursor(row=app.table.get_row_index(RID))
        await pilot.press("2")  # follow its log while the metrics get damaged

        _append(m, _epoch(4)[:20])  # partial line: not shown, not counted
        await pilot.pause(0.4)
        assert st.epochs_done == 3 and st.garbage == 0 and status_cell() == "running"
        _append(m, _epoch(4)[20:])
        await wait_for(pilot, lambda: st.epochs_done == 4, 5, "the completed line")

        for g in GARBAGE:
            _append(m, g)
        await wait_for(pilot, lambda: st.garbage == len(GARBAGE), 5, "garbage counted")
        # rows with only new metric lines repaint on the app's next tick (twice a second)
        await wait_for(
            pilot, lambda: status_cell() == f"running !{len(GARBAGE)}", 5, "the !N count in the row"
        )

        with open(m, "w") as fh:  # truncated while tailed
            fh.write(_epoch(1))
        await wait_for(
            pilot, lambda: st.epochs_done == 1 and len(st.points) == 1, 5, "restart after truncation"
        )
        _append(m, _epoch(2))
        await wait_for(pilot, lambda: st.epochs_done == 2, 5, "growth after truncation")
        await pilot.press("1")
        await pilot.pause(0.3)

        shutil.rmtree(d)  # the folder of the highlighted run, deleted while shown
        await wait_for(pilot, lambda: st.deleted, 5, "the row marked deleted")
        assert status_cell().startswith("deleted")
        # The app goes on: keys work, the neighbour still updates.
        await pilot.press("2", "1", "down", "up")
        _append(other / contract.METRICS_FILE, _epoch(2))
        await wait_for(pilot, lambda: app.runs[other.name].epochs_done == 2, 5, "the neighbour updates")
        assert app.is_running and app.return_code is None

    run_pilot(app, body)
