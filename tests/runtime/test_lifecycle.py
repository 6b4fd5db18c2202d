"""The run lifecycle (hw2/runs/lifecycle.py): each transition from the right state only, locked meta
updates that lose no field, the harness adding fields without clobbering anyone's, and the
memory key GPU packing shares peaks by."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hw2 import contract, daemon, launch, queue, run_keys
from hw2.config import expand_study
from hw2.runs import lifecycle, liveness
from hw2.runs.lifecycle import TransitionError
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import WriteConfig, wait_for


def _meta(path: Path) -> contract.RunMeta:
    meta = contract.read_meta(path)
    assert meta is not None
    return meta


def _queued(runs_dir: Path, write_config: WriteConfig, name: str = "exp", **kw: object) -> Path:
    [planned] = expand_study(write_config(name, **kw))
    return runs_dir / queue.create_run(runs_dir, planned)


# ------------------------------------------------------------------------------ transitions


def test_each_transition_refuses_the_wrong_source_state(runs_dir: Path, write_config: WriteConfig) -> None:
    run = _queued(runs_dir, write_config)
    before = (run / contract.META_FILE).read_bytes()
    with pytest.raises(TransitionError, match="already holds a run"):
        lifecycle.create(run, contract.RunMeta(run_id=run.name, name="again"))
    with pytest.raises(TransitionError, match="cannot record the pid of a run that is queued"):
        lifecycle.record_pid(run, os.getpid())
    with pytest.raises(TransitionError, match="cannot finish a run that is queued"):
        lifecycle.finish(run, "done", 0, None)
    assert (run / contract.META_FILE).read_bytes() == before  # refused: nothing written

    lifecycle.mark_running(run, launched_by="test", gpu=None)
    with pytest.raises(TransitionError, match="cannot start a run that is running"):
        lifecycle.mark_running(run, launched_by="test")
    assert lifecycle.cancel_queued(run) is False  # a running run is killed by signal, not cancelled
    with pytest.raises(TransitionError, match="not a final status"):
        lifecycle.finish(run, "queued", 0, None)
    with pytest.raises(TransitionError, match="status"):
        lifecycle.add_fields(run, status="done")  # the harness only adds fields
    with pytest.raises(TransitionError, match="pid"):
        lifecycle.add_fields(run, pid=1)
    lifecycle.record_pid(run, os.getpid())
    lifecycle.finish(run, "done", 0, None)
    meta = _meta(run)
    assert (meta.status, meta.exit_code, meta.pid) == ("done", 0, os.getpid())

    # a final run changes no more
    with pytest.raises(TransitionError, match="cannot finish a run that is done"):
        lifecycle.finish(run, "failed", 1, "late")
    with pytest.raises(TransitionError, match="cannot start a run that is done"):
        lifecycle.mark_running(run, launched_by="test")
    assert lifecycle.fail_launch(run, "late") is False
    assert lifecycle.cancel_queued(run) is False
    assert lifecycle.mark_vanished(run) is False
    assert lifecycle.reap_exit(run, -9).status == "done"  # type: ignore[union-attr]
    meta = _meta(run)
    assert (meta.status, meta.exit_code, meta.error) == ("done", 0, None)
    lifecycle.add_fields(run, gpu_mem_peak_mb=12.5)  # fields outside the lifecycle: any time
    assert _meta(run).extra["gpu_mem_peak_mb"] == 12.5


def test_cancel_and_launch_of_a_queued_run_exclude_each_other(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    run = _queued(runs_dir, write_config)
    assert lifecycle.cancel_queued(run) is True
    assert (_meta(run).status, _meta(run).error) == ("killed", lifecycle.KILLED_QUEUED_ERROR)
    with pytest.raises(launch.LaunchError, match="cannot start a run that is killed"):
        launch.start_trainer(run, _meta(run), cuda_visible_devices="")
    assert not (run / contract.LOG_FILE).exists()  # nothing was started


def test_concurrent_meta_updates_lose_no_field(runs_dir: Path, write_config: WriteConfig) -> None:
    run = _queued(runs_dir, write_config)
    n = 150
    code = (
        "import sys\n"
        "from hw2.runs import lifecycle\n"
        "run, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "for i in range(n):\n"
        "    lifecycle.add_fields(run, **{f'{tag}{i}': i})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(run), tag, str(n)], cwd=PROJECT_ROOT)
        for tag in ("a", "b", "c")
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0
    extra = _meta(run).extra
    for tag in ("a", "b", "c"):
        missing = [i for i in range(n) if extra.get(f"{tag}{i}") != i]
        assert not missing, f"{len(missing)} of {tag}'s fields were lost"
    assert _meta(run).status == "queued"  # and the meta around them is intact
    assert sorted(p.name for p in run.iterdir()) == [contract.CONFIG_FILE, contract.META_FILE]


# ------------------------------------------------------------------------------ the harness


def test_the_harness_adds_fields_and_clobbers_none(runs_dir: Path, write_config: WriteConfig) -> None:
    """Fields the queue, the launcher and a bystander write survive the harness's start and end."""
    run = _queued(runs_dir, write_config, "slow-one", epochs=2, batches=20, model="slow")
    queued = _meta(run).to_dict()
    with launch.queue_lock(runs_dir):
        proc = launch.start_trainer(run, _meta(run), cuda_visible_devices="", gpu=None, launched_by="test")
    launched = _meta(run).to_dict()
    lifecycle.add_fields(run, while_starting="kept")  # e.g. the scheduler, as the harness starts
    assert wait_for(lambda: (run / contract.METRICS_FILE).exists() and _meta(run).device == "cpu")
    lifecycle.add_fields(run, while_training="kept")
    assert proc.wait(timeout=60) == 0
    assert launch.finalize_exit(run, 0) == "done"
    meta = _meta(run).to_dict()
    for key in ("run_id", "name", "created", "trainer", "epochs", "memory_key", "config_hash", "overrides"):
        assert meta[key] == queued[key], key  # the queue's
    for key in ("started", "host", "pid", "pid_create_time", "launcher_pid", "launched_by", "trainer_module"):
        assert meta[key] == launched[key], key  # the launcher's: the harness never rewrites them
    assert meta["pid"] == proc.pid
    assert meta["while_starting"] == meta["while_training"] == "kept"
    # the harness's own: what only the trainer process knows, and its end
    assert meta["cuda_visible_devices"] == "" and meta["device"] == "cpu"
    assert meta["versions"]["python"] == sys.version.split()[0]
    assert (meta["status"], meta["exit_code"], meta["error"]) == ("done", 0, None)
    assert meta["ended"] >= meta["started"]


