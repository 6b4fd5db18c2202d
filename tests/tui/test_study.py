"""The study view (variants, seeds aggregated, verdicts, mean curves with spread), the factorial
view (best cell, swap, export), and the study keys (report, requeue failed) on fixed run folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hw2.analysis.stats import compare, group_runs
from hw2.contract import read_meta, write_meta, write_result
from tests.tui.conftest import make_fixed_run, run_pilot, wait_for
from tui.app import HW2App, make_app
from tui.study import STUDY_COLUMNS, PivotScreen, StudyScreen


def _app(runs_dir: Path, configs_dir: Path, **kw: Any) -> HW2App:
    return make_app(
        runs_dir, configs_dir, poll_interval=0.05, gpu_stats=lambda: [], start_scheduler=False, **kw
    )


def _study_run(
    runs_dir: Path,
    i: int,
    variant: str,
    seed: int,
    status: str = "done",
    *,
    lr: float,
    model: str = "mlp",
    shift: float = 0.0,
) -> str:
    """A fixed run of study "Seeds"; ``shift`` is added to its accuracies (epochs and result)."""
    run_id = f"20260101-00{i:02d}00-{variant}-s{seed}-{i:04d}"
    d = make_fixed_run(
        runs_dir,
        run_id,
        f"{variant}-s{seed}",
        status,
        epochs=6,
        done=6 if status == "done" else 2,
        study="Seeds",
        lr=lr,
        model=model,
    )
    meta = read_meta(d)
    assert meta is not None
    meta.extra.update({"variant": variant, "seed": seed})
    write_meta(d, meta)
    lines = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        for k in ("train_acc", "val_acc"):
            line[k] = round(line[k] + shift, 4)
    (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    if status == "done":
        result = json.loads((d / "result.json").read_text())
        result["test_acc"] = round(result["test_acc"] + shift, 4)
        result["best_val_acc"] = round(result["best_val_acc"] + shift, 4)
        write_result(d, result)
    return run_id


async def _open_study(pilot: Any, app: HW2App) -> StudyScreen:
    app.table.focus()
    await wait_for(pilot, lambda: app.table.row_count > 0, 10, "rows")
    await pilot.press("v")
    await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), 5, "the study view")
    screen = app.screen
    assert isinstance(screen, StudyScreen)
    await wait_for(pilot, lambda: screen.figures is not None and screen.table.row_count > 0, 20, "its rows")
    return screen


def test_study_view_rows_verdict_and_band_curves(runs_dir: Path, configs_dir: Path) -> None:
    _study_run(runs_dir, 1, "slow", 1, lr=0.01, shift=0.0)
    _study_run(runs_dir, 2, "slow", 2, lr=0.012, shift=0.004)
    _study_run(runs_dir, 3, "fast", 1, lr=0.1, shift=0.03)
    _study_run(runs_dir, 4, "fast", 2, lr=0.13, shift=0.036)
    _study_run(runs_dir, 5, "fast", 3, "failed", lr=0.5)
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        screen = await _open_study(pilot, app)
        rows = {r[0]: r for r in screen.figures.rows}
        assert set(rows) == {"slow", "fast"}
        assert rows["slow"][1] == "2 of 2 done"
        assert rows["fast"][1] == "2 of 3 done (s3 failed)"
        assert rows["slow"][-1] == "reference"
        # the best epoch as the report writes it: a whole number when the seeds agree
        from hw2.analysis.stats import count_text

        ep = [k for k, _ in STUDY_COLUMNS].index("best_epoch")
        best = {g.variant: g.stats["best_epoch"] for g in group_runs(app.runs[r].summary for r in app.runs)}
        assert [rows[v][ep] for v in ("slow", "fast")] == [count_text(best[v]) for v in ("slow", "fast")]
        # the verdict, recomputed from the summaries on disk with the core
        from hw2.runs.store import list_runs

        groups = {g.variant: g for g in group_runs(s for s in list_runs(runs_dir) if s.study == "Seeds")}
        v = compare(groups["slow"], groups["fast"])
        assert v.p_value is not None  # two seeds each, with spread: a real Welch test
        assert rows["fast"][-1].endswith(": " + v.word) and f"{v.diff * 100:+.2f} pt" in rows["fast"][-1]
        assert "partial" in str(screen.query_one("#study-title").render())
        # mean curves (n=2 each: failed seeds are left out) and the val ± std lines
        await wait_for(pilot, lambda: len(screen.plot_data["acc"]) == 8, 20, "the band curves")
        labels = [line[0] for line in screen.plot_data["acc"]]
        assert "slow train (n=2)" in labels and "fast val (n=2)" in labels
        assert labels.count("") == 4  # mean - std and mean + std of each variant's val curve
        mean = next(line for line in screen.plot_data["acc"] if line[0] == "slow val (n=2)")
        low, high = (line for line in screen.plot_data["acc"] if line[0] == "" and line[1] == mean[1])
        assert mean[2] == low[2] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        assert all(lo <= m <= hi for lo, m, hi in zip(low[3], mean[3], high[3], strict=True))
        assert any(lo < hi for lo, hi in zip(low[3], high[3], strict=True))
        # nothing marked: the choice by validation alone, as the report makes it
        from hw2.analysis.report import select_by_validation

        chosen = select_by_validation(list(groups.values()))
        assert chosen is not None and screen.verdict_text.startswith(chosen.short() + " · space marks")
        # two marked variants: their verdict
        await pilot.press("space", "down", "space")
        assert screen.verdict_text == compare(groups["slow"], groups["fast"]).text()
        await pilot.press("escape")
        assert app.screen is app.main

    run_pilot(app, body)


def test_pivot_on_a_2x3_grid_best_cell_swap_and_export(
    runs_dir: Path, configs_dir: Path, tmp_path: Path
) -> None:
    i = 0
    for model in ("mlp", "cnn"):
        for lr in (0.01, 0.1, 0.5):
            for seed in (1, 2):
                i += 1
                shift = (0.01 if model == "cnn" else 0.0) + 0.02 * lr + 0.002 * seed
                _study_run(runs_dir, i, f"{model}-{lr}", seed, lr=lr, model=model, shift=shift)
    export = tmp_path / "exports"
    app = _app(runs_dir, configs_dir, export_dir=export)

    async def body(pilot: Any) -> None:
        await _open_study(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PivotScreen), 5, "the factorial view")
        pv = app.screen
        assert isinstance(pv, PivotScreen)
        assert {pv.row_key, pv.col_key} == {"model.name", "optimizer.lr"}
        rows, cols = len(pv.pv.rows), len(pv.pv.cols)
        assert (rows, cols) in ((2, 3), (3, 2))
        starred = [c for line in pv.rows[1:-1] for c in line if c.endswith(" *")]
        assert len(starred) == 1
        assert pv.table.row_count == rows + 1  # + the marginal means row
        best = pv.pv.best
        assert set(best) == {"cnn", 0.5}  # the highest accuracies, by construction
        await pilot.press("x")
        assert (len(pv.pv.rows), len(pv.pv.cols)) == (cols, rows)
        assert pv.pv.best == (best[1], best[0])
        await pilot.press("m")
        assert pv.metric == "test_acc"
        await pilot.press("e")
        await wait_for(pilot, lambda: app.last_pivot_export is not None, 10, "the export")
        csv_path, tex_path = app.last_pivot_export
        assert csv_path.parent == export and csv_path.read_text().startswith(
            "optimizer.lr,model.name,test_acc_mean"
        )
        assert "\\begin{tabular}" in tex_path.read_text() and "\\textbf{" in tex_path.read_text()
        await pilot.press("escape")
        assert isinstance(app.screen, StudyScreen)

    run_pilot(app, body)


def _slurm(d: Path, **extra: Any) -> None:
    meta = read_meta(d)
    assert meta is not None
    meta.extra.update({"executor": "slurm", **extra})
    write_meta(d, meta)


def test_slurm_runs_show_their_job_state_node_and_the_header_line(runs_dir: Path, configs_dir: Path) -> None:
    from tests.tui.conftest import write_fixed_runs

    write_fixed_runs(runs_dir)
    # the queued run is a pending Slurm job, the running one runs on node07, the done one ran there
    _slurm(
        runs_dir / "20260101-000400-lr-1.0-eeee",
        slurm_job_id="41",
        slurm_state="PENDING",
        slurm_reason="Resources",
    )
    d = runs_dir / "20260101-000300-lr-0.05-dddd"
    _slurm(d, slurm_job_id="42", slurm_state="RUNNING")
    meta = read_meta(d)
    assert meta is not None
    meta.host = "node07"
    write_meta(d, meta)
    d = runs_dir / "20260101-000100-lr-0.1-bbbb"
    _slurm(d, slurm_job_id="40", slurm_state="COMPLETED")
    meta = read_meta(d)
    assert meta is not None
    meta.host = "node03"
    write_meta(d, meta)
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: len(app.runs) == 5, 10, "the runs")
        s = app.runs["20260101-000400-lr-1.0-eeee"].summary
        assert (s.executor, s.slurm, s.node) == ("slurm", "pending: Resources", None)
        status = app.table._cells["20260101-000400-lr-1.0-eeee"]["status"]
        assert status == "queued · pending: Resources"
        assert app.runs["20260101-000300-lr-0.05-dddd"].summary.node == "node07"
        assert app.table._cells["20260101-000300-lr-0.05-dddd"]["status"] == "running · node07"
        assert app.table._cells["20260101-000100-lr-0.1-bbbb"]["status"] == "done · node03"
        assert app.table._cells["20260101-000000-mlp-baseline-aaaa"]["status"] == "done"
        assert app.runs["20260101-000000-mlp-baseline-aaaa"].summary.executor == "local"
        await wait_for(
            pilot,
            lambda: "slurm: 1 pending · 1 running" in str(app.main.gpu_bar.render()),
            10,
            "the Slurm line",
        )

    run_pilot(app, body)


def test_the_gpu_bar_with_a_slurm_line_fits_80_columns() -> None:
    from tui.widgets import gpu_text

    line = gpu_text([], {"running": 1, "queued": 3}, "slurm: 3 pending · 1 running").plain
    assert line == "CPU only   │ slurm: 3 pending · 1 running   │ 1 running · 3 queued"
    assert len(line) + 2 <= 80  # the bar's padding
    assert gpu_text([], {"running": 1}).plain == "CPU only — runs use the CPU   │ 1 running"


def test_E_opens_the_studys_conclusion_in_the_editor(
    runs_dir: Path, configs_dir: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    import contextlib

    editor = tmp_path / "editor.sh"  # an "editor" that appends a line to the file it is given
    editor.write_text('#!/bin/sh\necho "Adam *wins*." >> "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    app = _app(runs_dir, configs_dir, reports_dir=tmp_path / "reports")
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)  # headless: no terminal to hand over
    conclusion = tmp_path / "reports" / "fake-sweep" / "conclusion.md"

    async def body(pilot: Any) -> None:
        app.push_screen(StudyScreen("Fake sweep", str(configs_dir / "fake-sweep.yaml")))
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), 5, "the study view")
        await pilot.press("E")
        await wait_for(
            pilot, lambda: conclusion.is_file() and "Adam" in conclusion.read_text(), 10, "the edit"
        )
        # created with the placeholder first, then edited
        text = conclusion.read_text()
        assert text.startswith("<!-- hw2-tui: write your conclusion for question Fake sweep below;")
        assert text.endswith("Adam *wins*.\n")
        assert any("P writes it into the report" in str(n.message) for n in app._notifications)
        # no editor anywhere: one line says so, nothing runs
        monkeypatch.delenv("EDITOR")
        monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
        await pilot.press("E")
        await wait_for(
            pilot,
            lambda: any(str(n.message).startswith("no editor found") for n in app._notifications),
            5,
            "the no-editor line",
        )
        assert conclusion.read_text() == text

    run_pilot(app, body)
