"""The launch dialog: what a study (or experiment) launch will queue, and its options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet

if TYPE_CHECKING:
    from tui.main_screen import MainScreen
    from tui.widgets import NodeData


@dataclass(frozen=True)
class LaunchChoice:
    """What the launch dialog asks for: ``repeat`` (None keeps the study's), smoke first, force,
    executor (``local``/``slurm``; None: as the files' ``executor.kind`` say)."""

    repeat: int | None = None
    smoke: bool = False
    force: bool = False
    executor: str | None = None


MAX_REPEAT = 100


class LaunchScreen(ModalScreen["LaunchChoice | None"]):
    """Launch a study (or experiment): the plan ("4 of 6 already done or queued: queue 2"), repeat,
    smoke test first, force, executor. ``plan(repeat, force)`` returns the plan's one-line summary;
    it reads the runs folder, so it runs in a thread and the summary follows every change.
    ``enter`` (or the Launch button) launches, ``esc`` cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "launch", "Launch", show=False),
    ]
    DEFAULT_CSS = """
    LaunchScreen { align: center middle; }
    LaunchScreen > Vertical {
        width: 72; max-width: 100%; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    LaunchScreen #launch-title { width: 100%; text-style: bold; }
    LaunchScreen #launch-plan { width: 100%; margin-bottom: 1; color: $accent; }
    LaunchScreen .launch-row { height: auto; }
    LaunchScreen .launch-row Label { width: 16; padding: 1 0; }
    LaunchScreen #launch-repeat { width: 16; }
    LaunchScreen RadioSet { height: auto; width: auto; layout: horizontal; }
    LaunchScreen Grid { grid-size: 2; grid-gutter: 1 2; height: 3; margin-top: 1; }
    LaunchScreen Button { width: 100%; }
    """

    def __init__(
        self,
        title: str,
        plan: Callable[[int | None, bool], str],
        repeat: int | None = None,
        executor: str = "local",
    ) -> None:
        super().__init__()
        self.title_text = title
        self._plan = plan
        self.repeat_default = repeat
        self.executor_default = executor  # the files' executor.kind (hw2.slurm.settings.resolve)
        self.plan_text = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="launch-title")
            yield Label("planning…", id="launch-plan")
            with Horizontal(classes="launch-row"):
                yield Label("repeat (seeds)")
                yield Input(
                    str(self.repeat_default or ""),
                    placeholder="as in file",
                    type="integer",
                    id="launch-repeat",
                )
            with Horizontal(classes="launch-row"):
                yield Label("executor")
                with RadioSet(id="launch-executor"):
                    yield RadioButton("local", value=True, id="exec-local")
                    yield RadioButton("slurm", id="exec-slurm")
            yield Checkbox("smoke test first (queue nothing if any config fails)", id="launch-smoke")
            yield Checkbox("force: queue runs that already have a done/queued twin", id="launch-force")
            with Grid():
                yield Button("Launch (enter)", variant="warning", id="launch-yes")
                yield Button("Cancel (esc)", variant="primary", id="launch-no")

    def on_mount(self) -> None:
        self.query_one("#launch-yes", Button).focus()
        if self.executor_default == "slurm":
            # pressed after mount, so the RadioSet's highlight follows it (at mount it highlights
            # its first button whichever is pressed)
            self.query_one("#exec-slurm", RadioButton).value = True
        self._replan()

    # ------------------------------------------------------------------ the choice

    def repeat(self) -> int | None:
        """The repeat typed (clamped to 1..MAX_REPEAT), None when empty (the file's own)."""
        text = self.query_one("#launch-repeat", Input).value.strip()
        if not text:
            return None
        try:
            return max(1, min(int(text), MAX_REPEAT))
        except ValueError:
            return None

    def choice(self) -> LaunchChoice:
        slurm = self.query_one("#exec-slurm", RadioButton).value
        return LaunchChoice(
            repeat=self.repeat(),
            smoke=self.query_one("#launch-smoke", Checkbox).value,
            force=self.query_one("#launch-force", Checkbox).value,
            executor="slurm" if slurm else "local",
        )

    # ------------------------------------------------------------------ the plan, in a thread

    def _replan(self) -> None:
        self.query_one("#launch-plan", Label).update("planning…")
        self.plan_text = ""
        self._compute_plan(self.repeat(), self.query_one("#launch-force", Checkbox).value)

    @work(thread=True, exclusive=True, group="launch-plan")
    def _compute_plan(self, repeat: int | None, force: bool) -> None:
        try:
            text = self._plan(repeat, force) + "?"
        except Exception as exc:  # a config error, an unreadable runs folder: say it, launch nothing
            text = f"cannot plan: {exc}"
        self.app.call_from_thread(self._show_plan, text)

    def _show_plan(self, text: str) -> None:
        if self.is_attached:
            self.plan_text = text
            self.query_one("#launch-plan", Label).update(text)

    @on(Input.Changed, "#launch-repeat")
    @on(Checkbox.Changed, "#launch-force")
    def _options_changed(self) -> None:
        self._replan()

    @on(Input.Submitted, "#launch-repeat")
    def _submitted(self) -> None:
        self.action_launch()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch-yes":
            self.action_launch()
        elif event.button.id == "launch-no":
            self.action_cancel()

    def action_launch(self) -> None:
        self.dismiss(self.choice())

    def action_cancel(self) -> None:
        self.dismiss(None)


def planned_runs(entry: Any, repeat: int | None) -> list[Any]:
    """A config entry's planned runs: as written, or expanded again with ``repeat`` seeds per variant."""
    if repeat is None:
        return list(entry.runs)
    from hw2.config import expand_study

    return list(expand_study(entry.path, repeat=repeat))


def open_launch_dialog(screen: MainScreen, data: NodeData) -> None:
    """The launch dialog for the highlighted study/experiment: plan, repeat, smoke, force, executor."""
    if data.kind == "invalid":
        screen.notify(f"cannot launch: {data.entry.error}", severity="error", timeout=8)
        return
    entry = data.entry
    if not entry.runs:
        screen.notify("nothing to launch", severity="warning")
        return
    title = entry.study_title or entry.name
    what = f"study '{title}' ({len(entry.runs)} runs as written)" if entry.kind == "study" else f"'{title}'"
    runs_dir = screen.hw2.runs_dir
    from hw2.config import ConfigError
    from hw2.slurm.settings import resolve

    try:  # a few small YAML files: the study, its base, hw2-slurm.yaml
        executor = resolve(entry.path)[0]
    except ConfigError as exc:
        screen.notify(f"cannot launch: {exc}", severity="error", timeout=10)
        return

    def plan(repeat: int | None, force: bool) -> str:  # in the dialog's thread
        from hw2.queue import plan_sweep

        return plan_sweep(runs_dir, planned_runs(entry, repeat), force=force).summary()

    def answer(choice: LaunchChoice | None) -> None:
        if choice is not None:
            screen.hw2.launch_sweep(entry, choice)

    screen.app.push_screen(LaunchScreen(f"Launch {what}", plan, executor=executor), answer)
