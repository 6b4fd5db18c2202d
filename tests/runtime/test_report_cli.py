"""``hw2-tui report`` end to end: on the fake trainer, sweep a two-variant study with two seeds each,
then write its report (every file is there, the tables hold the runs, regenerating is idempotent);
on real run folders of the project's studies (no training), ``report --all`` writes the whole
homework as ``homework2.tex`` that pdflatex compiles, and the student's ``conclusion.md`` survives."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.analysis.support import PROJECT_STUDIES, fabricate_study, pdflatex_or_skip
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import WriteConfig
from tests.runtime.test_cli import cli


def _study(write_config: WriteConfig) -> Path:
    base = write_config("fake-base", epochs=3, batches=2)
    study = base.parent / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "study": "9.9 Fake learning rates",
                "description": "Answers nothing: a test study.",
                "base": base.name,
                "variants": [
                    {"name": "fast", "set": {"optimizer.lr": 0.1}},
                    {"name": "slow", "set": {"optimizer.lr": 0.001}},
                ],
                "repeat": 2,
            },
            sort_keys=False,
        )
    )
    return study


def test_report_of_a_swept_study(runs_dir: Path, write_config: WriteConfig, tmp_path: Path) -> None:
    study = _study(write_config)
    swept = cli("sweep", str(study), "--yes", runs_dir=runs_dir, timeout=240)
    assert swept.returncode == 0, swept.stderr
    out = tmp_path / "report"
    proc = cli("report", str(study), "--out", str(out), runs_dir=runs_dir, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert f"{out / 'report.md'}  (2 variant(s), complete)" in proc.stdout
    names = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert names == {
        "figure.png",
        "figure.pdf",
        "report.md",
        "report.tex",
        "runs.csv",
        "metrics.csv",
        "environment.md",
        "conclusion.md",
    }
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# 9.9 Fake learning rates\n")
    rows = [ln for ln in md.splitlines() if ln.startswith("| fast |") or ln.startswith("| slow |")]
    assert len(rows) == 2 and all("| 2/2 |" in r for r in rows), rows
    assert "slow vs fast:" in md and "![" in md
    with open(out / "runs.csv", encoding="utf-8") as fh:
        runs = list(csv.DictReader(fh))
    assert len(runs) == 4 and {r["variant"] for r in runs} == {"fast", "slow"}
    with open(out / "metrics.csv", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 4 * 3  # one row per run and epoch
    before = {n: (out / n).read_bytes() for n in ("report.md", "report.tex", "figure.png", "figure.pdf")}
    again = cli("report", str(study), "--out", str(out), runs_dir=runs_dir, timeout=240)
    assert again.returncode == 0, again.stderr
    assert {n: (out / n).read_bytes() for n in before} == before, "regenerating changed the report"


def test_report_of_an_unlaunched_study_says_what_is_missing(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    study = _study(write_config)
    proc = cli("report", str(study), "--out", str(tmp_path / "r"), runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    assert "partial: no runs of this study were found" in proc.stdout
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert (
        f"**To do:** no runs of this study yet: run `hw2-tui sweep {study}`, then write the report again."
        in md
    )


def test_report_of_an_experiment_is_a_one_line_error(runs_dir: Path, write_config: WriteConfig) -> None:
    proc = cli("report", str(write_config("lonely")), runs_dir=runs_dir)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("hw2-tui: error:") and "not a study" in proc.stderr


# --------------------------------------------------------------------------- the whole homework

QUESTIONS = ("2.1", "2.1.3", "2.1.4", "2.2.2", "2.2.3", "2.2.4", "2.2.5", "2.2.6")


def _homework_runs(runs_dir: Path) -> None:
    """Real run folders (no training) for three of the project's studies, swept with overrides; the
    other five questions have no runs."""
    fabricate_study(runs_dir, PROJECT_STUDIES / "2.1-tuning.yaml", overrides=["train.epochs=2"])
    fabricate_study(
        runs_dir, PROJECT_STUDIES / "2.1.4-optimizers.yaml", overrides=["train.epochs=2"], repeat=2
    )
    fabricate_study(runs_dir, PROJECT_STUDIES / "2.2.3-relu.yaml", overrides=["train.epochs=2"], repeat=2)


def _section(tex: str, question: str) -> str:
    start = tex.index(f"\\section*{{{question} ")
    return tex[start : tex.index("\\section*{", start + 1)]


def test_report_all_writes_the_homework_and_it_compiles(runs_dir: Path, tmp_path: Path) -> None:
    exe = pdflatex_or_skip()
    _homework_runs(runs_dir)
    out = tmp_path / "reports"
    proc = cli("report", "--all", "--out", str(out), runs_dir=runs_dir, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert f"{out / 'homework2.tex'}  (the whole homework: 8 question(s))" in lines
    assert f"pdflatex pass 1/2: {out / 'homework2.tex'}" in lines
    assert f"pdflatex pass 2/2: {out / 'homework2.tex'}" in lines
    assert lines[-1] == str(out / "homework2.pdf")
    assert (out / "homework2.pdf").stat().st_size > 50_000

    tex = (out / "homework2.tex").read_text(encoding="utf-8")
    assert tex.count("\\documentclass") == 1 and tex.rstrip().endswith("\\end{document}")
    # one section per question, in the homework's order, then the environment
    at = [tex.index(f"\\section*{{{q} ") for q in QUESTIONS]
    assert at == sorted(at) and at[-1] < tex.index("\\section*{Environment}")
    # each with its table, choice by validation, verdicts and figure (relative to the document)
    s214 = _section(tex, "2.1.4")
    for part in (
        "\\label{tab:hw2-2-1-4}",
        "Chosen by validation accuracy alone: adam",
        "\\paragraph{Verdicts}",
        "\\includegraphics[width=\\linewidth]{2.1.4-optimizers/figure.pdf}",
        "\\label{fig:hw2-2-1-4}",
        "train.epochs = 2 in all 6 done run(s) (the study file: 20)",
    ):
        assert part in s214, part
    assert "against the next 3 by validation accuracy" in _section(tex, "2.1")  # the grid
    # a question without runs says what to run
    todo = _section(tex, "2.2.4")
    assert "\\texttt{hw2-tui sweep configs/studies/2.2.4-pooling.yaml}" in todo
    assert "\\begin{table}" not in todo
    assert "run `hw2-tui sweep configs/studies/2.2.4-pooling.yaml`" in (
        out / "2.2.4-pooling" / "report.md"
    ).read_text(encoding="utf-8")
    # the environment: versions and the datasets' section
    env = tex[tex.index("\\section*{Environment}") :]
    assert "git commit 0123abc; keras 3.0.0, python 3.11.2" in env and "\\paragraph{Data}" in env

    log = (out / "homework2.log").read_text(encoding="utf-8", errors="replace")
    assert not re.search(r"undefined|Reference .* undefined|^! ", log, re.I | re.M), log[-3000:]
    # it compiles from another folder too (figure paths relative to the document's folder)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = subprocess.run(
        [
            exe,
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-output-directory",
            str(out),
            str(out / "homework2.tex"),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout[-3000:]


def test_the_students_conclusion_survives_and_is_converted(runs_dir: Path, tmp_path: Path) -> None:
    fabricate_study(runs_dir, PROJECT_STUDIES / "2.1.4-optimizers.yaml", repeat=2)
    out = tmp_path / "reports"
    first = cli("report", "--all", "--out", str(out), runs_dir=runs_dir, timeout=400)
    assert first.returncode == 0, first.stdout + first.stderr
    conclusion = out / "2.1.4-optimizers" / "conclusion.md"
    assert conclusion.read_text(encoding="utf-8").startswith(
        "<!-- hw2-tui: write your conclusion for question 2.1.4 below; this file is never overwritten -->\n"
    )
    tex = (out / "homework2.tex").read_text(encoding="utf-8")
    assert "\\textbf{Conclusion not written yet} (edit \\texttt{" in _section(tex, "2.1.4")
    assert "2.1.4-optimizers/\\allowbreak{}conclusion.md}" in _section(tex, "2.1.4")

    written = (
        "Adam *converges fastest*; **momentum** is _close_.\n"
        "\n"
        "The gap grows as $x^2$: 100% of the seeds & runs agree.\n"
    )
    conclusion.write_text(written, encoding="utf-8")
    before = conclusion.read_bytes()
    again = cli("report", "--all", "--out", str(out), runs_dir=runs_dir, timeout=400)
    assert again.returncode == 0, again.stdout + again.stderr
    assert conclusion.read_bytes() == before, "conclusion.md was rewritten"
    md = (out / "2.1.4-optimizers" / "report.md").read_text(encoding="utf-8")
    assert "## Conclusion\n\n" + written in md
    converted = (
        "\\subsection*{Conclusion}\n"
        "Adam \\emph{converges fastest}; \\textbf{momentum} is \\emph{close}.\n"
        "\n"
        "The gap grows as $x^2$: 100\\% of the seeds \\& runs agree.\n"
    )
    assert converted in (out / "2.1.4-optimizers" / "report.tex").read_text(encoding="utf-8")
    tex = (out / "homework2.tex").read_text(encoding="utf-8")
    assert converted in _section(tex, "2.1.4")
    assert "Conclusion not written yet" not in _section(tex, "2.1.4")
    assert "Conclusion not written yet" in _section(tex, "2.2.3")  # the others still ask for theirs


def test_report_all_without_pdflatex_says_how_to_compile(runs_dir: Path, tmp_path: Path) -> None:
    no_tex = tmp_path / "bin"  # a PATH with no pdflatex on it
    no_tex.mkdir()
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), "report", "--all", "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PATH": str(no_tex)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "pdflatex not found: to make the PDF, install it (Debian: apt-get install texlive-latex-base "
        f"texlive-latex-recommended), then run twice: cd {out.as_posix()} && pdflatex homework2.tex"
    )
    assert (out / "homework2.tex").is_file() and not (out / "homework2.pdf").exists()
