"""The study view: a study's runs grouped by variant, seeds aggregated, the verdicts, and the mean
curves with their spread; plus the factorial (pivot) view.

The figures come from the core (:mod:`hw2.analysis.stats`, :mod:`hw2.analysis.pivot`,
:func:`hw2.analysis.report.build` for the choice by validation and the verdicts — the same ones
``report.md`` states — and :func:`hw2.analysis.figures.mean_curve`) over the summaries the app
already holds (:class:`tui.model.RunState`'s ``summary``): no run folder is read on the UI
thread. Grouping and the verdicts (scipy) run in a thread worker; the epoch series of the study's
runs are read by the app's poll thread (:meth:`tui.host.Host.request_study_series`) and kept
here, so the main screen's plot cache is untouched. The view follows the runs while they go (rows
say which seeds are not done yet: figures are over done runs only).

Both tables fit the terminal's width by dropping whole columns (then using shorter forms of a
cell), never by cutting a number; the note under the table names what is hidden.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label, Static

from tui.commands import bindings
from tui.compat import CachedDataTable
from tui.plots import (
    BAND_MARKER,
    RUN_COLORS,
    TRAIN_MARKER,
    VAL_MARKER,
    KeyEntry,
    apply_axes,
    cached_plot_class,
    overlay_key,
    pick_shown,
    short_names,
    short_title,
    value_text,
)
from tui.widgets import FittedFooter

if TYPE_CHECKING:
    from hw2.analysis.stats import VariantGroup, Verdict
    from hw2.runs.summary import EpochPoint, RunSummary
    from tui.host import Host

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
VERDICT_HEADS = {False: "test acc vs first (Welch)", True: "test acc vs chosen (Welch)"}
"""The verdict column's header: each variant against the first, or (a grid) against the chosen cell."""
SHORT_VERDICT_HEADS = {False: "Welch vs first", True: "Welch vs chosen"}
FIT_STEPS: tuple[tuple[str, str], ...] = (
    ("drop", "seconds_per_epoch"),
    ("drop", "train_loss"),
    ("short", "runs"),
    ("short", "verdict"),
    ("drop", "val_loss"),
    ("drop", "best_epoch"),
    ("drop", "runs"),
    ("drop", "verdict"),
    ("drop", "test_acc"),
)
"""How the study table gives way to a narrow terminal, in order: drop the least needed columns,
use the short form of a cell (``2/3`` for ``2 of 3 done``, ``+0.07 pt n.s.``), never cut one."""
SHORT_WORDS = {"better": "better", "worse": "worse", "no clear difference": "n.s."}
BAND_MAX = {False: 2, True: 3}
"""The val ± std lines are drawn only with at most this many variants (more are a thicket): in
plots under :data:`BAND_TALL` rows, and taller."""
BAND_TALL = 20
STUDY_FOOTER = (
    "help",
    "quit",
    "close",
    "mark_variant",
    "pivot",
    "report",
    "edit_conclusion",
    "requeue_failed",
)
PIVOT_FOOTER = ("help", "quit", "close", "cycle_metric", "swap_axes", "cycle_factors", "export_pivot")
"""The study and factorial views' footer keys, most wanted first (as many as fit the width are
shown; help and the palette list them all)."""
PIVOT_METRICS = ("best_val_acc", "test_acc", "val_loss", "train_loss", "seconds_per_epoch")
CELL_PADDING = 2  # a DataTable column's padding (one space each side)
SCROLLBAR = 2  # room kept for the table's vertical scrollbar


_PLANS: dict[str, tuple[int, Any]] = {}  # study file -> (mtime_ns, study_info(...) or None)


def _study_plan(study_file: str) -> Any:
    """:func:`hw2.analysis.writer.study_info` of a study file, read again only when it changed;
    None for a file that is gone or does not load (the view then shows the study's own runs)."""
    try:
        mtime = os.stat(study_file).st_mtime_ns
    except OSError:
        return None
    hit = _PLANS.get(study_file)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    from hw2.analysis.writer import study_info

    try:
        plan: Any = study_info(Path(study_file))
    except Exception:  # a config error: the tree says it; here, the own runs only
        plan = None
    _PLANS[study_file] = (mtime, plan)
    return plan


