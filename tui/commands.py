"""Every command of the app, once: its key, action, footer label, palette title and help text.

The screens' and the app's ``BINDINGS``, the footers (:data:`FOOTER_ACTIONS` picks the main
screen's by focused pane), the command palette, the help screen and the README's "Keys in the
app" table are all generated from :data:`COMMANDS`
(``tests/tui/test_commands.py`` fails when the README section or a binding drifts from it).
A command without an action documents a key handled by a widget (``enter`` in the configs tree,
the arrows in the table, ``ctrl+p``).
"""

from __future__ import annotations

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
        "Launch",
        "Launch study",
    ),
    Command(
        "R",
        "R",
        CONFIGS,
        "reload configs after editing them (invalid files are listed in red)",
        "reload_configs",
        "Reload",
        "Reload configs",
    ),
    Command(
        "c",
        "c",
        CONFIGS,
        "hide/show the configs pane (more room for the table); under 110 columns it starts hidden, "
        "and moving focus to it shows it",
        "toggle_configs",
        "Configs",
        "Toggle configs pane",
    ),
    Command("", "↑ ↓", TABLE, "highlight a run: its plots, log and config follow it"),
    Command(
        "space",
        "space",
        TABLE,
        "mark/unmark a run: marked runs are overlaid on the plots",
        "mark",
        "Mark",
        "Mark run",
    ),
    Command(
        "o",
        "o",
        TABLE,
        "cycle the sort column, marked ▼ (largest first: accuracies, progress) or ▲ (smallest first: "
        "losses, names, times), the cursor on the first run; runs without a value last; clicking a "
        "header sorts by it, twice reverses",
        "cycle_sort",
        "Sort",
        "Cycle sort column",
    ),
    Command("O", "O", TABLE, "reverse the sort order", "reverse_sort", "Reverse", "Reverse sort"),
    Command(
        "slash",
        "/",
        TABLE,
        "filter rows by text: every word must match the name, study, status, model, note or a "
        "hyperparameter (adam, 0.001, lr=0.001, dropout=0.2); says 'no match'; esc clears it",
        "filter",
        "Filter",
        "Filter runs",
    ),
    Command(
        "d",
        "d",
        TABLE,
        "diff view: only name, status, accuracies and the hyperparameters that differ between the "
        "listed runs (← → show the others when they do not all fit); d again: all columns",
        "toggle_diff",
        "Diff",
        "Toggle diff columns",
    ),
    Command(
        "S",
        "S",
        TABLE,
        "show or hide smoke runs (sweep --smoke: one epoch on a subset), hidden by default: in the "
        "table (status '· smoke') and the header's counts",
        "toggle_smoke",
        None,
        "Show/hide smoke runs",
    ),
    Command("k", "k", TABLE, "kill the highlighted run (asks first)", "kill", "Kill", "Kill run"),
    Command(
        "delete,D",
        "del D",
        TABLE,
        "move the marked runs, else the highlighted one, to the trash (<runs>/.trash; asks first, "
        "naming them and their size; queued or running runs are refused); hw2-tui restore RUN brings "
        "one back, hw2-tui gc empties the trash",
        "trash",
        "Trash",
        "Move runs to trash",
    ),
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
        "u",
        "u",
        TABLE,
        "resume a failed or killed run in its own folder from its last checkpoint (status "
        "'failed · resumable'); refused if its config or the trainers' code changed",
        "resume",
        "Resume",
        "Resume run",
    ),
    Command(
        "n",
        "n",
        TABLE,
        "note on the highlighted run: a line to type it in, holding the run's note; enter saves it "
        "(empty clears it), esc cancels; the note column, the Config tab, / and the export show it",
        "note",
        "Note",
        "Note on run",
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
    Command("1", "1", VIEWS, "Plots tab", "tab('tab-plots')", "Plots", "Show plots"),
    Command(
        "2",
        "2",
        VIEWS,
        "Log tab (train.log of the highlighted run; long lines wrap)",
        "tab('tab-log')",
        "Log",
        "Show log",
    ),
    Command(
        "3",
        "3",
        VIEWS,
        "Config tab (resolved config of the highlighted run, or the highlighted config file)",
        "tab('tab-config')",
        "Config",
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
        "Study",
        "Study view",
    ),
    Command(
        "P",
        "P",
        VIEWS,
        "write the study's report (reports/<study>/report.md, .tex, figures, CSVs) in the background",
        "study_report",
        "Report",
        "Write study report",
    ),
    Command(
        "F",
        "F",
        VIEWS,
        "re-queue every failed or killed run of the study (those without a done/queued twin)",
        "requeue_failed",
        "Retry failed",
        "Re-queue failed runs of the study",
    ),
    Command(
        "space",
        "space",
        STUDY,
        "mark/unmark a variant: two marked show their verdict (Welch on test accuracy)",
        "mark_variant",
        "Mark",
        "Mark variant",
        screen="study",
    ),
    Command(
        "p",
        "p",
        STUDY,
        "factorial view (studies with a grid over two or more keys)",
        "pivot",
        "Factorial",
        "Factorial view",
        screen="study",
    ),
    Command(
        "P", "P", STUDY, "write the study's report", "report", "Report", "Write study report", screen="study"
    ),
    Command(
        "F",
        "F",
        STUDY,
        "re-queue the study's failed or killed runs",
        "requeue_failed",
        "Requeue failed",
        "Re-queue failed runs of the study",
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
        "Edit the study's conclusion",
        screen="study",
    ),
    Command("escape", "esc", STUDY, "back to the runs", "close", "Back", screen="study"),
    Command(
        "x",
        "x",
        PIVOT,
        "swap rows and columns",
        "swap_axes",
        "Swap",
        "Factorial: swap rows and columns",
        screen="pivot",
    ),
    Command(
        "m",
        "m",
        PIVOT,
        "cycle the metric (best val acc, test acc, val loss, train loss, s/epoch)",
        "cycle_metric",
        "Metric",
        "Factorial: next metric",
        screen="pivot",
    ),
    Command(
        "f",
        "f",
        PIVOT,
        "next pair of factors (studies varying more than two keys)",
        "cycle_factors",
        "Factors",
        "Factorial: next pair of factors",
        screen="pivot",
    ),
    Command(
        "e",
        "e",
        PIVOT,
        "export the table as CSV and LaTeX into the export dir (paths shown)",
        "export_pivot",
        "Export",
        "Factorial: export CSV and LaTeX",
        screen="pivot",
    ),
    Command("escape", "esc", PIVOT, "back to the study view", "close", "Back", screen="pivot"),
    Command("", "ctrl+p", APP, "command palette: every command of every view, with its key"),
    Command(
        "question_mark",
        "?",
        APP,
        "this help: every key and what each column holds (esc, q or ? closes it)",
        "help",
        "Help",
        "Help: keys and columns",
        app=True,
    ),
    Command(
        "q",
        "q",
        APP,
        "quit; runs keep going in the background, reopening re-attaches",
        "quit",
        "Quit (runs go on)",
        "Quit (runs go on)",
        app=True,
    ),
)
"""In the order the help screen and the README list them."""

