"""Single experiments: read, override and validate one YAML; the runs to launch (PlannedRun)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hw2 import registry
from hw2.config.errors import ConfigError, Loc, _did_you_mean
from hw2.config.executor import config_mapping
from hw2.config.overrides import OVERRIDE_FILE, _apply_layer, _split_overrides
from hw2.config.validation import _from_validation, _Layer
from hw2.config.yaml_lines import _Doc, _looks_like_study, _read_doc
from hw2.schema import ExperimentConfig


def _validate(data: dict[str, Any], layers: list[_Layer]) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(exc, ExperimentConfig, layers) from None
    except RecursionError:
        first = layers[0]
        raise ConfigError(
            "nested too deeply", file=first.doc.file, line=1, hint="remove recursive aliases"
        ) from None


def _cli_sets(cli: list[tuple[str, Loc, Any, int]]) -> list[tuple[Loc, Any, _Layer]]:
    """``--set`` overrides as (path, value, layer); the layer names file ``--set`` and the position."""
    doc = _Doc(file=OVERRIDE_FILE, data=None, lines={})
    return [(path, value, _Layer(path=path, doc=doc, line=pos)) for _d, path, value, pos in cli]


def _apply_cli(
    data: dict[str, Any], layers: list[_Layer], cli: list[tuple[str, Loc, Any, int]]
) -> dict[str, Any]:
    for path, value, layer in _cli_sets(cli):
        data = _apply_layer(data, layers, path, value, layer)
    return data


def _default_name(cfg: ExperimentConfig, path: str) -> ExperimentConfig:
    if cfg.name is None:
        stem = Path(path).stem[:80] or "run"
        try:
            cfg.name = stem
        except ValidationError:
            cfg.name = "run"
    return cfg


def load_experiment(path: str | os.PathLike[str], overrides: list[str] | None = None) -> ExperimentConfig:
    """Read, override and validate one experiment YAML. Raises only :class:`ConfigError`.

    ``name`` defaults to the file name (without extension).
    """
    cli = _split_overrides(overrides)
    doc = _read_doc(path)
    data = config_mapping(doc)
    if _looks_like_study(data):
        raise ConfigError(
            "this is a study (sweep), not a single experiment",
            file=doc.file,
            line=doc.line_of(("study",) if "study" in data else ("base",)),
            field="study" if "study" in data else "base",
            hint="expand it with expand_study / 'hw2-tui sweep'",
        )
    layers = [_Layer(path=(), doc=doc)]
    data = _apply_cli(data, layers, cli)
    return _default_name(_validate(data, layers), doc.file)


def is_study(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a study file (top-level ``study:`` or ``base:``). False if unreadable."""
    try:
        data = _read_doc(path).data
    except ConfigError:
        return False
    return isinstance(data, dict) and _looks_like_study(data)


@dataclass
class PlannedRun:
    """One run to launch: its resolved config and where it came from.

    ``config_path`` is the experiment file the run is based on and ``overrides`` every dotted key
    changed on top of it (study ``set``, variant, grid, seed and ``--set``), in application order:
    ``load_experiment(config_path, overrides_to_args(overrides))`` gives ``cfg`` except ``name``
    and, for a study run, ``description`` (a study run describes its variant, see
    :func:`hw2.config.expand_study`).

    The run's identity within a study: ``variant`` is the variant name and/or grid cell label (the
    run name without its ``-s<seed>`` suffix; None for a single experiment, its name when it is
    repeated over seeds), ``seed`` the run's seed, ``study_file`` the study YAML it was expanded
    from (None for a single experiment).
    """

    name: str
    cfg: ExperimentConfig
    config_path: str
    study: str | None
    overrides: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    seed: int | None = None
    study_file: str | None = None


def trainer_module(name: str) -> str:
    """The module the launcher runs as ``python -m MODULE`` for trainer ``name``.

    The names come from :mod:`hw2.registry`; an unknown name (with a did-you-mean) or a malformed
    ``$HW2_EXTRA_TRAINERS`` becomes a :class:`ConfigError` on field ``trainer``.
    """
    try:
        return registry.trainer_module(name)
    except registry.UnknownTrainer as exc:
        message = str(exc) + (_did_you_mean(name, exc.known) if exc.known else "")
        raise ConfigError(message, field="trainer", hint=exc.hint) from None
