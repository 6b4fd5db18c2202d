"""The launch dialog: what a study (or experiment) launch will queue, and its options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

if TYPE_CHECKING:
    from hw2.launch_plan import LaunchPlan
    from tui.host import HostScreen
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


class _TextToggle:
    """Mixin for Textual's toggles (before Checkbox or RadioButton in the bases): the state is in
    the text, ``ON``/``OFF`` (``[x]``/``[ ]``), in place of ``▐X▌``, which reads the same on and off
    in plain text, or without colour."""

    ON = "[x]"
    OFF = "[ ]"
    value: bool

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")  # type: ignore[attr-defined]
        return Content.styled(self.ON if self.value else self.OFF, style)


class TextCheckbox(_TextToggle, Checkbox):
    """A checkbox that reads ``[x] label`` or ``[ ] label``; space (or a click) ticks it."""


class TextRadioButton(_TextToggle, RadioButton):
    """A radio button that reads ``(•) label`` or ``( ) label``."""

    ON = "(•)"
    OFF = "( )"


KEYS_HINT = "enter: next field · space: tick · ctrl+s/ctrl+enter: launch · esc: cancel"
CLOSE_HINT = "enter: next field · space: tick · esc: close"


class LaunchScreen(ModalScreen["LaunchChoice | None"]):
    """Launch a study (or experiment): the plan, then repeat, executor, smoke test first and force.

    The plan (:class:`hw2.launch_plan.LaunchPlan`: twins, how many runs of how many epochs where,
    the time estimate, why earlier runs are not twins) comes from ``plan(repeat, force, executor)``;
    it reads the runs folder, so it runs in a thread and follows every change of an option.

    It cannot misfire: focus starts in the repeat box, enter there only moves to the next field,
    and launching takes the Launch button, ``ctrl+s`` or ``ctrl+enter`` (many terminals send
    ``ctrl+enter`` as a plain enter, hence ``ctrl+s``). With nothing to queue (or no plan yet) there
    is nothing to launch: the dialog offers Close only. ``esc`` cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s,ctrl+enter", "launch", "Launch", show=False),
    ]
    DEFAULT_CSS = """
    LaunchScreen { align: center middle; }
    LaunchScreen > #launch-box {
        width: 96; max-width: 98%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    LaunchScreen #launch-title { width: 100%; text-style: bold; margin-bottom: 1; }
    LaunchScreen #launch-plan { width: 100%; height: auto; margin-bottom: 1; }
    LaunchScreen .launch-row { height: auto; width: 100%; }
    LaunchScreen .launch-row > Label { width: 16; }
    LaunchScreen #launch-repeat { width: 12; }
    LaunchScreen #launch-repeat-note { width: 1fr; color: $text-muted; padding-left: 2; }
    LaunchScreen RadioSet { height: auto; width: auto; layout: horizontal; background: transparent; }
    LaunchScreen RadioSet > RadioButton { width: auto; margin-right: 3; }
    LaunchScreen ToggleButton:focus { border: none; }
    LaunchScreen ToggleButton > .toggle--button { color: $text; background: transparent; }
    LaunchScreen ToggleButton.-on > .toggle--button { color: $text-success; text-style: bold; }
    LaunchScreen RadioSet > RadioButton > .toggle--button { color: $text; background: transparent; }
    LaunchScreen RadioSet > RadioButton.-on > .toggle--button { color: $text-success; text-style: bold; }
    LaunchScreen #launch-buttons { height: auto; width: 100%; margin-top: 1; }
    LaunchScreen #launch-buttons > Button { width: auto; min-width: 16; margin-right: 2; }
    LaunchScreen #launch-keys { width: 100%; color: $text-muted; }
    """

    def __init__(
        self,
        title: str,
        plan: Callable[[int | None, bool, str], LaunchPlan],
        repeat: int | None = None,
        executor: str = "local",
    ) -> None:
        super().__init__()
        self.title_text = title
        self._plan = plan
        self.repeat_default = repeat
        self.executor_default = executor  # the files' executor.kind (hw2.slurm.settings.resolve)
        self.plan: LaunchPlan | None = None
        """The latest plan (None while planning, or when it could not be made)."""
        self.plan_text = ""
        """The plan as shown, one sentence a line ("" while planning)."""
        self._asked = 0  # which plan is wanted: an older thread's answer (options changed since) is dropped

    def compose(self) -> ComposeResult:
        from hw2 import executors

        with VerticalScroll(id="launch-box", can_focus=False):
            yield Label(self.title_text, id="launch-title")
            yield Static("planning…", id="launch-plan")
            with Horizontal(classes="launch-row"):
                yield Label("repeat (seeds)")
                yield Input(
                    str(self.repeat_default or ""),
                    placeholder="as in file",
                    type="integer",
                    compact=True,
                    id="launch-repeat",
                )
                yield Label("runs per variant, seeds counted up", id="launch-repeat-note")
            with Horizontal(classes="launch-row"):
                yield Label("executor")
                with RadioSet(id="launch-executor", compact=True):
                    for name in executors.names():  # the registry: local, slurm, ...
                        yield TextRadioButton(name, value=name == executors.LOCAL, id=f"exec-{name}")
            yield TextCheckbox(
                "smoke test first (queue nothing if a config fails)", compact=True, id="launch-smoke"
            )
            yield TextCheckbox(
                "force: queue runs that have a done/queued twin too", compact=True, id="launch-force"
            )
            with Horizontal(id="launch-buttons"):
                yield Button("Launch (ctrl+s)", variant="warning", compact=True, id="launch-yes")
                yield Button("Cancel (esc)", variant="primary", compact=True, id="launch-no")
            yield Label(KEYS_HINT, id="launch-keys")

    def on_mount(self) -> None:
        self.query_one("#launch-repeat", Input).focus()
        if self.executor_default and self.executor_default != "local":
            # pressed after mount, so the RadioSet's highlight follows it (at mount it highlights
            # its first button whichever is pressed)
            self.query_one(f"#exec-{self.executor_default}", RadioButton).value = True
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

    def executor(self) -> str:
        """The executor pressed (a name of :data:`hw2.executors.REGISTRY`)."""
        for button in self.query_one("#launch-executor", RadioSet).query(RadioButton):
            if button.value and button.id:
                return button.id.removeprefix("exec-")
        return "local"

    def choice(self) -> LaunchChoice:
        return LaunchChoice(
            repeat=self.repeat(),
            smoke=self.query_one("#launch-smoke", Checkbox).value,
            force=self.query_one("#launch-force", Checkbox).value,
            executor=self.executor(),
        )

    # ------------------------------------------------------------------ the plan, in a thread

    def _replan(self) -> None:
        self.plan, self.plan_text = None, ""
        self.query_one("#launch-plan", Static).update("planning…")
        self._show_buttons()
        self._asked += 1
        force = self.query_one("#launch-force", Checkbox).value
        self._compute_plan(self._asked, self.repeat(), force, self.executor())

    @work(thread=True, exclusive=True, group="launch-plan")
    def _compute_plan(self, asked: int, repeat: int | None, force: bool, executor: str) -> None:
        plan: LaunchPlan | None = None
        try:
            plan = self._plan(repeat, force, executor)
            text = "\n".join(plan.lines())
        except Exception as exc:  # a config error, an unreadable runs folder: say it, launch nothing
            text = f"cannot plan: {exc}"
        self.app.call_from_thread(self._show_plan, asked, plan, text)

    def _show_plan(self, asked: int, plan: LaunchPlan | None, text: str) -> None:
        if self.is_attached and asked == self._asked:
            self.plan, self.plan_text = plan, text
            self.query_one("#launch-plan", Static).update(text)
            self._show_buttons()

    def _launchable(self) -> bool:
        return self.plan is not None and self.plan.count > 0

    def _show_buttons(self) -> None:
        """Launch only while there is something to queue; otherwise the dialog offers Close."""
        planning = not self.plan_text
        launch = self.query_one("#launch-yes", Button)
        launch.display = planning or self._launchable()
        launch.disabled = planning
        closing = not (planning or self._launchable())
        self.query_one("#launch-no", Button).label = "Close (esc)" if closing else "Cancel (esc)"
        self.query_one("#launch-keys", Label).update(CLOSE_HINT if closing else KEYS_HINT)

    @on(Input.Changed, "#launch-repeat")
    @on(Checkbox.Changed, "#launch-force")
    @on(RadioSet.Changed, "#launch-executor")
    def _options_changed(self) -> None:
        self._replan()

    @on(Input.Submitted, "#launch-repeat")
    def _submitted(self) -> None:
        """Enter in the repeat box moves on: a reflexive enter must not launch."""
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch-yes":
            self.action_launch()
        elif event.button.id == "launch-no":
            self.action_cancel()

    def action_launch(self) -> None:
        if not self.plan_text:
            self.notify("still planning: launch once the plan shows", severity="warning", timeout=3)
        elif not self._launchable():
            self.notify("nothing to queue", severity="warning", timeout=3)
        else:
            self.dismiss(self.choice())

    def action_cancel(self) -> None:
        self.dismiss(None)


