"""Headless pilot tests of the app: fixed run folders, and real launches with the fake trainer."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.geometry import Region

from hw2 import contract
from tests.conftest import PROJECT_ROOT
from tests.tui.conftest import (
    FIXED_NOW,
    make_fixed_run,
    put_tree_cursor,
    run_pilot,
    wait_for,
    write_configs,
    write_fixed_runs,
)
from tui.app import HW2App, make_app
from tui.launch import LaunchScreen
from tui.screens import ConfirmScreen, HelpScreen
from tui.widgets import NodeData


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


def _lines(widget: Any) -> list[str]:
    """The widget's lines as drawn on screen (its border and border titles included)."""
    width, height = widget.outer_size
    return [strip.text for strip in widget.render_lines(Region(0, 0, width, height))]


def _header(app: HW2App) -> str:
    """The runs table's header line as drawn."""
    return _lines(app.table)[0]


def _footer_line(app: HW2App) -> str:
    """The footer as drawn: each key's text at its place on the screen's bottom line. Asserts
    that no key reaches past the screen's width or overlaps another."""
    footer = app.screen.query_one("Footer")
    line = " " * app.size.width
    taken: set[int] = set()
    for key in footer.children:
        region, text = key.region, key.render().plain
        if not region.width:  # not laid out (yet): not drawn
            continue
        assert region.right <= app.size.width, (text, region)
        cells = set(range(region.x, region.x + len(text)))
        assert not cells & taken, (text, region)
        taken |= cells
        line = line[: region.x] + text + line[region.x + len(text) :]
    return line[: app.size.width]


def _set_hparam(runs_dir: Path, run_id: str, section: str, key: str, value: Any) -> None:
    """Change a fixed run's config (before the app reads it)."""
    path = runs_dir / run_id / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg[section][key] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


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
        await pilot.pause(0.2)
        lines = _lines(app.screen.query_one("#help-text"))
        text = "\n".join(lines)
        for needle in ("space", "kill", "export", "filter", "runs keep going", "esc, q or ? closes"):
            assert needle in text
        # The column abbreviations are explained, and help is listed once in the palette.
        for needle in (
            "tr loss",
            "training loss of the latest epoch",
            "best va",
            "eta",
            "estimated time left",
        ):
            assert needle in text
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert sum("help" in t.lower() or t == "Keys" for t in titles) == 1, titles
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


def test_diff_view_shows_only_name_status_accuracies_and_the_differing_hyperparameters(
    runs_dir: Path, configs_dir: Path
) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        shown = lambda: [c.key for c in app.table.columns_def]  # noqa: E731
        assert {"epoch", "study", "elapsed"} <= set(shown())
        await pilot.press("d")
        assert shown() == ["name", "status", "best", "test", "hp:optimizer.lr"]
        assert _header(app).split() == ["name", "status", "best", "va", "test", "acc", "lr"]
        cells = {str(app.table.get_cell(r, "hp:optimizer.lr")) for r in app.table.row_ids()}
        assert cells == {"0.01", "0.1", "0.5", "0.05", "1"}
        # filtered to one run, nothing differs
        await pilot.press("slash", *"baseline", "enter")
        await wait_for(pilot, lambda: app.table.row_count == 1, 5, "one row")
        assert shown() == ["name", "status", "best", "test"]
        await pilot.press("escape", "d")
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "all rows back")
        assert {"epoch", "study", "elapsed", "hp:optimizer.lr"} <= set(shown())

    run_pilot(app, body)


