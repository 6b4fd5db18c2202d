"""Safe on a shared login node (issue 19, items 3, 4 and 9): other local users cannot freeze the
queue through its lock files, a symlinked folder in the runs dir is never a run, and no pid is
signalled on a stale start time or on another host's word."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hw2 import cli as hw2_cli
from hw2 import contract, daemon, launch, locks, queue
from hw2.config import expand_study
from hw2.runs.readers import list_runs
from hw2.runs.watcher import RunsWatcher
from hw2.scheduler import SCHEDULER_INFO, SCHEDULER_LOCK, Scheduler
from tests.reliability.conftest import cli
from tests.runtime.conftest import WriteConfig, statuses, wait_for


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _holder(path: Path) -> subprocess.Popen[str]:
    """Another process that takes the flock on ``path`` and keeps it (until killed)."""
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY)\n"  # flock needs no more than read access
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


# --------------------------------------------------------------------------- item 3: locks


def test_runs_dir_lock_and_state_files_are_private(tmp_path: Path, write_config: WriteConfig) -> None:
    """The runs dir the tool creates is 0700; its lock and state files are 0600 (umask 022 would
    give 0755 and 0644: readable by everyone, and flock needs only read access)."""
    runs_dir = tmp_path / "fresh" / "runs"
    old = os.umask(0o022)
    try:
        [planned] = expand_study(write_config("private"))
        queue._writable_runs_dir(runs_dir)
        with launch.queue_lock(runs_dir):
            queue.create_run(runs_dir, planned)
        assert not daemon.scheduler_lock_held(runs_dir)
        sched = Scheduler(runs_dir, idle_s=0.0)
        assert sched.acquire(tries_s=0.0)
        try:
            info_mode = _mode(runs_dir / SCHEDULER_INFO)
        finally:
            sched.release()
    finally:
        os.umask(old)
    assert _mode(runs_dir) == 0o700
    assert _mode(runs_dir.parent) == 0o755  # only the runs dir itself is the tool's to make private
    assert _mode(runs_dir / launch.QUEUE_LOCK) == 0o600
    assert _mode(runs_dir / SCHEDULER_LOCK) == 0o600
    assert info_mode == 0o600


@pytest.mark.parametrize("name", [launch.QUEUE_LOCK, SCHEDULER_LOCK])
def test_lock_files_are_never_opened_through_a_symlink(runs_dir: Path, tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim"
    (runs_dir / name).symlink_to(victim)
    with pytest.raises((launch.LaunchError, queue.QueueError)) as err:
        if name == launch.QUEUE_LOCK:
            with launch.queue_lock(runs_dir):
                pass
        else:
            daemon.scheduler_lock_held(runs_dir)
    message = str(err.value)
    assert "\n" not in message and name in message and "symbolic link" in message and "fix:" in message
    assert not victim.exists()  # nothing was created where the link points


def test_scheduler_log_is_never_opened_through_a_symlink(runs_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.log"
    (runs_dir / ".scheduler.log").symlink_to(victim)
    launch.spawn_detached(
        ["-c", "import sys; print('x', file=sys.stderr)"], log_path=runs_dir / ".scheduler.log"
    )
    time.sleep(0.5)
    assert not victim.exists()


def test_held_queue_lock_times_out_in_one_line_naming_the_holder(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    [planned] = expand_study(write_config("waits"))
    run_id = queue.create_run(runs_dir, planned)
    with launch.queue_lock(runs_dir):  # the tool's own lock file, then held by someone else
        pass
    holder = _holder(runs_dir / launch.QUEUE_LOCK)
    try:
        started = time.monotonic()
        try:
            proc = cli("--runs-dir", str(runs_dir), "kill", run_id, env={"HW2_QUEUE_LOCK_TIMEOUT_S": "1"})
        except subprocess.TimeoutExpired:
            pytest.fail("kill waited for the queue lock with no timeout")
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    [line] = proc.stderr.strip().splitlines()
    assert f"{runs_dir / launch.QUEUE_LOCK}: held by pid {holder.pid}" in line, line
    assert "HW2_QUEUE_LOCK_TIMEOUT_S" in line and "fix:" in line
    assert waited < 50
    assert statuses(runs_dir)[run_id] == "queued"


def test_queue_lock_timeout_defaults_to_a_generous_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HW2_QUEUE_LOCK_TIMEOUT_S", raising=False)
    assert launch.queue_lock_timeout() == 60.0
    monkeypatch.setenv("HW2_QUEUE_LOCK_TIMEOUT_S", "2.5")
    assert launch.queue_lock_timeout() == 2.5
    monkeypatch.setenv("HW2_QUEUE_LOCK_TIMEOUT_S", "soon")
    assert launch.queue_lock_timeout() == 60.0


def test_lock_holder_is_found(tmp_path: Path) -> None:
    path = tmp_path / "some.lock"
    assert locks.holder_pid(path) is None  # missing
    with locks.locked(path):
        assert locks.holder_pid(path) == os.getpid()
    assert locks.holder_pid(path) is None  # free
    holder = _holder(path)
    try:
        assert locks.holder_pid(path) == holder.pid
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- item 4: symlinks


def _symlinked_run(runs_dir: Path, tmp_path: Path, write_config: WriteConfig, name: str) -> Path:
    """A real queued run folder elsewhere, and a symlink to it inside ``runs_dir``."""
    elsewhere = tmp_path / "elsewhere"
    [planned] = expand_study(write_config(name))
    run_id = queue.create_run(elsewhere, planned)
    (runs_dir / run_id).symlink_to(elsewhere / run_id, target_is_directory=True)
    return elsewhere / run_id


def test_a_symlinked_run_folder_is_never_listed_or_launched(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    target = _symlinked_run(runs_dir, tmp_path, write_config, "linked")
    assert contract.list_run_dirs(runs_dir) == []
    assert queue.queued_run_dirs(runs_dir) == []
    assert list_runs(runs_dir, use_cache=False) == []
    index = RunsWatcher(runs_dir)
    assert [u for u in index.poll() if not u.removed] == []
    sched = Scheduler(runs_dir, idle_s=0.0)
    assert sched.acquire(tries_s=0.0)
    try:
        assert sched.launch_ready() == 0
    finally:
        sched.release()
    assert not (target / contract.LOG_FILE).exists()
    meta = contract.read_meta(target)
    assert meta is not None and meta.status == "queued"


def test_ls_says_once_that_symlinked_folders_are_skipped(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    one = _symlinked_run(runs_dir, tmp_path, write_config, "linked-one")
    two = _symlinked_run(runs_dir, tmp_path, write_config, "linked-two")
    [planned] = expand_study(write_config("real"))
    real = queue.create_run(runs_dir, planned)
    for args in (["ls"], ["ls", "--json"]):
        proc = cli("--runs-dir", str(runs_dir), *args)
        assert proc.returncode == 0, proc.stderr
        assert real in proc.stdout and one.name not in proc.stdout and two.name not in proc.stdout
        said = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "symlinked" in ln]
        assert len(said) == 1, proc.stdout + proc.stderr
        assert one.name in said[0] and two.name in said[0]


# --------------------------------------------------------------------------- item 9: pids


def test_foreground_ctrl_c_checks_the_start_time_recorded_at_launch(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At Ctrl-C the handler must compare the pid with the start time recorded at launch: read
    again then, it is whatever process holds the pid now (here: one started an hour later)."""
    cfg = write_config("fg-pid", epochs=40, batches=40)
    real = contract.process_create_time
    reused = threading.Event()
    monkeypatch.setattr(
        contract,
        "process_create_time",
        lambda pid: (real(pid) or 0.0) + 3600.0 if reused.is_set() else real(pid),
    )
    sent: list[tuple[int, float | None, int]] = []
    signal_group = launch.signal_group

    def record(pid: int, create_time: float | None, sig: int) -> bool:
        sent.append((pid, create_time, sig))
        return signal_group(pid, create_time, sig)

    monkeypatch.setattr(launch, "signal_group", record)

    def interrupt() -> None:
        def started() -> bool:
            dirs = contract.list_run_dirs(runs_dir)
            meta = contract.read_meta(dirs[0]) if dirs else None
            return meta is not None and meta.pid_create_time is not None

        if wait_for(started, 120):  # generous: on a loaded box a run can take long to start
            reused.set()
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    code = hw2_cli.main(["--runs-dir", str(runs_dir), "run", str(cfg)])
    [run_dir] = contract.list_run_dirs(runs_dir)
    meta = contract.read_meta(run_dir)
    assert meta is not None and meta.pid is not None
    assert sent and sent[0][:2] == (meta.pid, meta.pid_create_time), sent
    assert code == 130 and meta.status == "killed"


def test_stop_scheduler_refuses_a_pid_recorded_by_another_host(runs_dir: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    fd = locks.try_lock(runs_dir / SCHEDULER_LOCK)
    assert fd is not None
    try:
        contract.atomic_write_json(
            runs_dir / SCHEDULER_INFO,
            {
                "pid": sleeper.pid,
                "pid_create_time": contract.process_create_time(sleeper.pid),
                "host": "some-other-login-node",
            },
        )
        with pytest.raises(queue.QueueError) as err:
            daemon.stop_scheduler(runs_dir, timeout=0.5)
        message = str(err.value)
        assert "\n" not in message and "some-other-login-node" in message and SCHEDULER_INFO in message
        time.sleep(0.2)
        assert sleeper.poll() is None  # not signalled
    finally:
        locks.release(fd)
        sleeper.kill()
        sleeper.wait()
