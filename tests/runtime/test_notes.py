"""Notes on runs (issue 20 §3): ``hw2-tui note RUN "text"`` stores a one-line note in meta.json
through :func:`hw2.runs.lifecycle.set_note` (the one writer of the field), in any status, without
losing what a harness writes at the same time; ``ls`` (table and --json), the summary cache, the
TUI's watcher and the CSV export all show it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hw2 import contract
from hw2.contract import RunMeta
from hw2.export import export_csv
from hw2.runs import lifecycle
from hw2.runs.index import CACHE_FILE
from hw2.runs.readers import list_runs
from hw2.runs.watcher import RunsWatcher
from tests.conftest import PROJECT_ROOT
from tests.reliability.conftest import cli, one_line_error
from tests.runtime.conftest import wait_for
from tests.runtime.test_cli import _fabricated_run

DONE = "20260101-000000-done-0001"


def _note_of(run_dir: Path) -> object:
    data = contract.read_json(run_dir / contract.META_FILE)
    assert data is not None
    return data.get("note")


def _polled_note(watcher: RunsWatcher, run_id: str) -> str | None:
    watcher.poll()
    summary = watcher.summary(run_id)
    return None if summary is None else summary.note


def _ls_json(runs_dir: Path) -> dict[str, dict[str, object]]:
    proc = cli("ls", "--json", "--runs-dir", str(runs_dir))
    assert proc.returncode == 0, proc.stderr
    return {row["run_id"]: row for row in json.loads(proc.stdout)}


# ---------------------------------------------------------------------- the lifecycle function


def test_set_note_cleans_to_one_line_and_an_empty_text_clears_it(runs_dir: Path) -> None:
    d = _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    meta = lifecycle.set_note(d, "  lr too high?\n\tdiverged at epoch 3\x07  \x1b[31m ")
    assert meta.extra["note"] == _note_of(d) == "lr too high? diverged at epoch 3 [31m"
    assert meta.status == "done"  # only the note changed
    lifecycle.set_note(d, "  \n ")
    assert _note_of(d) is None


def test_a_note_over_the_cap_is_refused_with_the_cap_named(runs_dir: Path) -> None:
    d = _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    lifecycle.set_note(d, "kept")
    with pytest.raises(lifecycle.NoteError, match=f"at most {lifecycle.NOTE_MAX}"):
        lifecycle.set_note(d, "x" * (lifecycle.NOTE_MAX + 1))
    assert _note_of(d) == "kept"
    lifecycle.set_note(d, "y" * lifecycle.NOTE_MAX)  # the cap itself is allowed
    assert _note_of(d) == "y" * lifecycle.NOTE_MAX


def test_only_set_note_writes_the_note(runs_dir: Path) -> None:
    d = _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    with pytest.raises(lifecycle.TransitionError, match="note"):
        lifecycle.add_fields(d, note="a second writer")


HARNESS = """
import os, sys
from pathlib import Path
from hw2.runs import lifecycle
d = Path(sys.argv[1])
lifecycle.mark_running(d, launched_by="hand")
lifecycle.record_pid(d, os.getpid())
for i in range(int(sys.argv[2])):
    lifecycle.add_fields(d, **{f"field_{i}": i})
