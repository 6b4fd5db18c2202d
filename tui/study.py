"""The study view: a study's runs grouped by variant, seeds aggregated, each variant's verdict
against the first, and the mean curves with their spread; plus the factorial (pivot) view.

The figures come from the core (:mod:`hw2.analysis.stats`, :mod:`hw2.analysis.pivot`,
:func:`hw2.analysis.figures.mean_curve`) over the summaries the app already holds
(:class:`tui.model.RunState`'s ``summary``): no run folder is read on the UI thread. Grouping and
the verdicts (scipy) run in a thread worker; the epoch series of the study's runs are read by the
app's poll thread (:meth:`tui.app.HW2App.request_study_series`) and kept here, so the main
screen's plot cache is untouched. The view follows the runs while they go (rows say which seeds
are not done yet: figures are over done runs only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static

from tui.commands import bindings
from tui.compat import CachedDataTable
from tui.plots import RUN_COLORS, cached_plot_class

if TYPE_CHECKING:
    from hw2.analysis.stats import VariantGroup
    from hw2.runs.summary import EpochPoint, RunSummary
    from tui.app import HW2App

STUDY_COLUMNS = (
    ("variant", "variant"),
    ("runs", "runs"),
    ("best_val_acc", "best val %"),
    ("test_acc", "test %"),
    ("train_loss", "train loss"),
    ("val_loss", "val loss"),
    ("best_epoch", "best ep"),
    ("seconds_per_epoch", "s/epoch"),
    ("verdict", "test acc vs first (Welch)"),
)
PIVOT_METRICS = ("best_val_acc", "test_acc", "val_loss", "train_loss", "seconds_per_epoch")


def study_runs(app: HW2App, study: str) -> list[RunSummary]:
    """The summaries of a study's runs (not deleted, no smoke runs), oldest first."""
    out = [
        st.summary
        for st in app.model.runs.values()
        if st.summary.study == study and not st.deleted and not st.summary.smoke
    ]
    out.sort(key=lambda s: (s.created or 0.0, s.run_id))
    return out


def _cell(agg: Any, metric: str) -> str:
    from hw2.analysis.stats import count_text, mean_std_text

    if metric.endswith("acc"):
        return mean_std_text(agg, 100.0, 2)
    if metric == "best_epoch":
        return count_text(agg)  # as the report writes it: "3" when the seeds agree
    if metric == "seconds_per_epoch":
        return mean_std_text(agg, 1.0, 1)
    return mean_std_text(agg, 1.0, 4)


@dataclass(frozen=True)
class StudyFigures:
    """What the worker computed for the view: groups, per-variant verdict text, row cells."""

    groups: list[VariantGroup]
    rows: list[tuple[str, ...]]
    partial: bool
    chosen: str = ""
    """The variant chosen by validation accuracy alone, and its test accuracy (as the report says)."""


def study_figures(runs: Sequence[RunSummary]) -> StudyFigures:
    """The view's table: one row per variant; the verdict of each variant against the first."""
    from hw2.analysis.report import select_by_validation
    from hw2.analysis.stats import group_runs, verdicts

    groups = group_runs(runs)
    selection = select_by_validation(groups)
    verdict_text = {v.variant: verdict_cell(v) for v in verdicts(groups)}
    rows = []
    for i, g in enumerate(groups):
        cells = [g.variant, g.done_text()]
        cells += [_cell(g.stats[m], m) for m, _ in STUDY_COLUMNS[2:8]]
        cells.append("reference" if i == 0 else verdict_text.get(g.variant, ""))
        rows.append(tuple(cells))
    chosen = selection.short() if selection is not None else ""
    return StudyFigures(groups, rows, any(not g.complete for g in groups), chosen)


def verdict_cell(v: Any) -> str:
    """A verdict in a table cell: ``+1.23 pt, p = 0.031: better`` (the word alone without a difference)."""
    if v.diff is None:
        return v.word
    p = f", {v.p_text()}" if v.p_value is not None else ""
    return f"{v.diff * 100:+.2f} pt{p}: {v.word}"