def test_sort_is_marked_in_the_header_accuracy_best_first_and_headers_click(
    runs_dir: Path, configs_dir: Path
) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    def tests() -> list[float | None]:
        return [app.runs[r].test_acc() for r in app.table.ordered_ids()]

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        app.table.focus()
        for _ in range(20):
            await pilot.press("o")
            if app.table.sort_column == "test":
                break
        assert app.table.sort_column == "test"
        assert "test acc ▼" in _header(app) and "▲" not in _header(app)
        known = [t for t in tests() if t is not None]
        assert len(known) == 2 and known == sorted(known, reverse=True)  # best first
        assert tests()[:2] == known and tests()[2:] == [None] * 3  # no result: last
        await pilot.press("O")
        assert "test acc ▲" in _header(app)
        assert tests()[:2] == sorted(known) and tests()[2:] == [None] * 3  # still last
        # Clicking a header sorts by it (an accuracy: best first); a second click reverses.
        table = app.table
        x = sum(c.get_render_width(table) for c in table.ordered_columns[: table.get_column_index("best")])
        await pilot.click("#runs", offset=(x + 2, 0))
        await wait_for(pilot, lambda: table.sort_column == "best", 5, "sorted by the clicked header")
        assert "best va ▼" in _header(app) and "test acc  " in _header(app)
        best = [app.runs[r].best() for r in table.ordered_ids()]
        known = [b for b in best if b is not None]
        assert best[: len(known)] == sorted(known, reverse=True)
        await pilot.click("#runs", offset=(x + 2, 0))
        await wait_for(pilot, lambda: "best va ▲" in _header(app), 5, "the order reversed")
        # A loss sorts lowest first.
        for _ in range(20):
            await pilot.press("o")
            if table.sort_column == "val_loss":
                break
        assert "va loss ▲" in _header(app)
        losses = [
            app.runs[r].summary.latest.val_loss for r in table.ordered_ids() if app.runs[r].summary.latest
        ]
        assert losses == sorted(losses)

    run_pilot(app, body, size=(240, 40))


def test_at_80x24_the_table_shows_status_and_test_accuracy_whole_without_scrolling(
    runs_dir: Path, configs_dir: Path
) -> None:
    write_fixed_runs(runs_dir)
    make_fixed_run(
        runs_dir,
        "20260101-000500-lr-0.001-dropout-0.2-s0-ffff",
        "lr-0.001-dropout-0.2-s0",
        "done",
        epochs=10,
        done=10,
        study="2.1 Tuning by validation: learning rate x dropout (MLP, MNIST)",
        lr=0.001,
    )
    app = _app(runs_dir, configs_dir, clock=lambda: FIXED_NOW, start_scheduler=False)

    def results_whole() -> None:
        lines = _lines(app.table)
        assert app.table.max_scroll_x == 0, lines[0]  # nothing to scroll to sideways
        head = lines[0].split()
        assert head[:2] == ["name", "status"] and "test" in head and "acc" in head, lines[0]
        for rid, st in app.runs.items():
            row = next(line for line in lines if (st.name or rid) in line)
            assert st.status in row, row
            if st.test_acc() is not None:
                assert f"{100 * st.test_acc():.2f}%" in row, row

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 6, 5, "rows")
        await pilot.pause(0.2)
        assert not app.query_one("#left").display  # the configs pane waits for c
        results_whole()
        assert "epoch" in _header(app) and "best va" in _header(app)
        await pilot.press("c")  # the configs pane comes back with the focus; the table still fits
        await wait_for(pilot, lambda: app.tree.has_focus and app.query_one("#left").display, 5, "configs")
        await pilot.pause(0.2)
        results_whole()
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.query_one("#left").display and app.table.has_focus, 5, "hidden")

    run_pilot(app, body, size=(80, 24))


def test_at_160x48_every_column_the_results_need_is_shown_whole(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        await pilot.pause(0.2)
        assert app.query_one("#left").display
        head = _header(app)
        for label in ("name", "status", "epoch", "best va", "test acc", "lr", "study", "dev", "tr loss"):
            assert f" {label} " in f" {head} ", head
        assert "va loss" in head and "elapsed" in head, head
        assert app.table.max_scroll_x == 0 and head.index("status") < head.index("test acc") < head.index(
            "lr"
        )
        assert "LR sweep" in "\n".join(_lines(app.table))
        # Narrower, columns drop by priority; the results stay, whole.
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: not app.query_one("#left").display, 5, "the configs pane hidden")
        await wait_for(pilot, lambda: "tr loss" not in _header(app), 5, "columns dropped")
        await pilot.pause(0.2)
        head = _header(app)
        assert app.table.max_scroll_x == 0 and "status" in head and "test acc" in head, head
        lines = _lines(app.table)
        for rid in app.table.row_ids():
            st = app.runs[rid]
            row = next(line for line in lines if st.name in line)
            if st.test_acc() is not None:
                assert f"{100 * st.test_acc():.2f}%" in row, row

    run_pilot(app, body, size=(160, 48))


