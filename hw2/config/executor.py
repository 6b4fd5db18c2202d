"""The ``executor:`` section: where a launch runs (``local`` or ``slurm``) and what each Slurm job
asks for. It may stand in a project's ``hw2-slurm.yaml``, in an experiment file and in a study file::

    executor:
      kind: slurm             # the executor a launch of this file uses when none is named (local/slurm)
      partition: gpu
      account: my-lab
      time: "02:00:00"        # Slurm's --time: minutes, MM:SS, HH:MM:SS or D-HH:MM:SS
      gpus: 1                 # --gres=gpu:N per run (0: a CPU job)
      cpus: 4                 # --cpus-per-task
      mem: 16G                # --mem (a number with K/M/G/T)
      array_parallelism: 8    # at most this many runs of a study at once (--array=...%8)
      grace: 120              # seconds before the time limit: checkpoint, requeue, resume (0: off)
      max_restarts: 3         # requeues (time limit, preemption, lost node) a run resumes after
      sbatch: ["--qos=normal", "--constraint=a100"]   # extra #SBATCH options (SBATCH_ALLOWED), one per item

Every key is optional. The section says how and where runs go, not what they compute: it is not
part of a run's config (``config.yaml``), its identity or its hash. Layers, later ones winning key
by key: the project file, the study's base experiment, the study, then ``--executor`` at launch
(:func:`hw2.slurm.settings.resolve`). A problem is one line naming file, line and field, e.g.
``study.yaml:7: executor.gpus: must be >= 0 ...``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hw2.config.errors import ConfigError
from hw2.config.validation import _from_validation, _Layer
from hw2.config.yaml_lines import _Doc, _looks_like_study, _read_doc, _require_mapping

SECTION: Final = "executor"

# Every pattern is matched whole (fullmatch) and ASCII-only: `$` would let a trailing newline
# through, and `\d` would accept Arabic-Indic digits. The values go into the job script.
_TIME_RE = re.compile(r"([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}|[0-9]+-[0-9]+", re.ASCII)
_MEM_RE = re.compile(r"[0-9]+[KMGT]?", re.ASCII)
_WORD_RE = re.compile(r"[A-Za-z0-9_.,-]+", re.ASCII)
_SBATCH_RE = re.compile(r"--(?P<name>[a-z][a-z0-9-]*)(=(?P<value>[A-Za-z0-9_.,:=@+/%-]+))?", re.ASCII)
SBATCH_ALLOWED: Final = frozenset(
    {
        "qos", "constraint", "reservation", "nice", "exclude", "nodelist", "gres", "mail-type",
        "mail-user", "hold", "begin", "comment", "exclusive", "gpus", "gpus-per-node", "gpus-per-task",
        "cpus-per-gpu", "mem-per-cpu", "mem-per-gpu", "tmp", "licenses", "time-min", "priority",
        "dependency", "wckey", "cluster-constraint", "prefer",
    }
)  # fmt: skip
"""``executor.sbatch`` options that make sense for a study: where and when its jobs run."""
SBATCH_REFUSED: Final = frozenset(
    {"output", "error", "input", "chdir", "export", "export-file", "wrap", "uid", "gid", "get-user-env",
     "open-mode", "array", "requeue", "no-requeue", "signal", "job-name", "propagate", "container"}
)  # fmt: skip
"""Options that move files or the environment, or that the tool sets itself."""


class SlurmSettings(BaseModel):
    """An ``executor:`` section (see the module docstring): the executor kind and what each Slurm
    job of a submission asks for."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "slurm"] | None = Field(
        None, description="the executor a launch uses when none is named (default: local)"
    )
    partition: str | None = Field(None, description="Slurm partition (--partition); default: the cluster's")
    account: str | None = Field(None, description="Slurm account (--account)")
    time: str | None = Field(None, description="time limit per run (--time), e.g. '30', '02:00:00'")
    gpus: Annotated[int, Field(ge=0, le=64)] = Field(0, description="GPUs per run (--gres=gpu:N)")
    cpus: Annotated[int, Field(ge=1, le=1024)] = Field(1, description="CPUs per run (--cpus-per-task)")
    mem: str | None = Field(None, description="memory per run (--mem), e.g. '8G'")
    array_parallelism: Annotated[int, Field(ge=1)] | None = Field(
        None, description="at most this many runs of one study at once (--array=...%N)"
    )
    grace: Annotated[int, Field(ge=0, le=3600)] = Field(
        120,
        description="seconds before the time limit when a job checkpoints and requeues itself (--signal=B:USR1@N; 0: off)",
    )
    max_restarts: Annotated[int, Field(ge=0, le=100)] = Field(
        3, description="times a requeued job (time limit, preemption, lost node) resumes its run"
    )
    sbatch: list[str] = Field(
        default_factory=list,
        description="extra #SBATCH options, one long option per item, from an allow-list (--qos, --constraint, --reservation, ...)",
    )

    @field_validator("time")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None and not _TIME_RE.fullmatch(str(value).strip(" ")):
            raise ValueError(f"{value!r} is not a Slurm time; write minutes or HH:MM:SS, e.g. '01:30:00'")
        return None if value is None else str(value).strip(" ")

    @field_validator("mem")
    @classmethod
    def _mem(cls, value: str | None) -> str | None:
        if value is not None and not _MEM_RE.fullmatch(str(value).strip(" ").upper()):
            raise ValueError(f"{value!r} is not a Slurm memory size; write e.g. '8G' or '500M'")
        return None if value is None else str(value).strip(" ").upper()

    @field_validator("partition", "account")
    @classmethod
    def _word(cls, value: str | None) -> str | None:
        if value is not None and not _WORD_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a Slurm name (letters, digits, _ . , - only)")
        return value

    @field_validator("sbatch")
    @classmethod
    def _lines(cls, value: list[str]) -> list[str]:
        for item in value:
            m = _SBATCH_RE.fullmatch(item.strip(" "))
            if m is None:
                raise ValueError(
                    f"{item!r} is not one sbatch option; fix: write one long option per item, "
                    "e.g. '--qos=normal' (letters, digits and _ . , : = @ + / % - only)"
                )
            name = m.group("name")
            if name in SBATCH_REFUSED:
                raise ValueError(
                    f"{item!r}: --{name} moves files or the environment, or is set by hw2-tui: "
                    "refused; fix: remove it (the run's output goes to its train.log)"
                )
            if name not in SBATCH_ALLOWED:
                raise ValueError(
                    f"{item!r}: --{name} is not an option for a study's jobs; "
                    f"fix: use one of --{', --'.join(sorted(SBATCH_ALLOWED))}"
                )
        return [item.strip(" ") for item in value]

    def over(self, lower: SlurmSettings) -> SlurmSettings:
        """These settings on top of ``lower``: a key written here wins, the rest come from ``lower``."""
        return lower.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")  # the rest of the file is the experiment's or study's

    executor: SlurmSettings = Field(default_factory=SlurmSettings)