def test_a_trainer_run_by_hand_is_its_own_queue_and_launcher(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    cfg = write_config("by-hand", epochs=1)
    run = tmp_path / "runs" / "by-hand"
    cmd = [sys.executable, "-m", "tests.fake_trainer", "--config", str(cfg), "--run-dir", str(run)]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    meta = _meta(run)
    assert (meta.status, meta.exit_code, meta.name, meta.trainer, meta.epochs) == (
        "done",
        0,
        "by-hand",
        "fake",
        1,
    )
    assert meta.extra["launched_by"] == "hand" and meta.pid == meta.extra["launcher_pid"]
    assert yaml.safe_load((run / contract.CONFIG_FILE).read_text())["name"] == "by-hand"
    # a finished run never restarts: a second run into the same folder is refused, meta untouched
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    again = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert "holds a done run" in again.stderr and "--run-dir" in again.stderr, again.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # meta, log, metrics untouched
    # a bad config run by hand is a failed run of its own, with the one-line error (exit 2)
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: fake\nmodel: {name: x}\ntrain: {epochs: 0}\n")
    other = tmp_path / "runs" / "bad"
    cmd = [sys.executable, "-m", "tests.fake_trainer", "--config", str(bad), "--run-dir", str(other)]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    meta = _meta(other)
    assert (meta.status, meta.exit_code) == ("failed", 2) and "epochs" in (meta.error or ""), meta.to_dict()
    assert meta.error in (other / contract.LOG_FILE).read_text()


# ------------------------------------------------------------------------------ memory key


def _study(tmp_path: Path, write_config: WriteConfig, name: str, **study: object) -> Path:
    base = write_config(f"{name}-base", epochs=3, batches=4)
    path = tmp_path / "configs" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"study": name, "base": base.name, **study}, sort_keys=False))
    return path


