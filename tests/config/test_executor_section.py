"""The ``executor:`` section (hw2.config.executor): in a project's hw2-slurm.yaml, an experiment and
a study; validated like every config field (one line: file, line, field, fix); layered project →
base experiment → study → ``--executor``; never part of a run's config, identity or hash. No Slurm
is needed here: the sbatch script is text (hw2.slurm.submit.job_script)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hw2 import run_keys
from hw2.config import ConfigError, expand_study, load_experiment
from hw2.config.executor import SlurmSettings, file_settings
from hw2.slurm.settings import SETTINGS_ENV, load_settings, resolve
from hw2.slurm.submit import job_script

EXPERIMENT = """\
name: exp
trainer: mlp
model: {name: mlp, hidden: [16]}
optimizer: {name: sgd, lr: 0.1}
train: {epochs: 1, batch_size: 64}
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _no_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # no hw2-slurm.yaml here unless a test writes one


def test_a_study_and_its_base_layer_over_the_project_file(tmp_path: Path) -> None:
    _write(tmp_path / "hw2-slurm.yaml", "executor:\n  partition: cpu\n  account: lab\n  time: '10'\n")
    _write(tmp_path / "c" / "exp.yaml", EXPERIMENT + "executor:\n  partition: gpu\n  gpus: 1\n")
    study = _write(
        tmp_path / "c" / "st.yaml",
        "study: S\nbase: exp.yaml\ngrid: {optimizer.lr: [0.1, 0.2]}\n"
        "executor:\n  kind: slurm\n  time: '02:00:00'\n  array_parallelism: 1\n",
    )
    kind, settings = resolve(study)
    assert kind == "slurm"
    assert settings.partition == "gpu" and settings.gpus == 1  # the base experiment's
    assert settings.account == "lab"  # the project file's, written nowhere else
    assert settings.time == "02:00:00" and settings.array_parallelism == 1  # the study's
    assert resolve(study, "local")[0] == "local"  # --executor wins
    assert resolve(tmp_path / "c" / "exp.yaml") == (
        "local",
        settings.model_copy(update={"kind": None, "time": "10", "array_parallelism": None}),
    )
    script = job_script([tmp_path / "r1", tmp_path / "r2"], settings, name="hw2-S")
    for line in ("--partition=gpu", "--account=lab", "--time=02:00:00", "--gres=gpu:1", "--array=0-1%1"):
        assert f"#SBATCH {line}" in script


def test_the_section_is_not_part_of_a_runs_config_or_identity(tmp_path: Path) -> None:
    plain = _write(tmp_path / "a" / "exp.yaml", EXPERIMENT)
    sectioned = _write(tmp_path / "b" / "exp.yaml", EXPERIMENT + "executor: {kind: slurm, gpus: 2}\n")
    a, b = load_experiment(plain), load_experiment(sectioned)
    assert a == b and "executor" not in b.model_dump()
    assert run_keys.identity(a) == run_keys.identity(b) and run_keys.config_hash(a) == run_keys.config_hash(b)
    study = _write(tmp_path / "b" / "st.yaml", "study: S\nbase: exp.yaml\nexecutor: {cpus: 4}\n")
    [run] = expand_study(study)
    assert run_keys.identity(run.cfg) == run_keys.identity(a)
    assert file_settings(study).cpus == 4 and file_settings(study).gpus == 2


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("executor:\n  gpus: -1\n", 7, "executor.gpus", "must be >= 0 (got -1)"),
        ("executor:\n  kind: cluster\n", 7, "executor.kind", "must be one of local, slurm"),
        ("executor:\n  time: soon\n", 7, "executor.time", "is not a Slurm time"),
        ("executor:\n  mem: lots\n", 7, "executor.mem", "is not a Slurm memory size"),
        ("executor:\n  sbatch: [qos=normal]\n", 7, "executor.sbatch", "is not one sbatch option"),
        ("executor:\n  partiton: gpu\n", 7, "executor.partiton", "partition"),  # did you mean
        ("executor: 3\n", 6, "executor", "mapping"),
    ],
)
def test_a_bad_section_is_one_line_with_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    path = _write(tmp_path / "exp.yaml", EXPERIMENT + text)
    for load in (load_experiment, expand_study, file_settings):
        with pytest.raises(ConfigError) as info:
            load(path)
        msg = str(info.value)
        assert "\n" not in msg and msg.startswith(f"{path}:{line}: {field}"), msg
        assert words in msg, msg


def test_a_bad_section_in_a_study_names_the_study(tmp_path: Path) -> None:
    _write(tmp_path / "exp.yaml", EXPERIMENT)
    study = _write(tmp_path / "st.yaml", "study: S\nbase: exp.yaml\nexecutor:\n  cpus: 0\n")
    with pytest.raises(ConfigError) as info:
        expand_study(study)
    assert str(info.value).startswith(f"{study}:4: executor.cpus"), str(info.value)


def test_the_project_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings() == SlurmSettings()  # no file: the defaults
    _write(tmp_path / "hw2-slurm.yaml", "executor:\n  kind: slurm\n  cpus: 2\n")
    assert load_settings().cpus == 2 and resolve(None) == ("slurm", load_settings())
    bad = _write(tmp_path / "named.yaml", "executor: {cpus: 2}\npartition: gpu\n")
    monkeypatch.setenv(SETTINGS_ENV, str(bad))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(f"{bad}:2: partition"), str(info.value)
    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "missing.yaml"))  # named but absent: an error
    with pytest.raises(ConfigError):
        load_settings()


def test_settings_written_in_yaml_round_trip(tmp_path: Path) -> None:
    text = yaml.safe_dump({"executor": {"sbatch": ["--qos=normal", "--constraint=a100"], "mem": "8g"}})
    _write(tmp_path / "hw2-slurm.yaml", text)
    settings = load_settings()
    assert settings.sbatch == ["--qos=normal", "--constraint=a100"] and settings.mem == "8G"
