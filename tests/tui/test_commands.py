"""The command table is the one list of keys: bindings, palette, help screen and README follow it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tui.app import HW2App
from tui.commands import COMMANDS, bindings, help_markup, palette_commands, readme_table
from tui.main_screen import MainScreen
from tui.study import PivotScreen, StudyScreen


def _readme_keys_section() -> str:
    text = (Path(PROJECT_ROOT) / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^### Keys in the app\n\n(.*?)(?=\n\n|\n#)", text, re.S | re.M)
    assert m, "README.md has no 'Keys in the app' table"
    return m.group(1).strip()


def test_readme_key_table_is_the_command_table() -> None:
    # On failure: paste tui.commands.readme_table() into README.md's "Keys in the app" section.
    assert _readme_keys_section() == readme_table()


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


def test_help_lists_every_key_and_its_text() -> None:
    text = help_markup()
    for c in COMMANDS:
        assert c.help in text and c.shown_key.replace("[", r"\[") in text, c
    assert "runs keep going" in text


def test_palette_titles_are_unique_and_cover_the_main_actions() -> None:
    titles = [c.title for c in palette_commands()]
    assert len(titles) == len(set(titles))
    main = {c.action for c in COMMANDS if c.footer and not c.app and c.screen == "main"}
    assert {c.action for c in palette_commands()} >= main