def test_runs_differing_only_in_seed_or_lr_share_a_memory_key(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    study = _study(
        tmp_path,
        write_config,
        "lr-study",
        variants=[
            {"name": "slow", "set": {"optimizer.lr": 0.001}},
            {"name": "fast", "set": {"optimizer.lr": 0.1, "train.epochs": 9}},
        ],
        repeat=2,
    )
    planned = expand_study(study)
    assert len(planned) == 4 and len({(p.cfg.optimizer.lr, p.cfg.seed) for p in planned}) == 4
    ids = [queue.create_run(runs_dir, p) for p in planned]
    metas = [_meta(runs_dir / rid) for rid in ids]
    assert len({m.extra["memory_key"] for m in metas}) == 1  # seed, lr, epochs: one measured peak
    assert len({m.extra["config_hash"] for m in metas}) == 4  # while each computes something else
    # a study run's meta names its variant, seed and study file; a requeue keeps them
    assert sorted((m.extra["variant"], m.extra["seed"]) for m in metas) == [
        ("fast", 0),
        ("fast", 1),
        ("slow", 0),
        ("slow", 1),
    ]
    assert {m.extra["study_file"] for m in metas} == {str(study)}
    again = _meta(runs_dir / queue.requeue(runs_dir, ids[0]))
    for key in ("variant", "seed", "study_file", "memory_key"):
        assert again.extra[key] == metas[0].extra[key], key


@pytest.mark.parametrize(
    "changes",
    [
        {"train.batch_size": 64},
        {"model.name": "other"},
        {"optimizer.name": "adam"},
        {"perf.amp": True},
        {"data.subset": 500},
    ],
)
def test_runs_differing_in_what_takes_memory_do_not_share_a_memory_key(
    tmp_path: Path, write_config: WriteConfig, changes: dict[str, object]
) -> None:
    study = _study(
        tmp_path,
        write_config,
        "mem-study",
        variants=[{"name": "a", "set": {"seed": 3, "optimizer.lr": 0.5}}, {"name": "b", "set": changes}],
    )
    a, b = expand_study(study)
    assert run_keys.memory_key(a.cfg) != run_keys.memory_key(b.cfg)
    # dropout counts as on/off only, regularisation strengths not at all
    c = a.cfg.model_copy(deep=True)
    c.model.l2 = 0.01
    assert run_keys.memory_key(c) == run_keys.memory_key(a.cfg)
    c.model.dropout = 0.3
    d = c.model_copy(deep=True)
    d.model.dropout = 0.5
    assert run_keys.memory_key(c) != run_keys.memory_key(a.cfg) and run_keys.memory_key(
        c
    ) == run_keys.memory_key(d)


def test_update_meta_changes_only_the_named_fields(runs_dir: Path, write_config: WriteConfig) -> None:
    run = _queued(runs_dir, write_config)
    raw = contract.read_json(run / contract.META_FILE)
    assert raw is not None
    raw["from_a_newer_writer"] = {"kept": True}
    contract.atomic_write_json(run / contract.META_FILE, raw)
    contract.update_meta(run, note="x")
    assert contract.read_json(run / contract.META_FILE) == {**raw, "note": "x"}


def test_a_meta_update_of_a_deleted_run_creates_nothing(runs_dir: Path, write_config: WriteConfig) -> None:
    run = _queued(runs_dir, write_config)
    for p in run.iterdir():
        p.unlink()
    run.rmdir()
    with pytest.raises(contract.ContractError, match="missing or unreadable"):
        lifecycle.add_fields(run, gpu_mem_peak_mb=1)
    assert lifecycle.mark_vanished(run) is False and lifecycle.reap_exit(run, 1) is None
    assert not run.exists()


# ------------------------------------------------------------------------------ the Slurm executor's transitions


def test_slurm_transitions_each_from_their_own_state(runs_dir: Path, write_config: WriteConfig) -> None:
    [planned] = expand_study(write_config("on-slurm"))
    run = runs_dir / queue.create_run(runs_dir, planned, extra={"executor": "slurm"})
    assert lifecycle.record_submission(run, "41_0") is True
    meta = _meta(run)
    assert (meta.status, meta.extra["slurm_job_id"], meta.extra["slurm_state"]) == (
        "queued",
        "41_0",
        "PENDING",
    )
    assert lifecycle.record_submission(run, "42") is False  # one run, one job: never submitted twice
    with pytest.raises(TransitionError, match="belongs to Slurm job 41_0"):
        lifecycle.start_on_node(run, "42")
    assert lifecycle.overrule_kill(run, "slurm: TIMEOUT") is False  # only a killed run
    lifecycle.start_on_node(run, "41_0", trainer_module="tests.fake_trainer")
    meta = _meta(run)
    assert (meta.status, meta.host, meta.pid) == ("running", contract.host_name(), os.getpid())
    assert meta.extra["launched_by"] == "slurm" and meta.extra["executor"] == "slurm"
    with pytest.raises(TransitionError, match="cannot start a run that is running"):
        lifecycle.start_on_node(run, "41_0")  # never started twice: a restarted job reopens it first
    assert lifecycle.record_submission(run, "41_0") is False  # the job was faster: nothing to add
    # A reader never asks Slurm: the run is trusted as written, and nobody but the monitor ends it.
    assert liveness.effective_status(meta) == "running"
    assert lifecycle.mark_vanished(run) is False
    lifecycle.finish(run, "killed", 143, "stopped by SIGTERM")
    assert lifecycle.end_by_executor(run, "failed", "slurm: TIMEOUT") is False  # final already
    assert lifecycle.overrule_kill(run, "slurm: TIMEOUT (time limit)", slurm_state="TIMEOUT") is True
    meta = _meta(run)  # one read: the job's state came in the very update that ended the run
    assert (meta.status, meta.error, meta.exit_code) == ("failed", "slurm: TIMEOUT (time limit)", 143)
    assert meta.extra["slurm_state"] == "TIMEOUT"
    assert lifecycle.overrule_kill(run, "again") is False


def test_end_by_executor_and_overrule_kill_refuse_what_is_not_theirs(
    runs_dir: Path, write_config: WriteConfig
) -> None:
    local = _queued(runs_dir, write_config, "local-run")
    lifecycle.mark_running(local, launched_by="test")
    lifecycle.finish(local, "killed", 143, "stopped by SIGTERM")
    assert lifecycle.overrule_kill(local, "slurm: TIMEOUT") is False  # a local kill is a person's
    assert _meta(local).status == "killed"
    with pytest.raises(TransitionError, match="failed or killed"):
        lifecycle.end_by_executor(local, "done", "no")
    pending = _queued(runs_dir, write_config, "pending")
    with pytest.raises(TransitionError, match="written only by a lifecycle transition"):
        lifecycle.end_by_executor(pending, "killed", "no", ended=0.0)
    assert lifecycle.end_by_executor(
        pending, "killed", "slurm: CANCELLED while pending", slurm_state="CANCELLED", slurm_reason=""
    )
    meta = _meta(pending)  # the end and the job's last state in one update: never one without the other
    assert (meta.status, meta.error, meta.extra["slurm_state"]) == (
        "killed",
        "slurm: CANCELLED while pending",
        "CANCELLED",
    )


def test_local_scheduler_never_launches_a_slurm_run(runs_dir: Path, write_config: WriteConfig) -> None:
    [planned] = expand_study(write_config("slurm-only", epochs=1))
    slurm_run = runs_dir / queue.create_run(runs_dir, planned, extra={"executor": "slurm"})
    local_run = _queued(runs_dir, write_config, "local-next", epochs=1)
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: _meta(local_run).status == "done", timeout=60)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=30)  # nothing to watch: it left
    meta = _meta(slurm_run)
    assert meta.status == "queued" and meta.pid is None and not (slurm_run / contract.LOG_FILE).exists()


def test_scheduler_without_slurm_commands_leaves_slurm_runs_and_exits(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run folders copied off a cluster onto a box without Slurm: nothing to ask, nothing to wait for.
    [planned] = expand_study(write_config("copied", epochs=1))
    run = runs_dir / queue.create_run(runs_dir, planned, extra={"executor": "slurm"})
    assert lifecycle.record_submission(run, "999999")
    monkeypatch.setenv("PATH", str(runs_dir / "no-such-bin"))
    monkeypatch.setenv("HW2_SLURM_POLL_S", "0.2")
    daemon.ensure_scheduler(runs_dir)
    assert wait_for(lambda: "slurm runs left as they are" in _scheduler_log(runs_dir), timeout=30)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=30)
    assert _meta(run).status == "queued"


def _scheduler_log(runs_dir: Path) -> str:
    path = runs_dir / daemon.SCHEDULER_LOG
    return path.read_text() if path.exists() else ""
