"""The one LaTeX escaping and the Markdown → LaTeX conversion of a student's conclusion."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw2.analysis.latex import escape, markdown_to_latex, path_text, strip_comments
from tests.analysis.support import compile_tex, pdflatex_or_skip


@pytest.mark.parametrize(
    ("text", "tex"),
    [
        ("a_b & 50% #1 ±", r"a\_b \& 50\% \#1 $\pm$"),
        ("{x} ~ ^ \\", r"\{x\} \textasciitilde{} \textasciicircum{} \textbackslash{}"),
        ("$5", r"\$5"),
        ("a < b > c | d", r"a \textless{} b \textgreater{} c \textbar{} d"),
        ("2 – 3 — 4 → 5", r"2 \textendash{} 3 \textemdash{} 4 $\rightarrow$ 5"),
        ("pass --repeat 3", r"pass -{}-repeat 3"),  # two hyphens, not an en dash
        ("the \"idea\" of 'validation', the homework's", "the ``idea'' of `validation', the homework's"),
        (
            "Rémi façade Ångström naïve straße",
            r"R{\'{e}}mi fa\c{c}ade \r{A}ngstr{\"{o}}m na{\"{i}}ve stra\ss{}e",
        ),
        ("漢字", "??"),  # no font for it under plain pdflatex: never an error
    ],
)
def test_escape(text: str, tex: str) -> None:
    assert escape(text) == tex


def test_path_text_breaks_after_slashes() -> None:
    assert path_text("reports/2.1_x/conclusion.md") == (
        r"\texttt{reports/\allowbreak{}2.1\_x/\allowbreak{}conclusion.md}"
    )


def test_paragraphs_emphasis_and_maths() -> None:
    md = "First *one* and **two** and _three_ and __four__.\nSame paragraph: $x^2 + y_1$.\n\n\nSecond."
    assert markdown_to_latex(md) == (
        "First \\emph{one} and \\textbf{two} and \\emph{three} and \\textbf{four}.\n"
        "Same paragraph: $x^2 + y_1$.\n\nSecond."
    )


def test_everything_else_is_escaped() -> None:
    md = "50% & #1 of snake_case_name {a} ~b c^d back\\slash"
    assert markdown_to_latex(md) == (
        r"50\% \& \#1 of snake\_case\_name \{a\} \textasciitilde{}b c\textasciicircum{}d back\textbackslash{}slash"
    )


def test_maths_is_verbatim_and_a_lone_dollar_is_a_dollar() -> None:
    assert markdown_to_latex(r"$\frac{a}{b} \approx 1\%$ vs $$\sum_i x_i$$") == (
        r"$\frac{a}{b} \approx 1\%$ vs \[\sum_i x_i\]"
    )
    # "$5 and $10": no maths (a space before the closing dollar), two dollars printed
    assert markdown_to_latex("costs $5 and $10") == r"costs \$5 and \$10"
    assert markdown_to_latex(r"a \$ sign, a \* star, a \_ bar") == r"a \$ sign, a * star, a \_ bar"


def test_emphasis_holds_maths_and_code_is_typewriter() -> None:
    assert markdown_to_latex("**$p < 0.05$ here**") == r"\textbf{$p < 0.05$ here}"
    assert markdown_to_latex("run `hw2-tui report --all` now") == (r"run \texttt{hw2-tui report -{}-all} now")
    assert markdown_to_latex("2 * 3 * 4") == "2 * 3 * 4"  # spaced stars are not emphasis


def test_lists_headings_and_comments() -> None:
    md = (
        "<!-- hw2-tui: write your conclusion below -->\n"
        "# Why\n\n"
        "- *adam* wins\n- sgd is slow\n  but steady\n\n"
        "1. first\n2. second\n"
    )
    assert markdown_to_latex(md) == (
        "\\paragraph{Why}\n\n"
        "\\begin{itemize}\n\\item \\emph{adam} wins\n\\item sgd is slow\nbut steady\n\\end{itemize}\n\n"
        "\\begin{enumerate}\n\\item first\n\\item second\n\\end{enumerate}"
    )
    assert strip_comments("a<!-- x\ny -->b") == "ab"
    assert markdown_to_latex("<!-- only a comment -->\n\n") == ""


def test_the_converted_markdown_compiles(tmp_path: Path) -> None:
    exe = pdflatex_or_skip()
    md = (
        "Adam *wins* by **1.6 points**; $x^2$ and $$\\sum_i x_i$$ hold.\n\n"
        '50% & #1 of snake_case {a} ~b c^d back\\slash, $5, "quoted", --repeat, é, →, 漢.\n\n'
        "- one `code_x`\n- two\n\n1. first\n\n# A heading"
    )
    (tmp_path / "t.tex").write_text(
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
        + markdown_to_latex(md)
        + "\n\\end{document}\n",
        encoding="utf-8",
    )
    compile_tex(exe, tmp_path, "t.tex")