def band_lines(
    groups: Sequence[VariantGroup], series: dict[str, list[EpochPoint]], metric: str
) -> list[tuple[str, str, list[float], list[float]]]:
    """The plot's lines for ``metric`` (``loss`` or ``acc``): per variant its train and val MEAN
    curve over the done and running seeds, and the val curve's spread as mean - std and mean + std
    lines (where two or more seeds reached the epoch). Each line is (label, colour, xs, ys)."""
    from hw2.analysis.figures import mean_curve

    out: list[tuple[str, str, list[float], list[float]]] = []
    for i, g in enumerate(groups):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        runs = [series[r.run_id] for r in g.runs if series.get(r.run_id) and r.status in ("done", "running")]
        if not runs:
            continue
        n = len(runs)
        for part in ("train", "val"):
            curve = mean_curve(runs, f"{part}_{metric}")
            if not curve.epochs:
                continue
            xs = list(curve.epochs)
            out.append((f"{g.variant[:16]} {part} (n={n})", color, xs, list(curve.mean)))
            if part == "val" and any(s is not None for s in curve.std):
                pts = [(x, m, s) for x, m, s in zip(xs, curve.mean, curve.std, strict=True) if s is not None]
                out.append(("", color, [p[0] for p in pts], [p[1] - p[2] for p in pts]))
                out.append(("", color, [p[0] for p in pts], [p[1] + p[2] for p in pts]))
    return out


