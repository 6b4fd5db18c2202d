"""The main screen: configs tree, runs table, Plots | Log | Config tabs, GPU bar.

Its keys are its own ``BINDINGS`` (from :mod:`tui.commands`), so they do nothing while a dialog
(confirm, help, command palette: other screens) is on top. It is driven by the app with the
changes :meth:`tui.model.RunsModel.apply` reports (:meth:`MainScreen.show_changes`) and holds
the view state: filter, diff columns, smoothing, the highlighted run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Label, Static, TabbedContent, TabPane, Tree

from hw2.runs.lifecycle import NOTE_MAX
from hw2.schedule import schedule_text
from tui.commands import FOOTER_ACTIONS, bindings
from tui.launch import open_launch_dialog
from tui.model import Changes, RunState, differing_keys, run_matches
from tui.plots import MetricPlots
from tui.screens import ConfirmScreen
from tui.widgets import (
    KEY_HPARAMS,
    PROGRESS_COLUMNS,
    TIME_COLUMNS,
    ConfigTree,
    FittedFooter,
    GpuBar,
    NodeData,
    RunsTable,
    WrapLog,
    gpu_text,
    hparam_order,
    study_label,
)

if TYPE_CHECKING:
    from tui.host import Host


TICK_S = 1.0
LOG_MAX_LINES = 5000
STUDY_WIDTH = 18
TRASH_NAMES_SHOWN = 4  # the trash dialog names this many runs, then "and N more"
"""The study column's names at most (``2.2.6 Regularised``)."""
NARROW = 110
"""Below this many columns the configs pane starts hidden (``c``, or focusing it, shows it)."""


COLUMNS_COST_FACTOR = 20.0
"""The columns refresh again no sooner than this many times its last cost after it."""


