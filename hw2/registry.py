"""The one registry of trainers: trainer name → the module the launcher runs as ``python -m MODULE``.

``mlp`` and ``cnn`` are built in; more can be registered with the environment variable
``HW2_EXTRA_TRAINERS="name=python.module,..."`` (the tests register ``fake=tests.fake_trainer``).

Stdlib only (no pydantic, no YAML): the launcher, the scheduler and the config schema all read it,
and the launcher is on the TUI's cold-start path. Callers turn :class:`UnknownTrainer` into their
own one-line error (``ConfigError`` in the config layer, ``LaunchError`` in the launcher).
"""

from __future__ import annotations

import os
import re
from typing import Final

BUILTIN_TRAINER_MODULES: Final[dict[str, str]] = {"mlp": "trainers.mlp", "cnn": "trainers.cnn"}
EXTRA_TRAINERS_ENV: Final = "HW2_EXTRA_TRAINERS"

TRAINER_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)
MODULE_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
"""A dotted Python module name; matched whole (``fullmatch``)."""


class UnknownTrainer(ValueError):
    """A trainer name that is not registered, or a malformed ``$HW2_EXTRA_TRAINERS``.

    ``str()`` is the one-line reason; ``hint`` says how to fix it; ``known`` lists the names.
    """

    def __init__(self, message: str, hint: str, known: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.hint = hint
        self.known = known


def extra_trainers(spec: str | None = None) -> dict[str, str]:
    """Trainers registered through ``$HW2_EXTRA_TRAINERS`` (``name=module,...``), name → module.

    Raises :class:`UnknownTrainer` (a ValueError) with a one-line reason for a malformed entry, so
    a typo in the variable is reported instead of silently dropping the trainer.
    """
    if spec is None:
        spec = os.environ.get(EXTRA_TRAINERS_ENV, "")
    hint = f"set {EXTRA_TRAINERS_ENV} to name=python.module[,...]"
    out: dict[str, str] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        name, sep, module = (part.strip() for part in entry.partition("="))
        if not sep or not TRAINER_NAME_RE.fullmatch(name) or not MODULE_NAME_RE.fullmatch(module):
            raise UnknownTrainer(
                f"{EXTRA_TRAINERS_ENV}: bad entry {entry!r} (expected name=python.module)", hint
            )
        if name in BUILTIN_TRAINER_MODULES:
            raise UnknownTrainer(
                f"{EXTRA_TRAINERS_ENV}: {name!r} is a built-in trainer and cannot be redefined", hint
            )
        out[name] = module
    return out


def trainer_modules() -> dict[str, str]:
    """Every known trainer name → the module run as ``python -m MODULE`` (built-ins first)."""
    return {**BUILTIN_TRAINER_MODULES, **extra_trainers()}


def trainer_module(name: str) -> str:
    """The module that runs trainer ``name``; :class:`UnknownTrainer` when there is none."""
    modules = trainer_modules()
    if name not in modules:
        known = tuple(modules)
        raise UnknownTrainer(
            f"unknown trainer {name!r}",
            f"use one of: {', '.join(known)}; register more with {EXTRA_TRAINERS_ENV}",
            known,
        )
    return modules[name]