class StudyScreen(Screen[None]):
    """One study: a row per variant (n, mean ± std, verdict vs the first), mean curves with spread."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(app=False, screen="study")  # type: ignore[assignment]
    DEFAULT_CSS = """
    StudyScreen #study-title { width: 100%; padding: 0 1; background: $primary 30%; text-style: bold; }
    StudyScreen #study-table { height: auto; max-height: 50%; }
    StudyScreen #study-verdict { width: 100%; padding: 0 1; color: $accent; }
    StudyScreen #study-plots { height: 1fr; }
    """

    def __init__(self, study: str, study_file: str | None = None) -> None:
        super().__init__()
        self.study = study
        self.study_file = study_file
        self.figures: StudyFigures | None = None
        self.series: dict[str, list[EpochPoint]] = {}
        self._series_key: dict[str, tuple[str, int]] = {}
        self.marked: list[str] = []
        self.verdict_text = ""
        self.plot_data: dict[str, list[tuple[str, str, list[float], list[float]]]] = {"loss": [], "acc": []}
        self.table: DataTable[str] = CachedDataTable(id="study-table", cursor_type="row", zebra_stripes=True)
        self.loss_plot: Any = None
        self.acc_plot: Any = None

    @property
    def hw2(self) -> HW2App:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(f"Study: {self.study}", id="study-title")
        yield self.table
        yield Static("space marks two variants: their verdict shows here", id="study-verdict")
        with Horizontal(id="study-plots"):
            cls = cached_plot_class()
            self.loss_plot, self.acc_plot = cls(id="study-loss"), cls(id="study-acc")
            yield self.loss_plot
            yield self.acc_plot
        yield Footer()

    def on_mount(self) -> None:
        for key, label in STUDY_COLUMNS:
            self.table.add_column(label, key=key)
        self.table.focus()
        self.runs_changed()

    # ------------------------------------------------------------------ data

    def runs_changed(self) -> None:
        """The app's runs changed (or the view opened): regroup in a thread, ask for new series."""
        runs = study_runs(self.hw2, self.study)
        stale = []
        for s in runs:
            key = (s.status, s.epochs_done)
            if self._series_key.get(s.run_id) != key:
                self._series_key[s.run_id] = key
                stale.append(s.run_id)
        if stale:
            self.hw2.request_study_series(stale)
        self._compute(runs)

    @work(thread=True, exclusive=True, group="study-figures")
    def _compute(self, runs: list[RunSummary]) -> None:
        figures = study_figures(runs)
        self.app.call_from_thread(self._show, figures)

    def series_loaded(self, series: dict[str, list[EpochPoint]]) -> None:
        self.series.update(series)
        self._draw()

    def _show(self, figures: StudyFigures) -> None:
        if not self.is_attached:
            return
        self.figures = figures
        title = f"Study: {self.study} · {len(figures.groups)} variant(s)"
        if figures.partial:
            title += " · partial: figures over done runs only"
        self.query_one("#study-title", Label).update(title)
        with self.app.batch_update():
            keep = self.table.cursor_row
            self.table.clear()
            for row in figures.rows:
                mark = "● " if row[0] in self.marked else ""
                self.table.add_row(mark + row[0], *row[1:], key=row[0])
            if self.table.row_count:
                self.table.move_cursor(row=min(keep, self.table.row_count - 1))
        self._show_verdict()
        self._draw()

    def _draw(self) -> None:
        if self.figures is None or self.loss_plot is None:
            return
        for plot, metric, title in ((self.loss_plot, "loss", "loss"), (self.acc_plot, "acc", "accuracy")):
            lines = band_lines(self.figures.groups, self.series, metric)
            self.plot_data[metric] = lines
            plt = plot.plt
            plt.clear_data()
            plt.xlabel("epoch")
            plt.title(f"{title}: mean over seeds, val ± std dotted")
            for label, color, xs, ys in lines:
                if not xs:
                    continue
                marker = "dot" if not label else ("braille" if " train " in label else "hd")
                plt.plot(xs, ys, color=color, marker=marker, label=label or None)
            plot.data_serial += 1
            plot.refresh()

    def group(self, variant: str) -> VariantGroup | None:
        if self.figures is None:
            return None
        return next((g for g in self.figures.groups if g.variant == variant), None)

    def _show_verdict(self) -> None:
        from hw2.analysis.stats import compare

        a = self.group(self.marked[0]) if len(self.marked) == 2 else None
        b = self.group(self.marked[1]) if len(self.marked) == 2 else None
        if a is None or b is None:
            text = f"marked: {self.marked[0]} (mark one more)" if self.marked else "space marks two variants"
            if self.figures is not None and self.figures.chosen:
                text = f"{self.figures.chosen} · {text}"
        else:
            text = compare(a, b).text()
        self.verdict_text = text
        self.query_one("#study-verdict", Static).update(text)

    # ------------------------------------------------------------------ actions

    def highlighted_variant(self) -> str | None:
        if not self.table.row_count:
            return None
        key = self.table.coordinate_to_cell_key(self.table.cursor_coordinate).row_key
        return str(key.value) if key is not None else None

    def action_mark_variant(self) -> None:
        v = self.highlighted_variant()
        if v is None:
            return
        if v in self.marked:
            self.marked.remove(v)
        else:
            self.marked = (self.marked + [v])[-2:]
        if self.figures is not None:
            self._show(self.figures)

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_pivot(self) -> None:
        from hw2.analysis.pivot import factors

        runs = study_runs(self.hw2, self.study)
        keys = factors(runs)
        if len(keys) < 2:
            self.notify(
                f"study '{self.study}' varies {len(keys)} factor(s): the factorial view needs a grid over two",
                severity="warning",
            )
            return
        self.app.push_screen(PivotScreen(self.study, keys))

    def action_report(self) -> None:
        self.hw2.study_report(self.study, self.study_file)

    def action_requeue_failed(self) -> None:
        self.hw2.requeue_failed(self.study)

    def action_edit_conclusion(self) -> None:
        """Open the study's ``conclusion.md`` (created with its placeholder when missing) in the
        user's editor, the app suspended meanwhile as ``git commit`` does; it goes into report.md,
        report.tex and homework2.tex when the report is written again."""
        import subprocess

        from textual.app import SuspendNotSupported

        from hw2.analysis.report import StudyInfo
        from hw2.analysis.writer import ensure_conclusion

        if self.study_file is None:
            self.notify(
                f"no study file titled '{self.study}' in {self.hw2.configs_dir}: no report folder for its conclusion",
                severity="error",
            )
            return
        cmd = editor_command()
        if cmd is None:
            self.notify("no editor found: set $EDITOR (or $VISUAL), or install vi or nano", severity="error")
            return
        try:
            path = ensure_conclusion(self.hw2.report_dir(Path(self.study_file)), StudyInfo(self.study))
        except OSError as exc:
            self.notify(f"cannot create the conclusion: {exc}", severity="error")
            return
        try:
            with self.app.suspend():
                code = subprocess.run([*cmd, str(path)], check=False).returncode
        except SuspendNotSupported:
            self.notify(f"cannot suspend the app here: edit {path} in another terminal", severity="warning")
            return
        except OSError as exc:
            self.notify(f"cannot run {cmd[0]}: {exc}", severity="error")
            return
        said = f"{cmd[0]} exited with {code}; " if code else ""
        self.notify(f"{said}{path}: P writes it into the report", timeout=6)


