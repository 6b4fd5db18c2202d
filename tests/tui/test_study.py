"""The study view (variants, seeds aggregated, verdicts, mean curves with spread), the factorial
view (best cell, swap, export), and the study keys (report, requeue failed) on fixed run folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

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
        from hw2.runs.readers import list_runs

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


# ---------------------------------------------------------------------- issue 17: 80x24 and 160x48


def screen_lines(app: HW2App) -> list[str]:
    """The terminal's text as a user sees it, one string a row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def region_lines(app: HW2App, widget: Any) -> list[str]:
    """The screen's rows inside ``widget``, cut to its columns."""
    r = widget.region
    return [line[r.x : r.x + r.width] for line in screen_lines(app)[r.y : r.y + r.height]]


def _three_variants(runs_dir: Path) -> None:
    """Study "Seeds": three variants (two of them with long names) of two seeds each."""
    i = 0
    for variant, lr, shift in (
        ("baseline", 0.01, 0.0),
        ("early-stopping", 0.02, 0.01),
        ("augmentation", 0.03, 0.03),
    ):
        for seed in (1, 2):
            i += 1
            _study_run(runs_dir, i, variant, seed, lr=lr + 0.001 * seed, shift=shift + 0.003 * seed)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_study_table_drops_columns_rather_than_cut_a_number(
    runs_dir: Path, configs_dir: Path, size: tuple[int, int]
) -> None:
    _three_variants(runs_dir)
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        screen = await _open_study(pilot, app)
        await wait_for(pilot, lambda: bool(screen.plot_data["acc"]), 20, "the curves")
        await pilot.pause(0.2)
        keys = [k for k, _ in STUDY_COLUMNS]
        lines = region_lines(app, screen.table)
        head, body_lines = lines[0], lines[1:]
        figures = screen.figures
        assert figures is not None
        for row in figures.rows:
            line = next(x for x in body_lines if x.strip().startswith(row[0]))
            short = figures.short_rows[figures.rows.index(row)]
            for key in screen.columns:
                i = keys.index(key)
                assert row[i] in line or short[i] in line, (key, row[i], line)
        if size == (80, 24):
            assert "train loss" not in head and "s/epoch" not in head  # dropped whole
            assert {"variant", "best_val_acc", "test_acc", "verdict"} <= set(screen.columns)
            note = " ".join(region_lines(app, screen.query_one("#study-note")))
            assert "hidden at this width: train loss" in note and "s/epoch" in note
            assert all(len(x.rstrip()) <= 80 for x in lines)
            footer = screen_lines(app)[-1]  # the keys that matter most, whole, within 80 columns
            assert all(k in footer for k in ("? Help", "q Quit", "esc Back", "space Mark", "p Factorial")), (
                footer
            )
        else:
            assert screen.columns == keys  # everything fits at 160 columns
            assert "test acc vs first (Welch)" in head and "best ep" in head and "s/epoch" in head
        # the plots keep room to be read, and the key names every variant
        assert screen.loss_plot.size.height >= 10
        key = " ".join(region_lines(app, screen.query_one("#study-key")))
        for name in ("baseline", "early-stopping", "augmentation"):
            assert f"■ {name}" in key, key
        assert "train" in key and "val" in key
        # the ± std lines of three variants only where the plots are tall enough to tell them apart
        assert ("val ± std" in key) == (size == (160, 48))
        assert any(not line[0] for line in screen.plot_data["acc"]) == (size == (160, 48))

    run_pilot(app, body, size=size)


