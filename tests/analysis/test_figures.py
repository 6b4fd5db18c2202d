"""Study figures: the matplotlib objects (lines, labels, bands, best-epoch marker), and the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw2.analysis.figures import best_epoch, mean_curve, save_figure, study_figure
from hw2.analysis.stats import group_runs
from hw2.runs.summary import EpochPoint, EpochStats, summarize


def series(offset: float, epochs: int = 4) -> list[EpochPoint]:
    # val accuracy peaks at epoch 3, then drops
    shape = [0.5, 0.7, 0.8, 0.75, 0.7][:epochs]
    return [
        EpochPoint(e + 1, 1.0 / (e + 1) + offset, 1.2 / (e + 1) + offset, 0.6 + e / 20, shape[e] + offset)
        for e in range(epochs)
    ]


def summary(run_id: str, variant: str, seed: int, status: str = "done") -> object:
    return summarize(
        run_id=run_id,
        meta={"name": run_id, "variant": variant, "seed": seed, "study": "S"},
        status=status,
        stats=EpochStats(),
    )


def test_mean_curve_and_best_epoch() -> None:
    c = mean_curve([series(0.0), series(0.02)], "val_acc")
    assert c.epochs == (1, 2, 3, 4) and c.n == (2, 2, 2, 2)
    assert c.mean[2] == pytest.approx(0.81)
    assert c.std[0] == pytest.approx(0.0141421, rel=1e-4)
    assert best_epoch(c) == 3
    short = mean_curve([series(0.0), series(0.0, epochs=2)], "val_acc")
    assert short.n == (2, 2, 1, 1) and short.std[3] is None


def test_study_figure_objects(tmp_path: Path) -> None:
    runs = [
        summary("a0", "adam", 0),
        summary("a1", "adam", 1),
        summary("s0", "sgd", 0),
        summary("s1", "sgd", 1, status="failed"),
    ]
    data = {"a0": series(0.0), "a1": series(0.02), "s0": series(-0.1), "s1": series(-0.3)}
    fig = study_figure("2.1.4 optimizers", group_runs(runs), data)
    ax_loss, ax_acc = fig.axes
    labels = [ln.get_label() for ln in ax_acc.lines]
    # adam: 2 done seeds; sgd: 1 done (the failed seed is not drawn)
    assert "adam (n=2) train" in labels and "adam (n=2) val" in labels and "sgd (n=1) val" in labels
    styles = {ln.get_label(): ln.get_linestyle() for ln in ax_loss.lines}
    assert styles["adam (n=2) train"] == "-" and styles["adam (n=2) val"] == "--"
    bands = {c.get_gid() for c in ax_acc.collections}
    assert "adam:val_acc:band" in bands and not any(
        g.startswith("sgd") for g in bands
    )  # band only when n > 1
    best = next(ln for ln in ax_acc.lines if ln.get_gid() == "adam:best")
    assert list(best.get_xdata()) == [3]
    assert best.get_ydata()[0] == pytest.approx(81.0)  # percent
    assert ax_acc.get_ylabel() == "accuracy (%)" and ax_loss.get_xlabel() == "epoch"
    png, pdf = save_figure(fig, tmp_path / "fig")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 800


def test_a_grid_s_figure_keys_its_variants_below_the_panels_not_over_the_curves(tmp_path: Path) -> None:
    runs = [summary(f"r{i}", f"lr-{i}", 0) for i in range(9)]
    data = {f"r{i}": series(0.01 * i) for i in range(9)}
    fig = study_figure("2.1 grid", group_runs(runs), data)
    ax_loss, ax_acc = fig.axes
    assert ax_loss.get_legend() is None and ax_acc.get_legend() is None  # nothing inside a panel
    [key] = fig.legends
    labels = [t.get_text() for t in key.get_texts()]
    assert labels == [f"lr-{i} (n=1)" for i in range(9)] + ["train", "val"]
    fig.canvas.draw()
    box = key.get_window_extent()
    for ax in (ax_loss, ax_acc):  # the key lies below the panels' drawing area
        assert box.y1 <= ax.get_window_extent().y0 + 1
    save_figure(fig, tmp_path / "grid")
    # up to three variants keep one legend per panel
    few = study_figure("few", group_runs(runs[:3]), data)
    assert all(ax.get_legend() is not None for ax in few.axes) and not few.legends
