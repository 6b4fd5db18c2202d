"""The TUI's run model: RunsModel.apply folds watcher updates, bounded series, helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from hw2.runs.summary import EpochStats, RunSummary, fold_lines, summarize
from tui.model import (
    MAX_EPOCHS_KEPT,
    MAX_PARTIAL_KEPT,
    MAX_SERIES_KEPT,
    RunsModel,
    differing_keys,
    downsample,
    ema,
    progress_bar,
)
from tui.widgets import BASE_COLUMNS

NOW = 1_800_000_000.0


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


@dataclass
class Update:
    """What ``hw2.runs.watcher.RunUpdate`` carries (the contract the model is written against)."""

    run_id: str
    summary: RunSummary | None
    config: dict[str, Any] | None = None
    new_lines: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    truncated: bool = False
    removed: bool = False
    trashed: bool = False
    new: bool = False
    view_changed: bool = False


class FakeRun:
    """A run's folder as the watcher sees it: feeds lines to a real EpochStats, makes real summaries."""

    def __init__(self, run_id: str = "r", status: str = "running", config: dict | None = None) -> None:
        self.run_id, self.status = run_id, status
        self.config = config or {"name": run_id, "optimizer": {"name": "sgd", "lr": 0.1}}
        self.stats = EpochStats()
        self.progress: dict | None = None
        self.result: dict | None = None
        self.first = True

    def summary(self) -> RunSummary:
        return summarize(
            run_id=self.run_id,
            meta={"name": self.run_id, "started": NOW - 100, "epochs": 10, "trainer": "mlp"},
            status=self.status,
            config=self.config,
            result=self.result,
            stats=self.stats,
            progress=self.progress,
        )

    def update(self, lines: list[dict] = (), *, truncated: bool = False, view: bool = False) -> Update:  # type: ignore[assignment]
        if truncated:
            self.stats, self.progress = EpochStats(), None
        self.progress = fold_lines(lines, self.stats, progress=self.progress)
        new, self.first = self.first, False
        return Update(
            self.run_id,
            self.summary(),
            self.config if new or view else None,
            new_lines=list(lines),
            truncated=truncated,
            new=new,
            view_changed=new or view,
        )


def test_new_run_is_shown_with_its_summary_and_config() -> None:
    m, run = RunsModel(), FakeRun()
    ch = m.apply([run.update([_epoch(1), _epoch(2)])])
    assert set(ch) == {"r"} and ch.shown == {"r"} and ch.rows == {"r"} and ch.columns
    st = m["r"]
    assert st.summary.epochs_done == 2 and st.config == run.config and st.status_history == ["running"]
    assert not st.series_loaded and st.points == []  # not plotted: no series kept


def test_epoch_lines_redraw_the_row_progress_lines_only_the_progress_cells() -> None:
    m, run = RunsModel(), FakeRun()
    m.apply([run.update([_epoch(1)])])
    ch = m.apply([run.update([_progress(2, 10), _progress(2, 20)])])
    assert ch.progress == {"r"} and not ch.rows and not ch.shown
    assert m["r"].epoch_fraction() == pytest.approx(0.2)
    ch = m.apply([run.update([_epoch(2)])])
    assert ch.rows == {"r"} and not ch.progress and not ch.shown
    assert m["r"].epochs_done == 2 and m["r"].epoch_fraction() is None
    ch = m.apply([run.update(view=True)])
    assert ch.shown == {"r"}


def test_series_follow_the_lines_once_loaded() -> None:
    m, run = RunsModel(), FakeRun()
    lines = [_epoch(1), _epoch(2)]
    m.apply([run.update(lines)])
    assert m.set_plotted(["r"]) == ["r"]
    assert m.load_series("r", lines) and [p.epoch for p in m["r"].points] == [1, 2]
    v = m["r"].version
    m.apply([run.update([_progress(3, 25)])])
    assert list(m["r"].partial) == [(2.25, 0.5, 0.7)] and m["r"].version > v
    m.apply([run.update([_epoch(3), _epoch(2)])])  # a restarted epoch replaces what it supersedes
    assert [p.epoch for p in m["r"].points] == [1, 2] and not m["r"].partial
    assert m.set_plotted(["r"]) == []  # loaded: not asked for again
    assert not m.load_series("r", [])  # an answer nobody waits for is dropped


