"""Issue 19, items 1, 2 and 8 without a Slurm: what goes from a path, a study file or a run
folder to Slurm is checked first. Each case was reproduced on the code before the fix (a newline
in the runs dir ran a command in the job; ``"--qos=normal --output=..."`` passed as one option; a
``trainer_module`` or ``slurm_job_id`` edited into meta.json went to the job or to ``scancel``).
The end-to-end halves run on the real Slurm: tests/slurm/test_slurm_safety.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw2 import contract, launch
from hw2.config import ConfigError, load_experiment
from hw2.config.executor import SlurmSettings
from hw2.runs import lifecycle
from hw2.slurm import commands, control, monitor
from hw2.slurm.submit import job_script, output_pattern
from tests.config.test_executor_section import EXPERIMENT
from tests.conftest import PROJECT_ROOT


def test_paths_never_reach_an_sbatch_line_and_a_control_character_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "runs dir #1 100%" / "r1"
    script = job_script([odd], SlurmSettings(), name="hw2-x")
    assert not [line for line in script.splitlines() if line.startswith("#SBATCH") and str(tmp_path) in line]
    assert "--chdir" not in script and "--output" not in script  # argv items of sbatch now
    out = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert out.returncode == 0, out.stderr  # the quoted folder is one word of a valid script
    assert output_pattern(tmp_path / "100% done", many=False).endswith("100%% done/%x-%j.out")
    for bad in ("x\ntouch /tmp/pwned", "x\rb", "x\x00b", "x\u2028b"):
        with pytest.raises(commands.SlurmError, match="control character") as info:
            job_script([tmp_path / bad], SlurmSettings(), name="hw2-x")
        assert "\n" not in str(info.value)


HOSTILE_SBATCH = [
    ("--qos=normal --output=/home/victim/.bashrc", "is not one sbatch option"),
    ("--output=/home/victim/.bashrc", "moves files or the environment"),
    ("--error=/tmp/x", "moves files or the environment"),
    ("--chdir=/", "moves files or the environment"),
    ("--export=ALL,LD_PRELOAD=/tmp/x.so", "moves files or the environment"),
    ("--wrap=id", "moves files or the environment"),
    ("--uid=0", "moves files or the environment"),
    ("--qos=normal\r", "is not one sbatch option"),
    ("--qos=normal\x00", "is not one sbatch option"),
    ("--qos=normal\u2028", "is not one sbatch option"),
    ("--qos=normal\n", "is not one sbatch option"),
    ("-q normal", "is not one sbatch option"),
    ("--x11", "is not an option for a study's jobs"),
]


@pytest.mark.parametrize(("item", "words"), HOSTILE_SBATCH)
def test_a_hostile_sbatch_item_is_refused_in_one_line(tmp_path: Path, item: str, words: str) -> None:
    import yaml

    path = tmp_path / "study.yaml"
    path.write_text(EXPERIMENT + yaml.safe_dump({"executor": {"sbatch": ["--qos=normal", item]}}))
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}:") and "executor.sbatch" in msg, msg
    assert words in msg and "fix:" in msg, msg


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time", "10\n"),
        ("time", "١٠"),
        ("mem", "8G\n"),
        ("mem", "٨G"),
        ("partition", "gpu\n"),
        ("account", "lab\n"),
    ],
)
def test_names_and_sizes_are_matched_whole_and_ascii(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        SlurmSettings(**{field: value})


def test_allowed_sbatch_options_pass(tmp_path: Path) -> None:
    ok = ["--qos=normal", "--constraint=a100", "--mail-type=END", "--mail-user=me@uni.edu", "--hold"]
    assert SlurmSettings(sbatch=ok).sbatch == ok


def _slurm_run(runs_dir: Path, **extra: object) -> Path:
    run = runs_dir / "20260101-000000-x-0000"
    run.mkdir(parents=True)
    lifecycle.create(run, contract.RunMeta(run_id=run.name, name="x", trainer="fake"), "name: x\n")
    contract.update_meta(run, executor="slurm", **extra)
    return run


def test_a_trainer_module_edited_into_meta_is_refused_by_the_slurm_job(tmp_path: Path) -> None:
    run = _slurm_run(tmp_path, trainer_module="tests.fake_trainer --evil", slurm_job_id="41")
    env = {**os.environ, "SLURM_JOB_ID": "41", "PYTHONPATH": str(PROJECT_ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "hw2.slurm.job", str(run)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    meta = contract.read_meta(run)
    assert meta is not None and meta.status == "failed", (meta, out.stderr)
    assert "not a Python module name" in (meta.error or ""), meta.error
    assert not (run / contract.LOG_FILE).exists() or "launching" not in (run / contract.LOG_FILE).read_text()
    with pytest.raises(launch.LaunchError, match="not a Python module name"):
        launch.run_trainer_module(contract.RunMeta(run_id="r", name="r", extra={"trainer_module": "os\n"}))


@pytest.mark.parametrize("job", ["12; rm -rf ~", "-1", "--signal=KILL 1", "12\n", "١٢", "12_", "_4"])
def test_a_job_id_edited_into_meta_never_reaches_slurm(tmp_path: Path, job: str) -> None:
    with pytest.raises(commands.SlurmError, match="is not a Slurm job id"):
        commands.scancel([job])
    with pytest.raises(commands.SlurmError, match="is not a Slurm job id"):
        commands.ended_jobs([job])
    run = _slurm_run(tmp_path, slurm_job_id=job)
    contract.update_meta(run, status="running", started=1.0)
    meta = contract.read_meta(run)
    assert meta is not None and not monitor.watched(meta)  # the monitor never asks Slurm about it
    with pytest.raises(control.ControlError, match="is not a Slurm job id"):
        control.kill(tmp_path, run.name)
    assert commands.job_id("123") == "123" and commands.job_id("123_4") == "123_4"
