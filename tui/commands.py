"""Every command of the app, once: its key, action, footer label, palette title and help text.

The main screen's and the app's ``BINDINGS``, the command palette, the help screen and the
README's "Keys in the app" table are all generated from :data:`COMMANDS`
(``tests/tui/test_commands.py`` fails when the README section or a binding drifts from it).
A command without an action documents a key handled by a widget (``enter`` in the configs tree,
the arrows in the table, ``ctrl+p``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Command:
    keys: str
    """Textual key names, comma-separated (``"question_mark"``); empty for a key a widget handles."""
    shown_key: str
    """The key as the help screen and README write it (``"?"``)."""
    section: str
    help: str
    """What it does: the help screen's line, the README's cell and the palette's help."""
    action: str | None = None
    """The action run (on the main screen, or on the app when ``app`` is set)."""
    footer: str | None = None
    """The footer label; None keeps the key out of the footer (it still works)."""
    title: str | None = None
    """The command palette's title; None keeps it out of the palette."""
    app: bool = False
    """Bound on the app (works under every screen) rather than on the main screen."""

    def binding(self) -> Binding:
        assert self.action is not None
        return Binding(
            self.keys,
            self.action,
            self.footer or self.title or self.help,
            show=self.footer is not None,
        )


CONFIGS, TABLE, VIEWS, APP = "Configs (left)", "Runs table", "Views", "App"

COMMANDS: tuple[Command, ...] = (
    Command(
        "",
        "enter",
        CONFIGS,
        "queue the highlighted experiment or study run (the scheduler runs it); on a study: as s",
    ),
    Command(
        "s",
        "s",
        CONFIGS,
        "launch the highlighted study: a dialog says what is already done or queued (only the rest is "
        "queued) and sets repeat, smoke test first, force and executor (local/Slurm)",
        "launch_study",
        "Study",
        "Launch study",
    ),
    Command(
        "R",
        "R",
        CONFIGS,
        "reload configs after editing them (invalid files are listed in red)",
        "reload_configs",
        None,
        "Reload configs",
    ),
    Command(
        "c",
        "c",
        CONFIGS,
        "hide/show the configs pane (more room for the table)",
        "toggle_configs",
        None,
        "Toggle configs pane",
    ),
    Command("", "↑ ↓", TABLE, "highlight a run: its plots, log and config follow it"),
    Command(
        "space",
        "space",
        TABLE,
        "mark/unmark a run: marked runs are overlaid on the plots",
        "mark",
        None,
        "Mark run",
    ),
    Command(
        "o",
        "o",
        TABLE,
        "cycle the sort column (clicking a header sorts too)",
        "cycle_sort",
        None,
        "Cycle sort column",
    ),
    Command("O", "O", TABLE, "reverse the sort order", "reverse_sort", None, "Reverse sort"),
    Command(
        "slash",
        "/",
        TABLE,
        "filter rows by text (name, study, status, model); esc clears it",
        "filter",
        "Filter",
        "Filter runs",
    ),
    Command(
        "d",
        "d",
        TABLE,
        "show only the hyperparameter columns that differ between the listed runs",
        "toggle_diff",
        "Diff",
        "Toggle diff columns",
    ),
    Command("k", "k", TABLE, "kill the highlighted run (asks first)", "kill", "Kill", "Kill run"),
    Command(
        "r",
        "r",
        TABLE,
        "re-queue a failed or killed run (a new run from the same config)",
        "requeue",
        "Requeue",
        "Re-queue run",
    ),
    Command(
        "e",
        "e",
        TABLE,
        "export results.csv and metrics.csv to ./exports/<time> (or $HW2_EXPORT_DIR)",
        "export",
        "Export",
        "Export CSV",
    ),
    Command("1", "1", VIEWS, "Plots tab", "tab('tab-plots')", None, "Show plots"),
    Command(
        "2", "2", VIEWS, "Log tab (train.log of the highlighted run)", "tab('tab-log')", None, "Show log"
    ),
    Command(
        "3",
        "3",
        VIEWS,
        "Config tab (resolved config of the highlighted run)",
        "tab('tab-config')",
        None,
        "Show config",
    ),
    Command(
        "m",
        "m",
        VIEWS,
        "smoothing (EMA) on/off; the raw curve stays faint behind",
        "toggle_smooth",
        "Smooth",
        "Toggle smoothing",
    ),
    Command("", "tab", VIEWS, "move focus between configs, runs and tabs"),
    Command("", "ctrl+p", APP, "command palette: every action is there too"),
    Command("question_mark", "?", APP, "this help", "help", "Help", "Help: keys"),
    Command(
        "q",
        "q",
        APP,
        "quit; runs keep going in the background, reopening re-attaches",
        "quit",
        "Quit (runs go on)",
        app=True,
    ),
)
"""In the order the help screen and the README list them."""

SECTIONS = (CONFIGS, TABLE, VIEWS, APP)


FOOTER_ORDER = ("help", "launch_study", "kill", "requeue", "export", "filter", "toggle_diff", "toggle_smooth")
"""The footer's order (left to right) of the main screen's keys; the app's (quit) come after them."""


def bindings(*, app: bool) -> list[Binding]:
    """The bindings of the app (``app=True``) or of the main screen, footer keys first, in footer order."""
    cmds = [c for c in COMMANDS if c.action and c.app is app]
    rank = {a: i for i, a in enumerate(FOOTER_ORDER)}
    cmds.sort(key=lambda c: (c.footer is None, rank.get(c.action or "", len(rank))))
    return [c.binding() for c in cmds]


def palette_commands() -> Iterable[Command]:
    return (c for c in COMMANDS if c.title and c.action)


def help_markup() -> str:
    """The help screen's text (Textual markup)."""
    out = ["[b]hw2-tui[/b] — run and watch the homework-2 experiments"]
    for section in SECTIONS:
        out += ["", f"[b]{section}[/b]"]
        for c in COMMANDS:
            if c.section == section:
                out.append(f"  [b]{_escape(c.shown_key):<8}[/b] {_escape(c.help)}")
    out += ["", "[b]runs keep going[/b] after you quit: the scheduler runs them in the background."]
    return "\n".join(out)


def readme_table() -> str:
    """The README's "Keys in the app" table (Markdown)."""
    rows = ["| key | where | action |", "|---|---|---|"]
    for c in COMMANDS:
        key = " ".join(f"`{k}`" for k in c.shown_key.split())
        text = c.help.replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| {key} | {c.section} | {text} |")
    return "\n".join(rows)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