class MainScreen(Screen[None]):
    """Run, watch and compare the runs."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(app=False)  # type: ignore[assignment]
    AUTO_FOCUS = "#runs"

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self._filter_words: list[str] = []
        self.diff_mode = False
        self.configs_choice: bool | None = None
        """The user's choice of the configs pane (``c``); None: shown from NARROW columns up."""
        self.smooth = False
        self.show_smoke = False
        self._columns_at = float("-inf")  # when the columns were last refreshed (monotonic s)
        self._columns_cost = 0.0  # and how long that took
        self._columns_pending = False
        """Smoke runs (``sweep --smoke``) are listed and counted only after ``S``."""
        self._highlighted: str | None = None
        # Rows with new metric lines, shown on the next tick: True = the row in full (an epoch
        # line, skipped lines), False = progress lines only (just the epoch bar and times).
        self._dirty_rows: dict[str, bool] = {}
        self._config_text = ""
        self.table = RunsTable(id="runs")
        self.config_tree = ConfigTree("configs", id="configs")
        self.plots = MetricPlots(id="plots")
        self.log_view = WrapLog(max_lines=LOG_MAX_LINES, id="log", highlight=False)
        self.config_view = Static("highlight a run to see its resolved config", id="config-view")
        self.filter_box = Input(
            placeholder="filter: name, status, study, hyperparameter (adam, lr=0.001); esc clears",
            id="filter",
        )
        self.note_box = Input(
            placeholder="note on the run: enter saves (empty clears it), esc cancels",
            max_length=NOTE_MAX,
            id="note",
        )
        self._note_run: str | None = None
        """The run whose note the note box edits (the highlighted one when ``n`` opened it)."""
        self.tabs = TabbedContent(id="tabs", initial="tab-plots")
        self.gpu_bar = GpuBar(gpu_text(None, {}), id="gpu")

    @property
    def hw2(self) -> Host:
        """The app, as the screens see it (:class:`tui.host.Host`)."""
        return self.app  # type: ignore[return-value]

    @property
    def runs(self) -> dict[str, RunState]:
        return self.hw2.model.runs

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        yield self.gpu_bar
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Label("Configs", classes="pane-title", id="configs-title")
                yield self.config_tree
            with Vertical(id="right"):
                yield self.filter_box
                yield self.note_box
                yield self.table
                with self.tabs:
                    with TabPane("Plots", id="tab-plots"):
                        yield self.plots
                    with TabPane("Log", id="tab-log"):
                        yield self.log_view
                    with TabPane("Config", id="tab-config"), VerticalScroll(id="config-scroll"):
                        yield self.config_view
        yield FittedFooter()

    def on_mount(self) -> None:
        self._refresh_columns()
        self.config_tree.show_root = False
        self.query_one("#configs-title", Label).update(f"Configs: {self.hw2.configs_dir.name}/")
        self._show_configs_pane()
        self.table.focus()

    def on_resize(self) -> None:
        self._show_configs_pane()

    def configs_shown(self) -> bool:
        return bool(self.query_one("#left").display)

    def _show_configs_pane(self) -> None:
        """The configs pane as the user chose (``c``), else shown from NARROW columns up: at 80
        columns the runs table takes the whole width."""
        shown = self.configs_choice if self.configs_choice is not None else self.app.size.width >= NARROW
        left = self.query_one("#left")
        if bool(left.display) != shown:
            left.display = shown
        if not shown and self.config_tree.has_focus:
            self.table.focus()

    def on_descendant_focus(self, event: Any) -> None:
        """Focus reaching the hidden configs tree (tab, or a test's focus()) shows it."""
        if event.widget is self.config_tree and not self.configs_shown():
            self.configs_choice = True
            self._show_configs_pane()

    def footer_actions(self) -> tuple[str, ...]:
        """The footer's keys for the focused pane (:data:`tui.commands.FOOTER_ACTIONS`)."""
        focused = self.focused
        if focused is self.config_tree:
            return FOOTER_ACTIONS["tree"]
        if focused is None or focused in (self.table, self.filter_box, self.note_box):
            return FOOTER_ACTIONS["table"]
        return FOOTER_ACTIONS["views"]

    def start_ticking(self) -> None:
        self.set_interval(TICK_S, self._tick)

    # ------------------------------------------------------------------ driven by the app

    def show_changes(self, changes: Changes, *, initial: bool = False) -> None:
        """Show what :meth:`RunsModel.apply` changed: new runs and new statuses at once, rows with
        only new metric lines on the next tick (16 runs x 20 Hz: one repaint a second)."""
        now = self.hw2.clock()
        resort = False
        with self.app.batch_update():
            for rid in changes.dropped:  # moved to the trash: the row goes (its state is gone)
                self.table.drop(rid)
                self._dirty_rows.pop(rid, None)
            if self._highlighted in changes.dropped:
                self._highlighted = None
                self.hw2.log_target = None
            for rid in changes:
                st = self.runs.get(rid)
                if st is None:
                    continue
                if rid in changes.shown:
                    resort |= self._show_row(st, now)
                else:
                    self._dirty_rows[rid] = rid in changes.rows or self._dirty_rows.get(rid, False)
            if changes.columns:
                self._refresh_columns_soon()
            self.table.refit_if_due()
            if resort:
                self.table.apply_sort()
            if self._highlighted is None and self.table.row_count:
                self._on_highlight(self.table.highlighted_id())
            self.redraw_plots()
            if self._highlighted in changes.shown:
                self._show_config(self._highlighted)
            if self.filter_text and changes.shown:
                self._show_filter_note()
        if initial or changes.shown or changes.dropped:
            self.update_gpu_bar()  # its run counts change only with a status (metric lines: never)

    def show_log(self, text: str, reset: bool) -> None:
        if reset:
            self.log_view.reset_text()
        self.log_view.add_text(text)

    def show_configs(self, entries: list[Any]) -> None:
        self.config_tree.load(entries, self.hw2.configs_dir)
        titles = {
            e.study_title or e.name: Path(e.path).stem
            for e in entries
            if e.kind == "study" and e.error is None
        }
        self.table.set_study_names({t: study_label(t, stem, STUDY_WIDTH) for t, stem in titles.items()})

    def update_gpu_bar(self) -> None:
        from hw2.runs.summary import slurm_summary_line

        counts = self.hw2.model.counts(include_smoke=self.show_smoke)
        live = (st.summary for st in self.hw2.model.live())
        self.gpu_bar.show(gpu_text(self.hw2.gpu, counts, slurm_summary_line(live), self.hw2.disk))

    def _tick(self) -> None:
        """Once a second: rows with only new metric lines, and elapsed/ETA of running runs."""
        now = self.hw2.clock()
        dirty, self._dirty_rows = self._dirty_rows, {}
        resort = False
        with self.app.batch_update():
            for rid, full in dirty.items():
                st = self.runs.get(rid)
                if st is None or st.deleted:
                    continue
                if full or rid not in self.table.rows:
                    resort |= self._show_row(st, now)
                else:  # progress lines change no other cell (nor what the filter matches)
                    resort |= self.table.upsert(st, now, columns=PROGRESS_COLUMNS)
            for rid in sorted(self.hw2.model.running):
                st = self.runs[rid]
                if rid in self.table.rows and rid not in dirty:
                    self.table.upsert(st, now, columns=TIME_COLUMNS)
            if self._columns_pending:
                self._refresh_columns_soon()
            self.table.refit_if_due()
            if resort:
                self.table.apply_sort()
            self.redraw_plots()

    def _matches(self, st: RunState) -> bool:
        if st.summary.smoke and not self.show_smoke:
            return False
        return not self._filter_words or run_matches(st, self._filter_words)

    def _show_row(self, st: RunState, now: float) -> bool:
        """Add/update the run's row if it passes the filter, drop it otherwise."""
        if self._matches(st):
            return self.table.upsert(st, now)
        self.table.drop(st.run_id)
        return False

    # ------------------------------------------------------------------ highlight, plots, config

    @on(DataTable.RowHighlighted, "#runs")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._on_highlight(str(event.row_key.value) if event.row_key is not None else None)

    def _on_highlight(self, run_id: str | None) -> None:
        if run_id == self._highlighted:
            return
        self._highlighted = run_id
        st = self.runs.get(run_id) if run_id else None
        if st is not None and st.path:
            self.hw2.log_target = (st.run_id, Path(st.path) / "train.log")
            self.hw2.wake()
        else:
            self.hw2.log_target = None
        self._show_config(run_id)
        self.redraw_plots()

    def highlighted_run(self) -> RunState | None:
        return self.runs.get(self._highlighted) if self._highlighted else None

    def plotted_runs(self) -> list[RunState]:
        """The highlighted run first, then the marked ones (in table order)."""
        out: list[RunState] = []
        head = self.highlighted_run()
        if head is not None:
            out.append(head)
        if any(st.marked for st in self.runs.values()):
            for rid in self.table.ordered_ids():
                st = self.runs.get(rid)
                if st is not None and st.marked and rid != self._highlighted:
                    out.append(st)
        return out

    def redraw_plots(self) -> None:
        runs = self.plotted_runs()
        missing = self.hw2.model.set_plotted(st.run_id for st in runs)
        if missing:
            self.hw2.request_series(missing)
        if self.tabs.active != "tab-plots":
            return
        self.plots.draw(runs, self.smooth)

    def series_loaded(self, run_ids: list[str]) -> None:
        """Plotted runs' series (and configs) arrived from the poll thread."""
        if self._highlighted in run_ids:
            self._show_config(self._highlighted)
        self.redraw_plots()

    def on_metric_plots_ready(self) -> None:
        self.redraw_plots()

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self) -> None:
        self.redraw_plots()

    def _show_config(self, run_id: str | None) -> None:
        st = self.runs.get(run_id) if run_id else None
        if st is None:
            self._set_config_text("highlight a run to see its resolved config")
            return
        import yaml  # only the highlighted run's config is ever dumped

        s = st.summary
        head = [f"# note: {s.note}"] if s.note else []  # the person's own words first, in full
        head += [f"# run {st.run_id}", f"# folder {s.path}", f"# status {s.status}"]
        if s.error:
            head.append(f"# error: {s.error}")
        if s.skipped_lines:
            head.append(f"# {s.skipped_lines} unreadable metrics line(s) skipped")
        if s.has_result:
            figures = {
                "test_acc": s.test_acc,
                "test_loss": s.test_loss,
                "best_val_acc": s.best_val_acc,
                "best_epoch": s.best_epoch,
                "params": s.params,
                "total_seconds": s.total_seconds,
            }
            head.append("# result: " + ", ".join(f"{k}={v:g}" for k, v in figures.items() if v is not None))
        if st.config:
            head.append(f"# lr schedule: {schedule_text(st.config)}")
            body = yaml.safe_dump(dict(st.config), sort_keys=False, default_flow_style=False)
        else:  # a finished run's config comes with its series (asked for on highlight)
            body = "(reading config.yaml…)" if st.series_requested else "(no config.yaml)"
        self._set_config_text("\n".join(head) + "\n" + body)

    def _set_config_text(self, text: str) -> None:
        if text != self._config_text:
            self._config_text = text
            from rich.text import Text

            self.config_view.update(Text(text))

    # ------------------------------------------------------------------ actions: view

    def action_tab(self, tab: str) -> None:
        self.tabs.active = tab

    def action_filter(self) -> None:
        self.filter_box.add_class("-shown")
        self.set_focus(self.filter_box)  # now: what is typed right after / goes into the box

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        if not self.filter_text:
            self.filter_box.remove_class("-shown")
        self.table.focus()

    def on_key(self, event: Any) -> None:
        box = self.filter_box
        if event.key == "escape" and self.note_box.has_focus:
            self._close_note_box()  # cancelled: nothing is written
            event.stop()
            return
        if event.key == "escape" and (box.has_focus or self.filter_text):
            box.value = ""
            self.set_filter("")
            box.remove_class("-shown")
            self.table.focus()
            event.stop()

    def set_filter(self, text: str) -> None:
        """Show only runs that match every word of ``text`` (:func:`tui.model.run_matches`: name,
        study, status, model or a hyperparameter); the filter box says how many, or "no match"."""
        self.filter_text = text.strip()
        self._filter_words = self.filter_text.lower().split()
        now = self.hw2.clock()
        table = self.table
        keep = [st for st in self.runs.values() if self._matches(st)]
        ids = {st.run_id for st in keep}
        drop = [rid for rid in table.row_ids() if rid not in ids]
        with self.app.batch_update():
            if len(drop) > 32:  # DataTable re-indexes every row on each removal: start over instead
                table.clear_rows()
                drop = []
            for rid in drop:
                table.drop(rid)
            for st in keep:  # rows already shown are current: only the missing ones are added
                if st.run_id not in table.rows:
                    table.upsert(st, now)
            self._refresh_columns()
            self.table.apply_sort()
            self._on_highlight(self.table.highlighted_id())
        self._show_filter_note()

    def _show_filter_note(self) -> None:
        """Under the filter box: how many runs match, or that none does."""
        if not self.filter_text:
            note = ""
        elif self.table.row_count == 0:
            note = "no match (esc clears)"
        else:
            listed = self.hw2.model.counts(include_smoke=self.show_smoke)
            note = f"{self.table.row_count} of {sum(listed.values())} runs"
        self.filter_box.border_subtitle = note

    def listed_runs(self) -> list[RunState]:
        return [self.runs[rid] for rid in self.table.ordered_ids() if rid in self.runs]

    def differing(self) -> list[str]:
        """The hyperparameters that differ between the listed runs, in the table's order."""
        return hparam_order(differing_keys(self.listed_runs()))

    def _refresh_columns(self) -> None:
        """Offer the table its columns: the differing hyperparameters after the results (all of
        them, and nothing else but name, status and accuracies, in the diff view)."""
        t0 = time.monotonic()
        keys = self.differing()
        spare = [] if self.diff_mode else [k for k in KEY_HPARAMS if k not in keys]
        self.table.set_columns(keys, spare, diff=self.diff_mode)
        self._columns_at = time.monotonic()
        self._columns_cost = self._columns_at - t0
        self._columns_pending = False

    def _refresh_columns_soon(self) -> None:
        """Refresh the columns now, or on a later tick when the last refresh was costly: it
        compares every listed run's hyperparameters, ~0.1 s with 10 000 runs, and while the first
        polls of such a folder bring 100 runs each, refreshing on every one kept a core busy for
        45 s. At most 1/20 of the time goes to it."""
        if time.monotonic() - self._columns_at >= COLUMNS_COST_FACTOR * self._columns_cost:
            self._refresh_columns()
        else:
            self._columns_pending = True

    def action_toggle_diff(self) -> None:
        self.diff_mode = not self.diff_mode
        with self.app.batch_update():
            self._refresh_columns()
        n = len(self.differing())
        if self.diff_mode:
            what = (
                f"{n} hyperparameter(s) differ between the listed runs" if n else "no hyperparameter differs"
            )
            more = " (← → for those left out)" if any(self.table.hidden_hparams) else ""
            self.notify(f"diff view: name, status, accuracies and {what}{more}; d: all columns", timeout=4)
        else:
            self.notify("all columns (as many as fit); d: the diff view", timeout=3)

    def action_toggle_smoke(self) -> None:
        self.show_smoke = not self.show_smoke
        self.set_filter(self.filter_text)  # the rows: smoke ones added or dropped
        self.update_gpu_bar()
        n = self.hw2.model.counts(include_smoke=True)
        smoke = sum(n.values()) - sum(self.hw2.model.counts().values())
        self.notify(f"{smoke} smoke run(s) {'shown' if self.show_smoke else 'hidden'} (S)", timeout=3)

    def action_toggle_smooth(self) -> None:
        self.smooth = not self.smooth
        self.redraw_plots()
        self.notify(f"smoothing {'on (EMA)' if self.smooth else 'off'}", timeout=2)

    def action_mark(self) -> None:
        st = self.runs.get(self.table.highlighted_id() or "")
        if st is None:
            return
        st.marked = not st.marked
        self.table.upsert(st, self.hw2.clock(), columns=("name",))
        self.redraw_plots()

    def action_cycle_sort(self) -> None:
        """Sort by the next shown column, in its own direction (accuracies best first)."""
        keys = [c.key for c in self.table.columns_def if c.key != "more"]
        cur = self.table.sort_column
        self._sort_by(keys[(keys.index(cur) + 1) % len(keys)] if cur in keys else keys[0], False)

    def action_reverse_sort(self) -> None:
        self._sort_by(self.table.sort_column or "name", not self.table.sort_reverse)

    def _sort_by(self, key: str, reverse: bool) -> None:
        """Sort, mark the header (▼ largest first, ▲ smallest first), put the cursor on the first
        run and say so."""
        table = self.table
        if key not in {c.key for c in table.candidates}:
            return  # the diff view's note of hyperparameters left out
        table.sort_column, table.sort_reverse = key, reverse
        table.apply_sort()
        table.show_sort_marks()
        if table.row_count:  # the first run is the one asked for (the best, the lowest loss)
            table.move_cursor(row=0, animate=False)
        col = table.sort_column_def()
        order = "largest first" if table.sorted_descending() else "smallest first"
        self.notify(f"sorted by {col.label if col else key}: {order}", timeout=2)

    @on(DataTable.HeaderSelected, "#runs")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        self._sort_by(key, not self.table.sort_reverse if self.table.sort_column == key else False)

    def action_toggle_configs(self) -> None:
        """Hide/show the configs pane (the table gets the whole width); shown, it takes the focus."""
        self.configs_choice = not self.configs_shown()
        self._show_configs_pane()
        if self.configs_choice:
            self.config_tree.focus()

    def action_reload_configs(self) -> None:
        self.hw2.load_configs()
        self.notify("configs reloaded", timeout=2)

    # ------------------------------------------------------------------ actions: launch / kill / export

    @on(Tree.NodeSelected, "#configs")
    def _node_selected(self, event: Tree.NodeSelected) -> None:
        data: NodeData | None = event.node.data
        if data is None:
            return
        if data.kind == "invalid":
            self.notify(f"cannot launch: {data.entry.error}", severity="error", timeout=8)
        elif data.kind == "study":
            self.open_launch_dialog(data)
        elif data.kind in ("experiment", "run") and data.planned is not None:
            self.hw2.launch([data.planned])

    @on(Tree.NodeHighlighted, "#configs")
    def _node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        """Show the highlighted config (its full error, or the resolved run configs) in the Config tab."""
        # The cursor's node, not the event's: a late event from a reload must not win.
        node = self.config_tree.cursor_node or event.node
        data: NodeData | None = node.data
        if data is None:
            return
        e = data.entry
        lines = [f"# {e.path}"]
        if data.kind == "invalid":
            lines += ["# cannot be launched:", f"# {e.error}"]
        else:
            runs = [data.planned] if data.kind == "run" and data.planned is not None else list(e.runs)
            if e.kind == "study":
                lines.append(f"# study '{e.study_title or e.name}': {len(e.runs)} runs (s launches all)")
            for p in runs[:8]:
                lines.append(f"\n# --- {p.name} (enter launches it)")
                lines.append(f"# lr schedule: {schedule_text(p.cfg)}")
                try:
                    import yaml

                    lines.append(yaml.safe_dump(p.cfg.model_dump(mode="json"), sort_keys=False).rstrip())
                except Exception as exc:  # a config that cannot be shown is still launchable
                    lines.append(f"# ({exc})")
            if len(runs) > 8:
                lines.append(f"\n# … and {len(runs) - 8} more")
        self._set_config_text("\n".join(lines))

    def action_launch_study(self) -> None:
        """Launch the configs tree's highlighted study (the tree focused), else the highlighted
        run's study, else the tree's highlighted entry."""
        node = self.config_tree.cursor_node
        data: NodeData | None = node.data if node is not None else None
        if not self.config_tree.has_focus:
            data = self._run_study_node() or data
        if data is None:
            self.notify(
                "highlight a study in the configs tree (c shows it) or a run of a study", severity="warning"
            )
            return
        self.open_launch_dialog(data)

    def _run_study_node(self) -> NodeData | None:
        """The highlighted run's study, as the configs tree holds it (None: no such study file)."""
        st = self.highlighted_run()
        if st is None or not st.study:
            return None
        for e in self.hw2.config_entries:
            if e.kind == "study" and e.error is None and (e.study_title or e.name) == st.study:
                return NodeData("study", e)
        return None

    def open_launch_dialog(self, data: NodeData) -> None:
        """The launch dialog for the highlighted study/experiment (:func:`tui.launch.open_launch_dialog`)."""
        open_launch_dialog(self, data)

    def action_kill(self) -> None:
        st = self.runs.get(self.table.highlighted_id() or "")
        if st is None:
            return
        if st.status not in ("queued", "running") or st.deleted:
            self.notify(
                f"{st.name} is {st.status}: only queued or running runs can be killed", severity="warning"
            )
            return

        def answer(ok: bool | None) -> None:
            if ok:
                self.hw2.kill(st.run_id, st.name)

        self.app.push_screen(
            ConfirmScreen(f"Kill run '{st.name}' ({st.status})?", yes="Kill", no="Keep"), answer
        )

    def action_trash(self) -> None:
        """Move the marked runs, else the highlighted one, to the trash, after a dialog that names
        them and their size (measured in a thread: :meth:`tui.app.HW2App.ask_trash`)."""
        marked = [st for st in self.runs.values() if st.marked and not st.deleted]
        head = self.highlighted_run()
        chosen = marked or ([head] if head is not None and not head.deleted else [])
        live = [st for st in chosen if st.status in ("queued", "running")]
        if live:
            st = live[0]
            more = f" (and {len(live) - 1} more)" if len(live) > 1 else ""
            self.notify(f"{st.name} is {st.status}{more}: stop it first with k", severity="warning")
        ids = [st.run_id for st in chosen if st not in live]
        if ids:
            self.hw2.ask_trash(ids)

    def confirm_trash(self, run_ids: list[str], size_bytes: int) -> None:
        """The dialog of :meth:`action_trash`, once the sizes are known; yes moves them (in a thread)."""
        from hw2.runs.summary import fmt_bytes

        names = [self.runs[r].name if r in self.runs else r for r in run_ids]
        listed = ", ".join(names[:TRASH_NAMES_SHOWN])
        if len(names) > TRASH_NAMES_SHOWN:
            listed += f" and {len(names) - TRASH_NAMES_SHOWN} more"
        n = len(run_ids)
        question = f"Move {n} run{'s' if n != 1 else ''} ({fmt_bytes(size_bytes)}) to .trash?\n{listed}"

        def answer(ok: bool | None) -> None:
            if ok:
                self.hw2.trash_runs(run_ids)

        self.app.push_screen(ConfirmScreen(question, yes="Move", no="Keep"), answer)

    def action_requeue(self) -> None:
        st = self.runs.get(self.table.highlighted_id() or "")
        if st is None:
            return
        if st.status not in ("failed", "killed"):
            self.notify(
                f"{st.name} is {st.status}: only failed or killed runs can be re-queued", severity="warning"
            )
            return
        self.hw2.requeue(st.run_id, st.name)

    def action_resume(self) -> None:
        st = self.runs.get(self.table.highlighted_id() or "")
        if st is None:
            return
        if st.status not in ("failed", "killed"):
            self.notify(f"{st.name} is {st.status}: only failed or killed runs resume", severity="warning")
            return
        self.hw2.resume(st.run_id, st.name)

    def action_export(self) -> None:
        self.hw2.export()

    def action_note(self) -> None:
        """Edit the highlighted run's note in the note box, prefilled with the note it has."""
        st = self.runs.get(self.table.highlighted_id() or "")
        if st is None or st.deleted:
            self.notify("highlight a run to write a note on it", severity="warning")
            return
        self._note_run = st.run_id
        self.note_box.border_title = f"note on {st.name}"
        self.note_box.value = st.summary.note or ""
        self.note_box.add_class("-shown")
        self.set_focus(self.note_box)

    @on(Input.Submitted, "#note")
    def _note_submitted(self, event: Input.Submitted) -> None:
        """Save in a worker (:meth:`tui.host.Host.set_note`); the row follows the watcher's
        next read of the run's meta.json."""
        st = self.runs.get(self._note_run or "")
        if st is not None and event.value.strip() != (st.summary.note or ""):
            self.hw2.set_note(st.run_id, st.name, event.value)
        self._close_note_box()

    def _close_note_box(self) -> None:
        self._note_run = None
        self.note_box.remove_class("-shown")
        self.table.focus()

    # ------------------------------------------------------------------ actions: studies

    def current_study(self) -> tuple[str, Path | None] | None:
        """The study the study keys act on: the configs tree's (when it has focus and its cursor is on a
        study or one of its runs), else the highlighted run's; with its study file when known."""
        node = self.config_tree.cursor_node
        data: NodeData | None = node.data if node is not None else None
        if self.config_tree.has_focus and data is not None and data.entry.kind == "study":
            return data.entry.study_title or data.entry.name, Path(data.entry.path)
        st = self.highlighted_run()
        if st is None or not st.study:
            return None
        return st.study, self.hw2.study_file(st.study)

    def _study_or_warn(self) -> tuple[str, Path | None] | None:
        found = self.current_study()
        if found is None:
            self.notify(
                "highlight a study in the configs tree or a run of a study in the table first",
                severity="warning",
            )
        return found

    def action_study_view(self) -> None:
        self.open_study_view()

    def open_study_view(self) -> Any:
        """Push the study view of the current study; returns what to await for it to mount
        (None: no study here, and a notice said so)."""
        found = self._study_or_warn()
        if found is None:
            return None
        from tui.study import StudyScreen

        return self.app.push_screen(StudyScreen(found[0], found[1]))

    def action_study_report(self) -> None:
        found = self._study_or_warn()
        if found is not None:
            self.hw2.study_report(*found)

    def action_requeue_failed(self) -> None:
        found = self._study_or_warn()
        if found is not None:
            self.hw2.requeue_failed(found[0])
