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
    """Bound on the app (works under every screen) rather than on a screen."""
    screen: str = "main"
    """The screen whose ``BINDINGS`` hold it: ``main``, ``study`` (the study view) or ``pivot``
    (the factorial view); ignored when ``app`` is set."""

    def binding(self) -> Binding:
        assert self.action is not None
        return Binding(
            self.keys,
            self.action,
            self.footer or self.title or self.help,
            show=self.footer is not None,
        )


CONFIGS, TABLE, VIEWS, APP = "Configs (left)", "Runs table", "Views", "App"
STUDY, PIVOT = "Study view", "Factorial view"

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
    Command(
        "v",
        "v",
        VIEWS,
        "study view of the highlighted study (configs tree) or of the highlighted run's study",
        "study_view",
        "Study view",
        "Study view",
    ),
    Command(
        "P",
        "P",
        VIEWS,
        "write the study's report (reports/<study>/report.md, .tex, figures, CSVs) in the background",
        "study_report",
        None,
        "Write study report",
    ),
    Command(
        "F",
        "F",
        VIEWS,
        "re-queue every failed or killed run of the study (those without a done/queued twin)",
        "requeue_failed",
        None,
        "Re-queue failed runs of the study",
    ),
    Command(
        "space",
        "space",
        STUDY,
        "mark/unmark a variant: two marked show their verdict (Welch on test accuracy)",
        "mark_variant",
        "Mark",
        screen="study",
    ),
    Command(
        "p",
        "p",
        STUDY,
        "factorial view (studies with a grid over two or more keys)",
        "pivot",
        "Factorial",
        screen="study",
    ),
    Command("P", "P", STUDY, "write the study's report", "report", "Report", screen="study"),
    Command(
        "F",
        "F",
        STUDY,
        "re-queue the study's failed or killed runs",
        "requeue_failed",
        "Requeue failed",
        screen="study",
    ),
    Command(
        "E",
        "E",
        STUDY,
        "edit your conclusion (reports/<study>/conclusion.md, never overwritten) in $EDITOR; "
        "P puts it into the report",
        "edit_conclusion",
        "Conclusion",
        screen="study",
    ),
    Command("escape", "esc", STUDY, "back to the runs", "close", "Back", screen="study"),
    Command("x", "x", PIVOT, "swap rows and columns", "swap_axes", "Swap", screen="pivot"),
    Command(
        "m",
        "m",
        PIVOT,
        "cycle the metric (best val acc, test acc, val loss, train loss, s/epoch)",
        "cycle_metric",
        "Metric",
        screen="pivot",
    ),
    Command(
        "f",
        "f",
        PIVOT,
        "next pair of factors (studies varying more than two keys)",
        "cycle_factors",
        "Factors",
        screen="pivot",
    ),
    Command(
        "e",
        "e",
        PIVOT,
        "export the table as CSV and LaTeX into the export dir (paths shown)",
        "export_pivot",
        "Export",
        screen="pivot",
    ),
    Command("escape", "esc", PIVOT, "back to the study view", "close", "Back", screen="pivot"),
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

SECTIONS = (CONFIGS, TABLE, VIEWS, STUDY, PIVOT, APP)


FOOTER_ORDER = (
    "help",
    "launch_study",
    "study_view",
    "kill",
    "requeue",
    "export",
    "filter",
    "toggle_diff",
    "toggle_smooth",
)
"""The footer's order (left to right) of the main screen's keys; the app's (quit) come after them."""


def bindings(*, app: bool, screen: str = "main") -> list[Binding]:
    """The bindings of the app (``app=True``) or of a screen, footer keys first, in footer order."""
    cmds = [c for c in COMMANDS if c.action and c.app is app and (app or c.screen == screen)]
    rank = {a: i for i, a in enumerate(FOOTER_ORDER)}
    cmds.sort(key=lambda c: (c.footer is None, rank.get(c.action or "", len(rank))))
    return [c.binding() for c in cmds]


def palette_commands() -> Iterable[Command]:
    """The main screen's and the app's commands (the other screens' keys are in their footers)."""
    return (c for c in COMMANDS if c.title and c.action and (c.app or c.screen == "main"))


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
