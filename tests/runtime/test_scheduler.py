"""Queue + scheduler daemon with real subprocesses (the fake trainer on the real harness)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hw2 import contract, daemon, queue
from hw2.config import expand_study
from hw2.executors import local
from hw2.runs import liveness
from hw2.scheduler import admit_on_gpu, visible_gpu_ids
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import WriteConfig, all_final, statuses, wait_for


def _enqueue(runs_dir: Path, cfg: Path, n: int = 1) -> list[str]:
    planned = expand_study(cfg)
    return [queue.create_run(runs_dir, p) for p in planned * n]


def _meta(runs_dir: Path, run_id: str) -> contract.RunMeta:
    meta = contract.read_meta(runs_dir / run_id)
    assert meta is not None
    return meta


def _launch_count(run_dir: Path) -> int:
    try:
        return (run_dir / contract.LOG_FILE).read_text().count("--- hw2: launching")
    except FileNotFoundError:
        return 0


def test_enqueue_writes_config_and_queued_meta(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid] = _enqueue(runs_dir, write_config("exp-a", epochs=4))
    d = runs_dir / rid
    meta = _meta(runs_dir, rid)
    assert meta.status == "queued" and meta.trainer == "fake" and meta.epochs == 4 and meta.name == "exp-a"
    assert meta.extra["trainer_module"] == "tests.fake_trainer"
    cfg = yaml.safe_load((d / contract.CONFIG_FILE).read_text())
    assert cfg["train"]["epochs"] == 4 and cfg["trainer"] == "fake"
    assert not (d / contract.METRICS_FILE).exists()


@pytest.mark.parametrize("name", ["../../escape", "/etc/passwd", "..", "a/../../b"])
def test_hostile_names_never_leave_the_runs_dir(runs_dir: Path, write_config: WriteConfig, name: str) -> None:
    cfg = write_config("plain")
    planned = expand_study(cfg)[0]
    planned.name = name
    planned.cfg.name = name
    rid = queue.create_run(runs_dir, planned)
    d = (runs_dir / rid).resolve()
    assert d.parent == runs_dir.resolve()
    assert (d / contract.META_FILE).is_file()
    assert sorted(p.name for p in runs_dir.parent.iterdir()) == sorted(
        p.name for p in runs_dir.parent.iterdir() if p.name in {"runs", "configs"}
    )


def test_scheduler_drains_queue_never_exceeding_slots(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_CPU_SLOTS", "2")
    ids = _enqueue(runs_dir, write_config("drain", epochs=2, batches=20), n=5)
    daemon.ensure_scheduler(runs_dir)
    max_running = 0
    seen_running: set[str] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        st = statuses(runs_dir)
        running = [r for r, s in st.items() if s == "running"]
        seen_running |= set(running)
        max_running = max(max_running, len(running))
        if all(s in contract.FINAL_STATUSES for s in st.values()):
            break
        time.sleep(0.02)
    st = statuses(runs_dir)
    assert st == {rid: "done" for rid in ids}
    assert max_running == 2, "two slots were never both used (or more were used)"
    assert seen_running == set(ids)
    for rid in ids:
        assert _launch_count(runs_dir / rid) == 1
        assert (runs_dir / rid / contract.RESULT_FILE).is_file()
        assert _meta(runs_dir, rid).cuda_visible_devices == ""  # CPU slot hides GPUs
    # oldest first: the scheduler launched them in queue order
    log = (runs_dir / daemon.SCHEDULER_LOG).read_text().splitlines()
    launched = [line.split(": started pid")[0].split()[-1] for line in log if ": started pid" in line]
    assert launched == ids
    # the daemon exits by itself once the queue is empty
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=10)


def test_kill_queued_run_is_immediate(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid] = _enqueue(runs_dir, write_config("to-kill"))
    [after] = _enqueue(runs_dir, write_config("after-kill", epochs=1))
    assert local.kill_run(runs_dir, rid) is True
    meta = _meta(runs_dir, rid)  # killed at once, in meta, before any scheduler exists
    assert meta.status == "killed" and meta.error == "killed while queued" and meta.ended
    assert local.kill_run(runs_dir, rid) is False  # already final
    # The scheduler drains the queue: it launches the run queued after the killed one (which was
    # older, so it would have gone first) and never the killed one.
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=60)
    assert _meta(runs_dir, after).status == "done"
    log = (runs_dir / daemon.SCHEDULER_LOG).read_text()
    assert [
        line.split(": started pid")[0].split()[-1] for line in log.splitlines() if ": started pid" in line
    ] == [after], log
    assert _launch_count(runs_dir / rid) == 0
    assert _meta(runs_dir, rid).status == "killed"


def test_kill_running_run_records_killed(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid] = _enqueue(runs_dir, write_config("long", epochs=50, batches=20))
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: (runs_dir / rid / contract.METRICS_FILE).exists() and _meta(runs_dir, rid).pid)
    pid = _meta(runs_dir, rid).pid
    assert local.kill_run(runs_dir, rid) is True
    assert wait_for(lambda: _meta(runs_dir, rid).status == "killed", timeout=30)
    meta = _meta(runs_dir, rid)
    assert (meta.exit_code, meta.error) == (143, "stopped by SIGTERM"), meta.to_dict()
    assert wait_for(lambda: not contract.pid_alive(pid), timeout=10)


def test_kill_is_recorded_when_the_framework_turns_it_into_its_own_error(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    # TensorFlow, stopped while it traces a function, raises a TypeError instead of our RunKilled
    # (seen in CI); the signal, not the exception that surfaced, says what happened.
    [rid] = _enqueue(runs_dir, write_config("converts", epochs=50, batches=20, model="convert"))
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: (runs_dir / rid / contract.METRICS_FILE).exists() and _meta(runs_dir, rid).pid)
    assert local.kill_run(runs_dir, rid) is True
    assert wait_for(lambda: _meta(runs_dir, rid).status == "killed", timeout=30), _meta(
        runs_dir, rid
    ).to_dict()
    meta = _meta(runs_dir, rid)
    assert (meta.exit_code, meta.error) == (143, "stopped by SIGTERM"), meta.to_dict()
    assert "surfaced from the framework as TypeError" in (runs_dir / rid / contract.LOG_FILE).read_text()


def test_kill_escalates_to_sigkill_when_sigterm_is_ignored(runs_dir: Path, write_config: WriteConfig) -> None:
    # A process that ignores SIGTERM, recorded as a running run (as a wedged trainer would be).
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        [rid] = _enqueue(runs_dir, write_config("wedged"))
        contract.update_meta(
            runs_dir / rid,
            status="running",
            pid=proc.pid,
            pid_create_time=contract.process_create_time(proc.pid),
        )
        t0 = time.monotonic()
        assert local.kill_run(runs_dir, rid, grace=1.0) is True
        rc = proc.wait(timeout=20)
        assert rc == -signal.SIGKILL
        assert time.monotonic() - t0 >= 0.9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_trainer_sigkill_is_recorded_by_the_reaper(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid] = _enqueue(runs_dir, write_config("crash", model="sigkill"))
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=30)
    meta = _meta(runs_dir, rid)
    assert meta.status == "killed"
    assert meta.error == "killed by SIGKILL"
    assert meta.exit_code == -9


def test_trainer_exception_fails_with_traceback_in_log(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_FAIL_AT_EPOCH", "2")
    [rid] = _enqueue(runs_dir, write_config("boom", epochs=3))
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=30)
    meta = _meta(runs_dir, rid)
    assert meta.status == "failed" and meta.exit_code == 1
    assert meta.error == "RuntimeError: fake failure at epoch 2"
    log = (runs_dir / rid / contract.LOG_FILE).read_text()
    assert "Traceback (most recent call last)" in log and "fake failure at epoch 2" in log
    lines = list(contract.iter_metrics(runs_dir / rid / contract.METRICS_FILE))
    assert [x["epoch"] for x in lines if x["type"] == "epoch"] == [1]


def test_concurrent_ensure_scheduler_starts_one_daemon(runs_dir: Path, write_config: WriteConfig) -> None:
    ids = _enqueue(runs_dir, write_config("race", epochs=1, batches=5), n=3)
    code = "import sys; from hw2 import daemon; daemon.ensure_scheduler(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(runs_dir)], cwd=PROJECT_ROOT) for _ in range(4)
    ]
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert wait_for(lambda: all_final(runs_dir), timeout=60)
    assert statuses(runs_dir) == {rid: "done" for rid in ids}
    for rid in ids:
        assert _launch_count(runs_dir / rid) == 1
    log = (runs_dir / daemon.SCHEDULER_LOG).read_text()
    started = [line for line in log.splitlines() if ": started pid" in line]
    assert len(started) == 3
    # one daemon held the lock while the runs were launched: a loser that starts very late (a
    # loaded box) may only take the lock after the winner exits, and then finds nothing to do
    lines = log.splitlines()
    last_start = max(i for i, line in enumerate(lines) if ": started pid" in line)
    assert sum("scheduler pid" in line for line in lines[:last_start]) == 1, log
    assert len({line.split("scheduler[")[1].split("]")[0] for line in started}) == 1, log


def test_scheduler_reconciles_runs_that_died_unwatched(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid] = _enqueue(runs_dir, write_config("ghost"))
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    ctime = contract.process_create_time(proc.pid)
    proc.wait()
    contract.update_meta(runs_dir / rid, status="running", pid=proc.pid, pid_create_time=ctime)
    [rid2] = _enqueue(runs_dir, write_config("after-ghost", epochs=1))
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: all_final(runs_dir), timeout=30)
    meta = _meta(runs_dir, rid)
    assert meta.status == "failed" and meta.error == "process died without finishing (exit code unknown)"
    assert _meta(runs_dir, rid2).status == "done"


def test_requeue_copies_config(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid] = _enqueue(runs_dir, write_config("again", epochs=3))
    local.kill_run(runs_dir, rid)
    new = queue.requeue(runs_dir, rid)
    assert new != rid
    meta = _meta(runs_dir, new)
    assert meta.status == "queued" and meta.extra["requeued_from"] == rid and meta.attempt == 2
    assert (runs_dir / new / contract.CONFIG_FILE).read_text() == (
        runs_dir / rid / contract.CONFIG_FILE
    ).read_text()
    with pytest.raises(queue.QueueError, match="no run"):
        queue.requeue(runs_dir, "20990101-000000-nope-0000")
    with pytest.raises(queue.QueueError, match="unsafe run id"):
        local.kill_run(runs_dir, "../etc")


def test_unwritable_runs_dir_is_a_clear_error(tmp_path: Path, write_config: WriteConfig) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    planned = expand_study(write_config("nowhere"))[0]
    with pytest.raises(queue.QueueError, match="cannot create runs dir"):
        queue.create_run(blocker / "runs", planned)
    if os.geteuid() != 0:  # root ignores directory permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            with pytest.raises(queue.QueueError, match="not writable"):
                queue.create_run(ro, planned)
        finally:
            ro.chmod(0o755)


def test_memory_admission_rule() -> None:
    # empty GPU always admits, even an unmeasured run
    assert admit_on_gpu(1000, [], None, 1024)
    # an unmeasured newcomer never shares
    assert not admit_on_gpu(80_000, [(2000.0, 2000.0)], None, 1024)
    # 80 GB free, one run at its 2 GB peak, newcomer needs 2 GB + 1 GB margin: fits
    assert admit_on_gpu(80_000, [(2000.0, 2000.0)], 2000.0, 1024)
    # the occupant has only used 500 MB of its 20 GB peak so far: its growth is reserved
    assert not admit_on_gpu(21_000, [(20_000.0, 500.0)], 1000.0, 1024)
    assert admit_on_gpu(22_000, [(20_000.0, 19_000.0)], 1000.0, 1024)
    # an occupant of unknown size blocks sharing
    assert not admit_on_gpu(80_000, [(None, 100.0)], 10.0, 0)


def test_visible_gpu_ids() -> None:
    assert visible_gpu_ids(4, None) == [0, 1, 2, 3]
    assert visible_gpu_ids(4, "") == []
    assert visible_gpu_ids(4, "2,0,2,9") == [2, 0]
    assert visible_gpu_ids(2, "GPU-abc") == [0, 1]
    assert visible_gpu_ids(0, None) == []


def test_pick_gpu_packs_by_measured_peak(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler's GPU choice on a 2-GPU box, with NVML's answers fixed (no GPU here)."""
    from hw2 import gpu as gpu_mod
    from hw2.scheduler import Occupant, Scheduler, memory_key_of

    monkeypatch.setenv("HW2_SLOTS_PER_GPU", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(gpu_mod, "gpu_count", lambda: 2)
    free = {0: 10_000.0, 1: 3_000.0}
    monkeypatch.setattr(
        gpu_mod,
        "gpu_stats",
        lambda: [gpu_mod.GpuStat(i, "fake", 0.0, 80_000 - f, 80_000, f) for i, f in free.items()],
    )
    monkeypatch.setattr(gpu_mod, "gpu_processes", lambda i: {100 + i: 4_000.0})
    sched = Scheduler(runs_dir)
    assert (sched.gpu_ids, sched.total_slots, sched.mem_aware) == ([0, 1], 4, True)

    # expected peak: the largest measured value over earlier runs with the same memory key
    [a, b] = _enqueue(runs_dir, write_config("measured"), n=2)
    key = _meta(runs_dir, a).extra["memory_key"]
    assert key == _meta(runs_dir, b).extra["memory_key"]
    assert sched.expected_peak(key) is None
    contract.write_result(
        runs_dir / a,
        {
            "test_loss": 1,
            "test_acc": 0.5,
            "best_epoch": 1,
            "best_val_acc": 0.5,
            "total_seconds": 1,
            "params": 1,
            "peak_mem_mb": 3000.0,
        },
    )
    contract.update_meta(runs_dir / b, gpu_mem_peak_mb=4000.0)
    assert sched.expected_peak(key) == 4000.0
    # a run queued before memory keys existed shares peaks by its config hash
    [old] = _enqueue(runs_dir, write_config("from-before"))
    contract.update_meta(runs_dir / old, memory_key=None, gpu_mem_peak_mb=2500.0)
    old_key = memory_key_of(_meta(runs_dir, old))
    assert old_key == "config:" + _meta(runs_dir, old).extra["config_hash"]
    assert sched.expected_peak(old_key) == 2500.0 and sched.expected_peak(key) == 4000.0

    # empty GPUs first (fewest occupants), whatever the newcomer's size
    assert sched.pick_gpu([], None) == 0
    assert sched.pick_gpu([Occupant(100, 0, 4000.0)], None) == 1
    # both GPUs busy: an unmeasured run waits; a 4 GB run fits beside the one on GPU 0
    # (10 GB free, occupant at its peak, 1 GB margin) but not on GPU 1 (3 GB free)
    busy = [Occupant(100, 0, 4000.0), Occupant(101, 1, 4000.0)]
    assert sched.pick_gpu(busy, None) is None
    assert sched.pick_gpu(busy, 4000.0) == 0
    assert sched.pick_gpu(busy, 9500.0) is None
    # the occupant of GPU 0 is expected to grow to 8 GB (uses 4 GB now): 10 - 4 - 1 < 6
    assert sched.pick_gpu([Occupant(100, 0, 8000.0), Occupant(101, 1, 4000.0)], 6000.0) is None
    # slot limit: two runs on each GPU is full
    full = busy + [Occupant(None, 0, 1.0), Occupant(None, 1, 1.0)]
    assert sched.pick_gpu(full, 1.0) is None


def test_a_live_launcher_reaps_its_run_and_nobody_guesses(runs_dir: Path, write_config: WriteConfig) -> None:
    """A scheduler may see a foreground run's pid vanish before the CLI (its launcher) reaps it and
    learns the exit code. While the launcher lives, nobody else writes the run's end (no generic
    "died" guess to undo later); the launcher records the real exit."""
    from hw2 import launch
    from hw2.runs import lifecycle

    [rid] = _enqueue(runs_dir, write_config("fg-race"))
    path = runs_dir / rid
    lifecycle.mark_running(path, launched_by="test")  # this test process is the launcher
    proc = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    lifecycle.record_pid(path, proc.pid)
    ctime = _meta(runs_dir, rid).pid_create_time
    assert wait_for(lambda: not contract.pid_alive(proc.pid, ctime))  # a zombie until we wait
    assert not launch.mark_dead_run(path)  # what a scheduler does: its launcher is alive, so no guess
    assert _meta(runs_dir, rid).status == "running" and _meta(runs_dir, rid).error is None
    assert launch.finalize_exit(path, proc.wait()) == "killed"
    meta = _meta(runs_dir, rid)
    assert (meta.status, meta.error, meta.exit_code) == ("killed", "killed by SIGKILL", -9)
    assert launch.finalize_exit(path, 1) == "killed"  # a final status is never overwritten
    assert (_meta(runs_dir, rid).exit_code, _meta(runs_dir, rid).error) == (-9, "killed by SIGKILL")


def test_a_run_whose_launcher_is_gone_is_marked_by_whoever_finds_it(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    from hw2 import launch
    from hw2.runs import lifecycle

    [rid] = _enqueue(runs_dir, write_config("orphan"))
    path = runs_dir / rid
    dead = []
    for _ in range(2):  # a launcher and its trainer, both exited
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.append((proc.pid, contract.process_create_time(proc.pid)))
        proc.wait()
    (launcher, launcher_ctime), (trainer, trainer_ctime) = dead
    lifecycle.mark_running(path, launched_by="test")
    # no pid yet: alive while its launcher (this process) is
    assert liveness.effective_status(_meta(runs_dir, rid)) == "running"
    assert not launch.mark_dead_run(path)
    # the launcher (a `hw2-tui run` killed with SIGKILL, say) and then its trainer are gone
    lifecycle.record_pid(path, trainer)
    contract.update_meta(
        path, pid_create_time=trainer_ctime, launcher_pid=launcher, launcher_pid_create_time=launcher_ctime
    )
    assert liveness.effective_status(_meta(runs_dir, rid)) == "failed"
    assert launch.mark_dead_run(path)
    meta = _meta(runs_dir, rid)
    assert (meta.status, meta.error, meta.exit_code) == ("failed", launch.DIED_ERROR, None)
    assert not launch.mark_dead_run(path)  # final: nothing more to write
    # a run done by its harness is never touched by the reaper, whatever exit it reports
    [done] = _enqueue(runs_dir, write_config("done-by-harness"))
    lifecycle.mark_running(runs_dir / done, launched_by="test")
    lifecycle.finish(runs_dir / done, "done", 0, None)
    assert launch.finalize_exit(runs_dir / done, 1) == "done"
    assert (_meta(runs_dir, done).status, _meta(runs_dir, done).exit_code) == ("done", 0)