def test_footer_fits_80_columns_and_follows_the_focused_pane(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, app.configs_loaded.is_set, 20, "configs")
        keys = ("? Help", "q Quit", "/ Filter", "d Diff", "v Study", "c Configs", "k Kill", "^p palette")
        # _footer_line asserts every key drawn lies within the 80 columns, none over another
        await wait_for(pilot, lambda: all(k in _footer_line(app) for k in keys), 10, "the table's footer")
        line = _footer_line(app)
        assert "s Launch" not in line
        await pilot.press("c")  # the configs tree: its launch keys
        await wait_for(pilot, lambda: "s Launch" in _footer_line(app), 5, "the tree's footer")
        line = _footer_line(app)
        assert "k Kill" not in line and "R Reload" in line and "q Quit" in line, line
        await pilot.press("c", "tab")  # the tabs: the views' keys
        await wait_for(pilot, lambda: "m Smooth" in _footer_line(app), 5, "the views' footer")
        assert "2 Log" in _footer_line(app)

    run_pilot(app, body, size=(80, 24))


def test_filter_finds_runs_by_hyperparameter_and_says_no_match(runs_dir: Path, configs_dir: Path) -> None:
    write_fixed_runs(runs_dir)
    _set_hparam(runs_dir, "20260101-000400-lr-1.0-eeee", "optimizer", "name", "adam")
    app = _app(runs_dir, configs_dir, clock=lambda: FIXED_NOW, start_scheduler=False)

    def names() -> set[str]:
        return {app.runs[r].name for r in app.table.row_ids()}

    async def typed(pilot: Any, text: str) -> None:
        await pilot.press("escape", "slash", *text)

    def note() -> str:
        return _lines(app.main.filter_box)[-1]

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        await typed(pilot, "adam")
        await wait_for(pilot, lambda: names() == {"lr-1.0"}, 5, "the adam run")
        assert "1 of 5 runs" in note(), _lines(app.main.filter_box)
        await typed(pilot, "lr=0.5")
        await wait_for(pilot, lambda: names() == {"lr-0.5"}, 5, "lr=0.5")
        await typed(pilot, "0.05")  # a value alone, as a number: not 0.5
        await wait_for(pilot, lambda: names() == {"lr-0.05"}, 5, "0.05")
        await typed(pilot, "optimizer.lr=1e-2")
        await wait_for(pilot, lambda: names() == {"mlp-baseline"}, 5, "1e-2 is 0.01")
        await typed(pilot, "sgd done")  # every word must match
        await wait_for(pilot, lambda: names() == {"mlp-baseline", "lr-0.1"}, 5, "sgd and done")
        await typed(pilot, "nothing-like-it")
        await wait_for(pilot, lambda: app.table.row_count == 0, 5, "no rows")
        assert "no match" in note(), _lines(app.main.filter_box)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "all rows back")

    run_pilot(app, body, size=(80, 24))


def test_log_tab_wraps_long_lines_at_80_columns(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)
    rid = "20260101-000000-mlp-baseline-aaaa"
    line = (
        "12:00:01 INFO epoch 7/10  train_loss 0.1234  train_acc 0.9612  val_loss 0.2345  "
        "val_acc 0.9876  (5.5s)"
    )
    with open(runs_dir / rid / "train.log", "a") as fh:
        fh.write(line + "\n")

    async def body(pilot: Any) -> None:
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.press("2")
        log = app.query_one("#log")
        await wait_for(pilot, lambda: any("val_acc 0.9876" in x for x in _lines(log)), 10, "the wrapped line")
        shown = _lines(log)
        assert log.max_scroll_x == 0 and all(len(x.rstrip()) <= log.size.width for x in shown)
        start = next(i for i, x in enumerate(shown) if "epoch 7/10" in x)
        assert "val_acc" not in shown[start] and shown[start + 1].startswith("  ")  # continued, indented

    run_pilot(app, body, size=(80, 24))


