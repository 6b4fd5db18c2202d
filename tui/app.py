"""The hw2-tui Textual app: the data flow; the screen itself is :class:`tui.main_screen.MainScreen`.

Data flow (one way, memray style): ONE thread worker polls :class:`hw2.runs.watcher.RunsWatcher` every
``poll_interval`` seconds and posts a batched :class:`RunsUpdated`; the app folds it into its
:class:`tui.model.RunsModel` and hands the changes to the main screen, which touches only the
table cells and plots that changed. The same worker loads the epoch series of the runs being
plotted (:class:`SeriesLoaded`) and follows the highlighted run's ``train.log``. A second worker
polls the GPUs every 2 s. Launch/kill/export run in short thread workers so the UI never blocks.

When a run fails or a study's runs seen live have all ended (:class:`hw2.notify.EventDetector`, fed
the summaries of each poll), the app tells the user on the channels ``$HW2_NOTIFY`` leaves on: a
toast, the terminal bell and a desktop notification through the terminal (OSC 9 / OSC 777, written
once per event), and ``$HW2_NOTIFY_CMD`` (:meth:`HW2App.announce`).

The app only reads and writes run folders and configs through ``hw2``; trainers run as separate
processes started by the scheduler, so quitting the app leaves them running. This module (and all
of ``tui``) never imports torch, tensorflow, keras or the trainers; ``hw2`` modules are imported
lazily so the first frame comes quickly.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from tui.commands import Command, bindings, palette_commands, palette_title
from tui.compat import write_to_terminal
from tui.main_screen import MainScreen
from tui.model import RunsModel, RunState

DEFAULT_POLL_INTERVAL = 0.25
GPU_INTERVAL = 2.0
SIZES_INTERVAL = 300.0
"""Seconds between walks of the runs folder for the header's sizes (also after each move to the
trash): a walk of 10 000 run folders is a second of a thread's time, never the UI thread's."""
LOG_TAIL_BYTES = 64 * 1024
SMOKE_TIMEOUT_S = 600.0
MAX_NEW_PER_POLL = 100
"""New run folders read by the first poll: the first rows of a 1000-run folder show after 100 of
them; later polls read ``MAX_NEW_PER_POLL_LATER`` each (10 000 runs: 10 polls, not 100)."""
MAX_NEW_PER_POLL_LATER = 1000
QUIT_NOTE = "runs keep going in the background; reopen hw2-tui to watch them"
EVENT_TOAST_S = 30.0
"""How long a run's failure or a study's end stays on screen (the user may be looking away)."""

Clock = Callable[[], float]


# ---------------------------------------------------------------------- messages


class RunsUpdated(Message):
    """A batch of watcher updates from one poll (posted from the poll thread)."""

    def __init__(self, updates: list[Any], initial: bool) -> None:
        super().__init__()
        self.updates = updates
        self.initial = initial


class SeriesLoaded(Message):
    """The epoch lines and resolved config of runs being plotted, by run id (asked for with
    :meth:`HW2App.request_series`)."""

    def __init__(self, series: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]) -> None:
        super().__init__()
        self.series = series


class StudySeries(Message):
    """Epoch points of a study view's runs, by run id (asked for with :meth:`HW2App.request_study_series`)."""

    def __init__(self, series: dict[str, list[Any]]) -> None:
        super().__init__()
        self.series = series


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
    BINDINGS: ClassVar[list[BindingType]] = bindings(app=True)  # type: ignore[assignment]

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
        reports_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.configs_dir = Path(configs_dir)
        self.poll_interval = poll_interval
        self.clock = clock
        if export_dir is None:
            from hw2.export import default_export_dir

            export_dir = default_export_dir()
        self.export_dir = Path(export_dir)
        self._gpu_stats_fn = gpu_stats
        self.start_scheduler = start_scheduler
        self.sub_title = subtitle if subtitle is not None else f"runs: {self.runs_dir}"
        self.model = RunsModel()
        self.config_entries: list[Any] = []
        self.gpu: list[Any] | None = None
        self.disk: str | None = None
        """The header's ``runs 1.2 GB · trash 300 MB`` (:meth:`refresh_sizes`); None until measured."""
        self.polls = 0
        # Set once the first poll of the runs dir is on screen (its rows in the table), not merely read.
        self.first_poll_done = threading.Event()
        self.configs_loaded = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._series_wanted: set[str] = set()
        self._study_series_wanted: set[str] = set()
        self._recheck_wanted: set[str] = set()  # finished runs changed by this app (resumed)
        self.log_target: tuple[str, Path] | None = None
        """(run id, train.log) the poll thread follows (set by the main screen)."""
        self.last_export: tuple[Path, Path] | None = None
        self.last_pivot_export: tuple[Path, Path] | None = None
        self.last_report: Path | None = None
        self.reports_dir = reports_dir
        """Where study reports go (``<dir>/<study>/``); None: the report's default (``reports/``)."""
        self.main = MainScreen()
        from hw2.notify import EventDetector, NotifySettings

        self.notify_settings = NotifySettings.from_env()
        # real time, not self.clock: it dates the runs created while the app is open
        self.events = EventDetector(since=time.time())
        self.announced: deque[Any] = deque(maxlen=100)
        """The last events told (:meth:`announce`), for the tests."""

    def get_default_screen(self) -> Screen:
        return self.main

    # -------------------------------------------------------------- what the tests and bench read

    @property
    def runs(self) -> dict[str, RunState]:
        return self.model.runs

    @property
    def table(self) -> Any:
        return self.main.table

    @property
    def tree(self) -> Any:
        return self.main.config_tree

    @property
    def plots(self) -> Any:
        return self.main.plots

    @property
    def filter_text(self) -> str:
        return self.main.filter_text

    @property
    def smooth(self) -> bool:
        return self.main.smooth

    @property
    def diff_mode(self) -> bool:
        return self.main.diff_mode

    def plotted_runs(self) -> list[RunState]:
        return self.main.plotted_runs()

    # -------------------------------------------------------------- lifecycle

    def on_mount(self) -> None:
        self._apply_width_class(self.size.width)
        warning = self.notify_settings.warning()
        if warning:
            self.notify(warning, title="Notifications", severity="warning", timeout=15, markup=False)

    def on_ready(self) -> None:
        """After the first frame: start polling the runs (its imports would otherwise delay it)."""
        self._poll_runs()
        self.main.start_ticking()

    def on_resize(self, event: Any) -> None:
        self._apply_width_class(event.size.width)

    def _apply_width_class(self, width: int) -> None:
        self.set_class(width < 110, "-narrow")

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Poll now rather than at the next interval."""
        self._wake.set()

    def request_series(self, run_ids: Iterable[str]) -> None:
        """Ask the poll thread for these runs' epoch lines (answered with :class:`SeriesLoaded`)."""
        with self._lock:
            self._series_wanted.update(run_ids)
        self._wake.set()

    def request_study_series(self, run_ids: Iterable[str]) -> None:
        """Ask the poll thread for these runs' epoch points (answered with :class:`StudySeries`)."""
        with self._lock:
            self._study_series_wanted.update(run_ids)
        self._wake.set()

    def study_file(self, study: str) -> Path | None:
        """The configs' study file titled ``study`` (None when no loaded config has that title)."""
        for e in self.config_entries:
            if e.kind == "study" and (e.study_title or e.name) == study:
                return Path(e.path)
        return None

    def report_dir(self, study_file: Path) -> Path:
        """The folder of a study's report (``reports/<study>/``, under ``reports_dir`` when set)."""
        from hw2.analysis.writer import DEFAULT_REPORTS_DIR, study_slug

        return (self.reports_dir or DEFAULT_REPORTS_DIR) / study_slug(study_file)

    def study_screens(self) -> list[Any]:
        """The study and factorial views open (anywhere in the screen stack)."""
        from tui.study import PivotScreen, StudyScreen

        return [s for s in self.screen_stack if isinstance(s, StudyScreen | PivotScreen)]

    # -------------------------------------------------------------- workers

    @work(thread=True, exclusive=True, group="poll", name="runs-poll")
    def _poll_runs(self) -> None:
        """The one poller: run folders every ``poll_interval`` s, the plotted series, the followed log."""
        from hw2.runs.watcher import RunsWatcher

        worker = get_current_worker()
        watcher = RunsWatcher(self.runs_dir, max_new_per_poll=MAX_NEW_PER_POLL)
        log_state: dict[str, Any] = {"target": None, "offset": 0}
        initial = True
        attach = self.start_scheduler  # start (re-attach) the scheduler if a run needs it
        while not worker.is_cancelled and not self._stop.is_set():
            with self._lock:
                recheck, self._recheck_wanted = self._recheck_wanted, set()
            try:
                updates = watcher.poll()
                # a finished run made live again here (resume) is re-read now, not on the round-robin
                updates += [u for u in map(watcher.recheck, sorted(recheck)) if u is not None]
            except Exception as exc:  # a bad folder must never take the app down
                self.call_from_thread(self.notify, f"reading runs failed: {exc}", severity="error")
                updates = []
            if updates or initial:
                self.post_message(RunsUpdated(updates, initial))
            initial = False
            watcher.max_new_per_poll = MAX_NEW_PER_POLL_LATER
            if attach and any(_needs_scheduler(u.summary) for u in updates):
                attach = False
                self._ensure_scheduler_quietly()
            attach = attach and bool(watcher.backlog)  # until every run folder was read once
            with self._lock:
                wanted, self._series_wanted = self._series_wanted, set()
                study_wanted, self._study_series_wanted = self._study_series_wanted, set()
            if study_wanted:
                self.post_message(StudySeries({rid: _points(watcher, rid) for rid in sorted(study_wanted)}))
            if wanted:
                self.post_message(
                    SeriesLoaded({rid: self._series_of(watcher, rid) for rid in sorted(wanted)})
                )
            self.polls += 1
            self._follow_log(log_state)
            if watcher.backlog:  # run folders not read yet (a first poll of 1000 runs): go on at once
                continue
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    @staticmethod
    def _series_of(watcher: Any, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A plotted run's epoch lines and resolved config (both empty for a vanished run)."""
        from hw2.runs.readers import read_config

        summary = watcher.summary(run_id)
        if summary is None:
            return [], {}
        try:
            return watcher.epoch_lines(run_id), read_config(Path(summary.path))
        except Exception:  # a run deleted meanwhile: nothing to plot
            return [], {}

    def _ensure_scheduler_quietly(self) -> None:
        try:
            from hw2.daemon import ensure_scheduler

            ensure_scheduler(self.runs_dir)
        except Exception as exc:
            self.call_from_thread(self.notify, f"could not start the scheduler: {exc}", severity="error")

    def _follow_log(self, state: dict[str, Any]) -> None:
        """Send the new bytes of the followed run's train.log (the tail when the run changes)."""
        target = self.log_target
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
    def load_configs(self) -> None:
        """Read the configs folder (in a thread) and show it in the tree."""
        try:
            from hw2.config import discover

            entries, error = list(discover(self.configs_dir)), None
        except Exception as exc:
            entries, error = [], f"reading {self.configs_dir} failed: {exc}"
        self.post_message(ConfigsLoaded(entries, error))

    # -------------------------------------------------------------- message handlers

    def on_runs_updated(self, msg: RunsUpdated) -> None:
        changes = self.model.apply(msg.updates)
        events = self.events.feed(u.summary for u in msg.updates if not u.removed)
        events += self.events.forget(u.run_id for u in msg.updates if u.removed)
        if events:
            self.announce(events)
        self.main.show_changes(changes, initial=msg.initial)
        if changes.shown or changes.rows or changes.dropped:
            for screen in self.study_screens():
                screen.runs_changed()
        if msg.initial:
            self.first_poll_done.set()
            # The GPU poller and the configs (YAML, validation) start once the runs are on screen:
            # their threads would otherwise compete with the first poll (1000 runs) for the GIL.
            self._poll_gpu()
            self.load_configs()
            self.refresh_sizes()
            self.set_interval(SIZES_INTERVAL, self.refresh_sizes)

    def announce(self, events: Sequence[Any]) -> None:
        """Tell the user each :class:`hw2.notify.Event` on the channels that are on: a toast
        (a warning for a failure), then the bell and the desktop notification sequences, written to
        the terminal once, then ``$HW2_NOTIFY_CMD`` in the background (its failure: a toast)."""
        from hw2.notify import run_command, terminal_sequence

        settings = self.notify_settings
        for event in events:
            self.announced.append(event)
            if "toast" in settings:
                severity = "warning" if event.bad else "information"
                self.notify(
                    event.text, title=event.title, severity=severity, timeout=EVENT_TOAST_S, markup=False
                )
            write_to_terminal(self, terminal_sequence(event, settings))
            if settings.runs_command and settings.command:
                run_command(settings.command, event.text, on_error=self._command_failed)

    def _command_failed(self, line: str) -> None:
        """``$HW2_NOTIFY_CMD`` failed (called from its thread): say so in a toast."""
        self.call_from_thread(self.notify, line, title="Notifications", severity="warning", markup=False)

    def on_study_series(self, msg: StudySeries) -> None:
        for screen in self.study_screens():
            if hasattr(screen, "series_loaded"):
                screen.series_loaded(msg.series)

    def on_series_loaded(self, msg: SeriesLoaded) -> None:
        loaded = [rid for rid, (lines, cfg) in msg.series.items() if self.model.load_series(rid, lines, cfg)]
        if loaded:
            self.main.series_loaded(loaded)

    def on_log_chunk(self, msg: LogChunk) -> None:
        if self.log_target is not None and msg.run_id == self.log_target[0]:
            self.main.show_log(msg.text, msg.reset)

    def on_gpu_updated(self, msg: GpuUpdated) -> None:
        self.gpu = msg.stats
        self.main.update_gpu_bar()

    def on_configs_loaded(self, msg: ConfigsLoaded) -> None:
        self.config_entries = msg.entries
        self.main.show_configs(msg.entries)
        self.configs_loaded.set()
        if msg.error:
            self.notify(msg.error, severity="error")

    # -------------------------------------------------------------- operations (threads)

    @work(thread=True, group="actions")
    def launch(self, planned: Sequence[Any]) -> list[str]:
        """Create a queued run for each planned run and hand them to their executor (the files'
        ``executor.kind``: the local scheduler, or Slurm; :mod:`hw2.executors`)."""
        from hw2 import executors

        ids: list[str] = []
        where = ""
        try:
            executor, settings = executors.resolve_planned(planned[0])
            where = executor.where
            # the table shows the new runs queued before the executor starts one
            ids = executors.launch(
                self.runs_dir, planned, executor, settings, created=lambda _ids: self._seen_by_a_poll()
            ).run_ids
        except Exception as exc:
            self.call_from_thread(self.notify, f"launch failed: {exc}", severity="error", timeout=10)
        if ids:
            what = planned[0].name if len(ids) == 1 else f"{len(ids)} runs"
            self.call_from_thread(self.notify, f"queued {what}{where}", timeout=3)
        self._wake.set()
        return ids

    def _recheck(self, run_ids: Iterable[str]) -> None:
        """Have the poller re-read these finished runs at once (their meta changed under it)."""
        with self._lock:
            self._recheck_wanted.update(run_ids)
        self._wake.set()

    def _seen_by_a_poll(self, timeout: float = 2.0) -> None:
        """Wake the poller and wait (at most ``timeout`` s) until a poll that began after this call
        has finished, so folders just created reach the table in the state they were created in."""
        target = self.polls + 2  # a poll under way may have listed the folder before it existed
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self.polls < target and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.01)

    @work(thread=True, group="actions")
    def launch_sweep(self, entry: Any, choice: Any) -> list[str]:
        """The launch dialog's sweep: a smoke test first when chosen (nothing is queued if a config
        fails it), then the runs without a done/queued/running twin (all with ``force``), run by
        the local scheduler or submitted to Slurm. Returns the queued run ids."""
        from hw2 import executors
        from hw2.launch_plan import planned_runs
        from hw2.planning import enqueue_sweep, smoke_test

        notify = self.call_from_thread
        try:
            planned = planned_runs(entry, choice.repeat)
            smoke = None
            if choice.smoke:
                notify(self.notify, f"smoke test of {len(planned)} config(s)…", timeout=5)
                smoke = smoke_test(self.runs_dir, planned, SMOKE_TIMEOUT_S)
                self._wake.set()
                for f in smoke.failures:
                    notify(self.notify, f.line(), title="Smoke test failed", severity="error", timeout=20)
                if not smoke.passed:
                    notify(
                        self.notify,
                        f"smoke test: {len(smoke.failures)} failure(s): nothing queued; "
                        + smoke.tidy(self.runs_dir),
                        severity="error",
                        timeout=20,
                    )
                    return []
            executor, settings = executors.resolve(entry.path, choice.executor)
            plan = enqueue_sweep(self.runs_dir, planned, force=choice.force, executor=executor.name)
            if plan.queued:
                self._seen_by_a_poll()
            executor.submit(self.runs_dir, plan.queued, settings)
            if smoke is not None:  # the real runs are queued: the passed smoke runs have done their job
                notify(self.notify, smoke.tidy(self.runs_dir), title="Smoke test passed", timeout=10)
        except Exception as exc:
            notify(self.notify, f"launch failed: {exc}", severity="error", timeout=10)
            return []
        where = executor.where
        notify(self.notify, f"{plan.summary()}: queued {len(plan.queued)}{where}", timeout=5)
        self._wake.set()
        return plan.queued

    @work(thread=True, group="actions")
    def kill(self, run_id: str, name: str) -> None:
        try:
            ok = self._executor_of(run_id).kill(self.runs_dir, run_id)
        except Exception as exc:
            self.call_from_thread(self.notify, f"kill failed: {exc}", severity="error")
            return
        msg = f"killed {name}" if ok else f"{name} was no longer running"
        self.call_from_thread(self.notify, msg, timeout=3)
        self._wake.set()

    @work(thread=True, exclusive=True, group="sizes", name="sizes")
    def refresh_sizes(self) -> None:
        """Measure the runs folder and its trash (a walk of every file) for the header."""
        from hw2 import trash

        text = trash.sizes(self.runs_dir).text()
        self.call_from_thread(self._show_sizes, text)

    def _show_sizes(self, text: str) -> None:
        self.disk = text
        self.main.update_gpu_bar()

    @work(thread=True, group="actions")
    def ask_trash(self, run_ids: list[str]) -> None:
        """Measure the runs to move, then ask (:meth:`tui.main_screen.MainScreen.confirm_trash`)."""
        from hw2 import contract, trash

        total = sum(trash.folder_size(contract.run_path(self.runs_dir, r)) for r in run_ids)
        self.call_from_thread(self.main.confirm_trash, run_ids, total)

    @work(thread=True, group="actions")
    def trash_runs(self, run_ids: list[str]) -> None:
        """Move runs to the trash (:func:`hw2.trash.remove`: each re-checked under the queue lock)."""
        from hw2 import contract, trash
        from hw2.runs.summary import fmt_bytes

        try:
            done = trash.remove(self.runs_dir, [contract.run_path(self.runs_dir, r) for r in run_ids])
        except Exception as exc:
            self.call_from_thread(self.notify, f"move to trash failed: {exc}", severity="error")
            return
        n = len(done.removed)
        if n:
            what = f"moved {n} run{'s' if n != 1 else ''} ({fmt_bytes(done.size_bytes)}) to .trash"
            self.call_from_thread(self.notify, what + "; hw2-tui restore RUN brings one back", timeout=5)
        for line in done.refused:
            self.call_from_thread(self.notify, line, severity="warning", timeout=10)
        self._wake.set()
        self.call_from_thread(self.refresh_sizes)

    @work(thread=True, group="actions")
    def requeue(self, run_id: str, name: str) -> None:
        try:
            new_id = self._executor_of(run_id).requeue(self.runs_dir, run_id)
        except Exception as exc:
            self.call_from_thread(self.notify, f"re-queue failed: {exc}", severity="error")
            return
        self.call_from_thread(self.notify, f"re-queued {name} as {new_id}", timeout=4)
        self._wake.set()

    def _executor_of(self, run_id: str) -> Any:
        """The executor of a run (:func:`hw2.executors.of_run`); raises a one-line error."""
        from hw2 import contract, executors

        path = contract.run_path(self.runs_dir, run_id)
        meta = contract.read_meta(path)
        if meta is None:
            raise executors.ExecutorError(f"{path / contract.META_FILE}: missing or unreadable")
        return executors.of_run(meta)

    @work(thread=True, group="actions")
    def study_report(self, study: str, study_file: Path | None) -> None:
        """Write the study's report (:func:`hw2.analysis.writer.write_study_report`); say where."""
        if study_file is None:
            self.call_from_thread(
                self.notify,
                f"no study file titled '{study}' in {self.configs_dir}: cannot write its report",
                severity="error",
            )
            return
        self.call_from_thread(self.notify, f"writing the report of '{study}'…", timeout=3)
        try:
            from hw2.analysis.writer import write_study_report

            written = write_study_report(self.runs_dir, study_file, self.report_dir(study_file))
        except Exception as exc:
            self.call_from_thread(self.notify, f"report failed: {exc}", severity="error", timeout=10)
            return
        self.last_report = Path(written.out_dir) / "report.md"
        self.call_from_thread(
            self.notify, f"report written: {self.last_report.resolve()}", title="Report", timeout=15
        )

    @work(thread=True, group="actions")
    def requeue_failed(self, study: str) -> None:
        """Re-queue every failed or killed run of ``study`` that has no done/queued/running twin."""
        try:
            from hw2.sweep import requeue_failed

            done = requeue_failed(self.runs_dir, study)
            self._recheck(done.resumed)
        except Exception as exc:
            self.call_from_thread(self.notify, f"re-queue failed: {exc}", severity="error")
            return
        n_new, n_resumed = len(done.requeued), len(done.resumed)
        if n_new or n_resumed:
            what = (
                f"resumed {n_resumed} (from their checkpoints) and re-queued {n_new} failed or killed run(s)"
            )
        else:
            what = "no failed or killed run to re-queue"
        self.call_from_thread(self.notify, f"{what} of '{study}'", timeout=5)
        for line in done.refused:
            self.call_from_thread(self.notify, line, title="Not resumed", severity="warning", timeout=15)
        self._wake.set()

    @work(thread=True, group="actions")
    def resume(self, run_id: str, name: str) -> None:
        """Continue a failed or killed run in its own folder from its checkpoint (its executor's
        :meth:`hw2.executors.Executor.resume`)."""
        from hw2 import contract, executors

        try:
            meta = contract.read_meta(contract.run_path(self.runs_dir, run_id))
            if meta is None:
                raise executors.ExecutorError(f"run {run_id}: meta.json missing or unreadable")
            said = executors.of_run(meta).resume(self.runs_dir, run_id)
            self._recheck([run_id])
        except Exception as exc:
            self.call_from_thread(self.notify, f"resume failed: {exc}", severity="error", timeout=15)
            return
        self.call_from_thread(self.notify, f"{name}: {said}", timeout=5)
        self._wake.set()

    @work(thread=True, group="actions")
    def set_note(self, run_id: str, name: str, text: str) -> None:
        """Store a run's note (:func:`hw2.runs.lifecycle.set_note`, off the UI thread); the
        poller re-reads the run at once, finished or not."""
        from hw2 import contract
        from hw2.runs import lifecycle

        try:
            meta = lifecycle.set_note(contract.run_path(self.runs_dir, run_id), text)
            self._recheck([run_id])
        except Exception as exc:
            self.call_from_thread(self.notify, f"note not saved: {exc}", severity="error", timeout=10)
            return
        said = "note cleared" if meta.extra.get("note") is None else "note saved"
        self.call_from_thread(self.notify, f"{name}: {said}", timeout=3)

    @work(thread=True, group="actions")
    def export_pivot(self, pv: Any, study: str) -> None:
        """Write the factorial table as CSV and LaTeX into the export dir; say the paths."""
        from hw2 import contract
        from hw2.analysis.pivot import to_csv, to_latex

        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in study).strip("-") or "study"
        stem = f"{stem}-{pv.metric}-{pv.row_key}-x-{pv.col_key}"
        try:
            self.export_dir.mkdir(parents=True, exist_ok=True)
            csv_path, tex_path = self.export_dir / f"{stem}.csv", self.export_dir / f"{stem}.tex"
            contract.atomic_write_text(csv_path, to_csv(pv))
            contract.atomic_write_text(tex_path, to_latex(pv, caption=study))
        except Exception as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error", timeout=10)
            return
        self.last_pivot_export = (csv_path, tex_path)
        self.call_from_thread(
            self.notify, f"exported {csv_path.resolve()} and {tex_path.name}", title="Export", timeout=10
        )

    def export(self) -> None:
        """Write results.csv and metrics.csv under a new time-stamped folder of the export dir."""
        self._export(self.export_dir / time.strftime("%Y%m%d-%H%M%S", time.localtime(self.clock())))

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

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Screenshots go where exports go (``$HW2_EXPORT_DIR`` or ``./exports``), not to a
        downloads folder a server may not have; the notification names the file."""
        folder = Path(path) if path else self.export_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.notify(
                f"cannot save the screenshot in {folder}: {exc}", title="Screenshot", severity="error"
            )
            return None
        return super().deliver_screenshot(filename, str(folder.resolve()), time_format)

    def action_quit(self) -> None:  # type: ignore[override]
        self.exit()

    # -------------------------------------------------------------- command palette

    def action_help(self) -> None:
        """The help screen (keys and columns), from any view."""
        from tui.screens import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every command of every view, its key in its title (``Kill run (k)``); Textual's own
        Keys and Quit are left out (ours say more: ``Help: keys and columns (?)``, ``Quit (runs go on) (q)``)."""
        for cmd in super().get_system_commands(screen):
            if cmd.title not in ("Keys", "Quit"):
                yield cmd
        for cmd in palette_commands(_screen_kind(screen)):
            yield SystemCommand(palette_title(cmd), cmd.help, _runner(self, cmd))

    async def run_command(self, cmd: Command) -> None:
        """Run a command where it lives: on the app; on a view open below (closing the views above
        it); or on a view opened for it: the study view of the highlighted study (``v``), and
        its factorial view for a factorial command."""
        if cmd.app:
            await self.run_action(cmd.action or "")
            return
        screen = await self._screen_for(cmd.screen)
        if screen is not None:
            await screen.run_action(cmd.action or "")

    async def _screen_for(self, kind: str) -> Screen | None:
        """The screen of ``kind`` on top, opening or closing views to get there (None: it cannot
        be opened here, and the main screen has said why)."""
        from tui.study import StudyScreen

        kinds = [_screen_kind(s) for s in self.screen_stack]
        if kind in kinds:
            while _screen_kind(self.screen) != kind:
                await self.pop_screen()
            return self.screen
        if "study" not in kinds:  # only the main screen (and maybe dialogs) below
            while self.screen is not self.main:
                await self.pop_screen()
            mounted = self.main.open_study_view()
            if mounted is None:
                return None
            await mounted
        if kind == "pivot":
            study = self.screen
            if not isinstance(study, StudyScreen):
                return None
            await self._settle()
            study.action_pivot()
            await self._settle()
            if _screen_kind(self.screen) != "pivot":
                return None
        return self.screen

    async def _settle(self) -> None:
        """Let a view just pushed mount (its actions need its widgets)."""
        import asyncio

        screen = self.screen
        for _ in range(200):
            if screen.is_mounted:
                return
            await asyncio.sleep(0.01)


