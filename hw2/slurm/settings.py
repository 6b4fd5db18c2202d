"""The Slurm executor's settings: what every job of a submission asks Slurm for, and which executor
a launch uses when none is named.

The keys are those of an ``executor:`` section (:mod:`hw2.config.executor`, where they are checked).
Layers, later ones winning key by key:

1. the project-level file, ``hw2-slurm.yaml`` in the working directory (or the file named by
   ``$HW2_SLURM_CONFIG``), whose only key is ``executor:``;
2. the ``executor:`` section of the launched experiment, or of a study's base experiment;
3. the study's own ``executor:`` section;
4. ``--executor local|slurm`` at launch (the kind only).

A problem is one line naming file, line and field (the config layer's machinery:
:mod:`hw2.config.validation`), e.g. ``hw2-slurm.yaml:4: executor.gpus: must be >= 0 ...``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from hw2.config.errors import ConfigError
from hw2.config.executor import SlurmSettings, file_settings, settings_file_section
from hw2.contract import RunMeta

__all__ = [
    "SETTINGS_ENV",
    "SETTINGS_FILE",
    "SlurmSettings",
    "load_settings",
    "resolve",
    "resolve_planned",
    "run_settings",
]

SETTINGS_FILE: Final = "hw2-slurm.yaml"
SETTINGS_ENV: Final = "HW2_SLURM_CONFIG"


def settings_path(cwd: str | os.PathLike[str] | None = None) -> Path:
    """``$HW2_SLURM_CONFIG``, else ``hw2-slurm.yaml`` in ``cwd`` (default: the working directory)."""
    named = os.environ.get(SETTINGS_ENV)
    if named:
        return Path(named)
    return Path(cwd or os.getcwd()) / SETTINGS_FILE


def load_settings(path: str | os.PathLike[str] | None = None) -> SlurmSettings:
    """The project-level settings in ``path`` (default :func:`settings_path`); defaults when the
    default file is absent. Raises :class:`hw2.config.ConfigError` (one line: file, line, field, fix)."""
    explicit = path is not None or bool(os.environ.get(SETTINGS_ENV))
    file = Path(path) if path is not None else settings_path()
    if not file.exists() and not explicit:
        return SlurmSettings()
    return settings_file_section(file)


def resolve(
    config_file: str | os.PathLike[str] | None, executor: str | None = None
) -> tuple[str, SlurmSettings]:
    """``(kind, settings)`` for a launch of ``config_file`` (an experiment or a study; None: the
    project file only): the layers of the module docstring. ``kind`` is ``executor`` when given,
    else the settings' ``kind``, else ``local``. Raises :class:`hw2.config.ConfigError`."""
    settings = load_settings()
    if config_file is not None:
        settings = file_settings(config_file).over(settings)
    return executor or settings.kind or "local", settings


def resolve_planned(planned: Any, executor: str | None = None) -> tuple[str, SlurmSettings]:
    """:func:`resolve` for a planned run (:class:`hw2.config.PlannedRun`): its study file, else
    the experiment it came from."""
    return resolve(planned.study_file or planned.config_path, executor)


def run_settings(meta: RunMeta) -> SlurmSettings:
    """The settings for resubmitting an existing run (``requeue``): the layers as they read now, for
    the study or experiment the run came from; the project file's alone when that file is gone."""
    source = meta.extra.get("study_file") or meta.config_path
    if isinstance(source, str) and source:
        try:
            return resolve(source)[1]
        except ConfigError:
            if Path(source).exists():
                raise  # a file that is there but wrong is the user's to fix, not to skip
    return load_settings()