def test_palette_shows_keys_and_finds_the_study_views_commands(runs_dir: Path, configs_dir: Path) -> None:
    from textual.command import CommandPalette

    from tui.study import StudyScreen

    app = _fixed_app(runs_dir, configs_dir)
    rid = "20260101-000100-lr-0.1-bbbb"  # of the study "LR sweep"

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.table.row_count == 5, 5, "rows")
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), 5, "the palette")
        await pilot.press(*"factorial")
        palette = app.screen

        def options() -> list[str]:
            found = palette.query("OptionList")
            return [str(o.prompt) for o in found.first().options] if found else []

        await wait_for(pilot, lambda: any("Factorial view (p)" in o for o in options()), 10, "factorial")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette), 5, "palette closed")
        (mark,) = [c for c in app.get_system_commands(app.screen) if c.title == "Mark variant (space)"]
        app.call_later(mark.callback)  # a study view's command from the main screen opens the view
        await wait_for(pilot, lambda: isinstance(app.screen, StudyScreen), 10, "the study view")
        assert app.screen.study == "LR sweep"
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Export CSV (e)", "Factorial view (p)", "Kill run (k)"} <= titles  # every view's, here too

    run_pilot(app, body)


def test_configs_tree_labels_show_the_question_number_and_a_short_title(runs_dir: Path) -> None:
    app = _app(runs_dir, Path(PROJECT_ROOT) / "configs", start_scheduler=False)

    def labels() -> list[str]:
        return [
            n.label.plain for n in app.tree.root.children if n.data is not None and n.data.kind == "study"
        ]

    async def body(pilot: Any) -> None:
        await wait_for(pilot, app.configs_loaded.is_set, 30, "configs")
        await pilot.pause(0.2)
        assert labels()[:2] == ["2.1 Tuning  9 runs", "2.1.3 Regularisation  6 runs"], labels()
        assert any(x.startswith("2.2.3 ReLU") for x in labels()), labels()
        assert any(x.startswith("2.2.6 Regularised") for x in labels()), labels()
        study = next(n for n in app.tree.root.children if n.data is not None and n.data.kind == "study")
        await put_tree_cursor(pilot, app, study)
        await pilot.press("3")
        await wait_for(
            pilot,
            lambda: "2.1 Tuning by validation" in str(app.query_one("#config-view").render()),
            5,
            "the full title in the Config tab",
        )
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: not app.query_one("#left").display, 5, "the pane hidden at 80")
        await pilot.press("c")
        await wait_for(pilot, lambda: app.tree.scrollable_content_region.width > 0, 5, "the pane back")
        await pilot.pause(0.3)
        width = app.tree.scrollable_content_region.width
        assert all(len(x) + 2 <= width for x in labels()), (width, labels())
        assert labels()[0].startswith("2.1 Tuning")

    run_pilot(app, body, size=(160, 48))


def test_marked_runs_are_overlaid_with_a_legend(runs_dir: Path, configs_dir: Path) -> None:
    app = _fixed_app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.plots.ready and app.plots.draw_count > 0, 10, "plots")
        app.table.focus()
        app.table.move_cursor(row=0)
        await pilot.press("space", "down", "space")
        await wait_for(pilot, lambda: len(app.plotted_runs()) == 2, 5, "two plotted runs")
        await pilot.pause(0.2)
        key = app.plots.key_text  # the key above the plots names each run by what differs
        assert "lr 0.01" in key and "lr 0.1" in key, key
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

    run_pilot(app, body, size=(240, 40))  # wide enough for the loss columns


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
            "Launch study (s)",
            "Kill run (k)",
            "Re-queue run (r)",
            "Export CSV (e)",
            "Filter runs (/)",
            "Toggle diff columns (d)",
            "Toggle smoothing (m)",
            "Mark run (space)",
            "Cycle sort column (o)",
            "Reload configs (R)",
            "Help: keys and columns (?)",
            "Quit (runs go on) (q)",
            "Factorial view (p)",
        ):
            assert t in titles
        assert "Keys" not in titles and "Quit" not in titles  # Textual's own, said better by ours
        # A palette command runs its action on the main screen.
        (smooth,) = [c for c in app.get_system_commands(app.screen) if c.title == "Toggle smoothing (m)"]
        app.call_later(smooth.callback)
        await wait_for(pilot, lambda: app.smooth, 5, "smoothing on from the palette")

    run_pilot(app, body)


