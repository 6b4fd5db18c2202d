"""Slurm runs through the real command line: ``sweep --executor slurm`` as one job array, shown by
``ls`` and ``export``; a relaunch submits nothing twice (also two CLIs at once); ``hw2-tui kill`` and
``hw2-tui requeue`` go through scancel and a new submission."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hw2 import contract
from tests.conftest import PROJECT_ROOT
from tests.runtime.conftest import WriteConfig, wait_for

pytestmark = pytest.mark.slurm
LONG_S = 180.0


def cli(*args: str, runs_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )


def _study(tmp_path: Path, write_config: WriteConfig) -> Path:
    base = write_config("sl-base", epochs=2, batches=2)
    study = base.parent / "sl-study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "study": "Slurm study",
                "base": base.name,
                "variants": [{"name": "a"}, {"name": "b", "set": {"optimizer.lr": 0.1}}],
            }
        )
    )
    return study


def _status(runs_dir: Path, rid: str) -> str:
    meta = contract.read_meta(runs_dir / rid)
    return meta.status if meta else "?"


def test_sweep_on_slurm_ls_export_and_relaunch(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    study = _study(tmp_path, write_config)
    proc = cli("sweep", str(study), "--executor", "slurm", "--yes", "--detach", runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == 2 and "submitted 2 run(s) to Slurm as job array" in proc.stderr
    assert wait_for(lambda: all(_status(runs_dir, r) in contract.FINAL_STATUSES for r in ids), timeout=LONG_S)
    listed = {r["run_id"]: r for r in json.loads(cli("ls", "--json", runs_dir=runs_dir).stdout)}
    assert {listed[r]["status"] for r in ids} == {"done"}
    out = tmp_path / "export"
    assert cli("export", "--out", str(out), runs_dir=runs_dir).returncode == 0
    with open(out / "results.csv", encoding="utf-8") as fh:
        assert {row["run_id"] for row in csv.DictReader(fh)} == set(ids)
    again = cli("sweep", str(study), "--executor", "slurm", "--yes", "--detach", runs_dir=runs_dir)
    assert again.returncode == 0 and again.stdout.split() == []
    assert "2 of 2 already done or queued: queue none" in again.stderr


def test_two_clis_relaunching_at_once_submit_each_run_once(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    study = _study(tmp_path, write_config)
    argv = [sys.executable, "-m", "hw2.cli", "--runs-dir", str(runs_dir), "sweep", str(study)]
    argv += ["--executor", "slurm", "--yes", "--detach"]
    procs = [
        subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ids = [rid for out, _err in outs for rid in out.split()]
    assert len(ids) == 2 and len(set(ids)) == 2, outs
    jobs = {contract.read_meta(runs_dir / r).extra.get("slurm_job_id") for r in ids}  # type: ignore[union-attr]
    assert len(jobs) == 2 and None not in jobs
    assert len(contract.list_run_dirs(runs_dir)) == 2


def test_kill_and_requeue_commands_on_a_slurm_run(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    held = tmp_path / "held.yaml"
    held.write_text(yaml.safe_dump({"executor": {"sbatch": ["--hold"]}}))
    cfg = write_config("sl-held", epochs=1, batches=2)
    proc = cli("run", str(cfg), "--executor", "slurm", runs_dir=runs_dir, env={"HW2_SLURM_CONFIG": str(held)})
    assert proc.returncode == 0, proc.stderr
    [rid] = proc.stdout.split()
    assert wait_for(
        lambda: contract.read_meta(runs_dir / rid).extra.get("slurm_reason") == "JobHeldUser",  # type: ignore[union-attr]
        timeout=LONG_S,
    )
    kill = cli("kill", rid, runs_dir=runs_dir)
    assert kill.returncode == 0, kill.stderr
    assert _status(runs_dir, rid) == "killed"
    req = cli("requeue", rid, runs_dir=runs_dir)  # resubmitted without --hold (no settings file)
    assert req.returncode == 0, req.stderr
    [new] = req.stdout.split()
    assert wait_for(lambda: _status(runs_dir, new) in contract.FINAL_STATUSES, timeout=LONG_S)
    meta = contract.read_meta(runs_dir / new)
    assert meta is not None and meta.status == "done" and meta.extra["executor"] == "slurm"
    assert meta.extra["requeued_from"] == rid


def test_a_study_whose_executor_section_says_slurm_goes_to_slurm_without_the_flag(
    runs_dir: Path, tmp_path: Path, write_config: WriteConfig
) -> None:
    study = _study(tmp_path, write_config)
    data = yaml.safe_load(study.read_text())
    data["executor"] = {"kind": "slurm", "array_parallelism": 1, "time": "5"}
    study.write_text(yaml.safe_dump(data))
    proc = cli("sweep", str(study), "--yes", "--detach", runs_dir=runs_dir)
    assert proc.returncode == 0, proc.stderr
    assert "submitted 2 run(s) to Slurm as job array" in proc.stderr, proc.stderr
    script = next((runs_dir / ".slurm").glob("*.sbatch")).read_text()
    assert "#SBATCH --array=0-1%1" in script and "#SBATCH --time=5" in script
    ids = proc.stdout.split()
    assert wait_for(lambda: all(_status(runs_dir, r) in contract.FINAL_STATUSES for r in ids), timeout=LONG_S)
    assert {_status(runs_dir, r) for r in ids} == {"done"}
    # --executor local wins over the file's kind: with --force, two more runs on this box
    local = cli("sweep", str(study), "--yes", "--detach", "--force", "--executor", "local", runs_dir=runs_dir)
    assert local.returncode == 0, local.stderr
    new = local.stdout.split()
    assert len(new) == 2 and "Slurm" not in local.stderr
    assert all(contract.read_meta(runs_dir / r).extra.get("executor") != "slurm" for r in new)  # type: ignore[union-attr]
    assert wait_for(lambda: all(_status(runs_dir, r) in contract.FINAL_STATUSES for r in new), timeout=LONG_S)