def editor_command() -> list[str] | None:
    """The user's editor as a command line: ``$EDITOR``, else ``$VISUAL``, else ``vi``, else
    ``nano`` (the first that is installed); None when there is none."""
    import os
    import shlex
    import shutil

    for var in ("EDITOR", "VISUAL"):
        try:
            cmd = shlex.split(os.environ.get(var, ""))
        except ValueError:  # unbalanced quotes
            continue
        if cmd and shutil.which(cmd[0]):
            return cmd
    for name in ("vi", "nano"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    return None


class PivotScreen(Screen[None]):
    """The factorial view: rows × columns of two factors, each cell mean ± std of the metric over
    seeds, marginal means, the best cell starred; swap, cycle metric, pick factors, export."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(app=False, screen="pivot")  # type: ignore[assignment]
    DEFAULT_CSS = """
    PivotScreen #pivot-title { width: 100%; padding: 0 1; background: $primary 30%; text-style: bold; }
    PivotScreen #pivot-table { height: auto; }
    PivotScreen #pivot-note { width: 100%; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, study: str, keys: list[str]) -> None:
        super().__init__()
        self.study = study
        self.keys = keys
        self.row_key, self.col_key = keys[0], keys[1]
        self.metric = PIVOT_METRICS[0]
        self.pv: Any = None
        self.rows: list[list[str]] = []
        self.table: DataTable[str] = CachedDataTable(id="pivot-table", cursor_type="none", zebra_stripes=True)

    @property
    def hw2(self) -> HW2App:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Label("", id="pivot-title")
            yield self.table
            yield Static("", id="pivot-note")
        yield Footer()

    def on_mount(self) -> None:
        self.rebuild()

    def runs_changed(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        from hw2.analysis.pivot import pivot

        self.show(pivot(study_runs(self.hw2, self.study), self.row_key, self.col_key, self.metric))

    def show(self, pv: Any) -> None:
        from hw2.analysis.pivot import table
        from hw2.analysis.stats import METRIC_NAMES

        self.pv = pv
        self.rows = table(pv)
        partial = " · partial: some runs not done" if pv.partial else ""
        name = METRIC_NAMES.get(pv.metric, pv.metric)
        self.query_one("#pivot-title", Label).update(
            f"{self.study}: {name} by {pv.row_key} (rows) × {pv.col_key} (columns){partial}"
        )
        with self.app.batch_update():
            self.table.clear(columns=True)
            for i, head in enumerate(self.rows[0]):
                self.table.add_column(head, key=str(i))
            for line in self.rows[1:]:
                self.table.add_row(*line)
        best = "–" if pv.best is None else f"{pv.row_key}={pv.best[0]}, {pv.col_key}={pv.best[1]}"
        self.query_one("#pivot-note", Static).update(
            f"best cell (*): {best} · mean ± std over seeds; last row/column: marginal means"
        )

    def action_swap_axes(self) -> None:
        self.row_key, self.col_key = self.col_key, self.row_key
        self.rebuild()

    def action_cycle_metric(self) -> None:
        self.metric = PIVOT_METRICS[(PIVOT_METRICS.index(self.metric) + 1) % len(PIVOT_METRICS)]
        self.rebuild()
        self.notify(f"metric: {self.metric}", timeout=2)

    def action_cycle_factors(self) -> None:
        """The next pair of factors (only when the study varies more than two)."""
        pairs = [(a, b) for a in self.keys for b in self.keys if a < b]
        cur = tuple(sorted((self.row_key, self.col_key)))
        nxt = pairs[(pairs.index(cur) + 1) % len(pairs)] if cur in pairs else pairs[0]
        self.row_key, self.col_key = nxt
        self.rebuild()
        self.notify(f"factors: {self.row_key} × {self.col_key}", timeout=2)

    def action_export_pivot(self) -> None:
        self.hw2.export_pivot(self.pv, self.study)

    def action_close(self) -> None:
        self.app.pop_screen()