def study_runs(app: Host, study: str, study_file: str | None = None) -> list[RunSummary]:
    """The summaries of a study's runs (not deleted, no smoke runs), oldest first. With its study
    file, as ``report.md`` counts them (:func:`hw2.analysis.writer.twin_runs`): also the done runs
    of other studies that compute one of its variants (2.2.3's relu arm is 2.2.2's base net), and
    in the file's variant order, so the first variant is the reference here as in the report."""
    live = [st.summary for st in app.model.runs.values() if not st.deleted and not st.summary.smoke]
    out = [s for s in live if s.study == study]
    out.sort(key=lambda s: (s.created or 0.0, s.run_id))
    plan = _study_plan(study_file) if study_file else None
    if plan is None or plan[0].title != study:
        return out
    from hw2.analysis.writer import twin_runs

    info, order = plan
    out += twin_runs(info, out, [s for s in live if s.study != study])
    rank = {v: i for i, v in enumerate(order)}
    out.sort(key=lambda s: (rank.get(s.variant or s.name, len(rank)), s.created or 0.0, s.run_id))
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
    """What the worker computed for the view: groups, row cells (full and short), the choice."""

    groups: list[VariantGroup]
    rows: list[tuple[str, ...]]
    partial: bool
    chosen: str = ""
    """The variant chosen by validation accuracy alone, and its test accuracy (as the report says)."""
    short_rows: list[tuple[str, ...]] = field(default_factory=list)
    """``rows`` with the short form of the runs and verdict cells (for a narrow terminal)."""
    grid: bool = False
    """A grid study: the verdicts compare the chosen cell with its runners-up (as report.md does)."""
    against: str = ""
    """What the verdicts compare, in the report's words."""


def study_figures(runs: Sequence[RunSummary]) -> StudyFigures:
    """The view's table: one row per variant; the verdicts that ``report.md`` states (each variant
    against the first, or in a grid the cell chosen by validation against its runners-up)."""
    from hw2.analysis.report import StudyInfo, build

    rep = build(StudyInfo(""), runs)
    groups = rep.groups
    grid = rep.grid is not None and rep.selection is not None
    by_variant = {v.variant: v for v in rep.verdicts}
    reference = (
        rep.selection.chosen.variant if grid and rep.selection else (groups[0].variant if groups else "")
    )
    rows, short = [], []
    for g in groups:
        cells = [g.variant, g.done_text()]
        cells += [_cell(g.stats[m], m) for m, _ in STUDY_COLUMNS[2:8]]
        v = by_variant.get(g.variant)
        if g.variant == reference:
            full_v, short_v = ("chosen (reference)", "chosen") if grid else ("reference", "reference")
        elif v is not None:
            full_v, short_v = verdict_cell(v), verdict_short(v)
        else:
            full_v = short_v = "–"  # a grid cell not among the runners-up: not compared
        rows.append((*cells, full_v))
        short.append((cells[0], f"{len(g.done)}/{len(g.runs)}", *cells[2:], short_v))
    chosen = rep.selection.short() if rep.selection is not None else ""
    return StudyFigures(
        groups, rows, any(not g.complete for g in groups), chosen, short, grid, rep.verdicts_against
    )


def verdict_cell(v: Any) -> str:
    """A verdict in a table cell: ``+1.23 pt, p = 0.031: better`` (the word alone without a difference)."""
    if v.diff is None:
        return v.word
    p = f", {v.p_text()}" if v.p_value is not None else ""
    return f"{v.diff * 100:+.2f} pt{p}: {v.word}"


def verdict_short(v: Verdict) -> str:
    """A verdict in a narrow cell: ``+1.23 pt better``, ``-0.02 pt n.s.`` (no clear difference),
    ``+0.40 pt 1 seed`` (no test possible)."""
    if v.diff is None:
        return "–"
    word = SHORT_WORDS.get(v.word, "1 seed" if v.word.startswith("one seed") else v.word)
    return f"{v.diff * 100:+.2f} pt {word}"


