"""Headless pilot tests of the app: fixed run folders, and real launches with the fake trainer."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.tui.conftest import (
    FIXED_NOW,
    put_tree_cursor,
    run_pilot,
    wait_for,
    write_configs,
    write_fixed_runs,
)
from tui.app import HW2App, make_app
from tui.launch import LaunchScreen
from tui.screens import ConfirmScreen, HelpScreen
from tui.widgets import KEY_HPARAMS, NodeData


def _app(runs_dir: Path, configs_dir: Path, **kw: Any) -> HW2App:
    kw.setdefault("gpu_stats", lambda: [])
    return make_app(runs_dir, configs_dir, poll_interval=0.1, **kw)


def _fixed_app(runs_dir: Path, configs_dir: Path, **kw: Any) -> HW2App:
    write_fixed_runs(runs_dir)
    return _app(runs_dir, configs_dir, clock=lambda: FIXED_NOW, start_scheduler=False, **kw)


def _node(app: HW2App, kind: str) -> Any:
    """The first config-tree node of ``kind`` (experiment, study, run, invalid)."""
    stack = [app.tree.root]
    while stack:
        node = stack.pop(0)
        data: NodeData | None = node.data
        if data is not None and data.kind == kind:
            return node
        stack.extend(node.children)
    raise AssertionError(f"no {kind} node in the configs tree")


async def _select_config(pilot: Any, app: HW2App, kind: str) -> Any:
    await wait_for(pilot, app.configs_loaded.is_set, 20, "configs")
    node = _node(app, kind)
    await put_tree_cursor(pilot, app, node)
    return node


def _statuses(app: HW2App) -> dict[str, str]:
    return {rid: st.status for rid, st in app.runs.items()}


# ---------------------------------------------------------------------- fixed data


def test_shows_existing_runs_with_status_and_metrics(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "five rows")
        st = _statuses(app)
        assert sorted(st.values()) == ["done", "done", "failed", "queued", "running"]
        row = app.table.get_row("20260101-000200-lr-0.5-cccc")
        plain = [getattr(c, "plain", str(c)) for c in row]
        assert "failed !2" in plain  # two garbage lines counted, not fatal
        running = app.runs["20260101-000300-lr-0.05-dddd"]
        assert running.epochs_done == 6 and running.epoch_fraction() == pytest.approx(0.3)
        run_row = [getattr(c, "plain", str(c)) for c in app.table.get_row(running.run_id)]
        assert any(c.startswith(" 6/10 █▌") for c in run_row), run_row
        assert "3:20" in run_row  # elapsed from the fake clock

    run_pilot(app, body)


def test_help_screen_lists_keys_and_says_runs_continue(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), 5, "help")
        text = str(app.screen.query_one("#help-text").render())
        for needle in ("space", "kill", "export", "filter", "runs keep going"):
            assert needle in text
        await pilot.press("k", "e", "slash")  # main-screen keys are inert under the dialog
        await pilot.pause(0.3)
        assert isinstance(app.screen, HelpScreen) and len(app.screen_stack) == 2 and app.last_export is None
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), 5, "help closed")

    run_pilot(app, body)


def test_filter_shows_matching_rows_and_escape_clears(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        await pilot.press("slash")
        await pilot.press(*"lr-0.")
        await wait_for(pilot, lambda: app.table.row_count == 3, 5, "filtered rows")
        assert {app.runs[r].name for r in app.table.row_ids()} == {"lr-0.1", "lr-0.5", "lr-0.05"}
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "all rows back")
        assert app.filter_text == ""

    run_pilot(app, body)


def test_filter_by_status_word(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await pilot.press("slash", *"done", "enter")
        await wait_for(pilot, lambda: app.table.row_count == 2, 5, "done rows")
        assert app.table.has_focus

    run_pilot(app, body)


def test_diff_toggle_shows_only_differing_hyperparameters(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        hp = lambda: [c.key for c in app.table.columns_def if c.key.startswith("hp:")]  # noqa: E731
        assert hp() == [f"hp:{k}" for k in KEY_HPARAMS]
        await pilot.press("d")
        assert hp() == ["hp:optimizer.lr"]  # only the learning rate differs between the runs
        cells = {str(app.table.get_cell(r, "hp:optimizer.lr")) for r in app.table.row_ids()}
        assert cells == {"0.01", "0.1", "0.5", "0.05", "1"}
        # filtered to one run, nothing differs
        await pilot.press("slash", *"baseline", "enter")
        await wait_for(pilot, lambda: app.table.row_count == 1, 5, "one row")
        assert hp() == []
        await pilot.press("escape", "d")
        assert hp() == [f"hp:{k}" for k in KEY_HPARAMS]

    run_pilot(app, body)


def test_sort_cycles_columns_and_orders_numbers(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        app.table.focus()
        for _ in range(20):
            await pilot.press("o")
            if app.table.sort_column == "best":
                break
        assert app.table.sort_column == "best"
        best = [app.runs[r].best() for r in app.table.ordered_ids()]
        known = [b for b in best if b is not None]
        assert known == sorted(known) and best[-1] is None  # numbers ascending, unknown last
        await pilot.press("O")
        best = [app.runs[r].best() for r in app.table.ordered_ids()]
        known = [b for b in best if b is not None]
        assert known == sorted(known, reverse=True)

    run_pilot(app, body)


def test_marked_runs_are_overlaid_with_a_legend(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.plots.ready and app.plots.draw_count > 0, 10, "plots")
        app.table.focus()
        app.table.move_cursor(row=0)
        await pilot.press("space", "down", "space")
        await wait_for(pilot, lambda: len(app.plotted_runs()) == 2, 5, "two plotted runs")
        await pilot.pause(0.2)
        drawn = app.plots.loss.plt.build()
        assert "mlp-baseline" in drawn and "lr-0.1" in drawn
        assert app.table.get_row_index(app.table.highlighted_id()) == 1
        await pilot.press("m")
        assert app.smooth
        await wait_for(pilot, lambda: "(EMA)" in app.plots.loss.plt.build(), 5, "EMA title")

    run_pilot(app, body)


def test_live_plot_follows_new_epoch_lines(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)
    rid = "20260101-000300-lr-0.05-dddd"

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.plots.ready, 10, "plots")
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await wait_for(pilot, lambda: rid in app.plots.last_draw_versions, 5, "running run plotted")
        before = app.plots.draw_count
        line = {
            "type": "epoch",
            "epoch": 7,
            "epochs": 10,
            "train_loss": 0.5,
            "train_acc": 0.8,
            "val_loss": 0.6,
            "val_acc": 0.99,
            "lr": 0.05,
            "seconds": 30.0,
            "time": FIXED_NOW,
        }
        with open(runs_dir / rid / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(line) + "\n")
        # A generous timeout (a loaded box); how fast is benchmark 4's job (bench/bench_tui.py).
        await wait_for(
            pilot, lambda: app.runs[rid].epochs_done == 7 and app.plots.draw_count > before, 20, "redraw"
        )
        assert "99.00% @ epoch 7" in app.plots.acc.plt.build()  # best-val marker moved

    run_pilot(app, body)


def test_row_follows_progress_then_epoch_lines(runs_dir: Path, configs_dir: Path) -> None:
    """Progress lines move the epoch bar only; an epoch line updates the metric cells too."""
    app = _fixed_app(runs_dir, configs_dir)
    rid = "20260101-000300-lr-0.05-dddd"  # running, 6 of 10 epochs

    def cell(key: str) -> str:
        return str(app.table.get_cell(rid, key))

    def append(line: dict[str, Any]) -> None:
        with open(runs_dir / rid / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps({"time": FIXED_NOW, "epochs": 10, **line}) + "\n")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: rid in app.table.rows, 5, "row")
        bar0, loss0 = cell("epoch"), cell("train_loss")
        append({"type": "progress", "epoch": 7, "batch": 50, "batches": 100, "loss": 0.3, "acc": 0.9})
        await wait_for(pilot, lambda: cell("epoch") != bar0, 5, "the epoch bar to move")
        assert cell("epoch").startswith(" 6/10") and "█" in cell("epoch")
        assert cell("train_loss") == loss0  # a progress line is not an epoch result
        append(
            {
                "type": "epoch",
                "epoch": 7,
                "train_loss": 0.123,
                "train_acc": 0.8,
                "val_loss": 0.456,
                "val_acc": 0.7,
                "lr": 0.05,
                "seconds": 3.0,
            }
        )
        await wait_for(pilot, lambda: "0.1230" in cell("train_loss"), 5, "the new train loss")
        assert cell("epoch").startswith(" 7/10") and "0.4560" in cell("val_loss")

    run_pilot(app, body)


def test_deleted_run_folder_shows_deleted(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)
    rid = "20260101-000100-lr-0.1-bbbb"

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.press("2")  # log tab of the highlighted run
        shutil.rmtree(runs_dir / rid)
        await wait_for(pilot, lambda: app.runs[rid].deleted, 5, "deleted")
        assert str(app.table.get_cell(rid, "status")) == "deleted"
        await pilot.pause(0.3)  # the poller keeps going
        assert app.is_running

    run_pilot(app, body)


def test_log_tab_follows_train_log(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)
    rid = "20260101-000300-lr-0.05-dddd"

    async def body(pilot: Any) -> None:
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.press("2")
        log = app.query_one("#log")
        await wait_for(pilot, lambda: any("6 of 10 epochs" in line for line in log.lines), 5, "log tail")
        with open(runs_dir / rid / "train.log", "a") as fh:
            fh.write("epoch 7 done\n")
        await wait_for(pilot, lambda: any("epoch 7 done" in line for line in log.lines), 5, "followed line")
        await pilot.press("3")
        cfg = str(app.query_one("#config-view").render())
        assert "lr: 0.05" in cfg and rid in cfg
        assert "# lr schedule: constant 0.05" in cfg  # a run written before schedules: constant

    run_pilot(app, body)


@pytest.mark.usefixtures("fake_env")
def test_invalid_config_listed_and_not_launchable(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir, start_scheduler=False)

    async def body(pilot: Any) -> None:
        node = await _select_config(pilot, app, "invalid")
        assert node.data.entry.name == "zz-broken"  # the only bad file; the fake configs are valid
        label = node.children[0].label
        assert "zz-broken.yaml:4: optimizer.lr: must be > 0" in label.plain
        assert "red" in str(label.style)
        await pilot.press("3")  # the Config tab shows the full error of the highlighted file
        await wait_for(
            pilot,
            lambda: "cannot be launched" in str(app.query_one("#config-view").render()),
            5,
            "error view",
        )
        shown = str(app.query_one("#config-view").render())
        assert "cannot be launched" in shown and "fix: use a positive learning rate" in shown
        await pilot.press("enter", "s")
        await pilot.pause(0.5)
        assert not isinstance(app.screen, ConfirmScreen)
        assert list(runs_dir.iterdir()) == []
        assert any("cannot launch" in n.message for n in app._notifications)

    run_pilot(app, body)


def test_export_writes_csvs_and_notifies(runs_dir: Path, configs_dir: Path, tmp_path: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir, export_dir=tmp_path / "exports")

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        await pilot.press("e")
        await wait_for(pilot, lambda: app.last_export is not None, 15, "export")
        results, metrics = app.last_export
        assert results.parent.parent == tmp_path / "exports"
        rows = list(csv.DictReader(results.open()))
        by_name = {r["name"]: r for r in rows}
        assert set(by_name) >= {"mlp-baseline", "lr-0.1", "lr-0.5", "lr-0.05", "lr-1.0"}
        want = json.loads((runs_dir / "20260101-000000-mlp-baseline-aaaa" / "result.json").read_text())
        assert float(by_name["mlp-baseline"]["test_acc"]) == pytest.approx(want["test_acc"])
        mrows = list(csv.DictReader(metrics.open()))
        assert sum(1 for r in mrows if r.get("name") == "mlp-baseline") == 10
        await wait_for(pilot, lambda: any(str(results) in n.message for n in app._notifications), 5, "notice")

    run_pilot(app, body)


def test_command_palette_has_every_action(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for t in (
            "Launch study",
            "Kill run",
            "Re-queue run",
            "Export CSV",
            "Filter runs",
            "Toggle diff columns",
            "Toggle smoothing",
            "Mark run",
            "Cycle sort column",
            "Reload configs",
            "Help: keys",
            "Quit",
        ):
            assert t in titles
        # A palette command runs its action on the main screen.
        (smooth,) = [c for c in app.get_system_commands(app.screen) if c.title == "Toggle smoothing"]
        app.call_later(smooth.callback)
        await wait_for(pilot, lambda: app.smooth, 5, "smoothing on from the palette")

    run_pilot(app, body)


# ---------------------------------------------------------------------- fake trainer, real scheduler


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_launch_one_run_queued_running_done_and_plotted(
    runs_dir: Path, configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 15 batches x 0.2 s: the run stays "running" for several polls even on a loaded CI box.
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.2")
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await _select_config(pilot, app, "experiment")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.runs) == 1, 15, "the new run")
        (rid,) = app.runs
        st = app.runs[rid]
        await wait_for(pilot, lambda: st.status in ("done", "failed", "killed"), 60, "run finished")
        assert st.status == "done", (st.error, (runs_dir / rid / "train.log").read_text()[-2000:])
        assert st.status_history == ["queued", "running", "done"]
        assert [p.epoch for p in st.points] == [1, 2, 3]
        assert str(app.table.get_cell(rid, "status")) == "done"
        assert str(app.table.get_cell(rid, "epoch")).strip() == "3/3"
        await wait_for(pilot, lambda: app.plots.last_draw_versions.get(rid) == st.version, 5, "plot")
        assert "best val" in app.plots.acc.plt.build()

    run_pilot(app, body)


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_sweep_never_runs_more_than_the_slots(
    runs_dir: Path, configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_CPU_SLOTS", "2")
    app = _app(runs_dir, configs_dir)
    most = 0

    async def body(pilot: Any) -> None:
        nonlocal most
        await _select_config(pilot, app, "study")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen), 5, "the launch dialog")
        screen = app.screen
        await wait_for(pilot, lambda: bool(screen.plan_text), 20, "the plan")
        assert screen.plan_text == "none of 4 done or queued yet: queue 4?"
        await pilot.press("enter")

        def finished() -> bool:
            nonlocal most
            most = max(most, sum(s.status == "running" for s in app.runs.values()))
            return len(app.runs) == 4 and all(
                s.status in ("done", "failed", "killed") for s in app.runs.values()
            )

        await wait_for(pilot, finished, 120, "the sweep")
        assert sorted(s.status for s in app.runs.values()) == ["done"] * 4
        assert {s.study for s in app.runs.values()} == {"Fake sweep"}

    run_pilot(app, body)
    assert most <= 2  # the table never showed more running than slots
    # The truth from disk: the runs' own started/ended times never overlap more than the slots.
    # (The table samples the disk every poll, so a short run may go queued -> done between two polls.)
    spans = []
    for meta_file in runs_dir.glob("*/meta.json"):
        meta = json.loads(meta_file.read_text())
        spans += [(meta["started"], 1), (meta["ended"], -1)]
    live = peak = 0
    for _, step in sorted(spans, key=lambda x: (x[0], x[1])):  # an end before a start at the same time
        live += step
        peak = max(peak, live)
    assert len(spans) == 8 and 1 <= peak <= 2, spans


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_kill_and_requeue(runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.05")
    configs = write_configs(tmp_path / "long", epochs=200, batches=10)
    app = _app(runs_dir, configs)

    async def body(pilot: Any) -> None:
        await _select_config(pilot, app, "experiment")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: any(s.status == "running" and s.points for s in app.runs.values()), 60, "running"
        )
        (rid,) = app.runs
        app.table.focus()
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.runs[rid].status == "killed", 30, "killed")
        assert str(app.table.get_cell(rid, "status")) == "killed"
        await pilot.press("r")
        await wait_for(pilot, lambda: len(app.runs) == 2, 15, "re-queued run")
        new = next(r for r in app.runs if r != rid)
        await wait_for(pilot, lambda: app.runs[new].status == "running", 60, "re-queued run running")

    run_pilot(app, body)


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_reopen_reattaches_to_live_run(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.05")
    configs = write_configs(tmp_path / "long", epochs=200, batches=4)
    first = _app(runs_dir, configs)
    seen: dict[str, int] = {}

    async def launch(pilot: Any) -> None:
        await _select_config(pilot, first, "experiment")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: any(s.status == "running" and s.points for s in first.runs.values()), 60, "running"
        )
        (rid,) = first.runs
        seen[rid] = first.runs[rid].epochs_done
        await pilot.press("q")

    run_pilot(first, launch)
    (rid,) = seen
    second = _app(runs_dir, configs)

    async def reattach(pilot: Any) -> None:
        await wait_for(pilot, lambda: rid in second.runs, 5, "run listed")
        st = second.runs[rid]
        assert st.status == "running"
        start = st.epochs_done
        assert start >= seen[rid]
        await wait_for(pilot, lambda: st.epochs_done >= start + 2, 30, "new epochs after reopening")
        await wait_for(pilot, lambda: second.plots.last_draw_versions.get(rid, -1) > 0, 5, "plotted")

    run_pilot(second, reattach)


def test_empty_runs_dir_shows_a_hint_instead_of_empty_plots(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir, start_scheduler=False)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.plots.ready, 10, "plots")
        await pilot.pause(0.2)
        assert app.plots.has_class("-empty")
        hint = app.plots.query_one("#plots-empty")
        assert hint.display and "press enter to launch" in str(hint.render())
        assert not app.plots.loss.display

    run_pilot(app, body)


@pytest.mark.usefixtures("fake_env")
def test_reload_picks_up_a_new_config(runs_dir: Path, configs_dir: Path) -> None:
    app = _app(runs_dir, configs_dir, start_scheduler=False)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, app.configs_loaded.is_set, 20, "configs")
        names = lambda: {getattr(n.data, "entry", None) and n.data.entry.name for n in app.tree.root.children}  # noqa: E731
        assert "extra" not in names()
        (configs_dir / "extra.yaml").write_text(
            (configs_dir / "fake-one.yaml").read_text().replace("fake-one", "extra")
        )
        await pilot.press("R")
        await wait_for(pilot, lambda: "extra" in names(), 20, "the new config in the tree")

    run_pilot(app, body)


def test_hyperparameter_headers_are_unique_and_readable(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        labels = [str(c.label) for c in app.table.columns.values()]
        assert labels[-4:] == ["model", "optimizer", "lr", "batch"]
        assert len(labels) == len(set(labels)), labels
        await pilot.press("d")
        assert [str(c.label) for c in app.table.columns.values()][-1:] == ["lr"]

    run_pilot(app, body)


def test_screenshot_is_saved_where_exports_go(runs_dir: Path, configs_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    app = _fixed_app(runs_dir, configs_dir, export_dir=out)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        (shot,) = [c for c in app.get_system_commands(app.screen) if c.title == "Screenshot"]
        shot.callback()
        await wait_for(pilot, lambda: list(out.glob("*.svg")), 20, "the screenshot file")
        (svg,) = out.glob("*.svg")
        assert "mlp-baseline" in svg.read_text().replace("&#160;", " ")
        await wait_for(
            pilot, lambda: any(str(svg) in n.message for n in app._notifications), 10, "a notice naming it"
        )
        assert not any(n.severity == "error" for n in app._notifications)

    run_pilot(app, body)