def test_a_study_with_no_runs_says_how_to_launch_it(
    runs_dir: Path, configs_dir: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(configs_dir.parent)  # the command names the study file as typed from here
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        app.push_screen(StudyScreen("Fake sweep", str(configs_dir / "fake-sweep.yaml")))
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), 5, "the study view")
        screen = app.screen
        await wait_for(pilot, lambda: screen.figures is not None, 10, "its figures")
        await pilot.pause(0.2)
        text = "\n".join(screen_lines(app))
        assert "No runs of this study yet." in text
        assert "s on this study in the configs tree" in text
        assert "Or in a shell: hw2-tui sweep configs/fake-sweep.yaml" in text
        assert "0 variant" not in text and "no runs yet" in text
        assert not screen.table.display and not screen.query_one("#study-plots").display

    run_pilot(app, body, size=(80, 24))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_factorial_view_of_factors_that_change_together_shows_the_variants(
    runs_dir: Path, configs_dir: Path, size: tuple[int, int]
) -> None:
    """2.1.4's shape: each variant sets the model and the learning rate together (a diagonal)."""
    i = 0
    for variant, model, lr in (("sgd", "mlp", 0.1), ("momentum", "cnn", 0.01), ("adam", "big", 0.001)):
        for seed in (1, 2):
            i += 1
            _study_run(runs_dir, i, variant, seed, lr=lr, model=model, shift=0.002 * i)
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await _open_study(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PivotScreen), 5, "the factorial view")
        pv = app.screen
        assert isinstance(pv, PivotScreen)
        await pilot.pause(0.3)
        assert pv.diagonal
        text = "\n".join(screen_lines(app))
        assert "factors change together (model.name, optimizer.lr)" in text
        assert "Not a grid" in text and "variants' table" in text
        lines = region_lines(app, pv.table)
        assert lines[0].split()[:3] == ["variant", "model.name", "optimizer.lr"]
        groups = {g.variant: g for g in group_runs(app.runs[r].summary for r in app.runs)}
        from hw2.analysis.stats import mean_std_text

        for variant, model, lr in (
            ("sgd", "mlp", "0.1"),
            ("momentum", "cnn", "0.01"),
            ("adam", "big", "0.001"),
        ):
            want = mean_std_text(groups[variant].stats["best_val_acc"], 100.0, 2)
            assert any(x.split()[:3] == [variant, model, lr] and want in x for x in lines), (variant, lines)
        assert "mean" not in [x.split()[0] for x in lines if x.strip()]  # no marginal means row
        await pilot.press("e")  # nothing to export: one line says so
        await wait_for(
            pilot,
            lambda: any("no factorial table to export" in str(n.message) for n in app._notifications),
            5,
            "the export warning",
        )
        await pilot.press("escape")
        assert isinstance(app.screen, StudyScreen)

    run_pilot(app, body, size=size)


def _grid(runs_dir: Path) -> None:
    i = 0
    for model in ("mlp", "cnn"):
        for lr in (0.01, 0.1, 0.5):
            for seed in (1, 2):
                i += 1
                shift = (0.01 if model == "cnn" else 0.0) + 0.02 * lr + 0.002 * seed + 0.0013 * (i % 5)
                _study_run(runs_dir, i, f"{model}-{lr}", seed, lr=lr, model=model, shift=shift)