def fit_columns(
    full: Sequence[Sequence[str]],
    short: Sequence[Sequence[str]],
    heads: Mapping[str, str],
    available: int,
    short_heads: Mapping[str, str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> tuple[list[str], set[str]]:
    """The study table's columns that fit ``available`` cells, and those shown in short form:
    :data:`FIT_STEPS` applied in order until the table fits (the variant always stays). ``skip``:
    columns with nothing to say (the verdicts of a study with one variant)."""
    keys = [k for k, _ in STUDY_COLUMNS]
    short_heads = short_heads or {}

    def width(key: str, use_short: bool) -> int:
        i = keys.index(key)
        cells = [row[i] for row in (short if use_short else full)]
        head = short_heads.get(key, heads[key]) if use_short else heads[key]
        return max([len(head), *map(len, cells)]) + CELL_PADDING

    shown, shortened = [k for k in keys if k not in skip], set()
    for action, key in FIT_STEPS:
        if sum(width(k, k in shortened) for k in shown) <= available:
            break
        if action == "drop":
            shown.remove(key)
        else:
            shortened.add(key)
    return shown, shortened


def band_lines(
    groups: Sequence[VariantGroup], series: dict[str, list[EpochPoint]], metric: str, band: bool = True
) -> list[tuple[str, str, list[float], list[float]]]:
    """The plot's lines for ``metric`` (``loss`` or ``acc``): per variant its train and val MEAN
    curve over the done and running seeds, and (``band``) the val curve's spread as mean - std and
    mean + std lines (where two or more seeds reached the epoch). Each line is (label, colour, xs,
    ys); a variant's colour is its place in ``groups``."""
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
            out.append((f"{g.variant} {part} (n={n})", color, xs, list(curve.mean)))
            if band and part == "val" and any(s is not None for s in curve.std):
                pts = [(x, m, s) for x, m, s in zip(xs, curve.mean, curve.std, strict=True) if s is not None]
                out.append(("", color, [p[0] for p in pts], [p[1] - p[2] for p in pts]))
                out.append(("", color, [p[0] for p in pts], [p[1] + p[2] for p in pts]))
    return out


def _line_marker(label: str) -> str:
    """A band line (no label) is dotted; a mean curve's style says train or val."""
    if not label:
        return BAND_MARKER
    part = label.rsplit(" (n=", 1)[0].rsplit(" ", 1)[-1]
    return TRAIN_MARKER if part == "train" else VAL_MARKER


def variant_names(groups: Sequence[VariantGroup], grid: bool) -> list[str]:
    """The key's name of each variant: its own name (``augmentation``), or in a grid study, whose
    variant names are made of every factor (``lr-0.001-dropout-0.2``), the fewest factors that
    tell the plotted cells apart (``lr 0.001 · do 0.2``). Only keys that hold one value across a
    variant's seeds name it."""
    from hw2.analysis.pivot import factors

    own = [g.variant for g in groups]
    if not grid or any(not g.runs for g in groups):
        return own
    firsts = [g.runs[0] for g in groups]
    steady = [
        k for k in factors(firsts) if all(len({repr(r.hparams.get(k)) for r in g.runs}) == 1 for g in groups)
    ]
    return short_names([r.hparams for r in firsts], steady, own)


def empty_hint(study: str, study_file: str | None) -> str:
    """What a study with no runs shows: how to launch it, in the app and in a shell."""
    from hw2.analysis.report import StudyInfo

    command = StudyInfo(study, file=study_file).sweep_command()
    return (
        f"No runs of this study yet.\n\n"
        f"Launch it here: esc, then s on this study in the configs tree (c shows the tree).\n"
        f"Or in a shell: {command}\n\n"
        f"Its variants, verdicts and curves appear here as the runs finish."
    )


class StudyScreen(Screen[None]):
    """One study: a row per variant (n, mean ± std, verdict), mean curves with spread and a key."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(app=False, screen="study")  # type: ignore[assignment]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-short"), (34, "-tall")]
    DEFAULT_CSS = """
    StudyScreen #study-title { width: 100%; padding: 0 1; background: $primary 30%; text-style: bold; }
    StudyScreen #study-table { height: auto; max-height: 50%; }
    StudyScreen.-short #study-table { max-height: 7; }
    StudyScreen.-short Header { display: none; }
    StudyScreen #study-note { width: 100%; padding: 0 1; color: $text-muted; }
    StudyScreen #study-verdict { width: 100%; padding: 0 1; color: $accent; }
    StudyScreen #study-key { width: 100%; height: auto; max-height: 3; padding: 0 1; }
    StudyScreen #study-plots { height: 1fr; min-height: 10; }
    StudyScreen #study-empty { width: 100%; height: 1fr; padding: 1 2; content-align: center middle;
                               color: $text-muted; display: none; }
    StudyScreen.-empty #study-empty { display: block; }
    StudyScreen.-empty #study-table, StudyScreen.-empty #study-note, StudyScreen.-empty #study-verdict,
    StudyScreen.-empty #study-key, StudyScreen.-empty #study-plots { display: none; }
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
        self.shown: list[str] = []
        """The variants drawn (at most :data:`tui.plots.MAX_SHOWN`: the marked, then the best by val)."""
        self.key_text = ""
        self.columns: list[str] = []
        """The table's columns at this width (keys of :data:`STUDY_COLUMNS`)."""
        self._fit: Any = None
        self.table: DataTable[str] = CachedDataTable(id="study-table", cursor_type="row", zebra_stripes=True)
        self.loss_plot: Any = None
        self.acc_plot: Any = None

    @property
    def hw2(self) -> Host:
        """The app, as the screens see it (:class:`tui.host.Host`)."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(f"Study: {self.study}", id="study-title")
        yield Static(empty_hint(self.study, self.study_file), id="study-empty")
        yield self.table
        yield Static("", id="study-note")
        yield Static("space marks two variants: their verdict shows here", id="study-verdict")
        yield Static("", id="study-key")
        with Horizontal(id="study-plots"):
            cls = cached_plot_class()
            self.loss_plot, self.acc_plot = cls(id="study-loss"), cls(id="study-acc")
            yield self.loss_plot
            yield self.acc_plot
        yield FittedFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.runs_changed()

    def footer_actions(self) -> tuple[str, ...]:
        """The footer's keys, most wanted first (:class:`tui.widgets.FittedFooter` fits them)."""
        return STUDY_FOOTER

    def on_resize(self) -> None:
        if self.figures is not None:
            self._show(self.figures)

    # ------------------------------------------------------------------ data

    def runs_changed(self) -> None:
        """The app's runs changed (or the view opened): regroup in a thread, ask for new series."""
        runs = study_runs(self.hw2, self.study, self.study_file)
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
        self.set_class(not figures.groups, "-empty")
        self.query_one("#study-title", Label).update(self._title(figures))
        self._fill_table(figures)
        self._show_verdict()
        self._draw()

    def _title(self, figures: StudyFigures) -> str:
        """The study's title and what the figures cover, shortened to one line where needed."""
        n = len(figures.groups)
        tail = f" · {n} variant{'s' if n != 1 else ''}" if n else " · no runs yet"
        if figures.partial:
            tail += " · partial: figures over done runs only"
        width = max(20, self.size.width - 2)
        for head in (f"Study: {self.study}", self.study, short_title(self.study)):
            if len(head + tail) <= width:
                return head + tail
        return short_title(self.study) + tail

    def _fill_table(self, figures: StudyFigures) -> None:
        """The rows, with the columns that fit the width (refilled only when something changed)."""
        heads = dict(STUDY_COLUMNS) | {"verdict": VERDICT_HEADS[figures.grid]}
        short_heads = {"verdict": SHORT_VERDICT_HEADS[figures.grid]}
        available = max(20, self.size.width - SCROLLBAR)
        skip = frozenset() if len(figures.groups) > 1 else frozenset({"verdict"})
        shown, shortened = fit_columns(figures.rows, figures.short_rows, heads, available, short_heads, skip)
        keys = [k for k, _ in STUDY_COLUMNS]
        fit = (tuple(shown), frozenset(shortened), tuple(figures.rows), tuple(self.marked), figures.grid)
        if fit != self._fit:
            self._fit = fit
            self.columns = shown
            with self.app.batch_update():
                keep = self.table.cursor_row
                self.table.clear(columns=True)
                for key in shown:
                    self.table.add_column(
                        short_heads[key] if key in shortened and key in short_heads else heads[key], key=key
                    )
                for full, short in zip(figures.rows, figures.short_rows, strict=True):
                    cells = [short[keys.index(k)] if k in shortened else full[keys.index(k)] for k in shown]
                    mark = "● " if full[0] in self.marked else ""
                    self.table.add_row(mark + cells[0], *cells[1:], key=full[0])
                if self.table.row_count:
                    self.table.move_cursor(row=min(keep, self.table.row_count - 1))
        note = self._note(shown, shortened, heads, figures, skip)
        self.query_one("#study-note", Static).update(note)
        self.query_one("#study-note", Static).display = bool(note)

    @staticmethod
    def _note(
        shown: list[str],
        shortened: set[str],
        heads: dict[str, str],
        figures: StudyFigures,
        skip: frozenset[str],
    ) -> str:
        """Under the table: the columns hidden at this width, and what a short verdict means."""
        from hw2.analysis.stats import ALPHA

        parts = []
        hidden = [heads[k] for k, _ in STUDY_COLUMNS if k not in shown and k not in skip]
        if hidden:
            parts.append(
                f"hidden at this width: {', '.join(hidden)}"
                if len(hidden) < 4
                else f"hidden: {', '.join(hidden)}"
            )
        i = [k for k, _ in STUDY_COLUMNS].index("verdict")
        if (
            "verdict" in shown
            and "verdict" in shortened
            and any(r[i].endswith(" n.s.") for r in figures.short_rows)
        ):
            parts.append(
                f"n.s. = no clear difference (p ≥ {ALPHA:g})"
                if len(hidden) < 4
                else "n.s. = no clear difference"
            )
        elif figures.grid and "verdict" in shown:
            parts.append("verdicts: the chosen cell against its runners-up, as in report.md")
        return " · ".join(parts)

    def shown_groups(self) -> list[VariantGroup]:
        """The variants to draw: all of them up to :data:`MAX_SHOWN`, else the marked ones and then
        the best by validation accuracy."""
        if self.figures is None:
            return []
        return pick_shown(
            self.figures.groups,
            lambda g: g.stats["best_val_acc"].mean,
            lambda g: g.variant in self.marked,
        )

    def _draw(self) -> None:
        if self.figures is None or self.loss_plot is None:
            return
        groups = self.shown_groups()
        band = len(groups) <= BAND_MAX[self.loss_plot.size.height >= BAND_TALL]
        self.shown = [g.variant for g in groups]
        for plot, metric in ((self.loss_plot, "loss"), (self.acc_plot, "acc")):
            lines = band_lines(groups, self.series, metric, band)
            self.plot_data[metric] = lines
            self._plot(plot, metric, lines)
        total = len(self.figures.groups)
        note = ""
        if len(groups) < total:
            note = f"showing the best {len(groups)} of {total} variants by val acc; marked ones always"
        names = variant_names(groups, self.figures.grid)
        entries = [KeyEntry(n, RUN_COLORS[i % len(RUN_COLORS)]) for i, n in enumerate(names)]
        key = overlay_key(
            entries,
            note,
            band=band and any(not line[0] for line in self.plot_data["acc"]),
            width=max(20, self.size.width - 2),
            tail="  · curves: mean over seeds",
        )
        self.key_text = key.plain
        self.query_one("#study-key", Static).update(key)

    def _plot(self, plot: Any, metric: str, lines: list[tuple[str, str, list[float], list[float]]]) -> None:
        plt = plot.plt
        plt.clear_data()
        plt.xlabel("epoch")
        scale = 100.0 if metric == "acc" else 1.0
        xs_all: list[float] = []
        ys_all: list[float] = []
        for label, color, xs, ys in lines:
            if not xs:
                continue
            ys = [y * scale for y in ys]
            xs_all += xs
            ys_all += ys
            plt.plot(xs, ys, color=color, marker=_line_marker(label))
        apply_axes(plt, xs_all, ys_all, max(plot.size.width, 20), plot.size.height)
        title = "loss" if metric == "loss" else "accuracy %"
        plt.title(f"{title} · {short_title(self.study)}")
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
        if self.figures is not None and len(self.figures.groups) < 2:
            text = "one variant: nothing to compare it with"
        elif a is None or b is None:
            text = f"marked: {self.marked[0]} (mark one more)" if self.marked else "space marks two variants"
            if self.figures is not None and self.figures.chosen:
                chosen = self.figures.chosen
                full = f"{chosen} · {text}"
                text = full if len(full) + 2 <= self.size.width or self.marked else chosen
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

        runs = study_runs(self.hw2, self.study, self.study_file)
        keys = factors(runs)
        if len(keys) < 2:
            self.notify(
                f"study '{self.study}' varies {len(keys)} factor(s): the factorial view needs a grid over two",
                severity="warning",
            )
            return
        self.app.push_screen(PivotScreen(self.study, keys, self.study_file))

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
    seeds, marginal means, the best cell starred; swap, cycle metric, pick factors, export.

    A study whose factors change together (2.1.4: each optimizer with its own learning rate) is no
    grid: its factorial table would fill only the diagonal and its marginal means would repeat the
    cells. The view says so and shows the variants' table (one row per variant, its factor values
    and the metric) instead."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(app=False, screen="pivot")  # type: ignore[assignment]
    DEFAULT_CSS = """
    PivotScreen #pivot-title { width: 100%; padding: 0 1; background: $primary 30%; text-style: bold; }
    PivotScreen #pivot-table { height: auto; }
    PivotScreen #pivot-note { width: 100%; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, study: str, keys: list[str], study_file: str | None = None) -> None:
        super().__init__()
        self.study = study
        self.study_file = study_file
        self.keys = keys
        self.row_key, self.col_key = keys[0], keys[1]
        self.metric = PIVOT_METRICS[0]
        self.pv: Any = None
        self.rows: list[list[str]] = []
        self.diagonal = False
        """The factors change together: the variants' table is shown instead of the pivot."""
        self.hidden: list[str] = []
        """What the width left out (the marginal-means column, the ± std of the cells)."""
        self._filled: list[list[str]] | None = None
        self.table: DataTable[str] = CachedDataTable(id="pivot-table", cursor_type="none", zebra_stripes=True)

    @property
    def hw2(self) -> Host:
        """The app, as the screens see it (:class:`tui.host.Host`)."""
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Label("", id="pivot-title")
            yield self.table
            yield Static("", id="pivot-note")
        yield FittedFooter()

    def on_mount(self) -> None:
        from hw2.analysis.pivot import full_grid

        grid = full_grid(study_runs(self.hw2, self.study, self.study_file), self.keys)
        if grid is not None:  # start on the pair of factors that forms a grid
            self.row_key, self.col_key = grid.row_key, grid.col_key
        self.rebuild()

    def on_resize(self) -> None:
        if self.pv is not None:
            self.rebuild()

    def footer_actions(self) -> tuple[str, ...]:
        """The footer's keys, most wanted first (:class:`tui.widgets.FittedFooter` fits them)."""
        return PIVOT_FOOTER

    def runs_changed(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        from hw2.analysis.pivot import full_grid, pivot

        runs = study_runs(self.hw2, self.study, self.study_file)
        pv = pivot(runs, self.row_key, self.col_key, self.metric)
        self.diagonal = full_grid(runs, self.keys) is None and changes_together(pv)
        if self.diagonal:
            self.show_variants(runs, pv)
        else:
            self.show(pv)

    def _title(self, *whats: str) -> str:
        """``<study>: <what>``, the study and then ``what`` shortened (the next of ``whats``) when
        the line would wrap."""
        width = max(20, self.size.width - 2)
        for what in whats:
            for head in (self.study, short_title(self.study)):
                if len(f"{head}: {what}") <= width:
                    return f"{head}: {what}"
        return f"{short_title(self.study)}: {whats[-1]}"

    def show(self, pv: Any) -> None:
        from hw2.analysis.pivot import table
        from hw2.analysis.stats import METRIC_NAMES

        self.pv = pv
        self.rows, self.hidden = fit_pivot(table(pv), max(20, self.size.width - SCROLLBAR))
        partial = " · partial: some runs not done" if pv.partial else ""
        name = METRIC_NAMES.get(pv.metric, pv.metric)
        self.query_one("#pivot-title", Label).update(
            self._title(
                f"{name} by {pv.row_key} (rows) × {pv.col_key} (columns){partial}",
                f"{name} by {pv.row_key} × {pv.col_key}{partial}",
            )
        )
        self._fill(self.rows)
        best = "–" if pv.best is None else f"{pv.row_key}={pv.best[0]}, {pv.col_key}={pv.best[1]}"
        means = (
            "last row: marginal means" if "mean column" in self.hidden else "last row/column: marginal means"
        )
        hidden = f" · hidden at this width: {', '.join(self.hidden)}" if self.hidden else ""
        self.query_one("#pivot-note", Static).update(
            f"best cell (*): {best} · mean ± std over seeds; {means}{hidden}"
        )

    def show_variants(self, runs: Sequence[RunSummary], pv: Any) -> None:
        """A study whose factors change together: say so, and show its variants' table."""
        from hw2.analysis.stats import METRIC_NAMES, group_runs, mean_std_text

        self.pv = pv
        name = dict(STUDY_COLUMNS).get(self.metric, METRIC_NAMES.get(self.metric, self.metric))
        scale, digits = (100.0, 2) if self.metric.endswith("acc") else (1.0, 4)
        head = ["variant", *self.keys, name]
        rows = [head]
        for g in group_runs(runs):
            first = g.runs[0].hparams if g.runs else {}
            rows.append(
                [
                    g.variant,
                    *(value_text(first.get(k)) for k in self.keys),
                    mean_std_text(g.stats[self.metric], scale, digits),
                ]
            )
        self.rows, self.hidden = rows, []
        self.query_one("#pivot-title", Label).update(
            self._title(f"factors change together ({', '.join(self.keys)})")
        )
        self._fill(rows)
        self.query_one("#pivot-note", Static).update(
            "Not a grid: each variant sets these factors together, so a factorial table would fill only "
            "its diagonal and its marginal means would repeat the cells. Here is the variants' table "
            f"instead, {METRIC_NAMES.get(self.metric, self.metric)} mean ± std over seeds (m: metric; "
            "esc: the study view, with the verdicts)."
        )

    def _fill(self, rows: list[list[str]]) -> None:
        """The table's rows, refilled only when they changed (a resize that changes nothing must
        not clear and refill it: the table would draw the new rows before measuring them)."""
        if rows == self._filled:
            return
        self._filled = [list(r) for r in rows]
        with self.app.batch_update():
            self.table.clear(columns=True)
            for i, head in enumerate(rows[0]):
                self.table.add_column(head, key=str(i))
            for line in rows[1:]:
                self.table.add_row(*line)

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
        if self.diagonal:
            self.notify(
                "the factors change together: no factorial table to export (P writes the study's report)",
                severity="warning",
            )
            return
        self.hw2.export_pivot(self.pv, self.study)

    def action_close(self) -> None:
        self.app.pop_screen()


def changes_together(pv: Any) -> bool:
    """The two factors of ``pv`` change together: each value of one goes with a single value of the
    other (a diagonal, as 2.1.4's optimizer and learning rate), not a grid with holes."""
    pairs = list(pv.cells)
    return len(pairs) >= 2 and len(pairs) == max(len(pv.rows), len(pv.cols))


def fit_pivot(rows: list[list[str]], available: int) -> tuple[list[list[str]], list[str]]:
    """The pivot's text table fitted to ``available`` cells without cutting a number: first without
    the marginal-means column, then with each cell's mean alone (its ± std left out); and what was
    left out. Wider still, the table scrolls sideways."""

    def width(table: list[list[str]]) -> int:
        return sum(max(len(r[i]) for r in table) + CELL_PADDING for i in range(len(table[0])))

    hidden: list[str] = []
    if width(rows) > available and len(rows[0]) > 2:
        rows = [r[:-1] for r in rows]
        hidden.append("mean column")
    if width(rows) > available:
        rows = [rows[0], *([_mean_only(c) for c in r] for r in rows[1:])]
        hidden.append("± std")
    return rows, hidden


def _mean_only(cell: str) -> str:
    """``98.14 ± 0.01 *`` → ``98.14 *``."""
    if " ± " not in cell:
        return cell
    mean, rest = cell.split(" ± ", 1)
    return mean + (" *" if rest.endswith(" *") else "")
