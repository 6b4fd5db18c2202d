"""The study report's text: Markdown tables, factual sentences, and a LaTeX fragment that compiles."""

from __future__ import annotations

from pathlib import Path

from hw2.analysis.figures import save_figure, study_figure
from hw2.analysis.report import StudyInfo, build, latex, markdown
from hw2.analysis.stats import group_runs
from hw2.runs.summary import EpochPoint, EpochStats, summarize
from tests.analysis.support import compile_tex, pdflatex_or_skip

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
    verdict = next(ln for ln in lines if ln.startswith("- adam vs sgd: +1.60 pt [95 % CI "))
    assert verdict.endswith(": better (test accuracy 97.60 ± 0.14 % vs 96.00 ± 0.20 %, n = 2 and 3)")
    assert "p = " in verdict
    assert "against the first, sgd)" in md
    # each variant's gap said once, in one sentence for the study
    assert (
        "- Final train accuracy more than 2 points above final validation accuracy (a sign of "
        "overfitting): every variant: sgd (+3.0 points), adam (+3.0 points)." in md
    )
    assert "![" in md and "](figure.png)" in md


def test_report_with_no_runs_says_so() -> None:
    rep = build(StudyInfo("2.2.3 ReLU"), [])
    md = markdown(rep)
    assert "no runs of this study yet: run `hw2-tui sweep STUDY.yaml`" in md
    assert "| variant" not in md  # no empty table


def test_latex_fragment_compiles_with_pdflatex(tmp_path: Path) -> None:
    exe = pdflatex_or_skip()
    rs = runs()
    series = {r.run_id: [EpochPoint(1, 0.3, 0.35, 0.9, 0.9), EpochPoint(2, 0.2, 0.3, 0.95, 0.94)] for r in rs}
    report_dir = tmp_path / "reports" / "2.1.4-optimizers"
    save_figure(study_figure(TITLE, group_runs(rs), series), report_dir / "figure")
    rep = build(StudyInfo(TITLE, "desc"), rs)
    # the figure relative to the fragment's own folder: \input from the document's folder finds it
    (report_dir / "report.tex").write_text(latex(rep, figure="figure.pdf", local=True), encoding="utf-8")
    from hw2.analysis.pivot import pivot, to_latex

    pv = pivot(rs, "optimizer.name", "optimizer.lr", "test_acc")
    (report_dir / "pivot.tex").write_text(to_latex(pv, "2.1.4 & co"), encoding="utf-8")
    grid = build(StudyInfo("2.1 Tuning", "a grid"), grid_runs())  # chosen by validation, the grid table
    assert grid.selection is not None and grid.grid is not None
    (report_dir / "grid.tex").write_text(latex(grid), encoding="utf-8")
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\begin{document}\n"
        "\\input{reports/2.1.4-optimizers/report.tex}\n\\input{reports/2.1.4-optimizers/pivot.tex}\n"
        "\\input{reports/2.1.4-optimizers/grid.tex}\n"
        "See Tables~\\ref{tab:hw2-2-1-4} and~\\ref{tab:hw2-2-1-grid} and Figure~\\ref{fig:hw2-2-1-4}.\n"
        "\\end{document}\n",
        encoding="utf-8",
    )
    log = compile_tex(exe, tmp_path, "main.tex", passes=2)  # twice, so the references resolve
    assert "There were undefined references" not in log and "Overfull" not in log, log[-2000:]
    assert (tmp_path / "main.pdf").stat().st_size > 10_000