def test_grid_verdicts_compare_the_chosen_cell_with_its_runners_up(runs_dir: Path, configs_dir: Path) -> None:
    _grid(runs_dir)
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        screen = await _open_study(pilot, app)
        figures = screen.figures
        assert figures is not None and figures.grid
        groups = group_runs(
            app.runs[r].summary for r in sorted(app.runs, key=lambda r: app.runs[r].summary.created or 0)
        )
        ranked = sorted(groups, key=lambda g: -(g.stats["best_val_acc"].mean or 0.0))
        chosen, runners = ranked[0], ranked[1:4]
        cells = {row[0]: row[-1] for row in figures.rows}
        assert cells[chosen.variant] == "chosen (reference)"
        for g in runners:
            v = compare(chosen, g)
            assert cells[g.variant].endswith(": " + v.word) and f"{v.diff * 100:+.2f} pt" in cells[g.variant]
        for g in ranked[4:]:
            assert cells[g.variant] == "–"  # not compared, as report.md does not
        head = region_lines(app, screen.table)[0]
        assert "test acc vs chosen (Welch)" in head
        # the factorial view of a real grid keeps working: it opens on the grid's two factors
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PivotScreen), 5, "the factorial view")
        pv = app.screen
        assert isinstance(pv, PivotScreen) and not pv.diagonal
        assert {pv.row_key, pv.col_key} == {"model.name", "optimizer.lr"}
        await pilot.press("escape", "escape")
        assert app.screen is app.main

    run_pilot(app, body, size=(160, 48))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_factorial_view_of_a_grid_fits_without_cutting_a_number(
    runs_dir: Path, configs_dir: Path, size: tuple[int, int]
) -> None:
    _grid(runs_dir)
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await _open_study(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PivotScreen), 5, "the factorial view")
        pv = app.screen
        assert isinstance(pv, PivotScreen)
        await pilot.pause(0.3)
        for metric in ("best_val_acc", "test_acc", "val_loss"):
            await wait_for(pilot, lambda metric=metric: pv.metric == metric, 5, metric)
            await pilot.pause(0.2)
            lines = region_lines(app, pv.table)
            for row in pv.rows[1:]:
                line = next(x for x in lines if x.split() and x.split()[0] == row[0])
                assert all(cell in line for cell in row), (row, line)
            assert all(len(x.rstrip()) <= size[0] for x in lines)
            await pilot.press("m")
        if size == (160, 48):
            assert pv.hidden == []

    run_pilot(app, body, size=size)


def test_the_study_view_counts_a_twin_of_another_study_and_keeps_the_files_order(
    runs_dir: Path, configs_dir: Path, tmp_path: Path
) -> None:
    """As report.md does (hw2.analysis.writer.twin_runs): a sweep never reruns a variant whose twin
    another study already ran, so the view finds that run by its config, and the study file's
    first variant is the reference even when its run is not the study's own."""
    from hw2.config import load_experiment

    files = tmp_path / "study-files"
    files.mkdir()
    base = {
        "name": "seeds-base",
        "trainer": "mlp",
        "seed": 0,
        "model": {"name": "mlp", "hidden": [256, 128]},
        "optimizer": {"name": "sgd", "lr": 0.01},
        "train": {"epochs": 6, "batch_size": 128},
    }
    (files / "seeds-base.yaml").write_text(yaml.safe_dump(base))
    study_file = files / "seeds.yaml"
    study_file.write_text(
        yaml.safe_dump(
            {
                "study": "Seeds",
                "base": "seeds-base.yaml",
                "variants": [{"name": "base"}, {"name": "fast", "set": {"optimizer.lr": 0.1}}],
            }
        )
    )
    fast = [_study_run(runs_dir, i, "fast", i, lr=0.1, shift=0.02) for i in (1, 2)]
    twin = make_fixed_run(
        runs_dir, "20260101-000000-other-0000", "other", "done", epochs=6, done=6, study="Other"
    )
    for d in [runs_dir / r for r in fast] + [twin]:  # as queued runs are: the resolved config
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        resolved = load_experiment(files / "seeds-base.yaml").model_dump(mode="json")
        resolved["optimizer"]["lr"] = cfg["optimizer"]["lr"]
        (d / "config.yaml").write_text(yaml.safe_dump(resolved))
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 3, 10, "rows")
        app.push_screen(StudyScreen("Seeds", str(study_file)))
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), 5, "the study view")
        screen = app.screen
        await wait_for(pilot, lambda: screen.figures is not None and screen.table.row_count == 2, 20, "rows")
        rows = [[str(c).strip() for c in screen.table.get_row_at(i)] for i in range(2)]
        assert (rows[0][0], rows[0][1], rows[1][0], rows[1][1]) == (
            "base",
            "1 of 1 done",
            "fast",
            "2 of 2 done",
        ), rows
        assert rows[0][-1] == "reference" and rows[1][-1] != "reference", rows

    run_pilot(app, body, size=(160, 48))
