"""MetricsTailer: only new bytes, partial lines kept, garbage counted, truncation and back-pressure;
WholeFile: one pass over a finished file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hw2.tail import MetricsTailer, WholeFile


def _epoch(i: int) -> str:
    return json.dumps({"type": "epoch", "epoch": i, "val_acc": 0.5 + i / 100}) + "\n"


def test_missing_file_then_appears(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    t = MetricsTailer(path)
    res = t.read_new()
    assert res.missing and res.lines == [] and not res.truncated
    path.write_text(_epoch(1))
    res = t.read_new()
    assert not res.missing
    assert [line["epoch"] for line in res.lines] == [1]


def test_reads_only_new_lines_and_keeps_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(_epoch(1) + _epoch(2))
    t = MetricsTailer(path)
    assert [x["epoch"] for x in t.read_new().lines] == [1, 2]
    assert t.read_new().lines == []  # nothing new
    line3 = _epoch(3)
    with open(path, "a") as fh:
        fh.write(line3[:10])  # the trainer is mid-write
    assert t.read_new().lines == []
    with open(path, "a") as fh:
        fh.write(line3[10:] + _epoch(4)[:5])
    res = t.read_new()
    assert [x["epoch"] for x in res.lines] == [3]
    assert res.skipped == 0
    with open(path, "a") as fh:
        fh.write(_epoch(4)[5:])
    assert [x["epoch"] for x in t.read_new().lines] == [4]
    assert t.offset == path.stat().st_size


def test_garbage_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(
        _epoch(1).encode()
        + b"not json at all\n"
        + b'{"type": "unknown"}\n'
        + b"[1, 2]\n"
        + b"\n   \n"  # blank lines are not garbage
        + b"\xff\xfe\n"
        + _epoch(2).encode()
    )
    t = MetricsTailer(path)
    res = t.read_new()
    assert [x["epoch"] for x in res.lines] == [1, 2]
    assert res.skipped == 4
    assert t.skipped_total == 4


def test_truncation_restarts_from_the_top(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(_epoch(1) + _epoch(2) + _epoch(3))
    t = MetricsTailer(path)
    assert len(t.read_new().lines) == 3
    path.write_text(_epoch(7))  # truncated in place and rewritten shorter
    res = t.read_new()
    assert res.truncated
    assert [x["epoch"] for x in res.lines] == [7]
    assert not t.read_new().truncated


def test_replaced_file_with_new_inode_is_truncation(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(_epoch(1))
    t = MetricsTailer(path)
    t.read_new()
    other = tmp_path / "new.jsonl"
    other.write_text(_epoch(5) + _epoch(6))  # bigger file, another inode
    os.replace(other, path)
    res = t.read_new()
    assert res.truncated
    assert [x["epoch"] for x in res.lines] == [5, 6]


def test_file_removed_reports_missing(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(_epoch(1))
    t = MetricsTailer(path)
    t.read_new()
    path.unlink()
    assert t.read_new().missing


def test_back_pressure_reads_at_most_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    text = "".join(_epoch(i) for i in range(1, 201))
    path.write_text(text)
    t = MetricsTailer(path, max_bytes=1000)
    got: list[int] = []
    calls = 0
    while True:
        before = t.offset
        res = t.read_new()
        calls += 1
        assert t.offset - before <= 1000
        got += [x["epoch"] for x in res.lines]
        if not res.more:
            break
    assert got == list(range(1, 201))
    assert calls >= len(text) // 1000
    assert res.skipped == 0


def _progress(i: int, batch: int) -> str:
    line = {"type": "progress", "epoch": i, "epochs": 9, "batch": batch, "batches": 4, "loss": 0.5}
    return json.dumps(line, separators=(",", ":")) + "\n"  # as MetricsWriter writes it


def test_whole_file_agrees_with_the_tailer_on_epochs_garbage_and_the_last_progress(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    body = (
        _progress(1, 1)
        + _progress(1, 2)
        + _epoch(1)
        + "garbage\n"
        + '{"type": "epoch", "epoch": \n'
        + _progress(2, 1)
        + json.dumps({"type": "progress", "epoch": 2, "batch": 2, "batches": 4})
        + "\n"  # not compact
        + _epoch(2)
        + _progress(3, 3)
        + _epoch(3)[:10]  # partial last line: not a line yet, not garbage
    )
    path.write_text(body)
    whole = WholeFile(path, chunk_bytes=7)  # lines cut across many chunks
    lines = list(whole.lines())
    tailed = MetricsTailer(path).read_new()
    assert [x["epoch"] for x in lines if x["type"] == "epoch"] == [1, 2]
    assert [x for x in lines if x["type"] == "epoch"] == [x for x in tailed.lines if x["type"] == "epoch"]
    # compact progress lines (MetricsWriter's) are not parsed, except the latest, given last;
    # another writer's progress line is parsed as usual
    assert [(x["epoch"], x["batch"]) for x in lines if x["type"] == "progress"] == [(2, 2), (3, 3)]
    assert lines[-1]["type"] == "progress"
    assert whole.skipped == tailed.skipped == 2
    assert list(WholeFile(tmp_path / "missing.jsonl").lines()) == []


def test_whole_file_counts_a_damaged_last_progress_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(_progress(1, 1) + '{"type":"progress",broken}\n')
    whole = WholeFile(path)
    assert list(whole.lines()) == [] and whole.skipped == 1
