"""Text from a shared login node's users (run names, study titles, descriptions, folder names)
lands in files other tools read: ``report.tex`` and ``homework2.tex`` (pdflatex), ``report.md`` and
``environment.md`` (a Markdown viewer), and every CSV (a spreadsheet). None of it may run commands
or break the file's structure there."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
import yaml

from hw2 import contract
from hw2.analysis.document import write_homework
from hw2.analysis.latex import file_name
from hw2.analysis.pivot import pivot, to_csv
from hw2.analysis.report import StudyInfo, build, markdown
from hw2.analysis.writer import Environment, environment_md, write_study_report
from hw2.export import FORMULA_STARTS, export_csv
from hw2.runs.summary import EpochStats, summarize
from tests.analysis.support import compile_tex, fabricate_study, pdflatex_or_skip, write_study


def _grid_run(name: str, act: str, width: int, seed: int) -> object:
    stats = EpochStats()
    stats.add({"type": "epoch", "epoch": 1, "epochs": 1, "val_acc": 0.9 + width / 1000, "train_acc": 0.95})
    return summarize(
        run_id=f"{act}-{width}-{seed}",
        meta={"name": name, "study": "9.2", "variant": f"{name} {act} {width}", "seed": seed},
        status="done",
        config={"seed": seed, "model": {"activation": act, "width": width}},
        stats=stats,
        result={"test_acc": 0.9, "best_val_acc": 0.9 + width / 1000, "best_epoch": 1, "params": 10},
    )


HOSTILE_FOLDERS = ("100% done #1", "x\\typeout{PWNED}y", "a~b$c^^41d&e_f{g}")
"""A TeX comment, a space and a macro parameter; a command TeX would run if the path went in raw;
the other characters TeX reads as markup (``^^41`` is how TeX writes an ``A``)."""


def _ran_typeout(log: str) -> bool:
    """``\\typeout{PWNED}`` ran: its text stands alone on a line of the log (the folder's name typeset
    as text shows up inside other lines, e.g. in a box warning)."""
    return any(line.strip() == "PWNED" for line in log.splitlines())


def test_reports_in_hostile_folders_compile_and_run_no_tex(tmp_path: Path) -> None:
    exe = pdflatex_or_skip()
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    study = write_study(
        tmp_path / "configs",
        "9.1 Hostile paths",
        {"a": {"optimizer.lr": 0.1}, "b": {"optimizer.lr": 0.01}},
        epochs=2,
    )
    fabricate_study(runs_dir, study, repeat=1)
    root = tmp_path / "reports"
    # what `hw2-tui report STUDY --out DIR` writes, once per folder
    written = [write_study_report(runs_dir, study, root / name) for name in (*HOSTILE_FOLDERS, "plain")]
    assert all(w.figure is not None for w in written)

    # each report.tex \input from its own folder (a path with % cannot be typed in \input{})
    for name in HOSTILE_FOLDERS:
        folder = root / name
        (folder / "main.tex").write_text(
            "\\documentclass{article}\\usepackage{booktabs}\\usepackage{graphicx}\n"
            "\\begin{document}\n\\input{report.tex}\n\\end{document}\n",
            encoding="utf-8",
        )
        log = compile_tex(exe, folder, "main.tex")
        assert not _ran_typeout(log), name
        assert "figure.pdf  used on input line" in log, name

    # \input{../reports/plain/report.tex} from another working folder: the figure is found next to
    # the .tex; so are the hostile folders' figures, their paths given to \input as plain characters
    elsewhere = tmp_path / "thesis"
    elsewhere.mkdir()
    hostile = [file_name(str(root / name / "report.tex"), "hostile") for name in HOSTILE_FOLDERS]
    (elsewhere / "main.tex").write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\usepackage{graphicx}\n\\begin{document}\n"
        "\\input{../reports/plain/report.tex}\n"
        + "".join(f"{define}\\input{{\\hostile}}\n" for define in hostile)
        + "\\end{document}\n",
        encoding="utf-8",
    )
    log = compile_tex(exe, elsewhere, "main.tex")
    assert not _ran_typeout(log)
    assert "../reports/plain/figure.pdf  used on input line" in log
    assert log.count("figure.pdf  used on input line") == len(written)

    # the whole homework over every folder: its figure paths name them
    tex = write_homework(written, root)
    log = compile_tex(exe, root, tex.name)
    assert not _ran_typeout(log)
    assert log.count("figure.pdf  used on input line") == len(written)


# --------------------------------------------------------------------------- Markdown

_PIPE = re.compile(r"(?<!\\)\|")


def test_markdown_escapes_every_cell_title_and_description() -> None:
    runs = [_grid_run("a|b", act, w, s) for act in ("relu", "tanh|x") for w in (8, 16) for s in (0, 1)]
    title = "9.2 Pipes <img src=x onerror=alert(1)>\n# injected heading"
    description = "Line one | two\n\n<script>alert(1)</script> [click](javascript:alert(1))"
    rep = build(StudyInfo(title, description), runs)
    assert rep.grid is not None  # activation × width: the grid table is there
    md = markdown(rep)
    lines = md.splitlines()
    # every row of each table has as many cells as its header
    tables: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) == 2, md  # the variants and the grid
    for table in tables:
        widths = {len(_PIPE.findall(row)) for row in table}
        assert len(widths) == 1, table
    # the title is one heading; neither it nor the description puts HTML, a heading or a link in
    assert [ln for ln in lines if ln.startswith("#") and not ln.startswith("##")] == [lines[0]]
    for raw in ("<img", "<script>", "](javascript:"):  # unescaped, they would be HTML or a link
        assert not re.search(r"(?<!\\)" + re.escape(raw), md), raw


def test_environment_md_escapes_file_cells() -> None:
    env = Environment((), ("mnist",), (("/data/a|b`c.gz", 26, "ab12"),))
    rows = [ln for ln in environment_md(env).splitlines() if ln.startswith("|")]
    assert len({len(_PIPE.findall(row)) for row in rows}) == 1, rows


# --------------------------------------------------------------------------- CSV

FORMULAS = ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tlead", "\rlead")


def _done_run(runs_dir: Path, name: str, i: int) -> None:
    run_id = f"r{i}"
    d = runs_dir / run_id
    d.mkdir(parents=True)
    config = {"name": name, "trainer": "mlp", "optimizer": {"name": name, "lr": -0.5}}
    (d / contract.CONFIG_FILE).write_text(yaml.safe_dump(config), encoding="utf-8")
    writer = contract.MetricsWriter(d / contract.METRICS_FILE)
    writer.epoch(
        epoch=1, epochs=1, train_loss=0.1, train_acc=0.9, val_loss=0.2, val_acc=0.8, lr=0.1, seconds=1.0
    )
    writer.close()
    contract.write_meta(d, contract.RunMeta(run_id=run_id, name=name, study=name, trainer="mlp"))
    contract.write_result(
        d,
        {
            "test_acc": 0.8,
            "test_loss": -0.25,
            "best_val_acc": 0.8,
            "best_epoch": 1,
            "total_seconds": 1.0,
            "params": 10,
        },
    )
    contract.update_meta(d, status="done", exit_code=0, started=1000.0, ended=1001.0)


def _text_cells(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def _formula(cell: str) -> bool:
    """A spreadsheet would read ``cell`` as a formula: text (not a number) starting like one."""
    try:
        float(cell)
    except ValueError:
        return cell.startswith(FORMULA_STARTS)
    return False


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_cells_never_start_a_formula(tmp_path: Path, formula: str) -> None:
    runs_dir = tmp_path / "runs"
    _done_run(runs_dir, formula, 0)
    results, metrics = export_csv(runs_dir, tmp_path / "out")
    quoted = "'" + formula.replace("\r", "\n")  # OWASP's quote; a CR ends no row: it is written as LF
    for path in (results, metrics):
        cells = _text_cells(path)
        assert quoted in cells, path.name
        assert formula not in cells and not any(_formula(c) for c in cells), path.name
    with open(results, newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["cfg.optimizer.lr"] == "-0.5" and row["test_loss"] == "-0.25"  # numbers stay numbers

    runs = [_grid_run(formula, act, w, 0) for act in (formula, "relu") for w in (8, 16)]
    lines = list(csv.reader(io.StringIO(to_csv(pivot(runs, "model.activation", "model.width")), newline="")))
    cells = [cell for row in lines for cell in row]
    assert quoted in cells and not any(_formula(c) for c in cells)
