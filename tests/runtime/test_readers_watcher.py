"""Run store and watcher: effective status, incremental updates, removal, the summary cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hw2 import contract, procs
from hw2.contract import RunMeta
from hw2.runs.index import CACHE_FILE
from hw2.runs.readers import DIED_ERROR, list_runs, load_run
from hw2.runs.watcher import RunsWatcher


def _make_run(runs_dir: Path, run_id: str, **meta_fields: object) -> Path:
    d = runs_dir / run_id
    d.mkdir()
    (d / contract.CONFIG_FILE).write_text("trainer: fake\ntrain: {epochs: 3}\n")
    meta = RunMeta(run_id=run_id, name=run_id, trainer="fake", epochs=3)
    for k, v in meta_fields.items():
        setattr(meta, k, v)
    contract.write_meta(d, meta)
    return d


def _dead_pid() -> tuple[int, float | None]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ctime = contract.process_create_time(proc.pid)
    proc.wait()
    return proc.pid, ctime


def _epoch_line(i: int, val_acc: float) -> str:
    return (
        json.dumps(
            {
                "type": "epoch",
                "epoch": i,
                "epochs": 3,
                "train_loss": 1.0 / i,
                "train_acc": 0.5,
                "val_loss": 1.0,
                "val_acc": val_acc,
                "lr": 0.01,
                "seconds": 1.0,
                "time": 0,
            }
        )
        + "\n"
    )


def test_running_run_with_dead_pid_shows_failed(runs_dir: Path) -> None:
    pid, ctime = _dead_pid()
    d = _make_run(runs_dir, "r-dead", status="running", pid=pid, pid_create_time=ctime, started=1.0)
    summary = load_run(d).summary
    assert summary.status == "failed"
    assert summary.error == DIED_ERROR
    assert contract.read_meta(d).status == "running"  # a reader never writes


def test_running_run_with_live_pid_stays_running(runs_dir: Path) -> None:
    d = _make_run(
        runs_dir,
        "r-live",
        status="running",
        pid=os.getpid(),
        pid_create_time=contract.process_create_time(os.getpid()),
    )
    assert load_run(d).summary.status == "running"


def test_reused_pid_is_not_trusted(runs_dir: Path) -> None:
    # Same pid as a live process but another creation time: the recorded process is gone.
    d = _make_run(runs_dir, "r-reused", status="running", pid=os.getpid(), pid_create_time=1000.0)
    assert load_run(d).summary.status == "failed"


def test_load_run_reads_epochs_progress_and_result(runs_dir: Path) -> None:
    d = _make_run(runs_dir, "r-done", status="done", started=100.0, ended=160.0)
    (d / contract.METRICS_FILE).write_text(
        _epoch_line(1, 0.5)
        + json.dumps({"type": "progress", "epoch": 2, "epochs": 3, "batch": 4, "batches": 10})
        + "\n"
        + "garbage\n"
        + _epoch_line(2, 0.7)
    )
    contract.write_result(
        d,
        {
            "test_loss": 0.3,
            "test_acc": 0.9,
            "best_epoch": 2,
            "best_val_acc": 0.7,
            "total_seconds": 60.0,
            "params": 10,
        },
    )
    view = load_run(d)
    assert [e["epoch"] for e in view.epochs] == [1, 2]
    assert view.progress["batch"] == 4
    assert view.result["test_acc"] == 0.9
    assert view.config["trainer"] == "fake"
    s = view.summary
    assert s.skipped_lines == 1
    assert (s.epochs_done, s.epochs_total) == (2, 3)
    assert s.best_val_acc == 0.7 and s.latest.val_acc == 0.7 and s.test_acc == 0.9
    assert s.elapsed(time.time()) == 60.0


def test_list_runs_ignores_hidden_and_metaless_folders(runs_dir: Path) -> None:
    _make_run(runs_dir, "b-run")
    _make_run(runs_dir, "a-run")
    (runs_dir / ".hidden").mkdir()
    (runs_dir / "no-meta").mkdir()
    (runs_dir / ".scheduler.log").write_text("x")
    assert [v.run_id for v in list_runs(runs_dir)] == ["a-run", "b-run"]


def test_watcher_reports_only_changes(runs_dir: Path) -> None:
    w = RunsWatcher(runs_dir, finished_recheck_interval=0)  # finished runs re-checked every poll
    assert w.poll() == []
    d = _make_run(runs_dir, "r1", status="queued")
    ups = w.poll()
    assert [(u.run_id, u.new, u.view_changed, u.status) for u in ups] == [("r1", True, True, "queued")]
    assert w.poll() == []  # nothing changed: nothing reported

    with open(d / contract.METRICS_FILE, "a") as fh:
        fh.write(_epoch_line(1, 0.4))
    ups = w.poll()
    assert len(ups) == 1 and not ups[0].view_changed
    assert [x["epoch"] for x in ups[0].new_lines] == [1]

    with open(d / contract.METRICS_FILE, "a") as fh:
        fh.write("junk\n" + _epoch_line(2, 0.6)[:20])
    ups = w.poll()
    assert ups[0].new_lines == [] and ups[0].skipped == 1
    with open(d / contract.METRICS_FILE, "a") as fh:
        fh.write(_epoch_line(2, 0.6)[20:])
    assert [x["epoch"] for x in w.poll()[0].new_lines] == [2]

    contract.update_meta(d, status="done")
    ups = w.poll()
    assert ups[0].view_changed and ups[0].status == "done" and ups[0].new_lines == []
    assert ups[0].summary.epochs_done == 2 and ups[0].summary.best_val_acc == 0.6
    assert not w.is_live("r1")  # finished: only its summary is held, lines come from disk
    view = w.view("r1")
    assert view is not None and [e["epoch"] for e in view.epochs] == [1, 2]
    assert [e["epoch"] for e in w.epoch_lines("r1")] == [1, 2]
    assert w.poll() == []

    # A finished run's metrics rewritten: it is read again; its lines come from epoch_lines().
    (d / contract.METRICS_FILE).write_text(_epoch_line(1, 0.9))
    ups = w.poll()
    assert ups[0].truncated and ups[0].new_lines == [] and ups[0].summary.best_val_acc == 0.9
    assert [e["val_acc"] for e in w.epoch_lines("r1")] == [0.9]
    assert [e["val_acc"] for e in w.view("r1").epochs] == [0.9]

    shutil.rmtree(d)
    ups = w.poll()
    assert [(u.run_id, u.removed) for u in ups] == [("r1", True)]
    assert w.view("r1") is None and w.poll() == []


def test_watcher_flips_dead_running_run_to_failed(runs_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _make_run(
            runs_dir,
            "r-live",
            status="running",
            pid=proc.pid,
            pid_create_time=contract.process_create_time(proc.pid),
        )
        w = RunsWatcher(runs_dir, recheck_interval=0.5)
        assert w.poll()[0].status == "running"
        assert w.poll() == []
    finally:
        proc.kill()
        proc.wait()
    # No file changed, but the process is gone: the next process check (at most every
    # recheck_interval seconds, so a poller does not read /proc for every run on every poll)
    # flips the run to failed. Waited for with a generous timeout (a loaded box is slow).
    deadline = time.monotonic() + 30
    while not (ups := w.poll()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(ups) == 1 and ups[0].view_changed
    assert ups[0].status == "failed" and ups[0].error == DIED_ERROR


def test_watcher_checks_a_running_process_at_most_every_recheck_interval(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_run(
        runs_dir,
        "r-live",
        status="running",
        pid=os.getpid(),
        pid_create_time=contract.process_create_time(os.getpid()),
    )
    checks = []
    real = procs.pid_alive
    monkeypatch.setattr(procs, "pid_alive", lambda *a: checks.append(a) or real(*a))
    w = RunsWatcher(runs_dir, recheck_interval=60)
    assert w.poll()[0].status == "running"
    for _ in range(20):
        assert w.poll() == []
    assert len(checks) == 1  # checked when first seen, not on each of the 20 polls after
    w.recheck_interval = 0
    assert w.poll() == []  # still alive: checked again, nothing to report
    assert len(checks) == 2


def test_watcher_back_pressure_delivers_everything(runs_dir: Path) -> None:
    d = _make_run(
        runs_dir,
        "r-big",
        status="running",
        pid=os.getpid(),
        pid_create_time=contract.process_create_time(os.getpid()),
    )
    (d / contract.METRICS_FILE).write_text("".join(_epoch_line(i, 0.5) for i in range(1, 101)))
    w = RunsWatcher(runs_dir, max_bytes_per_run=2000)
    got = []
    for _ in range(100):
        for u in w.poll():
            got += [x["epoch"] for x in u.new_lines]
    assert got == list(range(1, 101))


def _done_run(runs_dir: Path, run_id: str, epochs: int = 3) -> Path:
    d = _make_run(runs_dir, run_id, status="done", started=100.0, ended=130.0)
    with open(d / contract.METRICS_FILE, "w") as fh:
        for i in range(1, epochs + 1):
            fh.write(
                json.dumps({"type": "progress", "epoch": i, "epochs": 3, "batch": 1, "batches": 2}) + "\n"
            )
            fh.write(_epoch_line(i, 0.1 * i))
    return d


def test_a_finished_runs_cached_summary_is_reused_until_a_file_changes(runs_dir: Path) -> None:
    d = _done_run(runs_dir, "r-done")
    [first] = list_runs(runs_dir)
    assert first.best_val_acc == pytest.approx(0.3) and first.epochs_done == 3
    cache = json.loads((runs_dir / CACHE_FILE).read_text())
    assert set(cache["runs"]) == {"r-done"}

    # Reused: a value planted in the cache entry (the files untouched) is what the next reader sees,
    # so the run folder was not read again.
    from hw2.runs.index import SUMMARY_FIELDS

    cache["runs"]["r-done"]["summary"][SUMMARY_FIELDS.index("test_acc")] = 0.123  # a packed summary
    (runs_dir / CACHE_FILE).write_text(json.dumps(cache))
    assert list_runs(runs_dir)[0].test_acc == 0.123
    w = RunsWatcher(runs_dir)
    assert w.poll()[0].summary.test_acc == 0.123

    # Invalidated: any of its files changing (here a result appears) makes it a miss.
    contract.write_result(
        d,
        {
            "test_acc": 0.9,
            "test_loss": 0.3,
            "best_val_acc": 0.3,
            "best_epoch": 3,
            "total_seconds": 30,
            "params": 7,
        },
    )
    [again] = list_runs(runs_dir)
    assert again.test_acc == 0.9
    with open(d / contract.METRICS_FILE, "a") as fh:
        fh.write(_epoch_line(4, 0.8))
    assert list_runs(runs_dir)[0].epochs_done == 4  # (the result still names the best)

    # A deleted run leaves the cache; a damaged cache reads as empty (nothing crashes).
    shutil.rmtree(d)
    assert list_runs(runs_dir) == []
    assert json.loads((runs_dir / CACHE_FILE).read_text())["runs"] == {}
    _done_run(runs_dir, "r-two")
    (runs_dir / CACHE_FILE).write_text("{not json")
    assert [s.run_id for s in list_runs(runs_dir)] == ["r-two"]


def test_an_unwritable_cache_just_means_no_cache(runs_dir: Path) -> None:
    # The cache's place is taken by a folder: it can be neither read nor replaced (as with a
    # read-only runs folder, which a test running as root cannot make).
    _done_run(runs_dir, "r-done")
    (runs_dir / CACHE_FILE).mkdir()
    assert [s.epochs_done for s in list_runs(runs_dir)] == [3]
    assert [u.summary.epochs_done for u in RunsWatcher(runs_dir).poll()] == [3]
    assert (runs_dir / CACHE_FILE).is_dir() and not any(runs_dir.glob(f"{CACHE_FILE}.*"))


def test_watcher_holds_no_epoch_lines_of_finished_runs(runs_dir: Path) -> None:
    _done_run(runs_dir, "r-done")
    live = _make_run(
        runs_dir,
        "r-live",
        status="running",
        pid=os.getpid(),
        pid_create_time=contract.process_create_time(os.getpid()),
    )
    (live / contract.METRICS_FILE).write_text(_epoch_line(1, 0.5))
    w = RunsWatcher(runs_dir)
    ups = {u.run_id: u for u in w.poll()}
    done, running = ups["r-done"], ups["r-live"]
    # The finished run: a summary (its hyperparameters flattened), no lines and no config; its
    # series and config are read on demand (10 000 configs held by a UI were ~100 MB).
    assert done.new and done.new_lines == [] and done.summary.epochs_done == 3
    assert done.config is None and done.summary.hparams == {"trainer": "fake", "train.epochs": 3}
    assert not w.is_live("r-done")
    assert [e["epoch"] for e in w.epoch_lines("r-done")] == [1, 2, 3]
    # The live run: tailed as before.
    assert running.new and [x["epoch"] for x in running.new_lines] == [1] and w.is_live("r-live")
    assert [e["epoch"] for e in w.epoch_lines("r-live")] == [1]

    # The live run finishes: its lines are dropped by the watcher, still readable from disk,
    # and its summary is cached for the next reader.
    with open(live / contract.METRICS_FILE, "a") as fh:
        fh.write(_epoch_line(2, 0.7))
    contract.update_meta(live, status="done", ended=time.time())
    (u,) = w.poll()
    assert u.status == "done" and [x["epoch"] for x in u.new_lines] == [2] and u.summary.epochs_done == 2
    assert not w.is_live("r-live")
    assert [e["epoch"] for e in w.epoch_lines("r-live")] == [1, 2]
    assert w.poll() == []
    assert set(json.loads((runs_dir / CACHE_FILE).read_text())["runs"]) == {"r-done", "r-live"}


def test_watcher_sees_a_folder_made_before_its_meta(runs_dir: Path) -> None:
    w = RunsWatcher(runs_dir)
    assert w.poll() == []
    (runs_dir / "r-late").mkdir()
    assert w.poll() == []
    contract.write_meta(runs_dir / "r-late", RunMeta(run_id="r-late", name="r-late"))
    deadline = time.monotonic() + 30
    while not (ups := w.poll()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(u.run_id, u.new, u.status) for u in ups] == [("r-late", True, "queued")]


def test_watcher_reports_a_large_folder_newest_first_in_batches(runs_dir: Path) -> None:
    for i in range(5):
        _done_run(runs_dir, f"r{i}")
    w = RunsWatcher(runs_dir, max_new_per_poll=2)
    batches = []
    while True:
        batches.append([u.run_id for u in w.poll()])
        if not w.backlog:
            break
    assert batches == [["r3", "r4"], ["r1", "r2"], ["r0"]]  # each poll's updates sorted by id
    assert all(u.new and u.summary is not None for u in RunsWatcher(runs_dir).poll())
    assert w.poll() == [] and w.run_ids() == [f"r{i}" for i in range(5)]


def test_the_summary_cache_version_follows_run_summarys_fields(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding a field to RunSummary (or to a dataclass it holds, EpochPoint) changes the cache's
    version, so a cache written before the field existed reads as empty and every run is read again."""
    import dataclasses

    from hw2.runs import index
    from hw2.runs.summary import EpochPoint, RunSummary

    assert index.summary_version(RunSummary) == index.CACHE_VERSION  # derived, not typed by hand
    assert index.summary_version(RunSummary) == index.summary_version(RunSummary)  # stable
    grown = dataclasses.make_dataclass(
        "RunSummary", [("new_figure", "float | None", None)], bases=(RunSummary,), frozen=True
    )
    grown.__module__ = RunSummary.__module__
    assert index.summary_version(grown) != index.CACHE_VERSION
    retyped = dataclasses.make_dataclass("EpochPoint", [("epoch", "str")], bases=(EpochPoint,), frozen=True)
    retyped.__module__ = "tests.runtime.test_readers_watcher"  # found by name where the summary lives
    monkeypatch.setattr(sys.modules[RunSummary.__module__], "EpochPoint", retyped)
    assert index.summary_version(RunSummary) != index.CACHE_VERSION  # a nested dataclass counts too
    monkeypatch.undo()

    _done_run(runs_dir, "r-done")
    list_runs(runs_dir)
    cache = json.loads((runs_dir / CACHE_FILE).read_text())
    assert cache["version"] == index.CACHE_VERSION and set(cache["runs"]) == {"r-done"}
    test_acc = index.SUMMARY_FIELDS.index("test_acc")  # a summary is packed: its fields' values
    cache["runs"]["r-done"]["summary"][test_acc] = 0.123  # what a stale cache would serve
    (runs_dir / CACHE_FILE).write_text(json.dumps(cache))
    assert list_runs(runs_dir)[0].test_acc == 0.123  # same fields: the cache is used
    monkeypatch.setattr(index, "CACHE_VERSION", index.summary_version(grown))  # the field added
    assert len(index.SummaryCache(runs_dir)) == 0
    assert list_runs(runs_dir)[0].test_acc != 0.123  # read from the run folder again
