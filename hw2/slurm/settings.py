"""The Slurm executor's settings: what every job of a submission asks Slurm for.

Read from a project-level file, ``hw2-slurm.yaml`` in the working directory (or the file named by
``$HW2_SLURM_CONFIG``), all keys optional::

    executor:
      partition: gpu
      account: my-lab
      time: "02:00:00"        # Slurm's --time: minutes, MM:SS, HH:MM:SS or D-HH:MM:SS
      gpus: 1                 # --gres=gpu:N per run (0: a CPU job)
      cpus: 4                 # --cpus-per-task
      mem: 16G                # --mem (a number with K/M/G/T)
      array_parallelism: 8    # at most this many runs of a study at once (--array=...%8)
      sbatch: ["--qos=normal", "--constraint=a100"]   # extra #SBATCH lines, verbatim

A problem is one line naming file, line and field (the config layer's machinery:
:mod:`hw2.config.validation`), e.g. ``hw2-slurm.yaml:4: executor.gpus: must be >= 0 ...``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hw2.config.errors import ConfigError
from hw2.config.validation import _from_validation, _Layer
from hw2.config.yaml_lines import _read_doc

SETTINGS_FILE: Final = "hw2-slurm.yaml"
SETTINGS_ENV: Final = "HW2_SLURM_CONFIG"

_TIME_RE = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$|^\d+-\d+$")
_MEM_RE = re.compile(r"^\d+[KMGT]?$")
_SBATCH_RE = re.compile(r"^--?[A-Za-z][A-Za-z0-9-]*(=\S.*)?$|^-[A-Za-z] \S+$")


class SlurmSettings(BaseModel):
    """What each job of a submission asks Slurm for (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    partition: str | None = Field(None, description="Slurm partition (--partition); default: the cluster's")
    account: str | None = Field(None, description="Slurm account (--account)")
    time: str | None = Field(None, description="time limit per run (--time), e.g. '30', '02:00:00'")
    gpus: Annotated[int, Field(ge=0, le=64)] = Field(0, description="GPUs per run (--gres=gpu:N)")
    cpus: Annotated[int, Field(ge=1, le=1024)] = Field(1, description="CPUs per run (--cpus-per-task)")
    mem: str | None = Field(None, description="memory per run (--mem), e.g. '8G'")
    array_parallelism: Annotated[int, Field(ge=1)] | None = Field(
        None, description="at most this many runs of one study at once (--array=...%N)"
    )
    sbatch: list[str] = Field(default_factory=list, description="extra #SBATCH options, verbatim")

    @field_validator("time")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None and not _TIME_RE.match(str(value).strip()):
            raise ValueError(f"{value!r} is not a Slurm time; write minutes or HH:MM:SS, e.g. '01:30:00'")
        return None if value is None else str(value).strip()

    @field_validator("mem")
    @classmethod
    def _mem(cls, value: str | None) -> str | None:
        if value is not None and not _MEM_RE.match(str(value).strip().upper()):
            raise ValueError(f"{value!r} is not a Slurm memory size; write e.g. '8G' or '500M'")
        return None if value is None else str(value).strip().upper()

    @field_validator("partition", "account")
    @classmethod
    def _word(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9_.,-]+$", value):
            raise ValueError(f"{value!r} is not a Slurm name (letters, digits, _ . , - only)")
        return value

    @field_validator("sbatch")
    @classmethod
    def _lines(cls, value: list[str]) -> list[str]:
        for item in value:
            if "\n" in item or not _SBATCH_RE.match(item.strip()):
                raise ValueError(f"{item!r} is not one sbatch option; write e.g. '--qos=normal'")
        return [item.strip() for item in value]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    executor: SlurmSettings = Field(default_factory=SlurmSettings)


def settings_path(cwd: str | os.PathLike[str] | None = None) -> Path:
    """``$HW2_SLURM_CONFIG``, else ``hw2-slurm.yaml`` in ``cwd`` (default: the working directory)."""
    named = os.environ.get(SETTINGS_ENV)
    if named:
        return Path(named)
    return Path(cwd or os.getcwd()) / SETTINGS_FILE


def load_settings(path: str | os.PathLike[str] | None = None) -> SlurmSettings:
    """The settings in ``path`` (default :func:`settings_path`); defaults when the default file is
    absent. Raises :class:`hw2.config.ConfigError` (one line: file, line, field, fix)."""
    explicit = path is not None or bool(os.environ.get(SETTINGS_ENV))
    file = Path(path) if path is not None else settings_path()
    if not file.exists() and not explicit:
        return SlurmSettings()
    doc = _read_doc(file)
    if doc.data is None:
        return SlurmSettings()
    if not isinstance(doc.data, dict):
        raise ConfigError(
            "must be a mapping with one key, executor:", file=str(file), line=1, hint="see docs/slurm.md"
        )
    try:
        return _File.model_validate(doc.data).executor
    except ValidationError as exc:
        raise _from_validation(exc, _File, [_Layer(path=(), doc=doc)]) from None
