"""Issue 19, items 1 and 2, on the real one-node Slurm: a runs dir with a space, a ``#`` and a
``%`` works end to end (paths go to ``sbatch`` as argv items, never into ``#SBATCH`` lines); a
runs dir with a newline is refused in one line and nothing in it runs; an allowed
``executor.sbatch`` option reaches the job. The refusals without a Slurm are in
tests/reliability/test_slurm_input_safety.py."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from hw2 import contract, daemon
from hw2.config import expand_study
from hw2.slurm import commands
from hw2.slurm.settings import SlurmSettings
from hw2.slurm.submit import submit_planned
from tests.runtime.conftest import WriteConfig, wait_for

pytestmark = pytest.mark.slurm

LONG_S = 180.0


def _meta(path: Path) -> contract.RunMeta:
    meta = contract.read_meta(path)
    assert meta is not None
    return meta


def test_a_runs_dir_with_a_space_a_hash_and_a_percent_works_end_to_end(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    odd = tmp_path / "my runs #2 100% done"
    sub = submit_planned(
        odd, expand_study(write_config("odd-dir", epochs=2)), SlurmSettings(sbatch=["--comment=hw2-safe"])
    )
    try:
        assert sub.job_id and not sub.skipped, sub
        [rid] = sub.run_ids
        run = odd / rid
        assert wait_for(
            lambda: _meta(run).status in ("done", "failed", "killed"), timeout=LONG_S, interval=0.2
        )
        meta = _meta(run)
        assert meta.status == "done", f"{meta.error}: {(run / contract.LOG_FILE).read_text()[-2000:]}"
        shown = subprocess.run(
            ["scontrol", "show", "job", sub.job_id], capture_output=True, text=True, check=False, timeout=60
        ).stdout
        assert "Comment=hw2-safe" in shown, shown  # the allowed option reached the job
        outputs = list((odd / ".slurm").glob("*.out"))
        assert outputs, "Slurm's own output file, in the runs dir's .slurm folder despite its % and #"
    finally:
        daemon.stop_scheduler(odd)


def test_a_runs_dir_with_a_newline_is_refused_and_nothing_runs(
    tmp_path: Path, write_config: WriteConfig
) -> None:
    marker = Path("/tmp") / f"hw2-pwned-{uuid.uuid4().hex}"
    hostile = tmp_path / f"runs\ntouch {marker}\n#"
    with pytest.raises(commands.SlurmError, match="control character") as info:
        submit_planned(hostile, expand_study(write_config("newline-dir", epochs=1)), SlurmSettings())
    assert "\n" not in str(info.value)
    [run] = contract.list_run_dirs(hostile)
    meta = _meta(run)
    assert meta.status == "failed" and "control character" in (meta.error or ""), meta
    assert not meta.extra.get("slurm_job_id")  # never submitted
    assert not marker.exists()
