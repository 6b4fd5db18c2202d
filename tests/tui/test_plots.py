"""Plots people can compare (issue 17): the key outside the canvas, 1-2-5 y ticks, whole-epoch x
ticks with the last epoch, the best-epoch marker labelled, titles naming the run or the study, and
at most six runs drawn (said in the key), at 80x24 and 160x48 through the pilot on fixed runs."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.tui.conftest import FIXED_NOW, make_fixed_run, run_pilot, wait_for, write_fixed_runs
from tui.app import HW2App, make_app
from tui.plots import MAX_SHOWN, epoch_ticks, short_names, y_ticks

SIZES = [(80, 24), (160, 48)]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BASELINE = "20260101-000000-mlp-baseline-aaaa"  # done, 10 epochs, lr 0.01
LR01 = "20260101-000100-lr-0.1-bbbb"  # done, 10 epochs, lr 0.1, study "LR sweep"
LR05 = "20260101-000200-lr-0.5-cccc"  # failed after 3 epochs, lr 0.5, study "LR sweep"


def _app(runs_dir: Path, configs_dir: Path) -> HW2App:
    write_fixed_runs(runs_dir)
    return make_app(
        runs_dir,
        configs_dir,
        poll_interval=0.05,
        gpu_stats=lambda: [],
        start_scheduler=False,
        clock=lambda: FIXED_NOW,
    )


def screen_lines(app: HW2App) -> list[str]:
    """The terminal's text as a user sees it, one string a row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def key_lines(app: HW2App) -> list[str]:
    """The rows of the screen the plots' key occupies, cut to its columns."""
    region = app.plots.query_one("#plots-key").region
    lines = screen_lines(app)[region.y : region.y + region.height]
    return [line[region.x : region.x + region.width] for line in lines]


def plot_text(plot: Any) -> list[str]:
    """A plot as rendered (plotext's text without colours)."""
    return ANSI.sub("", plot.plt.build()).splitlines()


def canvas_rows(lines: list[str]) -> list[str]:
    """The drawing area of a plot: the rows between its top and bottom border, right of the y axis."""
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    out = []
    for line in lines[top + 1 : bottom]:
        axis = max(line.find("┤"), line.find("│"))
        out.append(line[axis + 1 :])
    return out


def y_tick_values(lines: list[str]) -> list[Decimal]:
    """The y tick labels, top to bottom (the numbers left of ``┤``)."""
    return [Decimal(m.group(1)) for line in lines if (m := re.match(r"\s*(-?[\d.]+)┤", line))]


def x_tick_values(lines: list[str]) -> list[str]:
    """The x tick labels: the row under the bottom border."""
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[bottom + 1].split()