def grid_run(lr: float, dropout: float, seed: int, val: float, test: float, status: str = "done") -> object:
    """A done run of a 2-factor grid study whose best validation and test accuracy differ."""
    stats = EpochStats()
    stats.add(
        {"type": "epoch", "epoch": 1, "epochs": 1, "train_loss": 0.2, "val_loss": 0.25}
        | {"train_acc": val + 0.01, "val_acc": val, "seconds": 2.0}
    )
    variant = f"lr-{lr}-dropout-{dropout}"
    result = {"test_acc": test, "test_loss": 0.1, "best_val_acc": val, "best_epoch": 1, "params": 10}
    return summarize(
        run_id=f"{variant}-s{seed}",
        meta={"name": f"{variant}-s{seed}", "study": "2.1 Tuning", "variant": variant, "seed": seed},
        status=status,
        result=result if status == "done" else None,
        stats=stats,
        config={"seed": seed, "optimizer": {"name": "adam", "lr": lr}, "model": {"dropout": dropout}},
    )


def grid_runs() -> list[object]:
    # (lr, dropout) → (val, test): the best validation cell (0.001, 0.2) is not the best test cell
    cells = {
        (0.0003, 0.0): (0.960, 0.962),
        (0.0003, 0.2): (0.955, 0.958),
        (0.001, 0.0): (0.970, 0.975),
        (0.001, 0.2): (0.974, 0.969),
    }
    return [
        grid_run(lr, d, s, v + 0.001 * s, t + 0.001 * s) for (lr, d), (v, t) in cells.items() for s in (0, 1)
    ]


def test_the_report_chooses_by_validation_and_only_then_reads_test_accuracy() -> None:
    rep = build(StudyInfo("2.1 Tuning", "a grid"), grid_runs())
    assert rep.selection is not None and rep.selection.chosen.variant == "lr-0.001-dropout-0.2"
    assert rep.selection.runner_up.variant == "lr-0.001-dropout-0.0"
    md = markdown(rep)
    section = md[md.index("## Chosen by validation") :]
    text = section.splitlines()[2]
    assert text.startswith(
        "Chosen by validation accuracy alone: lr-0.001-dropout-0.2 (best validation accuracy 97.45 ± 0.07 %, n = 2; 0.40 points ahead of the next, lr-0.001-dropout-0.0, at 97.05 ± 0.07 %)."
    )
    assert text.index("lr-0.001-dropout-0.2") < text.index("its test accuracy: 96.95 ± 0.07 %")
    assert md.index("## Chosen by validation") < md.index("## Verdicts")
    # a failed seed in the chosen cell is said, not averaged in
    partial = build(
        StudyInfo("2.1 Tuning"), [*grid_runs(), grid_run(0.001, 0.2, 2, 0.0, 0.0, status="failed")]
    )
    assert partial.selection is not None and "Partial: 2 of 3 done (s2 failed)." in partial.selection.text()


def test_a_full_grid_gets_its_table_and_variants_that_change_two_keys_do_not() -> None:
    rep = build(StudyInfo("2.1 Tuning"), grid_runs())
    assert rep.grid is not None and (rep.grid.row_key, rep.grid.col_key) == ("optimizer.lr", "model.dropout")
    assert rep.grid.best == (0.001, 0.2)
    md = markdown(rep)
    assert "| optimizer.lr \\ model.dropout | 0 | 0.2 | mean |" in md
    assert "| 0.001 | 97.05 ± 0.07 | **97.45 ± 0.07** | 97.25 ± 0.24 |" in md
    tex = latex(rep)
    assert "\\label{tab:hw2-2-1-grid}" in tex and "\\textbf{97.45 $\\pm$ 0.07}" in tex
    # sgd/adam with their own learning rates: two keys differ, but on a diagonal, not a grid
    assert build(StudyInfo(TITLE), runs()).grid is None
    # one variant: nothing to choose
    assert build(StudyInfo(TITLE), [run("sgd", 0, 0.96)]).selection is None


