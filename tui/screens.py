"""Modal screens: yes/no confirmation and the key help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

HELP_TEXT = """\
[b]hw2-tui[/b] — run and watch the homework-2 experiments

[b]Configs (left)[/b]
  [b]enter[/b]    launch the highlighted experiment / study run (queued, then the scheduler runs it)
  [b]s[/b]        launch every run of the highlighted study (asks first)
  [b]R[/b]        reload configs from disk (invalid files are listed in red and cannot be launched)
  [b]c[/b]        hide/show the configs pane (more room for the table on small terminals)

[b]Runs table[/b]
  [b]↑ ↓[/b]      highlight a run: its plots, log and config show below
  [b]space[/b]    mark/unmark a run: marked runs are overlaid on the plots with a legend
  [b]o / O[/b]    cycle the sort column / reverse the order (or click a column header)
  [b]/[/b]        filter runs by text (name, study, status, model); [b]esc[/b] clears it
  [b]d[/b]        show only the hyperparameter columns that differ between the listed runs
  [b]k[/b]        kill the highlighted run (asks first)
  [b]r[/b]        re-queue a failed or killed run (a new run from the same config)
  [b]e[/b]        export results.csv and metrics.csv to ./exports/<time> (or $HW2_EXPORT_DIR)

[b]Views[/b]
  [b]1 2 3[/b]    Plots | Log | Config tabs
  [b]m[/b]        smoothing (EMA) on/off — the raw curve stays faint behind
  [b]tab[/b]      move focus between configs, runs and tabs
  [b]ctrl+p[/b]   command palette (every action is there too)
  [b]?[/b]        this help

[b]q[/b]  quit — [b]runs keep going[/b] in the background scheduler; reopen hw2-tui to watch them again.
"""


class HelpScreen(ModalScreen[None]):
    """Lists every key; any of esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(HELP_TEXT, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; ``y``/enter confirms, ``n``/esc cancels."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #question { width: 100%; margin-bottom: 1; }
    ConfirmScreen Grid { grid-size: 2; grid-gutter: 1 2; height: 3; }
    ConfirmScreen Button { width: 100%; }
    """

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Grid():
                yield Button(f"{self.yes} (y)", variant="warning", id="yes")
                yield Button(f"{self.no} (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