SECTIONS = (CONFIGS, TABLE, VIEWS, STUDY, PIVOT, APP)

FOOTER_ACTIONS: dict[str, tuple[str, ...]] = {
    "table": (
        "help",
        "quit",
        "filter",
        "toggle_diff",
        "study_view",
        "toggle_configs",
        "kill",
        "trash",
        "resume",
        "requeue",
        "export",
        "cycle_sort",
        "mark",
    ),
    "tree": (
        "help",
        "quit",
        "launch_study",
        "study_view",
        "toggle_configs",
        "reload_configs",
        "requeue_failed",
        "study_report",
    ),
    "views": (
        "help",
        "quit",
        "toggle_smooth",
        "tab('tab-plots')",
        "tab('tab-log')",
        "tab('tab-config')",
        "study_view",
        "toggle_configs",
        "filter",
    ),
}
"""The main screen's footer by focused pane (runs table, configs tree, the tabs), most wanted
first: :class:`tui.widgets.FittedFooter` shows as many as fit. The study and factorial views show
their own keys in the command table's order."""


def bindings(*, app: bool, screen: str = "main") -> list[Binding]:
    """The bindings of the app (``app=True``) or of a screen, in the command table's order."""
    return [c.binding() for c in COMMANDS if c.action and c.app is app and (app or c.screen == screen)]


def palette_title(cmd: Command) -> str:
    """A command's palette title with its key: ``Kill run (k)``."""
    return f"{cmd.title} ({cmd.shown_key})"


def palette_commands(screen: str = "main") -> list[Command]:
    """Every command the palette lists from ``screen`` (main, study or pivot): each command of
    every view once, the screen's own first where two views share a title (P writes the report
    from the main screen and from the study view)."""
    titled = [c for c in COMMANDS if c.title and c.action]
    titled.sort(key=lambda c: not (c.app or c.screen == screen))
    seen: set[str] = set()
    out = []
    for c in titled:
        if c.title not in seen:
            seen.add(c.title or "")
            out.append(c)
    return out


def help_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """The help screen's keys: (section, [(key, what it does)]) in the command table's order."""
    return [
        (section, [(c.shown_key, c.help) for c in COMMANDS if c.section == section]) for section in SECTIONS
    ]


def readme_table() -> str:
    """The README's "Keys in the app" table (Markdown)."""
    rows = ["| key | where | action |", "|---|---|---|"]
    for c in COMMANDS:
        key = " ".join(f"`{k}`" for k in c.shown_key.split())
        text = c.help.replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| {key} | {c.section} | {text} |")
    return "\n".join(rows)