def assert_1_2_5(ticks: list[Decimal]) -> None:
    """Evenly spaced, descending, by a step of 1, 2 or 5 times a power of ten."""
    assert len(ticks) >= 2, ticks
    steps = {a - b for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1, ticks
    (step,) = steps
    mantissa = step.normalize().as_tuple().digits
    assert step > 0 and mantissa in ((1,), (2,), (5,)), ticks


async def _mark(pilot: Any, app: HW2App, run_ids: list[str]) -> None:
    """Mark ``run_ids`` with space, as a user would, and leave the cursor on the last one."""
    app.table.focus()
    for rid in run_ids:
        await wait_for(pilot, lambda rid=rid: app.table.get_row_index(rid) >= 0, 10, f"row {rid}")
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.press("space")
    await wait_for(pilot, lambda: len(app.plots.shown) == len(run_ids), 10, "the marked runs plotted")
    await pilot.pause(0.2)


# ---------------------------------------------------------------------- ticks and names


@pytest.mark.parametrize(
    ("lo", "hi", "most"),
    [
        (0.002, 0.342, 5),
        (90.1, 99.6, 6),
        (0.66, 1.78, 4),
        (34.1, 76.9, 4),
        (0.0874, 0.0913, 3),
        (5.0, 5.0, 3),
    ],
)
def test_y_ticks_are_1_2_5_spaced_and_span_the_data(lo: float, hi: float, most: int) -> None:
    ticks, labels, (low, high) = y_ticks(lo, hi, most)
    assert 2 <= len(ticks) <= most
    assert low <= lo and high >= hi and (low, high) == (ticks[0], ticks[-1])
    assert_1_2_5([Decimal(x) for x in reversed(labels)])


@pytest.mark.parametrize(("hi", "most"), [(20, 5), (10, 4), (7, 5), (3, 9), (30, 4), (100, 8), (2, 2)])
def test_epoch_ticks_are_whole_epochs_from_the_first_to_the_last(hi: int, most: int) -> None:
    ticks, (left, right) = epoch_ticks(1.0, float(hi), most)
    assert ticks[0] == 1 and ticks[-1] == hi and (left, right) == (1.0, float(hi))
    assert all(isinstance(t, int) for t in ticks) and ticks == sorted(set(ticks))
    assert len(ticks) <= most + 1  # the last epoch may add one


def test_short_names_are_the_fewest_values_that_tell_runs_apart() -> None:
    grid = [
        {"optimizer.lr": 0.001, "model.dropout": 0.2, "seed": 0},
        {"optimizer.lr": 0.01, "model.dropout": 0.2, "seed": 0},
        {"optimizer.lr": 0.01, "model.dropout": 0.5, "seed": 0},
    ]
    keys = ["optimizer.lr", "model.dropout"]
    assert short_names(grid, keys, ["a", "b", "c"]) == [
        "lr 0.001 · do 0.2",
        "lr 0.01 · do 0.2",
        "lr 0.01 · do 0.5",
    ]
    optimizers = [
        {"optimizer.name": "adam", "optimizer.lr": 0.001, "seed": 0},
        {"optimizer.name": "sgd", "optimizer.lr": 0.1, "seed": 1},
    ]
    assert short_names(optimizers, ["optimizer.name", "optimizer.lr", "seed"], ["x", "y"]) == ["adam", "sgd"]
    seeds = [{"optimizer.name": n, "seed": s} for n in ("adam", "sgd") for s in (0, 1)]
    assert short_names(seeds, ["seed", "optimizer.name"], list("abcd")) == [
        "adam · s0",
        "adam · s1",
        "sgd · s0",
        "sgd · s1",
    ]
    switches = [{"augmentation.enabled": True, "seed": 0}, {"augmentation.enabled": False, "seed": 0}]
    assert short_names(switches, ["augmentation.enabled"], ["a", "b"]) == ["augmentation", "no augmentation"]
    # identical configs (a re-run): nothing tells them apart but their names
    assert short_names([{"seed": 0}, {"seed": 0}], [], ["run", "run"]) == ["run", "run (2)"]


# ---------------------------------------------------------------------- on screen


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_overlay_key_sits_outside_the_canvas_and_names_every_run(
    runs_dir: Path, configs_dir: Path, size: tuple[int, int]
) -> None:
    """A legend never covers a plotted point: the canvas holds no text at all, and the key above
    the plots names every plotted run by the hyperparameter that tells them apart (lr)."""
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.plots.ready and app.plots.draw_count > 0, 10, "plots")
        await _mark(pilot, app, [BASELINE, LR01, LR05])
        names = app.plots.names
        assert sorted(names) == ["lr 0.01", "lr 0.1", "lr 0.5"]
        shown = " ".join(key_lines(app))
        for name in names:
            assert f"■ {name}" in shown, (name, key_lines(app))
        assert "train" in shown and "val" in shown and "best val epoch" in shown
        for plot in (app.plots.loss, app.plots.acc):
            lines = plot_text(plot)
            canvas = canvas_rows(lines)
            assert len(canvas) >= 3
            assert not any(re.search(r"[A-Za-z]", row) for row in canvas), canvas
            assert_1_2_5(y_tick_values(lines))
            xs = x_tick_values(lines)
            assert all(x.isdigit() for x in xs) and xs[0] == "1" and xs[-1] == "10", xs
            assert "runs" in lines[0]  # the title: the study or the count, not one run's name
        # the key's swatch colours are the curves' colours, in plotting order
        key = app.plots.query_one("#plots-key").render()
        assert "■" in str(key)

    run_pilot(app, body, size=size)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_one_run_title_names_it_and_the_key_labels_the_best_epoch(
    runs_dir: Path, configs_dir: Path, size: tuple[int, int]
) -> None:
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.plots.ready and app.plots.draw_count > 0, 10, "plots")
        app.table.focus()
        app.table.move_cursor(row=app.table.get_row_index(LR05))
        await wait_for(
            pilot, lambda: app.plots.shown and app.plots.shown[0].run_id == LR05, 10, "lr-0.5 plotted"
        )
        await pilot.pause(0.2)
        st = app.runs[LR05]
        best_at = st.best_at()
        assert best_at is not None
        assert f"│ best val epoch {best_at:g}: {100 * (st.best() or 0):.2f} %" in " ".join(key_lines(app))
        for plot in (app.plots.loss, app.plots.acc):
            lines = plot_text(plot)
            assert "lr-0.5" in lines[0], lines[0]  # the title names the run
            assert x_tick_values(lines)[-1] == "3"  # a failed run: its last epoch is 3
            assert not any(re.search(r"[A-Za-z]", row) for row in canvas_rows(lines))

    run_pilot(app, body, size=size)


def test_more_than_six_runs_draws_the_best_six_and_says_so(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir)
    extra = []
    for i, lr in enumerate((0.02, 0.03, 0.04, 0.06), start=5):
        rid = f"20260101-00{i:02d}00-lr-{lr}-x{i:03d}"
        make_fixed_run(runs_dir, rid, f"lr-{lr}", "done", epochs=10, done=10, study="LR sweep", lr=lr)
        extra.append(rid)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.plots.ready and app.table.row_count == 9, 10, "rows and plots")
        marked = [BASELINE, LR01, LR05, *extra]  # 7 marked: the cursor stays on the last
        app.table.focus()
        for rid in marked:
            app.table.move_cursor(row=app.table.get_row_index(rid))
            await pilot.press("space")
        await wait_for(pilot, lambda: len(app.main.plotted_runs()) == len(marked), 10, "7 plotted runs")
        await wait_for(pilot, lambda: len(app.plots.shown) == MAX_SHOWN, 10, "six drawn")
        plotted = app.main.plotted_runs()
        best = sorted(plotted[1:], key=lambda r: -(r.best() or 0.0))[: MAX_SHOWN - 1]
        assert {r.run_id for r in app.plots.shown} == {plotted[0].run_id, *(r.run_id for r in best)}
        assert "showing 6 of 7 runs" in " ".join(key_lines(app))

    run_pilot(app, body, size=(160, 48))
