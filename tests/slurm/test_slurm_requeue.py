"""Resume on Slurm, by itself, on the real one-node Slurm: a run longer than its job's time limit
checkpoints, requeues itself and ends ``done``; ``scontrol requeue`` of a running job resumes its
run; past ``executor.max_restarts`` the run ends ``failed``, saying so (hw2.slurm.requeue).

The trainer is the fake one under the real harness, with checkpoints (``HW2_FAKE_CHECKPOINT=1``).
tests/slurm/start-local-slurm.sh shortens Slurm's hold on a requeued job (``cred_expire``) and its
scheduling interval, so each restart takes seconds, not two minutes.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from hw2 import contract, resume
from hw2.config import expand_study
from hw2.runs import readers
from hw2.slurm import control
from hw2.slurm.settings import SlurmSettings
from hw2.slurm.submit import submit_planned
from tests.runtime.conftest import WriteConfig, wait_for

pytestmark = pytest.mark.slurm

LONG_S = 180.0


@pytest.fixture(autouse=True)
def _checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW2_FAKE_CHECKPOINT", "1")


def _meta(path: Path) -> contract.RunMeta:
    meta = contract.read_meta(path)
    assert meta is not None
    return meta


def _submit(runs_dir: Path, cfg: Path, **settings: object) -> tuple[Path, str]:
    sub = submit_planned(runs_dir, expand_study(cfg), SlurmSettings(**settings))  # type: ignore[arg-type]
    assert sub.job_id and len(sub.run_ids) == 1 and not sub.skipped, sub
    return runs_dir / sub.run_ids[0], sub.job_id


def _log(run: Path) -> str:
    path = run / contract.LOG_FILE
    return path.read_text(errors="replace") if path.exists() else ""


def _ended(run: Path, job: str, timeout: float) -> contract.RunMeta:
    """The run's end once its job has left Slurm's queue for good (a requeued job stays in it)."""

    def over() -> bool:
        return _meta(run).status in ("done", "failed", "killed") and job not in _active_jobs()

    assert wait_for(over, timeout, 0.5), (
        f"{run.name}: still {_meta(run).status} after {timeout:.0f} s; {_log(run)[-3000:]}"
    )
    return _meta(run)


def _active_jobs() -> set[str]:
    out = subprocess.run(
        ["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


def _held(run: Path) -> bool:
    from hw2.runs.summary import awaiting_requeue

    return awaiting_requeue(_meta(run))


def _status_text(runs_dir: Path) -> str:
    [summary] = readers.list_runs(runs_dir, use_cache=False)
    return summary.status_text()


def _epoch_lines(run: Path) -> list[int]:
    out = []
    for raw in (run / contract.METRICS_FILE).read_text().splitlines():
        line = json.loads(raw)
        if line.get("type") == "epoch":
            out.append(int(line["epoch"]))
    return out


def _epochs_done(run: Path) -> int:
    path = run / contract.METRICS_FILE
    return len(_epoch_lines(run)) if path.exists() else 0


def _each_epoch_once(run: Path, epochs: int) -> None:
    counts = Counter(_epoch_lines(run))
    assert sorted(counts) == list(range(1, epochs + 1)) and set(counts.values()) == {1}, counts


def test_a_run_three_times_its_time_limit_requeues_itself_and_ends_done(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.5")  # 30 epochs x 10 batches x 0.5 s: 150 s of training
    run, job = _submit(
        runs_dir, write_config("three-minutes", epochs=30, batches=10), time="1", grace=20, max_restarts=20
    )
    meta = _ended(run, job, timeout=1200)
    assert meta.status == "done", f"{meta.error}; {_log(run)[-3000:]}"
    _each_epoch_once(run, 30)
    assert meta.extra["resumed"] >= 2 and meta.attempt == meta.extra["resumed"] + 1, meta
    log = _log(run)
    assert log.count("time limit near") >= 2 and "slurm restarted job" in log, log[-3000:]
    assert _status_text(runs_dir) == f"done · resumed {meta.extra['resumed']}×"


def test_scontrol_requeue_of_a_running_job_resumes_its_run(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.3")  # 8 epochs x 5 batches x 0.3 s
    run, job = _submit(runs_dir, write_config("requeued", epochs=8, batches=5))
    assert wait_for(lambda: _epochs_done(run) >= 2, timeout=LONG_S, interval=0.2), _log(run)
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
    meta = _ended(run, job, timeout=LONG_S * 2)
    assert meta.status == "done", f"{meta.error}; {_log(run)[-3000:]}"
    _each_epoch_once(run, 8)
    assert meta.attempt == 2 and meta.extra["resumed"] == 1 and meta.extra["slurm_job_id"] == job
    assert f"slurm restarted job {job} (restart 1 of 3)" in _log(run)


def test_a_held_requeue_reads_requeued_is_not_resumed_twice_and_kill_cancels_it(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.3")
    run, job = _submit(runs_dir, write_config("held", epochs=50, batches=5))
    # The epoch's line is written before its checkpoint: wait for both, or the requeue can land
    # between them and leave a killed run with nothing to resume from.
    assert wait_for(
        lambda: _epochs_done(run) >= 1 and contract.checkpoint_file(run) is not None, LONG_S, 0.2
    ), _log(run)
    subprocess.run(["scontrol", "requeuehold", job], check=True, timeout=30)  # requeued, then held
    assert wait_for(lambda: _held(run), timeout=LONG_S, interval=0.2), _meta(run)
    assert _status_text(runs_dir) == "killed · requeued"
    with pytest.raises(resume.ResumeError, match=f"Slurm requeued its job {job}, which resumes it"):
        resume.reopen(runs_dir, run.name)
    assert control.kill(runs_dir, run.name) is True  # cancels the held job
    assert wait_for(lambda: not _held(run), timeout=LONG_S, interval=0.2)
    meta = _meta(run)
    assert meta.status == "killed" and meta.extra.get("slurm_state") == "CANCELLED", meta
    assert _status_text(runs_dir) == "killed · resumable"


def test_past_max_restarts_a_requeued_run_ends_failed_saying_so(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.3")
    run, job = _submit(runs_dir, write_config("restarts", epochs=200, batches=5), max_restarts=1)
    assert wait_for(lambda: _epochs_done(run) >= 1, timeout=LONG_S, interval=0.2), _log(run)
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
    assert wait_for(
        lambda: _meta(run).extra.get("resumed") == 1 and _meta(run).status == "running", LONG_S, 0.2
    )
    done_before = _epochs_done(run)
    assert wait_for(lambda: _epochs_done(run) > done_before, timeout=LONG_S, interval=0.2)
    subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)  # restart 2 of at most 1
    meta = _ended(run, job, timeout=LONG_S)
    assert meta.status == "failed", meta
    assert f"slurm restarted job {job} 2 times, more than executor.max_restarts 1" in (meta.error or "")
    assert f"hw2-tui resume {run.name}" in meta.error and meta.extra["resumed"] == 1
    assert wait_for(lambda: _status_text(runs_dir) == "failed · resumable", timeout=60)  # by hand, it goes on


def test_past_max_restarts_the_time_limit_ends_the_run_failed_saying_so(
    runs_dir: Path, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW2_FAKE_SLEEP", "0.3")
    run, job = _submit(
        runs_dir, write_config("no-restarts", epochs=500, batches=5), time="1", grace=20, max_restarts=0
    )
    meta = _ended(run, job, timeout=LONG_S * 2)
    assert meta.status == "failed", meta
    assert "time limit near, stopped after epoch" in (meta.error or "")
    assert f"not requeued: job {job} restarted 0 time(s), executor.max_restarts is 0" in meta.error
    assert "TIMEOUT" not in meta.error  # it stopped before the limit, with its checkpoint
    assert contract.checkpoint_file(run) is not None and meta.extra.get("resumed") is None