lifecycle.finish(d, "done", 0, None)
"""


def test_notes_written_while_the_harness_writes_lose_nothing(runs_dir: Path) -> None:
    """A harness process marks the run running, adds 150 fields one locked write at a time and
    finishes it, while this process sets 60 notes: every field, the final status and the last
    note are all there."""
    d = runs_dir / "20260101-000000-live-0001"
    d.mkdir(parents=True)
    lifecycle.create(d, RunMeta(run_id=d.name, name="live", trainer="fake"))
    n_fields, n_notes = 150, 60
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(d), str(n_fields)], cwd=PROJECT_ROOT)
    try:
        assert wait_for(lambda: (contract.read_meta(d) or RunMeta("", "")).status != "queued", 60)
        for i in range(n_notes):
            lifecycle.set_note(d, f"note {i}")
    finally:
        assert harness.wait(timeout=120) == 0
    data = contract.read_json(d / contract.META_FILE)
    assert data is not None
    assert data["status"] == "done" and data["exit_code"] == 0
    assert [k for k in range(n_fields) if data.get(f"field_{k}") != k] == []
    assert data["note"] == f"note {n_notes - 1}"


# ---------------------------------------------------------------------- the CLI, ls and the caches


def test_note_from_the_cli_shows_in_ls_at_once_through_the_summary_cache(runs_dir: Path) -> None:
    _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    assert _ls_json(runs_dir)[DONE]["note"] is None
    assert (runs_dir / CACHE_FILE).exists()  # the finished run is cached now

    proc = cli("note", "done-0001", "try lr 0.01 next", "--runs-dir", str(runs_dir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{DONE}: note set: try lr 0.01 next"
    assert _ls_json(runs_dir)[DONE]["note"] == "try lr 0.01 next"  # not the cached summary
    assert list_runs(runs_dir)[0].note == "try lr 0.01 next"

    shown = cli("note", "0001", "--runs-dir", str(runs_dir))  # no text: prints it
    assert (shown.returncode, shown.stdout) == (0, "try lr 0.01 next\n")
    table = cli("ls", "--runs-dir", str(runs_dir))
    assert "note" in table.stdout.splitlines()[2] and "try lr 0.01 next" in table.stdout

    cleared = cli("note", DONE, "--clear", "--runs-dir", str(runs_dir))
    assert cleared.returncode == 0 and "cleared" in cleared.stdout
    assert _ls_json(runs_dir)[DONE]["note"] is None
    assert "note" not in cli("ls", "--runs-dir", str(runs_dir)).stdout.splitlines()[2]


def test_a_long_note_is_cut_in_the_ls_table_and_whole_in_json(runs_dir: Path) -> None:
    _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    note = "a rather long note " * 20
    assert cli("note", DONE, note, "--runs-dir", str(runs_dir)).returncode == 0
    proc = cli("ls", "--runs-dir", str(runs_dir))
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0
    assert all(len(line) <= 250 for line in lines)  # COLUMNS=250
    row = next(line for line in lines if DONE in line)
    assert "a rather long note" in row and "…" in row and DONE in row
    assert _ls_json(runs_dir)[DONE]["note"] == note.strip()


def test_note_errors_are_one_line(runs_dir: Path) -> None:
    _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    too_long = one_line_error(cli("note", DONE, "x" * 501, "--runs-dir", str(runs_dir)))
    assert "at most 500" in too_long and "fix:" in too_long
    missing = one_line_error(cli("note", "nosuchrun", "hi", "--runs-dir", str(runs_dir)))
    assert "no run matching 'nosuchrun'" in missing
    assert _note_of(runs_dir / DONE) is None


def test_the_watcher_shows_a_note_on_a_finished_run_within_seconds(runs_dir: Path) -> None:
    d = _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    watcher = RunsWatcher(runs_dir, finished_recheck_interval=2.0)
    first = watcher.poll()
    assert [u.run_id for u in first] == [DONE] and not watcher.is_live(DONE)
    lifecycle.set_note(d, "seen by the TUI")
    started = time.monotonic()
    assert wait_for(lambda: _polled_note(watcher, DONE) == "seen by the TUI", 30)
    assert time.monotonic() - started < 10  # the round-robin's 2 s, on a loaded box
    assert watcher.recheck(DONE) is None  # nothing more changed


def test_a_note_on_a_running_run_reaches_the_watcher_at_the_next_poll(runs_dir: Path) -> None:
    d = runs_dir / "20260101-000000-live-0001"
    d.mkdir(parents=True)
    lifecycle.create(d, RunMeta(run_id=d.name, name="live", trainer="fake"))  # queued: live
    watcher = RunsWatcher(runs_dir)
    watcher.poll()
    assert watcher.is_live(d.name)
    lifecycle.set_note(d, "queued at night")
    assert wait_for(lambda: _polled_note(watcher, d.name) == "queued at night", 10)


# ---------------------------------------------------------------------- export


def test_the_export_has_the_note_column(runs_dir: Path, tmp_path: Path) -> None:
    d = _fabricated_run(runs_dir, DONE, "done", 2, ended=1005.0)
    other = _fabricated_run(runs_dir, "20260101-000001-done-0002", "done", 2, ended=1005.0)
    list_runs(runs_dir)  # cached before the note: the export must still see it
    lifecycle.set_note(d, "best so far, use for 2.1.4")
    lifecycle.set_note(other, "=HYPERLINK(1) is text")
    results, _ = export_csv(runs_dir, tmp_path / "out")
    with open(results, newline="") as fh:
        rows = {r["run_id"]: r for r in csv.DictReader(fh)}
    assert rows[DONE]["note"] == "best so far, use for 2.1.4"
    assert rows[other.name]["note"] == "'=HYPERLINK(1) is text"  # never a formula
    header = results.read_text().splitlines()[0].split(",")
    assert header.index("note") == header.index("status") + 1
