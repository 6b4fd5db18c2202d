"""``hw2-tui rm`` / ``restore`` / ``gc`` (issue 20 §2): real run folders, the real scheduler daemon,
real watchers and the real CLI in subprocesses."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hw2 import contract, daemon, queue, trash
from hw2.config import expand_study
from hw2.runs.readers import list_runs
from hw2.runs.watcher import RunsWatcher
from tests.conftest import PROJECT_ROOT
from tests.reliability.conftest import cli, one_line_error
from tests.runtime.conftest import WriteConfig, all_final, statuses, wait_for


def _enqueue(runs_dir: Path, cfg: Path, n: int = 1, **kw: object) -> list[str]:
    return [queue.create_run(runs_dir, p, **kw) for p in expand_study(cfg) * n]  # type: ignore[arg-type]


def _tree(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every file and folder under ``path``: relative path → (mode, bytes; b"" for a folder)."""
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(path))] = (st.st_mode, b"" if p.is_dir() else p.read_bytes())
    return out


def _done_runs(runs_dir: Path, write_config: WriteConfig, n: int, name: str = "old") -> list[str]:
    ids = _enqueue(runs_dir, write_config(name, epochs=2, batches=3), n)
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=90), statuses(runs_dir)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=30)
    return ids


def test_rm_while_a_scheduler_runs_and_two_tuis_watch_loses_nothing_else(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    """Two real ``hw2-tui`` processes (in pseudo-terminals) and two bare watchers (what the TUIs
    poll with, here with and without the summary cache, so what they saw can be checked) watch
    while the scheduler runs three runs and ``rm`` moves two finished ones away."""
    from bench.bench_tui import drain, hw2_tui_cmd, spawn_in_pty, stop_pty_app, tui_env

    old = _done_runs(runs_dir, write_config, 3)
    gone, kept = sorted(old[:2]), old[2]
    before = {rid: _tree(runs_dir / rid) for rid in old}
    watchers = [RunsWatcher(runs_dir, rescan_interval=0.5), RunsWatcher(runs_dir, use_cache=False)]
    removed: list[list[str]] = [[], []]
    stop = threading.Event()
    tuis = [spawn_in_pty(hw2_tui_cmd(runs_dir), 100, 30, tui_env(runs_dir)) for _ in range(2)]
    screens = [b"", b""]

    def watch(i: int) -> None:
        while not stop.is_set():
            removed[i] += [u.run_id for u in watchers[i].poll() if u.removed]
            time.sleep(0.05)

    def read_tui(i: int) -> None:  # keep the pseudo-terminal drained, as a terminal would
        while not stop.is_set() and tuis[i][0].poll() is None:
            screens[i] += drain(tuis[i][1], timeout=0.2)[0]

    for w in watchers:
        w.poll()
    threads = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
    threads += [threading.Thread(target=read_tui, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        assert wait_for(lambda: all(b"old" in s for s in screens), timeout=60), "both TUIs show the runs"
        new = _enqueue(runs_dir, write_config("new", epochs=3, batches=30), 3)
        daemon.ensure_scheduler(runs_dir)
        assert wait_for(lambda: any(s == "running" for s in statuses(runs_dir).values()), timeout=60)
        proc = cli("rm", *gone, "--yes")
        assert proc.returncode == 0, proc.stderr
        assert [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("moved 20")] == gone
        assert wait_for(lambda: all_final(runs_dir), timeout=120), statuses(runs_dir)
        assert wait_for(lambda: all(sorted(r) == gone for r in removed), timeout=10), removed
        alive = [proc.poll() is None for proc, _ in tuis]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        for proc, master in tuis:
            stop_pty_app(proc, master)
    assert alive == [True, True], [s[-2000:] for s in screens]  # neither TUI fell over meanwhile
    assert [proc.returncode for proc, _ in tuis] == [0, 0]  # and each quit cleanly on q
    assert removed == [gone, gone]  # each watcher saw exactly the removed runs go, once
    assert set(statuses(runs_dir)) == {kept, *new}
    assert all(s == "done" for s in statuses(runs_dir).values())
    for rid in new:  # the runs the scheduler ran meanwhile: every epoch line, a result
        lines = (runs_dir / rid / contract.METRICS_FILE).read_text().splitlines()
        assert sum('"type":"epoch"' in ln for ln in lines) == 3
        assert (runs_dir / rid / contract.RESULT_FILE).is_file()
    assert _tree(runs_dir / kept) == before[kept]
    for rid in gone:
        assert _tree(runs_dir / ".trash" / rid) == before[rid]
    for w in watchers:
        assert set(w.run_ids()) == {kept, *new}


def test_restore_gives_a_byte_identical_folder(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid] = _done_runs(runs_dir, write_config, 1)
    before = _tree(runs_dir / rid)
    proc = cli("rm", rid[-4:], "--yes")
    assert proc.returncode == 0, proc.stderr
    assert not (runs_dir / rid).exists() and (runs_dir / ".trash" / rid).is_dir()
    proc = cli("restore", rid[-4:])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"restored {rid}")
    assert _tree(runs_dir / rid) == before
    assert [s.run_id for s in list_runs(runs_dir)] == [rid]
    # restoring over an existing run is refused; the same id trashed twice gets its own name
    shutil.copytree(runs_dir / rid, runs_dir / ".trash" / rid)
    assert "already in" in one_line_error(cli("restore", rid))
    assert cli("rm", rid, "--yes").returncode == 0
    assert sorted(os.listdir(runs_dir / ".trash")) == [rid, f"{rid}~2"]
    assert "matches 2 trashed folders" in one_line_error(cli("restore", rid))
    assert cli("restore", f"{rid}~2").returncode == 0
    assert _tree(runs_dir / rid) == before


def test_a_watcher_tells_a_run_trashed_under_another_name_from_one_deleted(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    [rid] = _done_runs(runs_dir, write_config, 1)
    shutil.copytree(runs_dir / rid, runs_dir / ".trash" / rid)  # the id already in the trash
    w = RunsWatcher(runs_dir, rescan_interval=0)
    assert [u.run_id for u in w.poll()] == [rid]
    assert [r.trash_path.name for r in trash.remove(runs_dir, [runs_dir / rid]).removed] == [f"{rid}~2"]
    [gone] = w.poll()
    assert gone.removed and gone.trashed  # a UI drops it, rather than showing it "deleted"
    trash.restore(runs_dir, f"{rid}~2")
    assert [u.run_id for u in w.poll()] == [rid]
    shutil.rmtree(runs_dir / ".trash")  # emptied, then the run deleted by hand: not in the trash
    shutil.rmtree(runs_dir / rid)
    [gone] = w.poll()
    assert gone.removed and not gone.trashed


def test_a_running_or_queued_run_is_refused(runs_dir: Path, write_config: WriteConfig) -> None:
    [running] = _enqueue(runs_dir, write_config("long", epochs=50, batches=20))
    [queued] = _enqueue(runs_dir, write_config("waiting", epochs=1))
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: statuses(runs_dir)[running] == "running", timeout=60)
    line = one_line_error(cli("rm", running, "--yes"))
    assert line == f"hw2-tui: error: {running} is running: stop it first with hw2-tui kill {running}"
    line = one_line_error(cli("rm", queued, "--yes"))
    assert line == f"hw2-tui: error: {queued} is queued: stop it first with hw2-tui kill {queued}"
    assert (runs_dir / running / contract.META_FILE).is_file() and not (runs_dir / ".trash").exists()
    # the same check under the lock, for a caller that skipped the CLI's
    done = trash.remove(runs_dir, [runs_dir / running])
    assert done.removed == [] and done.refused == [
        f"{running} is running: stop it first with hw2-tui kill {running}"
    ]
    assert cli("kill", running).returncode == 0
    assert cli("kill", queued).returncode == 0
    assert wait_for(lambda: all_final(runs_dir), timeout=60)
    assert wait_for(lambda: trash.refusal(contract.read_meta(runs_dir / running)) is None, timeout=30)  # type: ignore[arg-type]
    assert cli("rm", running, queued, "--yes").returncode == 0  # killed: may go
    assert statuses(runs_dir) == {}


def test_ls_export_and_the_cache_never_count_trashed_runs(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    ids = _done_runs(runs_dir, write_config, 2)
    list_runs(runs_dir)  # fills the summary cache
    assert cli("rm", ids[0], "--yes").returncode == 0
    cache = json.loads((runs_dir / ".summaries.json").read_text())
    assert ids[0] not in cache["runs"]  # the cache entry went with the run
    assert [r["run_id"] for r in json.loads(cli("ls", "--json").stdout)] == [ids[1]]
    assert [p.name for p in contract.list_run_dirs(runs_dir)] == [ids[1]]
    out = tmp_path / "export"
    assert cli("export", "--out", str(out)).returncode == 0
    results = (out / "results.csv").read_text()
    assert ids[1] in results and ids[0] not in results
    assert ids[0] not in (out / "metrics.csv").read_text()
    assert RunsWatcher(runs_dir).poll()[0].run_id == ids[1]


def test_confirmation_and_gc(runs_dir: Path, write_config: WriteConfig) -> None:
    ids = sorted(_done_runs(runs_dir, write_config, 2))
    # not a terminal and no --yes: refused, says how
    line = one_line_error(cli("rm", "--older-than", "0s"))
    assert "Move 2 runs (" in line and "add --yes" in line
    # a terminal answering no: nothing moves
    out = _in_a_terminal(["rm", "--older-than", "0s"], answer="n\n")
    assert "Move 2 runs (" in out and "nothing moved" in out
    assert sorted(statuses(runs_dir)) == ids
    out = _in_a_terminal(["rm", ids[0]], answer="y\n")
    assert f"moved {ids[0]}" in out and sorted(statuses(runs_dir)) == [ids[1]]
    # gc --dry-run deletes nothing; gc does
    size = trash.folder_size(runs_dir / ".trash")
    proc = cli("gc", "--dry-run")
    assert proc.returncode == 0 and "would free" in proc.stdout and ids[0] in proc.stdout
    assert trash.folder_size(runs_dir / ".trash") == size > 0
    proc = cli("gc", "--older-than", "1d")
    assert "freed 0 B (0 run(s))" in proc.stdout and (runs_dir / ".trash" / ids[0]).is_dir()
    proc = cli("gc")
    assert proc.returncode == 0 and f"deleted {ids[0]}" in proc.stdout
    assert os.listdir(runs_dir / ".trash") == []
    assert "no run matching" in one_line_error(cli("restore", ids[0]))
    assert "--older-than '3x'" in one_line_error(cli("rm", "--older-than", "3x"))
    assert "name the runs" in one_line_error(cli("rm"))


def _in_a_terminal(args: list[str], answer: str) -> str:
    """The CLI with a pseudo-terminal as stdin/stdout, answering its question; returns its output."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hw2.cli", *args],
        cwd=PROJECT_ROOT,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "250"},
    )
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 60
    sent = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not sent and b"[y/N]" in out:
            os.write(leader, answer.encode())
            sent = True
    proc.wait(timeout=60)
    os.close(leader)
    return out.decode(errors="replace")


def test_selectors_combine(runs_dir: Path, write_config: WriteConfig) -> None:
    cfg = write_config("sel", epochs=1)
    [smoke_old, smoke_new, plain, failed] = [
        *_enqueue(runs_dir, cfg, 2, smoke=True),
        *_enqueue(runs_dir, cfg),
        *_enqueue(runs_dir, cfg),
    ]
    now = time.time()
    contract.update_meta(runs_dir / smoke_old, status="done", created=now - 40 * 86400)
    contract.update_meta(runs_dir / smoke_new, status="done")
    contract.update_meta(runs_dir / plain, status="done", study="2.1 depth")
    contract.update_meta(runs_dir / failed, status="failed", study="2.1 depth")

    def pick(**kw: object) -> set[str]:
        return {p.name for p in trash.select(runs_dir, **kw)}  # type: ignore[arg-type]

    assert pick(smoke=True) == {smoke_old, smoke_new}
    assert pick(smoke=True, older_than_s=trash.parse_age("30d")) == {smoke_old}
    assert pick(failed=True) == {failed}
    assert pick(study="2.1 depth") == {plain, failed}
    assert pick(study="2.1 depth", failed=True) == {failed}
    assert trash.parse_age("2w") == 14 * 86400 and trash.parse_age("12h") == 43200
    with pytest.raises(trash.TrashError):
        trash.parse_age("30 days")


def test_rm_smoke_moves_a_thousand_smoke_runs(runs_dir: Path, write_config: WriteConfig) -> None:
    """All of them, and nothing else. How long it takes is a benchmark's figure, not a test's
    (bench/bench_scale.py: 1000 smoke runs among 10 000, target 5 s; 1.30 s on a 2-core Xeon)."""
    [rid] = _enqueue(runs_dir, write_config("smk", epochs=1), smoke=True)
    contract.update_meta(runs_dir / rid, status="done")
    (runs_dir / rid / contract.METRICS_FILE).write_text('{"type":"epoch","epoch":1}\n' * 5)
    for i in range(999):
        copy = f"{rid[:-4]}{i:04x}"
        shutil.copytree(runs_dir / rid, runs_dir / copy)
        meta = json.loads((runs_dir / copy / contract.META_FILE).read_text())
        (runs_dir / copy / contract.META_FILE).write_text(json.dumps({**meta, "run_id": copy}))
    proc = cli("rm", "--smoke", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "moved 1000 run(s)" in proc.stdout
    assert statuses(runs_dir) == {} and len(os.listdir(runs_dir / ".trash")) == 1000


def test_report_never_counts_trashed_runs(runs_dir: Path, tmp_path: Path) -> None:
    from tests.reliability.conftest import write_fake_config

    configs = tmp_path / "configs"
    write_fake_config(configs, "base", epochs=1, batches=2)
    study = configs / "study.yaml"
    study.write_text('study: "Trash study"\nbase: base.yaml\ngrid:\n  optimizer.lr: [0.1, 0.2]\n')
    ids = [queue.create_run(runs_dir, p) for p in expand_study(study)]
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=90), statuses(runs_dir)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=30)
    proc = cli("rm", "--study", str(study), "--older-than", "0s", "--yes")
    assert proc.returncode == 0 and "moved 2 run(s)" in proc.stdout, proc.stdout + proc.stderr
    assert cli("restore", ids[1]).returncode == 0
    out = tmp_path / "report"
    proc = cli("report", str(study), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    runs_csv = (out / "runs.csv").read_text()
    assert ids[1] in runs_csv and ids[0] not in runs_csv