def test_truncation_resets_series_and_best() -> None:
    m, run = RunsModel(), FakeRun()
    lines = [_epoch(1, va=0.5), _epoch(2, va=0.9), _epoch(3, va=0.6)]
    m.apply([run.update(lines)])
    m.set_plotted(["r"])
    m.load_series("r", lines)
    assert m["r"].best() == 0.9 and m["r"].best_at() == 2
    ch = m.apply([run.update([_epoch(1, va=0.3)], truncated=True)])
    st = m["r"]
    assert ch.rows == {"r"} and ch.shown == {"r"}
    assert st.points == [] and not st.series_loaded and st.best() == 0.3 and st.best_at() == 1
    assert m.set_plotted(["r"]) == ["r"]  # asked for again (a finished run gets no new lines)
    assert m.load_series("r", [_epoch(1, va=0.3)], {"name": "r2"}) and [p.epoch for p in st.points] == [1]
    assert st.config == {"name": "r2"}  # a config read with the series replaces the one held


def test_removed_run_is_marked_deleted_and_comes_back() -> None:
    m, run = RunsModel(), FakeRun()
    m.apply([run.update([_epoch(1)])])
    ch = m.apply([Update("r", None, removed=True)])
    assert m["r"].deleted and ch.shown == {"r"}
    assert m.apply([Update("r", None, removed=True)]) == set()  # said once
    assert m.apply([Update("gone", None, removed=True)]) == set()  # never seen: nothing
    run.first = True
    m.apply([run.update([_epoch(1)])])
    assert not m["r"].deleted


def test_a_run_moved_to_the_trash_is_forgotten() -> None:
    m, run = RunsModel(), FakeRun()
    m.apply([run.update([_epoch(1)])])
    m["r"].marked = True
    assert m.set_plotted(["r"]) == ["r"]
    ch = m.apply([Update("r", None, removed=True, trashed=True)])
    assert "r" not in m and ch.dropped == {"r"} and ch.columns and len(ch) == 0
    assert m.apply([Update("r", None, removed=True, trashed=True)]).dropped == set()  # said once
    run.first = True
    m.apply([run.update([_epoch(1)])])  # restored: a run again, unmarked
    assert "r" in m and not m["r"].deleted and not m["r"].marked


def test_figures_are_the_summarys() -> None:
    """Every cell of a row comes from RunState.summary: the table derives nothing itself."""
    m, run = RunsModel(), FakeRun()
    run.result = {"test_acc": 0.91, "best_val_acc": 0.95, "best_epoch": 2}
    m.apply([run.update([_epoch(1), _epoch(2), _progress(3, 50)])])
    st, s = m["r"], run.summary()
    assert st.summary == s
    cells = {c.key: c.render(st, NOW).plain for c in BASE_COLUMNS}
    assert cells["best"] == "95.00%" and cells["test"] == "91.00%"
    assert cells["epoch"].startswith(" 2/10") and "█" in cells["epoch"]
    assert cells["elapsed"] == "1:40" and s.elapsed(NOW) == 100
    assert (st.best(), st.best_at(), st.test_acc()) == (s.best_val_acc, s.best_epoch, s.test_acc)


def test_status_history_and_progress_only_when_running() -> None:
    m, run = RunsModel(), FakeRun(status="queued")
    m.apply([run.update()])
    run.status = "running"
    m.apply([run.update(view=True)])
    run.status = "done"
    m.apply([run.update(view=True)])
    m.apply([run.update(view=True)])
    assert m["r"].status_history == ["queued", "running", "done"]


def test_series_of_runs_no_longer_plotted_are_dropped_beyond_the_cap() -> None:
    m = RunsModel()
    runs = [FakeRun(f"r{i:03d}", status="done") for i in range(MAX_SERIES_KEPT + 5)]
    m.apply([r.update([_epoch(1)]) for r in runs])
    for r in runs:
        assert m.set_plotted([r.run_id]) == [r.run_id]
        m.load_series(r.run_id, [_epoch(1)])
    loaded = [r.run_id for r in runs if m[r.run_id].series_loaded]
    assert len(loaded) == MAX_SERIES_KEPT + 1  # the kept ones plus the one plotted now
    assert loaded[-1] == runs[-1].run_id and not m[runs[0].run_id].points


def test_series_stay_bounded_under_a_flood() -> None:
    m, run = RunsModel(), FakeRun()
    m.apply([run.update()])
    m.set_plotted(["r"])
    m.load_series("r", [])
    for e in range(1, 5_001):
        m.apply([run.update([_progress(e, b) for b in range(0, 100, 10)] + [_epoch(e, 5_000)])])
        if e % 7 == 0:
            m.apply([run.update([_progress(e + 1, b) for b in range(0, 100, 1)])])
    st = m["r"]
    assert len(st.points) <= MAX_EPOCHS_KEPT and len(st.partial) <= MAX_PARTIAL_KEPT
    assert st.points[-1].epoch == 5_000  # the newest point is never dropped


