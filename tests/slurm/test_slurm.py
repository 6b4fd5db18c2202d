"""Runs on a real one-node Slurm: submission as a job array, the monitor, kill/requeue, the ends
Slurm imposes (scancel from outside, time limit, a lost node) and a runs folder the job cannot see.

No mocks: ``sbatch``, ``squeue``, ``scontrol`` and ``scancel`` of the cluster that
tests/slurm/start-local-slurm.sh starts; the fake trainer under the real harness. The lost-node
test stops slurmd and so runs last (this file's last test, ``-p no:randomly``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from hw2 import contract, daemon
from hw2.config import expand_study
from hw2.runs import readers
from hw2.slurm import control, describe, summary_line
from hw2.slurm.settings import SlurmSettings
from hw2.slurm.submit import submit_planned, submit_runs
from tests.runtime.conftest import WriteConfig, wait_for
from tests.slurm.conftest import START_SCRIPT

pytestmark = pytest.mark.slurm

LONG_S = 180.0  # generous: a loaded box, Slurm's scheduling cycle, the 1 s monitor poll


def _meta(path: Path) -> contract.RunMeta:
    meta = contract.read_meta(path)
    assert meta is not None
    return meta


def _submit(runs_dir: Path, cfg: Path, **settings: object) -> tuple[list[str], str]:
    sub = submit_planned(runs_dir, expand_study(cfg), SlurmSettings(**settings))  # type: ignore[arg-type]
    assert sub.job_id and sub.run_ids and not sub.skipped, sub
    return sub.run_ids, sub.job_id


def _status_is(path: Path, *status: str, timeout: float = LONG_S) -> contract.RunMeta:
    assert wait_for(lambda: _meta(path).status in status, timeout=timeout, interval=0.2), (
        f"{path.name}: {_meta(path).status} {_meta(path).error!r}, not {status}; "
        f"{(path / contract.LOG_FILE).read_text() if (path / contract.LOG_FILE).exists() else ''}"
    )
    return _meta(path)


def _squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_study_as_job_array_all_done(runs_dir: Path, tmp_path: Path, write_config: WriteConfig) -> None:
    base = write_config("arr-base", epochs=2, batches=3)
    study = tmp_path / "configs" / "arr.yaml"
    study.write_text(yaml.safe_dump({"study": "arr", "base": base.name, "repeat": 3}))
    ids, job = _submit(runs_dir, study, array_parallelism=2)
    script = next((runs_dir / ".slurm").glob("*.sbatch")).read_text()
    assert "#SBATCH --array=0-2%2" in script and "-m hw2.slurm.job" in script
    for i, rid in enumerate(ids):
        assert _meta(runs_dir / rid).extra["slurm_job_id"] == f"{job}_{i}"
    # Submitting the same runs again (a second TUI) submits none of them twice.
    again = submit_runs(runs_dir, ids, SlurmSettings())
    assert again.job_id is None and set(again.skipped) == set(ids)
    for rid in ids:
        meta = _status_is(runs_dir / rid, "done", "failed", "killed")
        assert meta.status == "done", meta.error
        assert meta.extra["executor"] == "slurm" and meta.extra["launched_by"] == "slurm"
        assert meta.host == contract.host_name()  # the node it ran on
        assert contract.read_result(runs_dir / rid) is not None
        assert (runs_dir / rid / contract.METRICS_FILE).read_text().count('"type":"epoch"') == 2
    # The monitor records Slurm's last word, and the scheduler daemon then exits (nothing to watch).
    assert wait_for(lambda: all(_meta(runs_dir / r).extra.get("slurm_state") for r in ids), timeout=LONG_S)
    assert wait_for(lambda: not daemon.scheduler_lock_held(runs_dir), timeout=60)
    listed = {r.run_id: r for r in readers.list_runs(runs_dir)}
    assert all(listed[r].status == "done" for r in ids)


def test_config_that_raises_fails_with_traceback(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid], _job = _submit(runs_dir, write_config("boom", model="fail"))
    meta = _status_is(runs_dir / rid, "done", "failed", "killed")
    assert meta.status == "failed" and meta.error == "RuntimeError: fake failure at epoch 1"
    log = (runs_dir / rid / contract.LOG_FILE).read_text()
    assert "--- hw2: slurm job" in log and "Traceback" in log and "fake failure at epoch 1" in log


def test_pending_reason_then_kill_and_requeue(runs_dir: Path, write_config: WriteConfig) -> None:
    # --hold keeps the job pending for as long as the test wants: Slurm's reason is JobHeldUser.
    [rid], job = _submit(runs_dir, write_config("held", epochs=1), sbatch=["--hold"])
    run = runs_dir / rid
    assert wait_for(lambda: _meta(run).extra.get("slurm_reason") == "JobHeldUser", timeout=LONG_S)
    assert describe(_meta(run)) == "pending: JobHeldUser"
    assert summary_line([_meta(run)]) == "slurm: 1 pending · 0 running"
    assert control.kill(runs_dir, rid) is True
    meta = _meta(run)
    assert meta.status == "killed" and meta.error == "killed while queued"
    assert wait_for(lambda: job not in _squeue_ids(), timeout=60)
    assert control.kill(runs_dir, rid) is False  # already ended

    new = control.requeue(runs_dir, rid, SlurmSettings())
    meta = _status_is(runs_dir / new, "done", "failed", "killed")
    assert meta.status == "done", meta.error
    assert meta.extra["requeued_from"] == rid and meta.extra["executor"] == "slurm" and meta.attempt == 2


def test_kill_running_run_through_scancel(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid], _job = _submit(runs_dir, write_config("to-kill", epochs=500, batches=20))
    run = runs_dir / rid
    _status_is(run, "running")
    assert wait_for(lambda: (run / contract.METRICS_FILE).exists(), timeout=60)
    assert control.kill(runs_dir, rid) is True
    meta = _status_is(run, "killed", "failed", "done")
    assert meta.status == "killed", meta.error


def test_scancel_from_outside_is_killed(runs_dir: Path, write_config: WriteConfig) -> None:
    [rid], job = _submit(runs_dir, write_config("outside", epochs=500, batches=20))
    run = runs_dir / rid
    _status_is(run, "running")
    subprocess.run(["scancel", job], check=True)
    meta = _status_is(run, "killed", "failed", "done")
    assert meta.status == "killed", meta.error
    assert wait_for(lambda: _meta(run).extra.get("slurm_state") == "CANCELLED", timeout=LONG_S)


def test_runs_folder_the_job_cannot_see_is_a_one_line_error(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    # The job is held while its run folder is moved away, as if the compute node did not mount it.
    [rid], job = _submit(runs_dir, write_config("unshared", epochs=1), sbatch=["--hold"])
    run, away = runs_dir / rid, tmp_path / "elsewhere"
    assert wait_for(lambda: _meta(run).extra.get("slurm_reason") == "JobHeldUser", timeout=LONG_S)
    shutil.move(run, away)
    subprocess.run(["scontrol", "release", job], check=True)
    assert wait_for(lambda: job not in _squeue_ids(), timeout=LONG_S)
    shutil.move(away, run)
    # With its only run gone from the folder the daemon had nothing to watch and left; whoever
    # looks next (a TUI, the CLI) makes sure of it, as here.
    daemon.ensure_scheduler(runs_dir)
    meta = _status_is(run, "failed", "killed", "done")
    assert meta.status == "failed"
    assert "without starting the run" in meta.error and "shared by the login and compute nodes" in meta.error
    assert "\n" not in meta.error
    out = next((runs_dir / ".slurm").glob("*.out")).read_text()
    assert "run folder" in out and "not found" in out


def test_time_limit_is_failed_timeout(runs_dir: Path, write_config: WriteConfig) -> None:
    # grace 0: no warning signal, so no requeue before the limit (test_slurm_requeue.py has that)
    [rid], _job = _submit(runs_dir, write_config("too-long", epochs=1000, batches=20), time="1", grace=0)
    run = runs_dir / rid
    _status_is(run, "running")
    started = time.monotonic()
    meta = _status_is(run, "failed", timeout=LONG_S + 60)
    assert "TIMEOUT" in meta.error, meta.error
    assert time.monotonic() - started > 30  # it ran into its limit, not into something else
    assert _meta(run).extra.get("slurm_state") == "TIMEOUT"


def test_slurmd_lost_mid_run_the_run_resumes_when_the_node_is_back(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slurm declares the node lost (NODE_FAIL after SlurmdTimeout) and requeues the job (--requeue);
    # when the node is back, the job starts again, stops what is left of the lost attempt and
    # resumes the run from its checkpoint (hw2.slurm.requeue.on_restart).
    monkeypatch.setenv("HW2_FAKE_CHECKPOINT", "1")
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.3")  # 60 epochs x 5 batches x 0.3 s: 90 s
    [rid], job = _submit(runs_dir, write_config("node-lost", epochs=60, batches=5))
    run = runs_dir / rid
    _status_is(run, "running")
    assert wait_for(lambda: "epoch 2/60" in (run / contract.LOG_FILE).read_text(), timeout=LONG_S)
    pid_file = Path("/var/spool/hw2-slurm/slurmd.pid")
    if not pid_file.exists():
        pytest.skip("slurmd was not started by tests/slurm/start-local-slurm.sh")
    try:
        subprocess.run(["kill", pid_file.read_text().strip()], check=True)
        assert wait_for(lambda: _job_state(job) in ("PENDING", "REQUEUED"), timeout=LONG_S, interval=0.5)
    finally:
        subprocess.run(["bash", str(START_SCRIPT)], check=True, timeout=120)
    assert wait_for(lambda: job not in _squeue_ids() and _meta(run).status != "running", timeout=LONG_S * 2)
    meta = _meta(run)
    log = (run / contract.LOG_FILE).read_text()
    assert meta.status == "done", f"{meta.error}; {log[-3000:]}"
    assert meta.extra["resumed"] >= 1 and f"slurm restarted job {job}" in log, log[-3000:]
    epochs = [line["epoch"] for line in readers.read_epoch_lines(run)]
    assert epochs == list(range(1, 61)), epochs


def _job_state(job: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, check=False, timeout=60
    )
    return out.stdout.strip()
