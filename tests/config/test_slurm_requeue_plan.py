"""Resume on Slurm without a Slurm: the job script asks for a requeue and a warning signal, the
harness's plan follows the time Slurm says is left (not the signal's own timing), and a run whose
job Slurm holds for a restart reads ``killed · requeued`` and is nobody else's to resume.
The real cluster runs the whole path in tests/slurm/test_slurm_requeue.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw2 import contract, resume
from hw2.config.executor import SlurmSettings
from hw2.runs import lifecycle
from hw2.runs.summary import awaiting_requeue, summarize
from hw2.slurm import requeue
from hw2.slurm.commands import duration_s
from hw2.slurm.submit import effective_grace, job_script


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1", 60),
        ("90", 5400),
        ("1:30", 90),
        ("02:00:00", 7200),
        ("1-0", 86400),
        ("1-2:03", 93780),
        ("1-02:03:04", 93784),
    ],
)
def test_time_limit_in_seconds(text: str, seconds: int) -> None:
    assert duration_s(text) == seconds


def test_grace_is_at_most_half_the_time_limit() -> None:
    assert effective_grace(SlurmSettings()) == 120
    assert effective_grace(SlurmSettings(time="1")) == 30  # a 1-minute job is warned at half-time
    assert effective_grace(SlurmSettings(time="02:00:00", grace=300)) == 300
    assert effective_grace(SlurmSettings(time="10", grace=0)) == 0


def test_the_script_requeues_and_warns_grace_seconds_ahead(tmp_path: Path) -> None:
    script = job_script(
        [tmp_path / "r"],
        SlurmSettings(time="10", grace=90, max_restarts=5),
        name="x",
    )
    lines = script.splitlines()
    assert "#SBATCH --requeue" in lines and "#SBATCH --no-requeue" not in lines
    assert "#SBATCH --signal=B:USR1@90" in lines and "#SBATCH --open-mode=append" in lines
    assert f"export {requeue.GRACE_ENV}=90 {requeue.MAX_RESTARTS_ENV}=5" in lines
    off = job_script([tmp_path / "r"], SlurmSettings(grace=0), name="x")
    assert "--signal" not in off and f"{requeue.GRACE_ENV}=0" in off  # off: no warning, no self-requeue


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0:29", 29),
        ("12:00", 720),
        ("1:02:03", 3723),
        ("2-01:00:00", 176400),
        ("UNLIMITED", None),
        ("INVALID", None),
        ("", None),
        ("١٠:٠٠", None),
        ("0:29\n", 29),
    ],
)
def test_squeue_time_left(text: str, seconds: float | None) -> None:
    assert duration_s(text) == seconds


def test_the_plan_follows_the_time_left_not_the_signal() -> None:
    # Slurm 22.05 warns a restarted job within a second of its start, with most of its time left:
    # the harness stops grace seconds before the end, not when the signal comes.
    early = requeue.Warned(left_s=49, grace=20, now=100.0)
    assert early.stop_at == pytest.approx(129.0) and early.deadline == pytest.approx(139.0)
    on_time = requeue.Warned(left_s=20, grace=20, now=100.0)
    assert on_time.stop_at == pytest.approx(100.0) and on_time.deadline == pytest.approx(110.0)
    late = requeue.Warned(left_s=5, grace=120, now=100.0)
    assert late.stop_at == 100.0 and late.deadline == 100.0  # past the margin: stop mid-epoch now
    unknown = requeue.Warned(left_s=None, grace=120, now=100.0)  # squeue silent: take the signal's word
    assert unknown.stop_at == 100.0 and unknown.deadline == pytest.approx(100.0 + 120 - requeue.MARGIN_S)


def test_past_max_restarts_the_harness_does_not_requeue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    monkeypatch.setenv(requeue.MAX_RESTARTS_ENV, "2")
    status, code, error = requeue.end_attempt(tmp_path / "run-a", 7)
    assert (status, code) == ("failed", 1)
    assert (
        "after epoch 7" in error and "executor.max_restarts is 2" in error and "hw2-tui resume run-a" in error
    )


def _slurm_run(runs: Path, status: str, state: str | None) -> Path:
    run = runs / "r1"
    run.mkdir(parents=True)
    meta = contract.RunMeta(run_id="r1", name="r1", status="queued", created=0.0)
    lifecycle.create(run, meta, "name: r1\n")
    contract.update_meta(
        run, status=status, started=1.0, executor="slurm", slurm_job_id="42", slurm_state=state
    )
    return run


@pytest.mark.parametrize(
    ("status", "state", "held"),
    [
        ("killed", "PENDING", True),
        ("failed", "REQUEUED", True),
        ("killed", "CANCELLED", False),
        ("running", "PENDING", False),
    ],
)
def test_a_run_slurm_holds_for_a_restart_reads_requeued(
    tmp_path: Path, status: str, state: str, held: bool
) -> None:
    run = _slurm_run(tmp_path, status, state)
    meta = contract.read_meta(run)
    assert meta is not None and awaiting_requeue(meta) is held
    summary = summarize(run_id="r1", meta=meta, status=meta.status, path=str(run))
    assert summary.requeued is held
    assert (summary.status_text() == f"{status} · requeued") is held


def test_a_run_killed_while_queued_waits_for_no_restart(tmp_path: Path) -> None:
    run = _slurm_run(tmp_path, "killed", "PENDING")  # the monitor's last word before the cancel
    contract.update_meta(run, started=None)
    meta = contract.read_meta(run)
    assert meta is not None and not awaiting_requeue(meta)


def test_nobody_but_its_job_resumes_a_run_slurm_holds(tmp_path: Path) -> None:
    run = _slurm_run(tmp_path, "killed", "PENDING")
    meta = contract.read_meta(run)
    assert meta is not None
    with pytest.raises(
        resume.ResumeError, match=r"Slurm requeued its job 42, which resumes it.*hw2-tui kill r1"
    ):
        resume.check(run, meta)
    assert resume.check(run, meta, by_its_job=True) is None  # its job may (no checkpoint yet: epoch 1)
