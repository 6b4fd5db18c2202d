"""The answer to one homework question: a study's runs as tables, verdicts, figures and text.

:func:`build` turns a study's run summaries into a :class:`StudyReport` (numbers only);
:func:`markdown` and :func:`latex` render it (``report.md``; ``report.tex``, a fragment to
``\\input`` with booktabs tables and captioned, labelled figures). Every sentence is built from the
measured numbers only: which variant is ahead and by how much, the verdict, the train/validation
gap, time per epoch and parameter count. The explanation stays the student's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hw2.analysis.pivot import Pivot, factors, full_grid, table, to_latex
from hw2.analysis.stats import (
    METRIC_NAMES,
    Aggregate,
    VariantGroup,
    Verdict,
    count_text,
    group_runs,
    mean_std_text,
    verdicts,
)
from hw2.runs.summary import RunSummary

GAP_POINTS = 2.0
"""A final train accuracy this many points above validation is called a sign of overfitting."""


@dataclass(frozen=True)
class StudyInfo:
    title: str
    description: str = ""
    file: str | None = None

    @property
    def question(self) -> str:
        """The homework question a study answers: its title's first word when it looks like
        ``2.1.4``, else the title."""
        head = self.title.split()[0] if self.title.split() else ""
        return head if re.fullmatch(r"\d+(\.\d+)*", head) else self.title


@dataclass(frozen=True)
class StudyReport:
    info: StudyInfo
    groups: list[VariantGroup]
    keys: list[str]
    """The hyperparameters that differ between the study's runs (seed excluded)."""
    verdicts: list[Verdict]
    sentences: list[str]
    missing: list[str]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Model name → its layer summary and parameter count (from the runs' results)."""
    selection: Selection | None = None
    """The variant chosen by validation accuracy alone (None with fewer than two to choose from)."""
    grid: Pivot | None = None
    """Best validation accuracy over the study's grid, when two of its keys form a full grid."""

    @property
    def partial(self) -> bool:
        """Some run is not done (or none exists): the figures cover what is there."""
        return bool(self.missing)


@dataclass(frozen=True)
class Selection:
    """Model selection by validation (homework 2.1: "use the idea of validation to tune your
    model"): the variant with the highest mean best-validation accuracy, ties to the study's first;
    its test accuracy is read only after it was chosen."""

    chosen: VariantGroup
    runner_up: VariantGroup

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
    return Selection(ranked[0], ranked[1])


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _variant_values(group: VariantGroup, keys: Sequence[str]) -> list[str]:
    first = group.runs[0].hparams if group.runs else {}
    return [_fmt(first.get(k)) for k in keys]


def _pct(agg: Aggregate) -> str:
    return mean_std_text(agg, scale=100.0)


def _sentence(v: Verdict, ref: VariantGroup, other: VariantGroup) -> str:
    """One factual sentence comparing ``other`` with the reference, from the numbers only."""
    a, b = ref.stats["test_acc"], other.stats["test_acc"]
    if a.mean is None or b.mean is None:
        return f"{other.variant} vs {ref.variant}: no test accuracy to compare ({other.done_text()})."
    diff = (b.mean - a.mean) * 100
    lead = (
        f"{other.variant} is ahead of {ref.variant} by {abs(diff):.2f} points of test accuracy"
        if diff > 0
        else f"{other.variant} trails {ref.variant} by {abs(diff):.2f} points of test accuracy"
        if diff < 0
        else f"{other.variant} and {ref.variant} have the same mean test accuracy"
    )
    parts = [f"{lead} ({_pct(b)} % vs {_pct(a)} %, n = {b.n} and {a.n}"]
    parts[0] += f"; Welch {v.p_text()}: {v.word})" if v.p_value is not None else f": {v.word})"
    for g in (other, ref):
        tr, va = g.stats["train_acc"].mean, g.stats["val_acc"].mean
        if tr is not None and va is not None:
            gap = (tr - va) * 100
            if gap > GAP_POINTS:
                parts.append(
                    f"{g.variant} ends {gap:.1f} points higher on train than on validation accuracy "
                    "(a sign of overfitting)"
                )
            else:
                parts.append(
                    f"{g.variant}'s final train and validation accuracy are within {GAP_POINTS:.0f} points"
                )
    sa, sb = ref.stats["seconds_per_epoch"].mean, other.stats["seconds_per_epoch"].mean
    if sa and sb:
        parts.append(f"an epoch of {other.variant} takes {sb / sa:.2f}x the time of {ref.variant}'s")
    pa, pb = ref.stats["params"].mean, other.stats["params"].mean
    if pa and pb and pa != pb:
        parts.append(f"{other.variant} has {pb / pa:.2f}x the parameters ({int(pb):,} vs {int(pa):,})")
    return "; ".join(parts) + "."


def build(
    info: StudyInfo, runs: Sequence[RunSummary], models: dict[str, dict[str, Any]] | None = None
) -> StudyReport:
    groups = group_runs(runs)
    vs = verdicts(groups)
    sentences = [_sentence(v, groups[0], g) for v, g in zip(vs, groups[1:], strict=True)]
    missing = [f"{g.variant}: {g.done_text()}" for g in groups if not g.complete]
    if not runs:
        missing.append("no runs of this study were found: launch it with `hw2-tui sweep`")
    keys = factors(runs)
    return StudyReport(
        info,
        groups,
        keys,
        vs,
        sentences,
        missing,
        dict(models or {}),
        select_by_validation(groups),
        full_grid(runs, keys, "best_val_acc"),
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


def markdown(rep: StudyReport, figure: str | None = None) -> str:
    title = rep.info.title
    out = [f"# {title}" if title.startswith(rep.info.question) else f"# {rep.info.question}: {title}", ""]
    if rep.info.description:
        out += [rep.info.description.strip(), ""]
    if rep.partial:
        out += ["> **Partial:** " + "; ".join(rep.missing) + ". Figures cover the done runs only.", ""]
    header = ["variant", *rep.keys, *COLUMNS]
    out += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for g in rep.groups:
        cells = [g.variant, *_variant_values(g, rep.keys), *_row_figures(g)]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
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
        out += ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
        for line in rows[1:]:
            cells = [f"**{c.removesuffix(' *')}**" if c.endswith(" *") else c for c in line]
            out.append("| " + " | ".join(cells) + " |")
        out += [""]
    if rep.verdicts:
        out += ["## Verdicts (Welch's t-test on test accuracy over seeds, against the first variant)", ""]
        out += [f"- {v.text()}" for v in rep.verdicts]
        out += [""]
        out += ["## What was measured", ""]
        out += [f"- {s}" for s in rep.sentences]
        out += [""]
    if figure:
        out += ["## Curves", "", f"![{rep.info.title}: loss and accuracy per variant]({figure})", ""]
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

_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "–": "--",
    "→": r"$\rightarrow$",
    "★": r"$\star$",
}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def tex_escape(text: str) -> str:
    """Text safe in LaTeX's normal mode (special characters escaped, ± and dashes mapped)."""
    # anything else outside ASCII would need a font or package the homework may not load
    return _TEX_RE.sub(lambda m: _TEX[m.group()], text).encode("ascii", "replace").decode()


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def latex(rep: StudyReport, figure: str | None = None) -> str:
    """A fragment to ``\\input``: needs ``booktabs`` and ``graphicx`` in the preamble."""
    key = _label(rep.info.question)
    header = ["variant", *rep.keys, *COLUMNS]
    out = [
        f"% hw2-tui report: {tex_escape(rep.info.title)}",
        "% needs \\usepackage{booktabs} and \\usepackage{graphicx} in the preamble",
        "\\begin{table}[htbp]",
        "\\centering",
        "\\small",
        # shrunk to the text width when wider, never enlarged (graphicx's \\width is the natural width)
        "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%",
        "\\begin{tabular}{l" + "l" * len(rep.keys) + "r" * len(COLUMNS) + "}",
        "\\toprule",
        " & ".join(tex_escape(h) for h in header) + " \\\\",
        "\\midrule",
    ]
    for g in rep.groups:
        cells = [g.variant, *_variant_values(g, rep.keys), *_row_figures(g)]
        out.append(" & ".join(tex_escape(c) for c in cells) + " \\\\")
    caption = (
        f"{rep.info.title}: mean $\\pm$ std over seeds (final train, best validation and test accuracy)."
    )
    if rep.partial:
        caption += " Partial: " + tex_escape("; ".join(rep.missing)) + "."
    out += [
        "\\bottomrule",
        "\\end{tabular}}",
        f"\\caption{{{caption.replace(rep.info.title, tex_escape(rep.info.title), 1)}}}",
        f"\\label{{tab:hw2-{key}}}",
        "\\end{table}",
    ]
    if rep.selection is not None:
        # sloppypar: variant names like lr-0.001-dropout-0.2 break only at their hyphens
        out += ["", "\\begin{sloppypar}", tex_escape(rep.selection.text()), "\\end{sloppypar}"]
    if rep.grid is not None:
        out += ["", to_latex(rep.grid, rep.info.title, label=f"tab:hw2-{key}-grid").rstrip("\n")]
    if rep.sentences:
        out += ["", "\\begin{itemize}"]
        out += [f"  \\item {tex_escape(s)}" for s in rep.sentences]
        out += ["\\end{itemize}"]
    if figure:
        out += [
            "",
            "\\begin{figure}[htbp]",
            "\\centering",
            f"\\includegraphics[width=\\linewidth]{{{figure}}}",
            f"\\caption{{{tex_escape(rep.info.title)}: training (solid) and validation (dashed) loss and "
            "accuracy, mean over seeds with a $\\pm$1 std band; $\\star$ marks the best epoch.}",
            f"\\label{{fig:hw2-{key}}}",
            "\\end{figure}",
        ]
    return "\n".join(out) + "\n"
