"""Smoke runs: a study's configs shrunk to seconds, so a broken config fails before real runs queue.

Like Lightning's ``fast_dev_run``: every config runs through its real trainer for one epoch on a
small seeded subset (a few batches of training, validation and test), with everything else — the
model, batch size, optimizer, augmentation, perf settings — exactly as configured, so whatever
breaks a real run at its first batches (a model that does not fit its input, an optimizer setting
the framework refuses, a device that is not there) breaks the smoke run too, in seconds.
"""

from __future__ import annotations

from dataclasses import replace

from hw2.config.experiments import PlannedRun
from hw2.schema import NAME_MAX_LEN, ExperimentConfig

SMOKE_PREFIX = "smoke-"
SMOKE_MIN_TRAIN = 64  # training examples at least (the validation split comes out of these)
SMOKE_MAX_TRAIN = 1024  # and at most: two batches of a batch size up to 512
SMOKE_TEST = 32  # test examples


def smoke_config(cfg: ExperimentConfig) -> ExperimentConfig:
    """A copy of ``cfg`` that runs in seconds: 1 epoch, about two training batches, a few test examples.

    ``data.subset`` becomes ``2 * train.batch_size`` clamped to 64..1024 (never more than the
    config's own subset), ``data.test_subset`` 32 (or less), ``train.epochs`` 1; the name gets the
    ``smoke-`` prefix. Nothing else changes.
    """
    out = cfg.model_copy(deep=True)
    train = min(max(2 * cfg.train.batch_size, SMOKE_MIN_TRAIN), SMOKE_MAX_TRAIN)
    out.data.subset = min(cfg.data.subset or train, train)
    out.data.test_subset = min(cfg.data.test_subset or SMOKE_TEST, SMOKE_TEST)
    out.train.epochs = 1
    out.name = smoke_name(cfg.name or "run")
    return out


def smoke_name(name: str) -> str:
    """``name`` with the smoke prefix (once), within the schema's name length."""
    if name.startswith(SMOKE_PREFIX):
        return name[:NAME_MAX_LEN]
    return (SMOKE_PREFIX + name)[:NAME_MAX_LEN]


def smoke_planned(planned: PlannedRun) -> PlannedRun:
    """The smoke run of one planned run: :func:`smoke_config` of its config, same variant and file."""
    cfg = smoke_config(planned.cfg)
    return replace(planned, name=cfg.name or smoke_name(planned.name), cfg=cfg)