class _SettingsFile(_Section):
    model_config = ConfigDict(extra="forbid")  # a settings file holds the section and nothing else


def section(doc: _Doc, *, whole_file: bool = False) -> SlurmSettings:
    """The ``executor:`` section of ``doc`` (a mapping), validated; empty settings when absent.
    ``whole_file``: the file is a settings file, so any other top-level key is an error."""
    model: type[BaseModel] = _SettingsFile if whole_file else _Section
    try:
        parsed = model.model_validate(doc.data if isinstance(doc.data, dict) else {})
    except ValidationError as exc:
        raise _from_validation(exc, model, [_Layer(path=(), doc=doc)]) from None
    found = parsed.executor  # type: ignore[attr-defined]
    assert isinstance(found, SlurmSettings)
    return found


def config_mapping(doc: _Doc) -> dict[str, Any]:
    """An experiment's or study's top-level mapping with its ``executor:`` section checked and taken
    out: the section decides where runs go, not what they compute (see the module docstring)."""
    data = _require_mapping(doc)
    if SECTION not in data:
        return data
    section(doc)
    return {k: v for k, v in data.items() if k != SECTION}


def file_settings(path: str | os.PathLike[str]) -> SlurmSettings:
    """The ``executor:`` settings an experiment or study file asks for: for a study, its base
    experiment's section with the study's own on top. Keys written nowhere stay unset
    (:meth:`SlurmSettings.over` leaves them to the project file). Raises :class:`ConfigError`."""
    doc = _read_doc(path)
    own = section(doc)
    data = doc.data if isinstance(doc.data, dict) else {}
    base = data.get("base") if _looks_like_study(data) else None
    if not isinstance(base, str):
        return own
    base_doc = _read_doc(os.path.normpath(os.path.join(os.path.dirname(doc.file), base)))
    return own.over(section(base_doc))


def settings_file_section(path: Path) -> SlurmSettings:
    """The section of a project settings file (``hw2-slurm.yaml``); empty settings for an empty
    file. Raises :class:`ConfigError` for anything but one ``executor:`` mapping."""
    doc = _read_doc(path)
    if doc.data is None:
        return SlurmSettings()
    if not isinstance(doc.data, dict):
        raise ConfigError(
            "must be a mapping with one key, executor:", file=str(path), line=1, hint="see docs/slurm.md"
        )
    return section(doc, whole_file=True)
