"""The sweep command's issue-10 options through the real CLI: --repeat, relaunching queues only
what has no done/queued/running twin, --smoke stops a broken study before anything real is
queued, and requeue --failed."""

from __future__ import annotations

from pathlib import Path

from hw2 import contract
from tests.runtime.conftest import WriteConfig, all_final, statuses, wait_for
from tests.runtime.test_cli import _study, cli


def test_repeat_then_relaunch_queues_nothing_twice(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("base", epochs=1, batches=2)
    study = _study(tmp_path, base, [{"name": "a"}, {"name": "b", "set": {"optimizer.lr": 0.1}}])
    first = cli("sweep", str(study), "--repeat", "2", "--detach", "--yes", runs_dir=runs_dir)
    assert first.returncode == 0, first.stderr
    ids = first.stdout.split()
    assert len(ids) == 4
    assert "none of 4 done or queued yet: queue 4" in first.stderr
    seeds = sorted(
        (m.extra.get("variant"), m.extra.get("seed"))
        for m in map(contract.read_meta, (runs_dir / i for i in ids))
    )
    assert seeds == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    again = cli("sweep", str(study), "--repeat", "2", "--detach", "--yes", runs_dir=runs_dir)
    assert again.returncode == 0 and again.stdout.split() == []
    assert "4 of 4 already done or queued: queue none" in again.stderr
    assert wait_for(lambda: all_final(runs_dir), timeout=90)
    forced = cli("sweep", str(study), "--detach", "--yes", "--force", runs_dir=runs_dir)
    assert len(forced.stdout.split()) == 2  # repeat 1 again: one seed per variant, queued despite twins


def test_smoke_stops_a_broken_study_before_queueing(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("base", epochs=3, batches=2)
    study = _study(tmp_path, base, [{"name": "good"}, {"name": "bad", "set": {"model.name": "fail"}}])
    proc = cli("sweep", str(study), "--smoke", "--yes", "--detach", runs_dir=runs_dir, timeout=240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("hw2-tui: smoke:")]
    assert len(lines) == 1 and f"{study}: variant bad: RuntimeError" in lines[0], proc.stderr
    assert "1 of 2 smoke run(s) failed; nothing queued" in proc.stderr
    metas = [contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)]
    assert len(metas) == 2 and all(m.extra.get("smoke") is True for m in metas), "only smoke runs exist"
    assert proc.stdout.split() == []
    # a failed smoke test keeps its runs (the evidence) and says so
    assert "smoke runs kept as evidence: 2" in proc.stderr
    assert not (runs_dir / contract.TRASH_DIR).exists()


def test_a_passed_smoke_test_moves_its_runs_to_the_trash_once_the_real_runs_are_queued(
    runs_dir: Path, write_config: WriteConfig, tmp_path: Path
) -> None:
    base = write_config("base", epochs=1, batches=2)
    study = _study(tmp_path, base, [{"name": "a"}, {"name": "b", "set": {"optimizer.lr": 0.1}}])
    proc = cli("sweep", str(study), "--smoke", "--yes", "--detach", runs_dir=runs_dir, timeout=240)
    assert proc.returncode == 0, proc.stderr
    queued = proc.stdout.split()
    assert len(queued) == 2
    assert "smoke test passed: 2 config(s)" in proc.stderr
    assert "smoke runs moved to the trash: 2 (" in proc.stderr, proc.stderr
    left = [contract.read_meta(d) for d in contract.list_run_dirs(runs_dir)]
    assert sorted(d.name for d in contract.list_run_dirs(runs_dir)) == sorted(queued)
    assert not any(m.extra.get("smoke") for m in left), "no smoke run is left beside the real ones"
    trashed = sorted((runs_dir / contract.TRASH_DIR).iterdir())
    assert len(trashed) == 2 and all(contract.read_meta(d).extra["smoke"] is True for d in trashed)
    assert all(contract.read_meta(d).status == "done" for d in trashed)
    assert wait_for(lambda: all_final(runs_dir), timeout=90)


def test_requeue_failed_of_a_study(runs_dir: Path, write_config: WriteConfig, tmp_path: Path) -> None:
    base = write_config("base", epochs=1, batches=2)
    study = _study(tmp_path, base, [{"name": "good"}, {"name": "bad", "set": {"model.name": "fail"}}])
    proc = cli("sweep", str(study), "--yes", "--detach", runs_dir=runs_dir)
    assert proc.returncode == 0
    assert wait_for(lambda: all_final(runs_dir), timeout=90)
    assert sorted(statuses(runs_dir).values()) == ["done", "failed"]
    req = cli("requeue", "--failed", str(study), runs_dir=runs_dir)
    assert req.returncode == 0, req.stderr
    assert (
        len(req.stdout.splitlines()) == 2 and "requeued 1 and resumed 0 failed or killed run(s)" in req.stdout
    )
    assert wait_for(lambda: all_final(runs_dir), timeout=90)
    again = cli("requeue", "--failed", runs_dir=runs_dir)
    # the new attempt failed too: requeued once more (one per identity), never twice at once
    assert again.returncode == 0 and "requeued 1 and resumed 0 failed or killed run(s)" in again.stdout
    assert cli("requeue", runs_dir=runs_dir).returncode == 2
