"""The study report's text: Markdown tables, factual sentences, and a LaTeX fragment that compiles."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hw2.analysis.figures import save_figure, study_figure
from hw2.analysis.report import StudyInfo, build, latex, markdown, tex_escape
from hw2.analysis.stats import group_runs
from hw2.runs.summary import EpochPoint, EpochStats, summarize

TITLE = "2.1.4 Optimizers: SGD vs momentum vs Adam (MLP, MNIST)"


def run(variant: str, seed: int, test_acc: float, status: str = "done", lr: float = 0.1) -> object:
    stats = EpochStats()
    for e in (1, 2):
        stats.add(
            {
                "type": "epoch",
                "epoch": e,
                "epochs": 2,
                "train_loss": 0.3 / e,
                "val_loss": 0.35 / e,
                "train_acc": test_acc + 0.03,
                "val_acc": test_acc - 0.001 * (2 - e),
                "seconds": 3.0,
            }
        )
    result = (
        {
            "test_acc": test_acc,
            "test_loss": 0.1,
            "best_val_acc": test_acc,
            "best_epoch": 2,
            "total_seconds": 6.0,
            "params": 535818,
        }
        if status == "done"
        else None
    )
    config = {"seed": seed, "optimizer": {"name": variant, "lr": lr}, "model": {"name": "mlp"}}
    return summarize(
        run_id=f"{variant}-s{seed}",
        meta={"name": f"{variant}-s{seed}", "study": TITLE, "variant": variant, "seed": seed},
        status=status,
        result=result,
        stats=stats,
        config=config,
    )


def runs() -> list[object]:
    return [
        run("sgd", 0, 0.960, lr=0.1),
        run("sgd", 1, 0.962, lr=0.1),
        run("sgd", 2, 0.958, lr=0.1),
        run("adam", 0, 0.975, lr=0.001),
        run("adam", 1, 0.977, lr=0.001),
        run("adam", 2, 0.0, status="failed", lr=0.001),
    ]


def test_markdown_tables_verdicts_and_missing_runs() -> None:
    rep = build(StudyInfo(TITLE, "Answers 2.1.4."), runs())
    md = markdown(rep, figure="figure.png")
    assert md.startswith("# " + TITLE + "\n")
    lines = md.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("| variant"))
    assert lines[head] == (
        "| variant | optimizer.name | optimizer.lr | n | epochs | best epoch | train acc (%) | "
        "val acc, best (%) | test acc (%) | params | s / epoch |"
    )
    assert set(lines[head + 1]) <= {"|", "-"}
    assert lines[head + 2].startswith("| sgd | sgd | 0.1 | 3/3 | 2 | 2 |")
    assert "| 96.00 ± 0.20 |" in lines[head + 2]
    assert lines[head + 3].startswith("| adam | adam | 0.001 | 2/3 |")
    assert "**Partial:** adam: 2 of 3 done (s2 failed)" in md
    assert (
        "adam is ahead of sgd by 1.60 points of test accuracy (97.60 ± 0.14 % vs 96.00 ± 0.20 %, n = 2 and 3"
        in md
    )
    assert "Welch p = " in md and ": better)" in md
    assert "ends 3.0 points higher on train than on validation accuracy (a sign of overfitting)" in md
    assert "![" in md and "](figure.png)" in md


def test_tex_escape() -> None:
    assert tex_escape("a_b & 50% #1 ±") == r"a\_b \& 50\% \#1 $\pm$"


def test_report_with_no_runs_says_so() -> None:
    rep = build(StudyInfo("2.2.3 ReLU"), [])
    assert "no runs of this study were found" in markdown(rep)


def test_latex_fragment_compiles_with_pdflatex(tmp_path: Path) -> None:
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(
                "pdflatex missing in CI: .ci/run installs texlive-latex-base and texlive-latex-recommended"
            )
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
    rs = runs()
    series = {r.run_id: [EpochPoint(1, 0.3, 0.35, 0.9, 0.9), EpochPoint(2, 0.2, 0.3, 0.95, 0.94)] for r in rs}
    report_dir = tmp_path / "reports" / "2.1.4-optimizers"
    save_figure(study_figure(TITLE, group_runs(rs), series), report_dir / "figure")
    rep = build(StudyInfo(TITLE, "desc"), rs)
    (report_dir / "report.tex").write_text(
        latex(rep, figure="reports/2.1.4-optimizers/figure.pdf"), encoding="utf-8"
    )
    from hw2.analysis.pivot import pivot, to_latex

    pv = pivot(rs, "optimizer.name", "optimizer.lr", "test_acc")
    (report_dir / "pivot.tex").write_text(to_latex(pv, "2.1.4 & co"), encoding="utf-8")
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\begin{document}\n"
        "\\input{reports/2.1.4-optimizers/report.tex}\n\\input{reports/2.1.4-optimizers/pivot.tex}\nSee Table~\\ref{tab:hw2-2-1-4} and Figure~\\ref{fig:hw2-2-1-4}.\n"
        "\\end{document}\n",
        encoding="utf-8",
    )
    for _ in range(2):  # twice, so the references resolve
        proc = subprocess.run(
            [exe, "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
    log = (tmp_path / "main.log").read_text(encoding="utf-8", errors="replace")
    assert "There were undefined references" not in log and "Overfull" not in log, log[-2000:]
    assert (tmp_path / "main.pdf").stat().st_size > 10_000
