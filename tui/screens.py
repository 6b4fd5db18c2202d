"""Modal screens: yes/no confirmation and the key help (the launch dialog is :mod:`tui.launch`)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from tui.commands import help_sections
from tui.widgets import column_glossary


class HelpScreen(ModalScreen[None]):
    """Every key (from :data:`tui.commands.COMMANDS`) and what each runs-table column holds; any
    of esc, q or ? closes it. Long lines wrap under their own text, not under the keys."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(help_renderable(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)


def help_renderable() -> Group:
    """The help's text: a title, then per section a two-column grid (key, what it does) whose
    second column wraps under itself; then the runs table's columns."""
    parts: list[RenderableType] = [
        Text.assemble(("hw2-tui", "bold"), " — run and watch the homework-2 experiments  "),
        Text("esc, q or ? closes this help; ctrl+p finds every command by name", style="dim"),
    ]
    for section, rows in help_sections():
        parts += [Text(""), _grid(section, rows)]
    parts += [
        Text(""),
        _grid("Columns of the runs table (as many as fit the width, by priority)", column_glossary()),
    ]
    parts += [
        Text(""),
        Text.assemble(
            ("runs keep going", "bold"), " after you quit: the scheduler runs them in the background."
        ),
    ]
    return Group(*parts)


def help_text() -> str:
    """The help as plain text (what the tests and the README compare)."""
    lines: list[str] = []
    for section, rows in [*help_sections(), ("Columns", column_glossary())]:
        lines.append(section)
        lines += [f"  {key}  {text}" for key, text in rows]
    return "\n".join(lines)


def _grid(title: str, rows: list[tuple[str, str]]) -> Table:
    width = max((len(k) for k, _ in rows), default=4)
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.title = title
    grid.title_justify = "left"
    grid.title_style = "bold"
    grid.add_column(min_width=width + 2, no_wrap=True, style="bold", justify="left")
    grid.add_column(ratio=1, overflow="fold")
    for key, text in rows:
        grid.add_row(Text("  " + key), Text(text))
    return grid


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
