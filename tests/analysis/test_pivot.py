"""The factorial view on a 2 x 3 grid: cells, marginal means, best cell, swapping axes."""

from __future__ import annotations

import pytest

from hw2.analysis.pivot import factors, pivot
from hw2.runs.summary import EpochStats, summarize

LRS = (0.1, 0.01)
DROPOUTS = (0.0, 0.2, 0.5)


def grid_run(lr: float, dropout: float, seed: int, status: str = "done") -> object:
    stats = EpochStats()
    val = 0.9 + lr + dropout / 10 + seed / 1000  # a known surface
    stats.add(
        {
            "type": "epoch",
            "epoch": 1,
            "epochs": 1,
            "val_acc": val,
            "train_acc": 0.9,
            "train_loss": 0.1,
            "val_loss": 0.2,
        }
    )
    config = {"seed": seed, "optimizer": {"name": "sgd", "lr": lr}, "model": {"dropout": dropout}}
    return summarize(
        run_id=f"r{lr}-{dropout}-{seed}",
        meta={"name": "x", "study": "2.1"},
        status=status,
        config=config,
        stats=stats,
    )


def test_pivot_on_a_2x3_grid() -> None:
    runs = [grid_run(lr, d, s) for lr in LRS for d in DROPOUTS for s in (0, 1)]
    assert factors(runs) == ["optimizer.lr", "model.dropout"]
    pv = pivot(runs, "optimizer.lr", "model.dropout", "best_val_acc")
    assert pv.rows == (0.01, 0.1) and pv.cols == DROPOUTS
    for lr in LRS:
        for d in DROPOUTS:
            cell = pv.cells[(lr, d)]
            assert cell.n == 2
            assert cell.mean == pytest.approx(0.9 + lr + d / 10 + 0.0005)
    assert pv.row_means[0.1].mean == pytest.approx(0.9 + 0.1 + sum(DROPOUTS) / 30 + 0.0005)
    assert pv.col_means[0.5].n == 4
    assert pv.best == (0.1, 0.5)
    assert not pv.partial
    sw = pv.swapped()
    assert sw.rows == DROPOUTS and sw.best == (0.5, 0.1) and sw.cells[(0.2, 0.01)] is pv.cells[(0.01, 0.2)]


def test_pivot_with_runs_still_going_is_partial_and_counts_only_done() -> None:
    runs = [grid_run(lr, d, 0) for lr in LRS for d in DROPOUTS]
    runs.append(grid_run(0.1, 0.5, 1, status="running"))
    pv = pivot(runs, "optimizer.lr", "model.dropout")
    assert pv.partial
    assert pv.cells[(0.1, 0.5)].n == 1


def test_loss_metric_picks_the_lowest_cell() -> None:
    runs = [grid_run(lr, d, 0) for lr in LRS for d in DROPOUTS]
    pv = pivot(runs, "optimizer.lr", "model.dropout", "val_loss")
    assert pv.best is not None and pv.cells[pv.best].mean == pytest.approx(0.2)


def test_pivot_table_csv_and_latex() -> None:
    from hw2.analysis.pivot import table, to_csv, to_latex

    runs = [grid_run(lr, d, s) for lr in LRS for d in DROPOUTS for s in (0, 1)]
    pv = pivot(runs, "optimizer.lr", "model.dropout", "best_val_acc")
    rows = table(pv)
    assert rows[0] == ["optimizer.lr \\ model.dropout", "0", "0.2", "0.5", "mean"]
    assert rows[2][3].endswith(" *") and rows[2][0] == "0.1"  # best cell: lr 0.1, dropout 0.5
    assert rows[-1][0] == "mean" and len(rows) == 2 + len(LRS)
    csv_text = to_csv(pv).splitlines()
    assert csv_text[0] == "optimizer.lr,model.dropout,best_val_acc_mean,best_val_acc_std,n,best"
    assert len(csv_text) == 1 + 6 and sum(line.endswith(",yes") for line in csv_text) == 1
    tex = to_latex(pv, "2.1 tuning")
    assert "\\toprule" in tex and "\\textbf{" in tex and "\\bottomrule" in tex
