"""Small training recipes the checkpoint and resume tests share (plain dicts: no framework import)."""

from __future__ import annotations

from typing import Any

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
