"""The TUI's run model: bounded series, derived figures, helpers."""

from __future__ import annotations

import math

import pytest

from tui.model import (
    MAX_EPOCHS_KEPT,
    MAX_PARTIAL_KEPT,
    RunState,
    differing_keys,
    downsample,
    ema,
    flatten_config,
    fmt_duration,
    progress_bar,
)


def _epoch(e: int, epochs: int = 10, va: float = 0.5) -> dict:
    return {
        "type": "epoch",
        "epoch": e,
        "epochs": epochs,
        "train_loss": 1.0 / e,
        "train_acc": 0.5,
        "val_loss": 1.1 / e,
        "val_acc": va,
        "lr": 0.1,
        "seconds": 2.0,
    }


def _progress(e: int, b: int, n: int = 100) -> dict:
    return {"type": "progress", "epoch": e, "epochs": 10, "batch": b, "batches": n, "loss": 0.5, "acc": 0.7}


def test_series_stay_bounded_under_a_flood() -> None:
    st = RunState("r")
    st.set_status("running")
    for e in range(1, 20_001):
        for b in range(0, 100, 10):
            st.set_progress(_progress(e, b))
        st.add_epochs([_epoch(e, 20_000, va=0.5 + (e == 1234) * 0.4)])
    assert len(st.points) <= MAX_EPOCHS_KEPT
    assert len(st.partial) <= MAX_PARTIAL_KEPT
    assert st.points[-1].epoch == 20_000  # the newest point is never dropped
    assert (st.best_val_acc, st.best_epoch) == (0.9, 1234)  # best kept even when decimated away


def test_partial_epoch_and_fractions() -> None:
    st = RunState("r")
    st.set_status("running")
    st.add_epochs([_epoch(1), _epoch(2)])
    st.set_progress(_progress(3, 25))
    assert st.epoch_fraction() == pytest.approx(0.25)
    assert st.fraction_done() == pytest.approx(2.25 / 10)
    assert list(st.partial) == [(2.25, 0.5, 0.7)]
    st.add_epochs([_epoch(3)])
    assert not st.partial and st.epoch_fraction() is None


def test_elapsed_and_eta() -> None:
    st = RunState("r", started=100.0, epochs_total=10)
    st.set_status("running")
    st.add_epochs([_epoch(1), _epoch(2)])
    assert st.elapsed(140.0) == 40.0
    assert st.eta(140.0) == pytest.approx(160.0)  # 20 % done in 40 s
    st.set_status("done")
    st.ended = 300.0
    assert st.elapsed(1e9) == 200.0 and st.eta(1e9) is None


def test_garbage_values_do_not_break_anything() -> None:
    st = RunState("r")
    assert st.add_epochs([{"type": "epoch", "epoch": "x"}]) is False
    assert st.garbage == 1
    st.add_epochs([{"type": "epoch", "epoch": 1, "val_acc": float("nan"), "train_loss": "oops"}])
    assert st.points[0].val_acc is None and st.points[0].train_loss is None


def test_repeated_epoch_replaces_later_points() -> None:
    st = RunState("r")
    st.add_epochs([_epoch(1), _epoch(2), _epoch(3), _epoch(2)])
    assert [p.epoch for p in st.points] == [1, 2]


def test_differing_keys_and_flatten() -> None:
    a, b = RunState("a"), RunState("b")
    a.config = {"name": "a", "optimizer": {"lr": 0.1, "name": "sgd"}, "model": {"hidden": [8, 4]}}
    b.config = {"name": "b", "optimizer": {"lr": 0.2, "name": "sgd"}, "model": {"hidden": [8, 4]}}
    assert flatten_config(a.config) == {"optimizer.lr": 0.1, "optimizer.name": "sgd", "model.hidden": "8x4"}
    assert differing_keys([a, b]) == ["optimizer.lr"]
    assert differing_keys([a]) == []


def test_downsample_keeps_ends_and_limit() -> None:
    xs = list(range(1000))
    dx, dy = downsample(xs, xs, 50)
    assert len(dx) <= 50 and dx[0] == 0 and dx[-1] == 999 and dx == dy
    assert downsample([1, 2], [3, 4], 50) == ([1, 2], [3, 4])


def test_ema_is_debiased_and_smooth() -> None:
    assert ema([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    noisy = [1.0 if i % 2 else 0.0 for i in range(50)]
    sm = ema(noisy)
    assert max(sm[10:]) - min(sm[10:]) < 0.5
    assert all(math.isfinite(v) for v in sm)


def test_formatting() -> None:
    assert progress_bar(0.5, 4) == "██░░"
    assert progress_bar(None, 3) == "   "
    assert progress_bar(1.0, 3) == "███"
    assert fmt_duration(3725) == "1:02:05" and fmt_duration(65) == "1:05" and fmt_duration(None) == "–"


@pytest.mark.parametrize(
    ("title", "short"),
    [
        ("2.1.4 Optimizers: SGD vs momentum vs Adam (MLP, MNIST)", "2.1.4 Optimizers"),
        ("2.2.2 Base CNN (CIFAR-10)", "2.2.2 Base CNN"),
        ("a very long study title with no separators at all", "a very long study t…"),
        ("(odd)", "(odd)"),
    ],
)
def test_study_titles_are_shortened_for_the_table(title: str, short: str) -> None:
    from tui.widgets import short_study

    assert short_study(title) == short
    assert len(short_study(title)) <= 20
