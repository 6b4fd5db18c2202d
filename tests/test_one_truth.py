"""One truth per fact: `hw2-tui ls` (table and --json), the CSV export and the TUI's runs table show
the same figures for the same runs — one with a result, one still running, one failed — because all
of them read the run's one summary (hw2/runs/summary.py)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from hw2 import contract
from hw2.runs.summary import fmt_duration, fmt_float, fmt_pct
from tests.runtime.test_cli import _fabricated_run, cli
from tests.tui.conftest import run_pilot, wait_for
from tui.app import make_app

DONE, LIVE, BAD = "20260101-000000-done-0001", "20260101-000001-live-0002", "20260101-000002-bad-0003"


def _runs(runs_dir: Path) -> None:
    done = _fabricated_run(runs_dir, DONE, "done", 4, ended=1009.6)
    contract.write_result(
        done,
        {
            "test_acc": 0.7712,
            "test_loss": 0.6,
            "best_val_acc": 0.8,
            "best_epoch": 2,
            "total_seconds": 9.6,
            "params": 42,
        },
    )
    me = os.getpid()  # "running": this very process is alive, so the run stays running
    _fabricated_run(runs_dir, LIVE, "running", 2, pid=me, pid_create_time=contract.process_create_time(me))
    _fabricated_run(runs_dir, BAD, "failed", 1, ended=1003.0, error="boom")


def test_ls_export_and_the_tui_show_the_same_figures(runs_dir: Path, tmp_path: Path) -> None:
    _runs(runs_dir)
    ls_json = cli("ls", "--json", runs_dir=runs_dir)
    assert ls_json.returncode == 0, ls_json.stderr
    rows = {r["run_id"]: r for r in json.loads(ls_json.stdout)}
    ls_text = cli("ls", runs_dir=runs_dir).stdout
    assert cli("export", "--out", str(tmp_path / "x"), runs_dir=runs_dir).returncode == 0
    with open(tmp_path / "x" / "results.csv", newline="") as fh:
        exported = {r["run_id"]: r for r in csv.DictReader(fh)}

    # ls's table and the export carry the same numbers as ls --json
    for run_id, row in rows.items():
        line = next(ln for ln in ls_text.splitlines() if run_id in ln)
        assert row["status"] in line and f"{row['epoch']}/{row['epochs']}" in line
        for key in ("val_acc", "best_val_acc", "test_acc"):
            assert fmt_float(row[key]) in line, (run_id, key, line)
            assert (exported[run_id][key] == "") == (row[key] is None)
            if row[key] is not None:
                assert float(exported[run_id][key]) == row[key]
        assert exported[run_id]["status"] == row["status"]
    assert (rows[DONE]["status"], rows[LIVE]["status"], rows[BAD]["status"]) == ("done", "running", "failed")

    configs = tmp_path / "configs"
    configs.mkdir()
    app = make_app(runs_dir, configs, poll_interval=0.1, gpu_stats=lambda: [], start_scheduler=False)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 3, 20, "three rows")

        def cell(run_id: str, key: str) -> str:
            return str(app.table.get_cell(run_id, key)).strip()

        for run_id, row in rows.items():
            assert cell(run_id, "status") == row["status"]
            assert cell(run_id, "epoch").startswith(f"{row['epoch']}/{row['epochs']}")
            assert cell(run_id, "val_acc") == fmt_pct(row["val_acc"])
            assert cell(run_id, "best") == fmt_pct(row["best_val_acc"])
            assert cell(run_id, "test") == fmt_pct(row["test_acc"])
            assert cell(run_id, "train_loss") == fmt_float(row["train_loss"])
            if row["status"] != "running":  # a running run's elapsed moves with the clock
                assert cell(run_id, "elapsed") == fmt_duration(row["elapsed"])
                assert fmt_duration(row["elapsed"]) in next(ln for ln in ls_text.splitlines() if run_id in ln)
        assert cell(DONE, "test") == "77.12%" and cell(DONE, "best") == "80.00%"

    # Wide enough that every column of the runs table is shown (at 80x24 the table keeps the
    # priority columns only; tests/tui/test_app.py checks those).
    run_pilot(app, body, size=(240, 40))
