"""The hw2-tui Textual app: configs, runs table, live plots, log, GPU bar.

Data flow (one way, memray style): ONE thread worker polls :class:`hw2.store.RunsWatcher` every
``poll_interval`` seconds and posts a batched :class:`RunsUpdated`; the handler folds it into
:mod:`tui.model` states and touches only the table cells and plots that changed, inside
``batch_update``. The same worker follows the highlighted run's ``train.log``. A second worker
polls the GPUs every 2 s. Launch/kill/export run in short thread workers so the UI never blocks.

The app only reads and writes run folders and configs through ``hw2``; trainers run as separate
processes started by the scheduler, so quitting the app leaves them running. This module (and all
of ``tui``) never imports torch, tensorflow, keras or the trainers; ``hw2`` modules are imported
lazily so the first frame comes quickly.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Log, Static, TabbedContent, TabPane, Tree
from textual.worker import get_current_worker

from tui.model import RunState, differing_keys
from tui.screens import ConfirmScreen, HelpScreen
from tui.widgets import (
    KEY_HPARAMS,
    PROGRESS_COLUMNS,
    TIME_COLUMNS,
    ConfigTree,
    GpuBar,
    MetricPlots,
    NodeData,
    RunsTable,
    gpu_text,
)

DEFAULT_POLL_INTERVAL = 0.25
GPU_INTERVAL = 2.0
TICK_S = 1.0
LOG_TAIL_BYTES = 64 * 1024
LOG_MAX_LINES = 5000
QUIT_NOTE = "runs keep going in the background; reopen hw2-tui to watch them"

Clock = Callable[[], float]


# ---------------------------------------------------------------------- messages


class RunsUpdated(Message):
    """A batch of store updates from one poll (posted from the poll thread)."""

    def __init__(self, updates: list[Any], configs: dict[str, dict[str, Any]], initial: bool) -> None:
        super().__init__()
        self.updates = updates
        self.configs = configs
        self.initial = initial


class LogChunk(Message):
    def __init__(self, run_id: str, text: str, reset: bool) -> None:
        super().__init__()
        self.run_id, self.text, self.reset = run_id, text, reset


class GpuUpdated(Message):
    def __init__(self, stats: list[Any]) -> None:
        super().__init__()
        self.stats = stats


class ConfigsLoaded(Message):
    def __init__(self, entries: list[Any], error: str | None) -> None:
        super().__init__()
        self.entries, self.error = entries, error


# ---------------------------------------------------------------------- app


class HW2App(App[None]):
    """Run, watch and compare homework-2 experiments."""

    CSS_PATH = "app.tcss"
    TITLE = "hw2-tui"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
        Binding("s", "launch_study", "Study"),
        Binding("k", "kill", "Kill"),
        Binding("r", "requeue", "Requeue"),
        Binding("e", "export", "Export"),
        Binding("slash", "filter", "Filter"),
        Binding("d", "toggle_diff", "Diff"),
        Binding("m", "toggle_smooth", "Smooth"),
        Binding("space", "mark", "Mark", show=False),
        Binding("o", "cycle_sort", "Sort", show=False),
        Binding("O", "reverse_sort", "Reverse sort", show=False),
        Binding("R", "reload_configs", "Reload configs", show=False),
        Binding("c", "toggle_configs", "Configs pane", show=False),
        Binding("1", "tab('tab-plots')", "Plots", show=False),
        Binding("2", "tab('tab-log')", "Log", show=False),
        Binding("3", "tab('tab-config')", "Config", show=False),
        Binding("q", "quit", "Quit (runs go on)"),
    ]

    def __init__(
        self,
        runs_dir: Path,
        configs_dir: Path,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        clock: Clock = time.time,
        export_dir: Path | None = None,
        gpu_stats: Callable[[], list[Any]] | None = None,
        start_scheduler: bool = True,
        subtitle: str | None = None,
    ) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.configs_dir = Path(configs_dir)
        self.poll_interval = poll_interval
        self.clock = clock
        self.export_dir = Path(export_dir or os.environ.get("HW2_EXPORT_DIR") or "exports")
        self._gpu_stats_fn = gpu_stats
        self.start_scheduler = start_scheduler
        self.sub_title = subtitle if subtitle is not None else f"runs: {self.runs_dir}"
        self.runs: dict[str, RunState] = {}
        self.config_entries: list[Any] = []
        self.filter_text = ""
        self.diff_mode = False
        self.smooth = False
        self.gpu: list[Any] | None = None
        self.polls = 0
        # Set once the first poll of the runs dir is on screen (its rows in the table), not merely read.
        self.first_poll_done = threading.Event()
        self.configs_loaded = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._log_target: tuple[str, Path] | None = None
        self._highlighted: str | None = None
        # Rows with new metric lines, shown on the next tick: True = an epoch line (every metric
        # column may change), False = progress lines only (just the epoch bar and times).
        self._dirty_rows: dict[str, bool] = {}
        self._config_text = ""
        self._log_run: str | None = None
        self.last_export: tuple[Path, Path] | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        # The width class before the widgets exist: set after mounting it re-styles every node
        # (~60) once more before the first frame.
        self._apply_width_class(self.size.width)
        yield Header()
        yield GpuBar(gpu_text(None, {}), id="gpu")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Label("Configs", classes="pane-title", id="configs-title")
                yield ConfigTree("configs", id="configs")
            with Vertical(id="right"):
                yield Input(placeholder="filter runs (esc clears)", id="filter")
                yield RunsTable(id="runs")
                with TabbedContent(id="tabs", initial="tab-plots"):
                    with TabPane("Plots", id="tab-plots"):
                        yield MetricPlots(id="plots")
                    with TabPane("Log", id="tab-log"):
                        yield Log(max_lines=LOG_MAX_LINES, id="log", highlight=False)
                    with TabPane("Config", id="tab-config"), VerticalScroll(id="config-scroll"):
                        yield Static("highlight a run to see its resolved config", id="config-view")
        yield Footer()

    # Widgets are looked up once: ``App.query_one`` searches the *active* screen, which is a modal
    # while a confirm or help dialog is up, and updates keep arriving then.
    @property
    def table(self) -> RunsTable:
        return self._w["runs"]

    @property
    def tree(self) -> ConfigTree:
        return self._w["configs"]

    @property
    def plots(self) -> MetricPlots:
        return self._w["plots"]

    def on_mount(self) -> None:
        self._w: dict[str, Any] = {
            w.id: w
            for w in self.screen.query("#runs, #configs, #plots, #log, #gpu, #config-view, #tabs, #filter")
            if w.id
        }
        self.table.set_columns(KEY_HPARAMS)
        self.tree.show_root = False
        self.query_one("#configs-title", Label).update(f"Configs: {self.configs_dir.name}/")
        self._apply_width_class(self.size.width)  # a no-op unless the size changed since compose
        self.table.focus()

    def on_ready(self) -> None:
        """After the first frame: start the workers (their imports would otherwise delay it)."""
        self._poll_runs()
        self._poll_gpu()
        self._load_configs()
        self.set_interval(TICK_S, self._tick)

    def on_resize(self, event: Any) -> None:
        self._apply_width_class(event.size.width)

    def _apply_width_class(self, width: int) -> None:
        self.set_class(width < 110, "-narrow")

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    # ------------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, group="poll", name="runs-poll")
    def _poll_runs(self) -> None:
        """The one poller: run folders every ``poll_interval`` s, plus the followed log."""
        from hw2.store import RunsWatcher

        worker = get_current_worker()
        watcher = RunsWatcher(self.runs_dir)
        log_state: dict[str, Any] = {"target": None, "offset": 0}
        initial = True
        while not worker.is_cancelled and not self._stop.is_set():
            try:
                updates = watcher.poll()
            except Exception as exc:  # a bad folder must never take the app down
                self.call_from_thread(self.notify, f"reading runs failed: {exc}", severity="error")
                updates = []
            configs: dict[str, dict[str, Any]] = {}
            for u in updates:
                if u.view_changed and not u.removed:
                    view = watcher.view(u.run_id)
                    if view is not None:
                        configs[u.run_id] = view.config
            if updates or initial:
                self.post_message(RunsUpdated(updates, configs, initial))
            if initial:
                initial = False
                if self.start_scheduler and any(u.status == "queued" for u in updates):
                    self._ensure_scheduler_quietly()
            self.polls += 1
            self._follow_log(log_state)
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _ensure_scheduler_quietly(self) -> None:
        try:
            from hw2.queue import ensure_scheduler

            ensure_scheduler(self.runs_dir)
        except Exception as exc:
            self.call_from_thread(self.notify, f"could not start the scheduler: {exc}", severity="error")

    def _follow_log(self, state: dict[str, Any]) -> None:
        """Send the new bytes of the followed run's train.log (the tail when the run changes)."""
        target = self._log_target
        if target is None:
            return
        run_id, path = target
        reset = state["target"] != run_id
        try:
            size = path.stat().st_size
        except OSError:
            if reset:
                state["target"], state["offset"] = run_id, 0
                self.post_message(LogChunk(run_id, "(no train.log yet)\n", True))
            return
        if not reset and size < state["offset"]:
            reset = True  # truncated or replaced
        start = max(0, size - LOG_TAIL_BYTES) if reset else state["offset"]
        if not reset and size == start:
            return
        try:
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(max(0, min(size - start, 4 * LOG_TAIL_BYTES)))
        except OSError:
            return
        state["target"], state["offset"] = run_id, start + len(data)
        text = data.decode("utf-8", errors="replace")
        if reset and start > 0:
            text = "…" + text.split("\n", 1)[-1]
        self.post_message(LogChunk(run_id, text, reset))

    @work(thread=True, exclusive=True, group="gpu", name="gpu-poll")
    def _poll_gpu(self) -> None:
        worker = get_current_worker()
        fn = self._gpu_stats_fn
        if fn is None:
            from hw2.gpu import gpu_stats as fn
        while not worker.is_cancelled and not self._stop.is_set():
            try:
                stats = list(fn())
            except Exception:
                stats = []
            self.post_message(GpuUpdated(stats))
            if self._stop.wait(GPU_INTERVAL):
                break

    @work(thread=True, exclusive=True, group="configs", name="configs-load")
    def _load_configs(self) -> None:
        try:
            from hw2.config import discover

            entries, error = list(discover(self.configs_dir)), None
        except Exception as exc:
            entries, error = [], f"reading {self.configs_dir} failed: {exc}"
        self.post_message(ConfigsLoaded(entries, error))

    # ------------------------------------------------------------------ message handlers

    def on_runs_updated(self, msg: RunsUpdated) -> None:
        table = self.table
        now = self.clock()
        resort = False
        columns_dirty = False
        with self.batch_update():
            for u in msg.updates:
                st = self.runs.get(u.run_id)
                if u.removed:
                    if st is not None and not st.deleted:
                        st.deleted = True
                        st.version += 1
                        resort |= self._show_row(st, now)
                    continue
                if st is None:
                    st = self.runs[u.run_id] = RunState(u.run_id)
                    columns_dirty = True
                st.deleted = False
                if u.truncated:
                    st.points.clear()
                    st.partial.clear()
                    st.progress = None
                    st.best_val_acc = st.best_epoch = None
                    st.version += 1
                if u.meta is not None:
                    st.set_meta(u.meta)
                if u.status:
                    st.set_status(u.status)
                if u.error is not None:
                    st.error = u.error
                if u.path is not None:
                    st.path = str(u.path)
                if u.run_id in msg.configs:
                    if msg.configs[u.run_id] != st.config:
                        columns_dirty = True
                    st.config = msg.configs[u.run_id]
                if u.view_changed and u.result is not None and u.result != st.result:
                    st.set_result(u.result)
                last_progress = None
                epochs = False
                for line in u.new_lines:
                    if line.get("type") == "epoch":
                        st.add_epochs([line])
                        last_progress, epochs = None, True
                    else:
                        last_progress = line
                st.set_progress(last_progress)
                st.garbage += int(u.skipped or 0)
                if u.view_changed or u.skipped or u.truncated or epochs:
                    st.version += 1
                    st.epoch_version += 1
                if u.view_changed or u.new or u.truncated:
                    resort |= self._show_row(st, now)  # new run or new status: show it at once
                else:
                    # Metric lines only (16 runs x 20 Hz): every changed row is updated together on
                    # the next tick, so the table repaints once a second, not once per line.
                    full = epochs or bool(u.skipped) or self._dirty_rows.get(st.run_id, False)
                    self._dirty_rows[st.run_id] = full
            if columns_dirty and self.diff_mode:
                self._refresh_columns()
            if resort:
                table.apply_sort()
            if self._highlighted is None and table.row_count:
                self._on_highlight(table.highlighted_id())
            self._redraw_plots()
            if self._highlighted and any(
                u.run_id == self._highlighted and u.view_changed for u in msg.updates
            ):
                self._show_config(self._highlighted)
        if msg.initial or any(u.view_changed or u.new or u.removed for u in msg.updates):
            self._update_gpu_bar()  # its run counts change only with a status (metric lines: never)
        if msg.initial:
            self.first_poll_done.set()

    def _matches(self, st: RunState) -> bool:
        if not self.filter_text:
            return True
        hay = " ".join(
            str(x)
            for x in (
                st.name,
                st.study or "",
                st.status,
                st.trainer,
                st.run_id,
                st.device or "",
                (st.config.get("model") or {}).get("name", "") if isinstance(st.config, dict) else "",
            )
        ).lower()
        return all(word in hay for word in self.filter_text.lower().split())

    def _show_row(self, st: RunState, now: float) -> bool:
        """Add/update the run's row if it passes the filter, drop it otherwise."""
        if self._matches(st):
            return self.table.upsert(st, now)
        self.table.drop(st.run_id)
        return False

    def on_log_chunk(self, msg: LogChunk) -> None:
        if self._log_target is None or msg.run_id != self._log_target[0]:
            return
        log = self._w["log"]
        if msg.reset:
            log.clear()
        log.write(msg.text)

    def on_gpu_updated(self, msg: GpuUpdated) -> None:
        self.gpu = msg.stats
        self._update_gpu_bar()

    def _update_gpu_bar(self) -> None:
        counts = {s: 0 for s in ("running", "queued", "done", "failed", "killed")}
        for st in self.runs.values():
            if not st.deleted and st.status in counts:
                counts[st.status] += 1
        self._w["gpu"].show(gpu_text(self.gpu, counts))

    def on_configs_loaded(self, msg: ConfigsLoaded) -> None:
        self.config_entries = msg.entries
        self.tree.load(msg.entries, self.configs_dir)
        self.configs_loaded.set()
        if msg.error:
            self.notify(msg.error, severity="error")

    def _tick(self) -> None:
        """Once a second: rows with only new progress lines, and elapsed/ETA of running runs."""
        now = self.clock()
        dirty, self._dirty_rows = self._dirty_rows, {}
        resort = False
        with self.batch_update():
            for rid, full in dirty.items():
                st = self.runs.get(rid)
                if st is None or st.deleted:
                    continue
                if full or rid not in self.table.rows:
                    resort |= self._show_row(st, now)
                else:  # progress lines change no other cell (nor what the filter matches)
                    resort |= self.table.upsert(st, now, columns=PROGRESS_COLUMNS)
            for st in self.runs.values():
                if st.status == "running" and st.run_id in self.table.rows and st.run_id not in dirty:
                    self.table.upsert(st, now, columns=TIME_COLUMNS)
            if resort:
                self.table.apply_sort()
            self._redraw_plots()

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
            self._log_target = (run_id, Path(st.path) / "train.log")
            self._wake.set()
        else:
            self._log_target = None
        self._show_config(run_id)
        self._redraw_plots()

    def highlighted_run(self) -> RunState | None:
        return self.runs.get(self._highlighted) if self._highlighted else None

    def plotted_runs(self) -> list[RunState]:
        """The highlighted run first, then the marked ones (in table order)."""
        out: list[RunState] = []
        head = self.highlighted_run()
        if head is not None:
            out.append(head)
        for rid in self.table.ordered_ids() if self.table.marked else ():
            if rid in self.table.marked and rid != self._highlighted and rid in self.runs:
                out.append(self.runs[rid])
        return out

    def _redraw_plots(self) -> None:
        tabs = self._w["tabs"]
        if tabs.active != "tab-plots":
            return
        self.plots.draw(self.plotted_runs(), self.smooth)

    def on_metric_plots_ready(self) -> None:
        self._redraw_plots()

    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self) -> None:
        self._redraw_plots()

    def _show_config(self, run_id: str | None) -> None:
        st = self.runs.get(run_id) if run_id else None
        if st is None:
            self._set_config_text("highlight a run to see its resolved config")
            return
        import yaml  # hw2.store has it loaded already

        head = [f"# run {st.run_id}", f"# folder {st.path}", f"# status {st.status}"]
        if st.error:
            head.append(f"# error: {st.error}")
        if st.garbage:
            head.append(f"# {st.garbage} unreadable metrics line(s) skipped")
        if st.result:
            head.append("# result: " + ", ".join(f"{k}={v}" for k, v in sorted(st.result.items())))
        body = (
            yaml.safe_dump(st.config, sort_keys=False, default_flow_style=False)
            if st.config
            else "(no config.yaml)"
        )
        self._set_config_text("\n".join(head) + "\n" + body)

    # ------------------------------------------------------------------ actions: view

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_tab(self, tab: str) -> None:
        self._w["tabs"].active = tab

    def action_filter(self) -> None:
        box = self._w["filter"]
        box.add_class("-shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        if not self.filter_text:
            self._w["filter"].remove_class("-shown")
        self.table.focus()

    def on_key(self, event: Any) -> None:
        box = self._w["filter"]
        if event.key == "escape" and (box.has_focus or self.filter_text):
            box.value = ""
            self.set_filter("")
            box.remove_class("-shown")
            self.table.focus()
            event.stop()

    def set_filter(self, text: str) -> None:
        """Show only runs whose name/study/status/trainer/model contain every word of ``text``."""
        self.filter_text = text.strip()
        now = self.clock()
        with self.batch_update():
            for st in self.runs.values():
                self._show_row(st, now)
            if self.diff_mode:
                self._refresh_columns()
            self.table.apply_sort()
            hid = self.table.highlighted_id()
            self._on_highlight(hid)

    def listed_runs(self) -> list[RunState]:
        return [self.runs[rid] for rid in self.table.ordered_ids() if rid in self.runs]

    def _refresh_columns(self) -> None:
        keys = differing_keys(self.listed_runs()) if self.diff_mode else list(KEY_HPARAMS)
        if self.table.set_columns(keys):
            now = self.clock()
            for st in self.listed_runs():
                self.table.upsert(st, now)

    def action_toggle_diff(self) -> None:
        self.diff_mode = not self.diff_mode
        with self.batch_update():
            self._refresh_columns()
        if self.diff_mode:
            n = len(self.table.columns_def) - len(self._base_keys())
            self.notify(f"diff: {n} hyperparameter(s) differ between the listed runs", timeout=3)
        else:
            self.notify("diff off: key hyperparameters shown", timeout=3)

    def _base_keys(self) -> list[str]:
        from tui.widgets import BASE_COLUMNS

        return [c.key for c in BASE_COLUMNS]

    def action_toggle_smooth(self) -> None:
        self.smooth = not self.smooth
        self._redraw_plots()
        self.notify(f"smoothing {'on (EMA)' if self.smooth else 'off'}", timeout=2)

    def action_mark(self) -> None:
        rid = self.table.highlighted_id()
        if rid is None or rid not in self.runs:
            return
        self.table.marked.symmetric_difference_update({rid})
        self.table.upsert(self.runs[rid], self.clock(), columns=("name",))
        self._redraw_plots()

    def action_cycle_sort(self) -> None:
        keys = [c.key for c in self.table.columns_def]
        cur = self.table.sort_column
        self.table.sort_column = keys[(keys.index(cur) + 1) % len(keys)] if cur in keys else keys[0]
        self.table.sort_reverse = False
        self.table.apply_sort()
        self.notify(f"sorted by {self._label(self.table.sort_column)}", timeout=2)

    def action_reverse_sort(self) -> None:
        if self.table.sort_column is None:
            self.table.sort_column = "name"
        self.table.sort_reverse = not self.table.sort_reverse
        self.table.apply_sort()
        self.notify(
            f"sorted by {self._label(self.table.sort_column)} ({'desc' if self.table.sort_reverse else 'asc'})",
            timeout=2,
        )

    def _label(self, key: str | None) -> str:
        return next((c.label for c in self.table.columns_def if c.key == key), str(key))

    @on(DataTable.HeaderSelected, "#runs")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        if self.table.sort_column == key:
            self.table.sort_reverse = not self.table.sort_reverse
        else:
            self.table.sort_column, self.table.sort_reverse = key, False
        self.table.apply_sort()

    # ------------------------------------------------------------------ actions: launch / kill / export

    @on(Tree.NodeSelected, "#configs")
    def _node_selected(self, event: Tree.NodeSelected) -> None:
        data: NodeData | None = event.node.data
        if data is None:
            return
        if data.kind == "invalid":
            self.notify(f"cannot launch: {data.entry.error}", severity="error", timeout=8)
        elif data.kind in ("experiment", "run") and data.planned is not None:
            self.launch([data.planned])

    @on(Tree.NodeHighlighted, "#configs")
    def _node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        """Show the highlighted config (its full error, or the resolved run configs) in the Config tab."""
        # The cursor's node, not the event's: a late event from a reload must not win.
        node = self.tree.cursor_node or event.node
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
                try:
                    import yaml

                    lines.append(yaml.safe_dump(p.cfg.model_dump(mode="json"), sort_keys=False).rstrip())
                except Exception as exc:  # a config that cannot be shown is still launchable
                    lines.append(f"# ({exc})")
            if len(runs) > 8:
                lines.append(f"\n# … and {len(runs) - 8} more")
        self._set_config_text("\n".join(lines))

    def _set_config_text(self, text: str) -> None:
        if text != self._config_text:
            self._config_text = text
            from rich.text import Text

            self._w["config-view"].update(Text(text))

    def action_launch_study(self) -> None:
        node = self.tree.cursor_node
        data: NodeData | None = node.data if node is not None else None
        if data is None:
            self.notify("highlight a study in the configs tree first", severity="warning")
            return
        if data.kind == "invalid":
            self.notify(f"cannot launch: {data.entry.error}", severity="error", timeout=8)
            return
        planned = list(data.entry.runs)
        if not planned:
            self.notify("nothing to launch", severity="warning")
            return
        title = data.entry.study_title or data.entry.name
        what = f"all {len(planned)} runs of study '{title}'" if data.entry.kind == "study" else f"'{title}'"

        def answer(ok: bool | None) -> None:
            if ok:
                self.launch(planned)

        self.push_screen(ConfirmScreen(f"Launch {what}?", yes="Launch", no="Cancel"), answer)

    @work(thread=True, group="actions")
    def launch(self, planned: Sequence[Any]) -> list[str]:
        """Enqueue each planned run, then make sure the scheduler is running."""
        from hw2.queue import enqueue, ensure_scheduler

        ids: list[str] = []
        try:
            for p in planned:
                ids.append(enqueue(self.runs_dir, p))
            ensure_scheduler(self.runs_dir)
        except Exception as exc:
            self.call_from_thread(self.notify, f"launch failed: {exc}", severity="error", timeout=10)
        if ids:
            what = planned[0].name if len(ids) == 1 else f"{len(ids)} runs"
            self.call_from_thread(self.notify, f"queued {what}", timeout=3)
        self._wake.set()
        return ids

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
                self._kill(st.run_id, st.name)

        self.push_screen(ConfirmScreen(f"Kill run '{st.name}' ({st.status})?", yes="Kill", no="Keep"), answer)

    @work(thread=True, group="actions")
    def _kill(self, run_id: str, name: str) -> None:
        try:
            from hw2.queue import kill_run

            ok = kill_run(self.runs_dir, run_id)
        except Exception as exc:
            self.call_from_thread(self.notify, f"kill failed: {exc}", severity="error")
            return
        msg = f"killed {name}" if ok else f"{name} was no longer running"
        self.call_from_thread(self.notify, msg, timeout=3)
        self._wake.set()

    def action_requeue(self) -> None:
        st = self.runs.get(self.table.highlighted_id() or "")
        if st is None:
            return
        if st.status not in ("failed", "killed"):
            self.notify(
                f"{st.name} is {st.status}: only failed or killed runs can be re-queued", severity="warning"
            )
            return
        self._requeue(st.run_id, st.name)

    @work(thread=True, group="actions")
    def _requeue(self, run_id: str, name: str) -> None:
        try:
            from hw2.queue import ensure_scheduler, requeue

            new_id = requeue(self.runs_dir, run_id)
            ensure_scheduler(self.runs_dir)
        except Exception as exc:
            self.call_from_thread(self.notify, f"re-queue failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"re-queued {name} as {new_id}", timeout=4)
        self._wake.set()

    def action_export(self) -> None:
        out = self.export_dir / time.strftime("%Y%m%d-%H%M%S", time.localtime(self.clock()))
        self._export(out)

    @work(thread=True, group="actions", exclusive=True)
    def _export(self, out_dir: Path) -> None:
        try:
            from hw2.export import export_csv

            results, metrics = export_csv(self.runs_dir, out_dir)
        except Exception as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error", timeout=10)
            return
        self.last_export = (Path(results), Path(metrics))
        where = Path(results).resolve()
        self.call_from_thread(
            self.notify, f"exported {where} and {Path(metrics).name}", title="Export", timeout=10
        )

    def action_toggle_configs(self) -> None:
        """Hide/show the configs pane (gives the table the full width on an 80-column terminal)."""
        left = self.screen_stack[0].query_one("#left")
        left.display = not left.display
        if not left.display and self.tree.has_focus:
            self.table.focus()

    def action_reload_configs(self) -> None:
        self._load_configs()
        self.notify("configs reloaded", timeout=2)

    def action_quit(self) -> None:  # type: ignore[override]
        self.exit()

    _MAIN_SCREEN_ACTIONS = frozenset(
        {
            "help",
            "launch_study",
            "kill",
            "requeue",
            "export",
            "filter",
            "toggle_diff",
            "toggle_smooth",
            "mark",
            "cycle_sort",
            "reverse_sort",
            "reload_configs",
            "toggle_configs",
            "tab",
        }
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The main screen's keys do nothing while a dialog (confirm, help, palette) is open."""
        return not (action in self._MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1)

    # ------------------------------------------------------------------ command palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_, cb in (
            ("Help: keys", "List every key binding", self.action_help),
            (
                "Launch study",
                "Enqueue every run of the highlighted study (asks first)",
                self.action_launch_study,
            ),
            ("Kill run", "Kill the highlighted run (asks first)", self.action_kill),
            ("Re-queue run", "Re-queue the highlighted failed/killed run", self.action_requeue),
            ("Export CSV", "Write results.csv and metrics.csv under ./exports", self.action_export),
            ("Filter runs", "Filter the runs table by text", self.action_filter),
            ("Toggle diff columns", "Show only hyperparameters that differ", self.action_toggle_diff),
            ("Toggle smoothing", "EMA smoothing on the plots", self.action_toggle_smooth),
            ("Mark run", "Overlay the highlighted run on the plots", self.action_mark),
            ("Cycle sort column", "Sort the runs table by the next column", self.action_cycle_sort),
            ("Reverse sort", "Reverse the runs table order", self.action_reverse_sort),
            ("Reload configs", "Re-read the configs folder", self.action_reload_configs),
            ("Toggle configs pane", "Hide/show the configs tree", self.action_toggle_configs),
            ("Show plots", "Plots tab", lambda: self.action_tab("tab-plots")),
            ("Show log", "Log tab (train.log of the highlighted run)", lambda: self.action_tab("tab-log")),
            (
                "Show config",
                "Config tab (resolved config of the highlighted run)",
                lambda: self.action_tab("tab-config"),
            ),
        ):
            yield SystemCommand(title, help_, cb)


# ---------------------------------------------------------------------- entry points


def make_app(
    runs_dir: Path,
    configs_dir: Path,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    clock: Clock = time.time,
    **kw: Any,
) -> HW2App:
    """The app, configured; shared by the CLI, the tests and the benchmark."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    return HW2App(runs_dir, Path(configs_dir), poll_interval=poll_interval, clock=clock, **kw)


def run_app(runs_dir: Path, configs_dir: Path, **kw: Any) -> None:
    """Run the TUI until the user quits; then say that the runs go on."""
    app = make_app(runs_dir, configs_dir, **kw)
    app.run()
    live = [s for s in app.runs.values() if s.status in ("running", "queued") and not s.deleted]
    if live:
        print(f"hw2-tui: {len(live)} run(s) queued or running — {QUIT_NOTE}.")
    if app.return_code:
        raise SystemExit(app.return_code)


if __name__ == "__main__":  # pragma: no cover
    run_app(Path(os.environ.get("HW2_RUNS_DIR") or "runs"), Path("configs"))