def _points(watcher: Any, run_id: str) -> list[Any]:
    """A run's epoch points (empty for a vanished run), read in the poll thread."""
    from hw2.runs.summary import EpochPoint, EpochStats, fold_lines

    try:
        epochs: list[Any] = []
        fold_lines(watcher.epoch_lines(run_id), EpochStats(), epochs)
    except Exception:  # a run deleted meanwhile
        return []
    return [p for p in map(EpochPoint.from_line, epochs) if p is not None]


def _needs_scheduler(summary: Any) -> bool:
    """A run the scheduler daemon must look after: a queued run (it launches it) or a running Slurm
    run (its monitor follows the job): how a reopened TUI re-attaches."""
    if summary is None:
        return False
    from hw2.executors import LOCAL, SLURM

    return summary.status == "queued" or (
        summary.status == "running" and getattr(summary, "executor", LOCAL) == SLURM
    )


def _runner(app: HW2App, cmd: Command) -> Callable[[], Any]:
    async def run() -> None:
        await app.run_command(cmd)

    return run


def _screen_kind(screen: Screen) -> str:
    """``main``, ``study`` or ``pivot`` for the app's views; ``dialog`` for the others."""
    from tui.study import PivotScreen, StudyScreen

    if isinstance(screen, MainScreen):
        return "main"
    if isinstance(screen, StudyScreen):
        return "study"
    return "pivot" if isinstance(screen, PivotScreen) else "dialog"


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
    from hw2 import contract

    runs_dir = contract.make_runs_dir(runs_dir)  # 0700 when the app creates it (docs/security.md)
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
