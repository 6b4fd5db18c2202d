"""The command table is the one list of keys: bindings, palette, help screen and README follow it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tui.app import HW2App
from tui.commands import COMMANDS, FOOTER_ACTIONS, bindings, palette_commands, palette_title, readme_table
from tui.main_screen import MainScreen
from tui.screens import help_text
from tui.study import PivotScreen, StudyScreen
from tui.widgets import BASE_COLUMNS, columns_table


def _readme_section(heading: str) -> str:
    text = (Path(PROJECT_ROOT) / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^### {heading}\n\n(?:[^|\n][^\n]*\n\n)?(\|.*?)(?=\n\n|\n#)", text, re.S | re.M)
    assert m, f"README.md has no '{heading}' table"
    return m.group(1).strip()


def test_readme_key_table_is_the_command_table() -> None:
    # On failure: paste tui.commands.readme_table() into README.md's "Keys in the app" section.
    assert _readme_section("Keys in the app") == readme_table()


def test_readme_columns_table_is_the_table_s_columns() -> None:
    # On failure: paste tui.widgets.columns_table() into README.md's "Columns of the runs table".
    assert _readme_section("Columns of the runs table") == columns_table()
    assert all(f"`{c.label}`" in columns_table() for c in BASE_COLUMNS)


def test_every_command_with_an_action_is_bound_once_where_its_action_lives() -> None:
    screens = {"main": MainScreen, "study": StudyScreen, "pivot": PivotScreen}
    app_keys = {(b.key, b.action) for b in HW2App.BINDINGS}
    for c in COMMANDS:
        if c.action is None:
            assert not c.keys, c  # a documented key that a widget handles
            continue
        target = HW2App if c.app else screens[c.screen]
        keys = app_keys if c.app else {(b.key, b.action) for b in target.BINDINGS}
        assert (c.keys, c.action) in keys, c
        name = c.action.split("(", 1)[0]
        assert callable(getattr(target, f"action_{name}", None)), f"{target.__name__} lacks action_{name}"
    for screen in screens.values():
        every = [b.key for b in (*screen.BINDINGS, *HW2App.BINDINGS)]
        assert len(every) == len(set(every)), f"a key bound twice on {screen.__name__}"
    bound = sum(len(s.BINDINGS) for s in screens.values()) + len(HW2App.BINDINGS)
    assert bound == sum(1 for c in COMMANDS if c.action)


def test_footer_shows_the_commands_with_a_footer_label() -> None:
    for screen in ("main", "study", "pivot"):
        shown = {
            b.key: b.description for b in bindings(app=False, screen=screen) + bindings(app=True) if b.show
        }
        want = {c.keys: c.footer for c in COMMANDS if c.footer and (c.app or c.screen == screen)}
        assert shown == want, screen
    assert shown["q"] == "Quit (runs go on)"


def test_main_footer_keys_are_bound_and_labelled_for_every_pane() -> None:
    labelled = {c.action for c in COMMANDS if c.footer and (c.app or c.screen == "main")}
    for pane, actions in FOOTER_ACTIONS.items():
        assert set(actions) <= labelled, pane
        assert len(actions) == len(set(actions)) and actions[:2] == ("help", "quit"), pane
    assert "launch_study" in FOOTER_ACTIONS["tree"] and "launch_study" not in FOOTER_ACTIONS["table"]
    assert "kill" in FOOTER_ACTIONS["table"] and "kill" not in FOOTER_ACTIONS["tree"]


def test_help_lists_every_key_and_its_text_and_every_column() -> None:
    text = help_text()
    for c in COMMANDS:
        assert c.help in text and c.shown_key in text, c
    for col in BASE_COLUMNS:
        assert f"  {col.label}  {col.help}" in text, col
    assert "esc, q or ? closes it" in text


def test_palette_lists_every_command_once_from_every_view_with_its_key() -> None:
    titled = {c.title for c in COMMANDS if c.title and c.action}
    assert {"Factorial view", "Mark variant", "Factorial: swap rows and columns", "Kill run"} <= titled
    for screen in ("main", "study", "pivot"):
        cmds = palette_commands(screen)
        titles = [c.title for c in cmds]
        assert len(titles) == len(set(titles)) and set(titles) == titled, screen
        assert all(palette_title(c).endswith(f" ({c.shown_key})") for c in cmds)
    # Where two views share a title, the palette runs the one of the view it is opened from.
    (main_report,) = [c for c in palette_commands("main") if c.title == "Write study report"]
    (study_report,) = [c for c in palette_commands("study") if c.title == "Write study report"]
    assert (main_report.screen, study_report.screen) == ("main", "study")
