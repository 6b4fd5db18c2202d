"""Small training recipes and the killed context the checkpoint and resume tests share (no
framework import here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainers.common import RunContext, RunKilled

CNN_REGULARIZED: dict[str, Any] = {
    "model": {"name": "regularized", "channels": [8, 16], "batch_norm": True, "dropout": 0.3},
    "augment": {"enabled": True, "flip": True, "crop_padding": 4},
    "optimizer": {
        "name": "momentum",
        "lr": 0.01,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 5e-4,
        "schedule": {"name": "onecycle", "max_lr": 0.1, "pct_start": 0.25},
    },
}
"""The regularised net at toy size: BatchNorm, dropout, augmentation, Nesterov, one-cycle lr."""


def experiment(trainer: str, name: str, epochs: int, batch_size: int, sections: dict[str, Any]) -> Any:
    """A tiny one-thread experiment of ``trainer`` (val split 0.25, a progress line per batch) with
    ``sections`` merged over it: the checkpoint tests' runs."""
    from hw2.schema import ExperimentConfig

    d: dict[str, Any] = {
        "name": name,
        "trainer": trainer,
        "seed": 0,
        "data": {"val_split": 0.25},
        "train": {"epochs": epochs, "batch_size": batch_size, "progress_every": 1},
        "perf": {"threads": 1},
    }
    for key, value in sections.items():
        d[key] = {**d.get(key, {}), **value}
    return ExperimentConfig.model_validate(d)


@dataclass
class KilledContext(RunContext):
    """A RunContext whose run is stopped (RunKilled, as on SIGTERM) at epoch ``kill_epoch``'s first
    progress line, i.e. in the middle of that epoch's training."""

    kill_epoch: int = 0

    def progress(self, epoch: int, *args: Any, **kwargs: Any) -> None:
        if epoch == self.kill_epoch:
            raise RunKilled("SIGTERM")
        super().progress(epoch, *args, **kwargs)


def epoch_lines(run_dir: Any) -> list[dict[str, Any]]:
    """The epoch lines of a run folder's ``metrics.jsonl``, in file order."""
    from hw2 import contract

    return [x for x in contract.iter_metrics(run_dir / contract.METRICS_FILE) if x["type"] == "epoch"]