# ---------------------------------------------------------------------- fake trainer, real scheduler


async def _launch_the_experiment(pilot: Any, app: HW2App) -> tuple[str, Any]:
    """Enter on the configs tree's experiment; the new run's id and state once it is listed."""
    await _select_config(pilot, app, "experiment")
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(app.runs) == 1, 15, "the new run")
    (rid,) = app.runs
    return rid, app.runs[rid]


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_launch_one_run_queued_running_done_and_plotted(
    runs_dir: Path, configs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 15 batches x 0.2 s: the run stays "running" for several polls even on a loaded CI box.
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.2")
    app = _app(runs_dir, configs_dir)

    async def body(pilot: Any) -> None:
        rid, st = await _launch_the_experiment(pilot, app)
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
        assert screen.plan_text.startswith("None of the 4 planned runs is done or queued yet.")
        await pilot.press("ctrl+s")  # the dialog launches only by its key or its button

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
        labels = [c.label for c in app.table.columns_def]
        assert labels[labels.index("test acc") + 1] == "lr"  # the one that differs, next to the results
        assert len(labels) == len(set(labels)), labels
        await pilot.press("d")
        assert [c.label for c in app.table.columns_def][-1:] == ["lr"]

    run_pilot(app, body, size=(240, 40))


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


@pytest.mark.usefixtures("fake_env", "cleanup_runs")
def test_u_resumes_a_killed_run_in_its_own_folder(
    runs_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_CHECKPOINT", "1")  # a checkpoint after each epoch
    monkeypatch.setenv("HW2_FAKE_FAIL_AT_EPOCH", "2")  # SIGKILLed at the start of epoch 2
    configs = write_configs(tmp_path / "configs", epochs=3, batches=2, model="sigkill")
    app = _app(runs_dir, configs)

    async def body(pilot: Any) -> None:
        rid, st = await _launch_the_experiment(pilot, app)

        def status_cell() -> str:
            return str(app.table.get_cell(rid, "status"))

        await wait_for(pilot, lambda: status_cell() == "killed · resumable", 60, "killed, resumable")
        app.table.focus()
        app.table.move_cursor(row=app.table.get_row_index(rid))
        await pilot.press("u")
        said = lambda: [str(n.message) for n in app._notifications]  # noqa: E731
        await wait_for(pilot, lambda: any(f"resumed {rid} (attempt 2)" in m for m in said()), 20, "said")
        await wait_for(pilot, lambda: st.status == "done", 60, "the resumed run done")
        await wait_for(pilot, lambda: status_cell() == "done · resumed 1×", 10, "the resumed mark")
        assert st.summary.attempt == 2 and st.summary.epochs_done == 3
        assert len(app.runs) == 1  # the same folder, no new run

    run_pilot(app, body)
    (rid,) = [d.name for d in runs_dir.iterdir() if d.is_dir() and not d.name.startswith(".")]
    epochs = [
        x["epoch"]
        for x in contract.iter_metrics(runs_dir / rid / contract.METRICS_FILE)
        if x["type"] == "epoch"
    ]
    assert epochs == [1, 2, 3]


def test_the_app_creates_a_missing_runs_dir_private(tmp_path: Path) -> None:
    """Like the CLI and the scheduler, the app creates a missing runs dir 0700 (issue 19 item 3)."""
    import os
    import stat

    from tui.app import make_app

    runs_dir = tmp_path / "new" / "runs"
    old = os.umask(0o022)
    try:
        make_app(runs_dir, tmp_path / "configs")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(runs_dir).st_mode) == 0o700