def test_garbage_values_do_not_break_anything() -> None:
    m, run = RunsModel(), FakeRun()
    m.apply([run.update()])
    m.set_plotted(["r"])
    m.load_series("r", [])
    bad = [
        {"type": "epoch", "epoch": "x"},
        {"type": "epoch", "epoch": 1, "val_acc": float("nan"), "train_loss": "oops"},
    ]
    m.apply([run.update(bad)])
    st = m["r"]
    assert st.points[0].val_acc is None and st.points[0].train_loss is None
    assert st.garbage == 1


def test_differing_keys() -> None:
    m = RunsModel()
    a = FakeRun(
        "a", config={"name": "a", "optimizer": {"lr": 0.1, "name": "sgd"}, "model": {"hidden": [8, 4]}}
    )
    b = FakeRun(
        "b", config={"name": "b", "optimizer": {"lr": 0.2, "name": "sgd"}, "model": {"hidden": [8, 4]}}
    )
    m.apply([a.update(), b.update()])
    assert differing_keys([m["a"], m["b"]]) == ["optimizer.lr"]
    assert differing_keys([m["a"]]) == []


def test_hparam_headers_are_unique() -> None:
    from tui.widgets import KEY_HPARAMS, hparam_labels

    assert list(hparam_labels(KEY_HPARAMS).values()) == ["model", "optimizer", "lr", "batch"]
    labels = hparam_labels(["model.dropout", "train.dropout", "optimizer.momentum"])
    assert labels == {
        "model.dropout": "model.dropout",
        "train.dropout": "train.dropout",
        "optimizer.momentum": "momentum",
    }


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


def test_filter_words_match_the_run_and_its_hyperparameters() -> None:
    from tui.model import run_matches

    m = RunsModel()
    configs = {
        "run-a": {
            "optimizer": {"name": "adam", "lr": 0.001},
            "model": {"dropout": 0.2},
            "train": {"batch_size": 64},
        },
        "run-b": {
            "optimizer": {"name": "sgd", "lr": 0.0015},
            "model": {"dropout": 0.5},
            "train": {"batch_size": 128},
        },
    }
    m.apply([FakeRun(rid, config={"name": rid, **cfg}).update() for rid, cfg in configs.items()])

    def found(text: str) -> set[str]:
        return {rid for rid, st in m.runs.items() if run_matches(st, text.lower().split())}

    assert found("adam") == {"run-a"}  # the optimizer's name
    assert found("0.001") == {"run-a"}  # a number by value: not 0.0015
    assert found("1e-3") == found("lr=0.001") == found("optimizer.lr=0.001") == {"run-a"}
    assert found("dropout=0.5") == found("batch=128") == {"run-b"}  # the key's last part or short name
    assert found("running dropout=0.2") == {"run-a"}  # every word: status and a hyperparameter
    assert found("lr=0.2") == found("nothing") == found("adam dropout=0.5") == set()
    assert found("") == {"run-a", "run-b"}


@pytest.mark.parametrize(
    ("title", "stem", "width", "label"),
    [
        ("2.1 Tuning by validation: learning rate x dropout (MLP, MNIST)", "2.1-tuning", 30, "2.1 Tuning"),
        ("2.2.6 Regularised vs overfit CNN (CIFAR-10, bonus)", "2.2.6-regularised", 30, "2.2.6 Regularised"),
        ("2.2.3 With vs without ReLU (CIFAR-10)", "2.2.3-relu", 30, "2.2.3 ReLU"),
        ("2.2.2 Base CNN (CIFAR-10)", "2.2.2-base-cnn", 30, "2.2.2 Base CNN"),
        ("2.2.4 Max-pooling vs strided convolution (CIFAR-10)", "2.2.4-pooling", 30, "2.2.4 Pooling"),
        ("2.1.3 Regularisation (MLP, MNIST)", "2.1.3-regularisation", 12, "2.1.3 Regul…"),
        ("Fake sweep: lr", "fake-sweep", 30, "Fake sweep"),
        ("A sweep of many words", "many", 14, "A sweep of"),
    ],
)
def test_study_labels_in_the_configs_tree(title: str, stem: str, width: int, label: str) -> None:
    from tui.widgets import study_label

    assert study_label(title, stem, width) == label
    assert len(study_label(title, stem, width)) <= width


def test_log_lines_wrap_under_an_indent_keeping_words_whole() -> None:
    from tui.widgets import wrap_line

    line = "04:52:32 INFO epoch 20/20  train_loss 0.6575  train_acc 0.7690  val_loss 0.9698  val_acc 0.6698  (5.8s)"
    parts = wrap_line(line, 60)
    assert len(parts) == 2 and all(len(p) <= 60 for p in parts)
    assert parts[1].startswith("  ") and not parts[1].startswith("   ")
    assert " ".join(p.strip() for p in parts).split() == line.split()  # no word cut
    assert wrap_line("short", 60) == ["short"] and wrap_line(line, 0) == [line]