def test_a_grid_compares_the_chosen_cell_with_its_runners_up() -> None:
    rep = build(StudyInfo("2.1 Tuning"), grid_runs())
    assert rep.selection is not None
    chosen = rep.selection.chosen.variant
    assert chosen == "lr-0.001-dropout-0.2"
    # not every cell against the grid's first cell: the chosen one against the next 3 by validation
    assert [v.reference for v in rep.verdicts] == [chosen] * 3
    assert [v.variant for v in rep.verdicts] == [g.variant for g in rep.selection.ranked[1:4]]
    assert rep.verdicts[0].variant == "lr-0.001-dropout-0.0" and rep.verdicts[0].p_value is not None
    md = markdown(rep)
    assert (
        "## Verdicts (Welch's t-test on test accuracy over seeds: the cell chosen by validation, "
        "lr-0.001-dropout-0.2, against the next 3 by validation accuracy)" in md
    )
    assert "- lr-0.001-dropout-0.0 vs lr-0.001-dropout-0.2: +0.60 pt [95 % CI" in md
    # not a grid: each variant against the first
    assert {v.reference for v in build(StudyInfo(TITLE), runs()).verdicts} == {"sgd"}


def test_no_sentence_is_said_once_per_variant() -> None:
    """One seed per variant: the "no test" note once for the study, not once per verdict; the
    train/validation gap of each variant once, not again in every comparison."""
    one_seed = [run(v, 0, 0.95 + 0.005 * i) for i, v in enumerate(("sgd", "momentum", "adam", "adamw"))]
    md = markdown(build(StudyInfo(TITLE), one_seed))
    lines = [ln for ln in md.splitlines() if ln.strip() and not ln.startswith("|")]
    assert len(lines) == len(set(lines)), [ln for ln in lines if lines.count(ln) > 1]
    assert "one seed each" not in md
    assert md.count("no test is possible") == 1
    assert "- momentum vs sgd: +0.50 pt (test accuracy 95.50 % vs 95.00 %, n = 1 and 1)" in md
    assert md.count("points above final validation accuracy") == 1
    for sentence in md.split(". "):
        assert md.count(sentence) == 1 or len(sentence) < 20, sentence


def test_the_runs_against_the_study_files_plan() -> None:
    """Keys the done runs changed from the study file's plan, with how many runs and the file's value."""
    plan = {
        "sgd": {"optimizer.name": "sgd", "optimizer.lr": 0.05, "model.name": "mlp"},
        "adam": {"optimizer.name": "adam", "optimizer.lr": 0.001, "model.name": "mlp"},
    }
    rep = build(StudyInfo(TITLE, planned=plan), runs())
    assert rep.as_run == [
        "Epochs actually run (done runs): 2 per run (every variant).",
        "Run with settings that differ from the study file (overrides such as `--set` at launch): "
        "optimizer.lr = 0.1 in 3 of 5 done run(s) (the study file: 0.05). The study's description is "
        "the file's plan; the table shows what was run.",
    ]
    assert build(
        StudyInfo(TITLE, planned={**plan, "sgd": {**plan["sgd"], "optimizer.lr": 0.1}}), runs()
    ).as_run == ["Epochs actually run (done runs): 2 per run (every variant)."]


def test_a_planned_variant_without_any_run_makes_the_report_partial() -> None:
    plan = {v: {"optimizer.name": v, "model.name": "mlp"} for v in ("sgd", "adam", "rmsprop")}
    rep = build(StudyInfo(TITLE, file="configs/studies/s.yaml", planned=plan), runs())
    assert rep.partial
    assert rep.missing[-1] == "rmsprop: no run (launch it with `hw2-tui sweep configs/studies/s.yaml`)"
    assert "rmsprop: no run" in markdown(rep)
    plan.pop("rmsprop")
    assert not any("no run" in m for m in build(StudyInfo(TITLE, planned=plan), runs()).missing)


def test_a_setting_the_runs_predate_is_not_an_override() -> None:
    plan = {v: {"optimizer.name": v, "model.name": "mlp", "train.warmup_epochs": 0} for v in ("sgd", "adam")}
    plan["sgd"]["optimizer.lr"], plan["adam"]["optimizer.lr"] = 0.1, 0.001
    assert len(build(StudyInfo(TITLE, planned=plan), runs()).as_run) == 1  # the epochs only