def dialog_title(entry: Any) -> str:
    """``Launch study '2.1.4 Optimizers…' (3 runs as written)``, or ``Launch 'mlp-baseline'``."""
    title = entry.study_title or entry.name
    if entry.kind == "study":
        n = len(entry.runs)
        return f"Launch study '{title}' ({n} run{'' if n == 1 else 's'} as written)"
    return f"Launch '{title}'"


def open_launch_dialog(screen: HostScreen, data: NodeData) -> None:
    """The launch dialog for the highlighted study/experiment: plan, repeat, smoke, force, executor.
    The plan is :func:`hw2.launch_plan.make_plan` on the executor chosen in the dialog (the local
    scheduler's slots and device, or the Slurm settings the files resolve to)."""
    if data.kind == "invalid":
        screen.notify(f"cannot launch: {data.entry.error}", severity="error", timeout=8)
        return
    entry = data.entry
    if not entry.runs:
        screen.notify("nothing to launch", severity="warning")
        return
    runs_dir = screen.hw2.runs_dir
    from hw2 import executors
    from hw2.config import ConfigError

    try:  # a few small YAML files: the study, its base, hw2-slurm.yaml
        default, settings = executors.resolve(entry.path)
    except (ConfigError, executors.ExecutorError) as exc:
        screen.notify(f"cannot launch: {exc}", severity="error", timeout=10)
        return
    executor = default.name

    def plan(repeat: int | None, force: bool, kind: str) -> LaunchPlan:  # in the dialog's thread
        from hw2.launch_plan import make_plan, planned_runs

        where = executors.get(kind).plan(runs_dir, settings)
        return make_plan(
            runs_dir, planned_runs(entry, repeat), force=force, executor=where, study=entry.study_title
        )

    def answer(choice: LaunchChoice | None) -> None:
        if choice is not None:
            screen.hw2.launch_sweep(entry, choice)

    screen.app.push_screen(LaunchScreen(dialog_title(entry), plan, executor=executor), answer)
