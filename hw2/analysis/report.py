"""The answer to one homework question: a study's runs as tables, verdicts, figures and text.

:func:`build` turns a study's run summaries into a :class:`StudyReport` (numbers only);
:func:`markdown` and :func:`latex` render it (``report.md``; ``report.tex``, a fragment to
``\\input`` with booktabs tables and captioned, labelled figures, which is also each question's
section of ``homework2.tex``). Every sentence is built from the measured numbers only: what was
actually run (epochs, overrides of the study file), which variant is ahead and by how much, the
verdict, the train/validation gap. The explanation stays the student's: their
``conclusion.md`` (:class:`Conclusion`) is rendered as it is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2.analysis import markdown as md
from hw2.analysis.latex import escape, file_name, markdown_to_latex, path_text
from hw2.analysis.pivot import Pivot, factors, full_grid, table, to_latex
from hw2.analysis.stats import (
    METRIC_NAMES,
    Aggregate,
    VariantGroup,
    Verdict,
    compare,
    count_text,
    group_runs,
    mean_std_text,
    verdicts,
)
from hw2.runs.summary import RunSummary

GAP_POINTS = 2.0
"""A final train accuracy this many points above validation is called a sign of overfitting."""

RUNNERS_UP = 3
"""In a grid study, the cell chosen by validation is compared with this many next-best cells."""


@dataclass(frozen=True)
class StudyInfo:
    title: str
    description: str = ""
    file: str | None = None
    planned: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    """Variant → its flattened config as the study file plans it (seed left out): what the runs
    are compared with to tell what was actually run (``--set`` overrides at launch)."""

    @property
    def question(self) -> str:
        """The homework question a study answers: its title's first word when it looks like
        ``2.1.4``, else the title."""
        head = self.title.split()[0] if self.title.split() else ""
        return head if re.fullmatch(r"\d+(\.\d+)*", head) else self.title

    @property
    def order(self) -> tuple[tuple[int, ...], str]:
        """Sort key in the homework's order: the question number (2.1 < 2.1.3 < 2.2.2), then titles
        without a number."""
        q = self.question
        nums = tuple(int(x) for x in q.split(".")) if re.fullmatch(r"\d+(\.\d+)*", q) else (10**9,)
        return nums, self.title

    def sweep_command(self) -> str:
        """What to run to launch this study: ``hw2-tui sweep configs/studies/2.2.3-relu.yaml``."""
        return f"hw2-tui sweep {shown_path(self.file) if self.file else 'STUDY.yaml'}"


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as the user would type it here: relative to the working folder when inside it."""
    text = os.fspath(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:  # another drive (Windows)
        return text
    return text if rel.startswith("..") else Path(rel).as_posix()


@dataclass(frozen=True)
class Conclusion:
    """The student's conclusion (``conclusion.md``): its Markdown without the placeholder, and
    where to write it."""

    text: str
    path: str

    @property
    def written(self) -> bool:
        return bool(self.text.strip())

    def todo(self) -> str:
        return f"conclusion not written yet (edit {self.path})"


@dataclass(frozen=True)
class StudyReport:
    info: StudyInfo
    groups: list[VariantGroup]
    keys: list[str]
    """The hyperparameters that differ between the study's runs (seed excluded)."""
    verdicts: list[Verdict]
    facts: list[str]
    """Measured facts stated once for the whole study (the train/validation gap per variant)."""
    missing: list[str]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Model name → its layer summary and parameter count (from the runs' results)."""
    selection: Selection | None = None
    """The variant chosen by validation accuracy alone (None with fewer than two to choose from)."""
    grid: Pivot | None = None
    """Best validation accuracy over the study's grid, when two of its keys form a full grid."""
    as_run: list[str] = field(default_factory=list)
    """What was actually run: epochs per variant, and every key the runs changed from the study file."""
    verdicts_against: str = ""
    """What the verdicts compare: each variant with the first, or (a grid) the chosen cell with its
    runners-up."""
    conclusion: Conclusion | None = None

    @property
    def partial(self) -> bool:
        """Some run is not done (or none exists): the figures cover what is there."""
        return bool(self.missing)

    @property
    def has_done(self) -> bool:
        return any(g.done for g in self.groups)

    def todo_parts(self) -> tuple[str, str] | None:
        """With no done run: what is missing and the command that runs it; else None."""
        if self.has_done:
            return None
        what = "no runs of this study yet" if not self.groups else "no done runs of this study yet"
        return what, self.info.sweep_command()

    def todo(self) -> str | None:
        """With no done run: what to run to answer the question; else None."""
        parts = self.todo_parts()
        return None if parts is None else f"{parts[0]}: run `{parts[1]}`, then write the report again"


@dataclass(frozen=True)
class Selection:
    """Model selection by validation (homework 2.1: "use the idea of validation to tune your
    model"): the variant with the highest mean best-validation accuracy, ties to the study's first;
    its test accuracy is read only after it was chosen."""

    chosen: VariantGroup
    runner_up: VariantGroup
    ranked: tuple[VariantGroup, ...] = ()
    """Every scored variant, best validation accuracy first (``chosen`` is ``ranked[0]``)."""

    def text(self) -> str:
        g, r = self.chosen, self.runner_up
        val, other = g.stats["best_val_acc"], r.stats["best_val_acc"]
        assert val.mean is not None and other.mean is not None
        lead = (val.mean - other.mean) * 100
        out = (
            f"Chosen by validation accuracy alone: {g.variant} (best validation accuracy {_pct(val)} %, "
            f"n = {val.n}; {lead:.2f} points ahead of the next, {r.variant}, at {_pct(other)} %). "
            f"Read only after choosing, its test accuracy: {_pct(g.stats['test_acc'])} %."
        )
        if not g.complete:
            out += f" Partial: {g.done_text()}."
        return out

    def short(self) -> str:
        """One line for a status bar: ``chosen by validation: adam (val 97.38 %) → test 97.58 %``."""
        g = self.chosen
        return (
            f"chosen by validation: {g.variant} (val {_pct(g.stats['best_val_acc'])} %)"
            f" → test {_pct(g.stats['test_acc'])} %"
        )


def select_by_validation(groups: Sequence[VariantGroup]) -> Selection | None:
    """The :class:`Selection` among ``groups`` (done runs only); None with fewer than two scored."""
    scored = [g for g in groups if g.stats["best_val_acc"].mean is not None]
    if len(scored) < 2:
        return None
    ranked = sorted(scored, key=lambda g: -(g.stats["best_val_acc"].mean or 0.0))  # stable: ties keep order
    return Selection(ranked[0], ranked[1], tuple(ranked))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _variant_values(group: VariantGroup, keys: Sequence[str]) -> list[str]:
    first = group.runs[0].hparams if group.runs else {}
    return [_fmt(first.get(k)) for k in keys]


def _pct(agg: Aggregate) -> str:
    return mean_std_text(agg, scale=100.0)


def _names(items: Sequence[str]) -> str:
    return ", ".join(items)


# --------------------------------------------------------------------------- what was run


def _epochs_run(groups: Sequence[VariantGroup]) -> str | None:
    """``Epochs actually run: 2 per run (every variant).``, or per variant when they differ."""
    per: dict[str, str] = {}
    for g in groups:
        agg = g.stats["epochs"]
        if agg.mean is not None:
            per[g.variant] = count_text(agg)
    if not per:
        return None
    values = set(per.values())
    if len(values) == 1:
        n = next(iter(values))
        where = "every variant" if len(per) > 1 else next(iter(per))
        return f"Epochs actually run (done runs): {n} per run ({where})."
    return (
        "Epochs actually run per variant (done runs): " + "; ".join(f"{v} {n}" for v, n in per.items()) + "."
    )


def plan_diff(plan: Mapping[str, Any], hparams: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Flattened config keys where a run differs from its variant's plan: key → (planned, run).
    The seed is the run's own; keys only one side has (a setting added to the schema after the
    run) are not differences."""
    return {
        k: (plan[k], hparams[k])
        for k in sorted(set(plan) & set(hparams))
        if k != "seed" and plan[k] != hparams[k]
    }


def _overrides(info: StudyInfo, runs: Sequence[RunSummary]) -> str | None:
    """Every config key where the runs differ from the study file's plan for their variant
    (``--set train.epochs=2`` at launch), with the values run and the file's. Keys only one side
    has (a setting added to the schema after the run) are not differences."""
    if not info.planned:
        return None
    ran: dict[str, dict[str, int]] = {}
    planned_values: dict[str, dict[str, None]] = {}
    counted = 0
    for r in runs:
        plan = info.planned.get(r.variant or r.name)
        if plan is None:
            continue
        counted += 1
        for key, (want, got) in plan_diff(plan, r.hparams).items():
            ran.setdefault(key, {})
            ran[key][_fmt(got)] = ran[key].get(_fmt(got), 0) + 1
            planned_values.setdefault(key, {})[_fmt(want)] = None
    if not ran:
        return None
    parts = []
    for key, values in ran.items():
        got = "; ".join(
            f"{v} in {'all ' if n == counted else ''}{n}{'' if n == counted else f' of {counted}'} done run(s)"
            for v, n in values.items()
        )
        parts.append(f"{key} = {got} (the study file: {' / '.join(planned_values[key])})")
    return (
        "Run with settings that differ from the study file (overrides such as `--set` at launch): "
        + "; ".join(parts)
        + ". The study's description is the file's plan; the table shows what was run."
    )


# --------------------------------------------------------------------------- verdicts and facts


def _gap_facts(groups: Sequence[VariantGroup]) -> list[str]:
    """The train/validation gap at the last epoch, each variant named once."""
    over: list[str] = []
    within: list[str] = []
    for g in groups:
        tr, va = g.stats["train_acc"].mean, g.stats["val_acc"].mean
        if tr is None or va is None:
            continue
        gap = (tr - va) * 100
        if round(gap, 1) > GAP_POINTS:  # as printed: "+2.0 points" is not above 2
            over.append(f"{g.variant} ({gap:+.1f} points)")
        else:
            within.append(g.variant)
    out = []
    scored = len(over) + len(within)
    if over:
        who = "every variant: " if len(over) == scored and scored > 1 else ""
        out.append(
            f"Final train accuracy more than {GAP_POINTS:.0f} points above final validation accuracy "
            f"(a sign of overfitting): {who}{_names(over)}."
        )
    if within:
        who = "every variant" if len(within) == scored and scored > 1 else _names(within)
        out.append(f"Final train and validation accuracy within {GAP_POINTS:.0f} points: {who}.")
    return out


def _comparisons(
    groups: list[VariantGroup], selection: Selection | None, grid: Pivot | None
) -> tuple[list[Verdict], str]:
    """The verdicts and what they compare: for a grid, the cell chosen by validation against its
    next best cells (comparing every cell with the grid's first says nothing); else each variant
    against the study's first."""
    if grid is not None and selection is not None:
        chosen = selection.chosen
        others = [g for g in selection.ranked if g is not chosen][:RUNNERS_UP]
        return (
            [compare(chosen, g) for g in others],
            f"the cell chosen by validation, {chosen.variant}, against the next "
            f"{len(others)} by validation accuracy",
        )
    if len(groups) < 2:
        return [], ""
    return verdicts(groups), f"each variant against the first, {groups[0].variant}"


def _no_test(v: Verdict) -> bool:
    return v.diff is not None and v.p_value is None and v.word.startswith("one seed")


def verdict_lines(rep: StudyReport) -> tuple[list[str], str | None]:
    """One line per verdict with both means, and the one note that stands for every verdict that
    could make no test (one seed on a side), instead of saying it once per variant."""
    by_name = {g.variant: g for g in rep.groups}
    lines = []
    untested = 0
    for v in rep.verdicts:
        if _no_test(v) and v.diff is not None:
            untested += 1
            head = f"{v.variant} vs {v.reference}: {v.diff * 100:+.2f} pt"
        else:
            head = v.text()
        a, b = by_name.get(v.reference), by_name.get(v.variant)
        if a is not None and b is not None and a.stats["test_acc"].n and b.stats["test_acc"].n:
            head += (
                f" (test accuracy {_pct(b.stats['test_acc'])} % vs {_pct(a.stats['test_acc'])} %, "
                f"n = {b.stats['test_acc'].n} and {a.stats['test_acc'].n})"
            )
        lines.append(head)
    note = None
    if untested:
        which = "every comparison" if untested == len(rep.verdicts) else f"{untested} comparison(s)"
        note = (
            f"One done seed on a side in {which}: no test is possible, the differences above are of "
            f"single runs; launch more seeds for a verdict (`{rep.info.sweep_command()} --repeat 3`)."
        )
    return lines, note


def build(
    info: StudyInfo,
    runs: Sequence[RunSummary],
    models: dict[str, dict[str, Any]] | None = None,
    conclusion: Conclusion | None = None,
) -> StudyReport:
    groups = group_runs(runs)
    selection = select_by_validation(groups)
    keys = factors(runs)
    grid = full_grid(runs, keys, "best_val_acc")
    vs, against = _comparisons(groups, selection, grid)
    missing = [f"{g.variant}: {g.done_text()}" for g in groups if not g.complete]
    if not runs:
        missing.append(f"no runs of this study were found: launch it with `{info.sweep_command()}`")
    else:  # a variant the study file plans that has no run at all is missing too, not "complete"
        have = {g.variant for g in groups}
        missing += [
            f"{v}: no run (launch it with `{info.sweep_command()}`)" for v in info.planned if v not in have
        ]
    done = [r for r in runs if r.status == "done"]
    as_run = [x for x in (_epochs_run(groups), _overrides(info, done)) if x]
    return StudyReport(
        info,
        groups,
        keys,
        vs,
        _gap_facts(groups),
        missing,
        dict(models or {}),
        selection,
        grid,
        as_run,
        against,
        conclusion,
    )


# --------------------------------------------------------------------------- Markdown

COLUMNS = (
    "n",
    "epochs",
    "best epoch",
    "train acc (%)",
    "val acc, best (%)",
    "test acc (%)",
    "params",
    "s / epoch",
)


def _row_figures(g: VariantGroup) -> list[str]:
    s = g.stats
    return [
        f"{len(g.done)}/{len(g.runs)}",
        count_text(s["epochs"]),
        count_text(s["best_epoch"]),
        _pct(s["train_acc"]),
        _pct(s["best_val_acc"]),
        _pct(s["test_acc"]),
        f"{int(s['params'].mean):,}" if s["params"].mean else "–",
        mean_std_text(s["seconds_per_epoch"], digits=1),
    ]


def heading(info: StudyInfo) -> str:
    """The question's heading: the title, prefixed with the question when the title lacks it."""
    return info.title if info.title.startswith(info.question) else f"{info.question}: {info.title}"


def markdown(rep: StudyReport, figure: str | None = None) -> str:
    out = [f"# {md.text(heading(rep.info))}", ""]
    if rep.info.description:  # one paragraph of text, as in report.tex
        out += [md.text(rep.info.description), ""]
    if rep.as_run:
        out += ["> **As run:** " + " ".join(rep.as_run), ""]
    if rep.partial and rep.groups:  # with no runs at all, the to-do line below says it
        out += ["> **Partial:** " + "; ".join(rep.missing) + ". Figures cover the done runs only.", ""]
    todo = rep.todo()
    if todo is not None:
        out += [f"**To do:** {todo}.", ""]
    if rep.groups:
        header = ["variant", *rep.keys, *COLUMNS]
        out += md.table(
            header, ([g.variant, *_variant_values(g, rep.keys), *_row_figures(g)] for g in rep.groups)
        )
        out += [
            "",
            "Accuracies are mean ± std over the done seeds; train accuracy is the final epoch's, validation "
            "accuracy the best epoch's (the weights tested).",
            "",
        ]
    if rep.selection is not None:
        out += ["## Chosen by validation", "", rep.selection.text(), ""]
    if rep.grid is not None:
        rows = table(rep.grid)
        name = METRIC_NAMES[rep.grid.metric]
        out += [
            f"{name[0].upper()}{name[1:]}, mean ± std over seeds, over the grid; the best cell in bold:",
            "",
        ]
        body = [
            [md.strong(c.removesuffix(" *")) if c.endswith(" *") else c for c in line] for line in rows[1:]
        ]
        out += [*md.table(rows[0], body), ""]
    if rep.verdicts:
        lines, note = verdict_lines(rep)
        out += [f"## Verdicts (Welch's t-test on test accuracy over seeds: {rep.verdicts_against})", ""]
        out += [f"- {line}" for line in lines]
        out += [""]
        if note:
            out += [note, ""]
    if rep.facts:
        out += ["## What was measured", ""]
        out += [f"- {s}" for s in rep.facts]
        out += [""]
    if figure:
        out += ["## Curves", "", f"![{md.text(rep.info.title)}: loss and accuracy per variant]({figure})", ""]
    if rep.conclusion is not None:
        out += ["## Conclusion", ""]
        if rep.conclusion.written:
            out += [rep.conclusion.text.strip(), ""]
        else:
            out += [f"*{rep.conclusion.todo()[0].upper()}{rep.conclusion.todo()[1:]}.*", ""]
    if rep.models:
        out += ["## Models", ""]
        for name, info in rep.models.items():
            out += [
                f"### {name} ({int(info.get('params', 0)):,} parameters)",
                "",
                "```",
                *info.get("layers", []),
                "```",
                "",
            ]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- LaTeX


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def label_key(info: StudyInfo) -> str:
    """The question's part of every label: ``tab:hw2-<key>``, ``fig:hw2-<key>``, ``sec:hw2-<key>``."""
    return _label(info.question)


def _md_code_to_tex(text: str) -> str:
    """A generated sentence (``backticks`` around commands) as LaTeX."""
    parts = text.split("`")
    return "".join(escape(p) if i % 2 == 0 else f"\\texttt{{{escape(p)}}}" for i, p in enumerate(parts))


def _figure_path(figure: str, local: bool) -> list[str]:
    """``\\includegraphics`` of ``figure``: as given (relative to the including document's folder),
    or, ``local``, relative to the fragment's own folder wherever it is ``\\input`` from (LaTeX's
    ``\\CurrentFilePath``, whose characters LaTeX keeps as plain characters; the compile folder on a
    LaTeX older than 2021). A path with TeX's special characters (``reports/100% done #1``) goes
    through :func:`hw2.analysis.latex.file_name`: found, and nothing in it runs."""
    lines = []
    if local:
        lines += [
            "\\ifdefined\\CurrentFilePath\\edef\\hwtwodir{\\CurrentFilePath}\\else\\def\\hwtwodir{}\\fi",
            "\\ifx\\hwtwodir\\empty\\def\\hwtwodir{.}\\fi",
        ]
    prefix = "\\hwtwodir/" if local else ""
    define = file_name(figure, "hwtwofigure", prefix)
    if define is None:
        return [*lines, f"\\includegraphics[width=\\linewidth]{{{prefix}{figure}}}"]
    return [*lines, define, "\\includegraphics[width=\\linewidth]{\\hwtwofigure}"]


def latex(rep: StudyReport, figure: str | None = None, *, local: bool = False) -> str:
    """The question's LaTeX: a fragment to ``\\input`` (needs ``booktabs`` and ``graphicx``), and
    the body of its section in ``homework2.tex``. ``figure`` is the figure's path relative to the
    including document's folder, or, with ``local``, to the fragment's own folder."""
    key = label_key(rep.info)
    out = [
        f"% hw2-tui report: {escape(rep.info.title)}",
        "% needs \\usepackage{booktabs} and \\usepackage{graphicx} (amsmath if the conclusion's maths uses it)",
    ]
    if rep.as_run:
        out += [
            "",
            "\\begin{sloppypar}",
            "\\textbf{As run:} " + _md_code_to_tex(" ".join(rep.as_run)),
            "\\end{sloppypar}",
        ]
    todo = rep.todo_parts()
    if todo is not None:
        what, command = todo
        out += [
            "",
            f"\\noindent\\textbf{{To do:}} {escape(what)}. Run",
            f"\\begin{{quote}}\\texttt{{{escape(command)}}}\\end{{quote}}",
            "\\noindent then write the report again (\\texttt{hw2-tui report -{}-all}).",
        ]
    if rep.groups and rep.has_done:
        out += _table(rep, key)
    if rep.selection is not None:
        # sloppypar: variant names like lr-0.001-dropout-0.2 break only at their hyphens
        out += ["", "\\begin{sloppypar}", escape(rep.selection.text()), "\\end{sloppypar}"]
    if rep.grid is not None:
        out += ["", to_latex(rep.grid, rep.info.title, label=f"tab:hw2-{key}-grid").rstrip("\n")]
    if rep.verdicts:
        lines, note = verdict_lines(rep)
        out += [
            "",
            f"\\paragraph{{Verdicts}} Welch's t-test on test accuracy over seeds: {escape(rep.verdicts_against)}.",
            "\\begin{itemize}",
        ]
        out += [f"  \\item {escape(line)}" for line in lines]
        out += ["\\end{itemize}"]
        if note:
            out += ["{\\raggedright " + _md_code_to_tex(note) + "\\par}"]
    if rep.facts:
        out += ["", "\\paragraph{What was measured}", "\\begin{itemize}"]
        out += [f"  \\item {escape(s)}" for s in rep.facts]
        out += ["\\end{itemize}"]
    if figure:
        out += [
            "",
            "\\begin{figure}[htbp]",
            "\\centering",
            *_figure_path(figure, local),
            f"\\caption{{{escape(rep.info.title)}: training (solid) and validation (dashed) loss and "
            "accuracy, mean over seeds with a $\\pm$1 std band; $\\star$ marks the best epoch.}",
            f"\\label{{fig:hw2-{key}}}",
            "\\end{figure}",
        ]
    if rep.conclusion is not None:
        out += ["", "\\subsection*{Conclusion}"]
        if rep.conclusion.written:
            out += [markdown_to_latex(rep.conclusion.text)]
        else:
            out += [
                "\\noindent\\fbox{\\parbox{\\dimexpr\\linewidth-2\\fboxsep-2\\fboxrule\\relax}{"
                "\\textbf{Conclusion not written yet} (edit "
                + path_text(rep.conclusion.path)
                + ", then write the report again).}}"
            ]
    return "\n".join(out) + "\n"


def _table(rep: StudyReport, key: str) -> list[str]:
    header = ["variant", *rep.keys, *COLUMNS]
    out = [
        "",
        "\\begin{table}[htbp]",
        "\\centering",
        "\\small",
        # shrunk to the text width when wider, never enlarged (graphicx's \\width is the natural width)
        "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%",
        "\\begin{tabular}{l" + "l" * len(rep.keys) + "r" * len(COLUMNS) + "}",
        "\\toprule",
        " & ".join(escape(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    for g in rep.groups:
        cells = [g.variant, *_variant_values(g, rep.keys), *_row_figures(g)]
        out.append(" & ".join(escape(c) for c in cells) + " \\\\")
    caption = f"{escape(rep.info.title)}: mean $\\pm$ std over seeds (final train, best validation and test accuracy)."
    if rep.partial:
        caption += " Partial: " + escape("; ".join(rep.missing)) + "."
    out += [
        "\\bottomrule",
        "\\end{tabular}}",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:hw2-{key}}}",
        "\\end{table}",
    ]
    return out
