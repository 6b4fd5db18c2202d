"""The learning-rate schedule of a config as phases of epochs, shared by both trainers and the TUI.

``optimizer.schedule`` (:class:`hw2.schema.ScheduleConfig`) is defined per epoch, epochs counted
from 1 (E = ``train.epochs``, W = ``warmup_epochs``, lr = ``optimizer.lr``):

* warm-up (any schedule): epoch k <= W trains at lr * k / (W + 1);
* then, with t = k - W - 1 the epoch's index after the warm-up and N = E - W:

  - ``constant``: lr;
  - ``step``: lr * gamma ** (number of milestones m with k > m);
  - ``cosine``: min_lr + (lr - min_lr) * (1 + cos(pi * t / N)) / 2;
  - ``onecycle``: with U = round(pct_start * N) (kept within 1..N-1) rising epochs and D = N - U,
    lr + (max_lr - lr) * t / U for t < U, then
    min_lr + (max_lr - min_lr) * (1 + cos(pi * (t - U) / D)) / 2.

The trainers do not compute these formulas: the CNN chains ``torch.optim.lr_scheduler``'s
``LinearLR``, ``MultiStepLR`` and ``CosineAnnealingLR`` with ``SequentialLR``; the MLP evaluates
Keras' ``PolynomialDecay``, ``PiecewiseConstantDecay`` and ``CosineDecay`` (whose warm-up is the
onecycle rise) per epoch in a ``LearningRateScheduler`` callback. This module only says where each
phase starts and how long it is; ``tests/trainers/test_schedules.py`` holds both trainers to the
definition above. Framework-free and UI-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Phases:
    """Where each part of a schedule sits, in epochs (0-based indices into the run's epochs)."""

    name: str
    lr: float
    epochs: int
    warmup: int
    """Warm-up epochs (0: none)."""
    milestones: tuple[int, ...] = ()
    """step: milestones counted from the end of the warm-up (the number of post-warm-up epochs
    after which the lr drops)."""
    gamma: float = 0.1
    min_lr: float = 0.0
    max_lr: float | None = None
    rise: int = 0
    """onecycle: epochs of the linear rise (after the warm-up)."""

    @property
    def main(self) -> int:
        """Epochs of the named schedule, after the warm-up."""
        return self.epochs - self.warmup

    @property
    def warmup_start_factor(self) -> float:
        """The first warm-up epoch's lr as a fraction of the lr the warm-up leads to."""
        return 1.0 / (self.warmup + 1)

    @property
    def fall(self) -> int:
        """onecycle: epochs of the cosine fall."""
        return self.main - self.rise

    @property
    def constant(self) -> bool:
        """No schedule at all: the trainers then run exactly as before schedules existed."""
        return self.name == "constant" and self.warmup == 0


def phases(cfg: Any) -> Phases:
    """The phases of an :class:`~hw2.schema.ExperimentConfig`'s schedule."""
    s = cfg.optimizer.schedule
    epochs, warmup = cfg.train.epochs, s.warmup_epochs
    main = epochs - warmup
    rise = 0
    if s.name == "onecycle":
        rise = min(max(round(s.pct_start * main), 1), main - 1)
    return Phases(
        name=s.name,
        lr=cfg.optimizer.lr,
        epochs=epochs,
        warmup=warmup,
        milestones=tuple(m - warmup for m in s.milestones) if s.name == "step" else (),
        gamma=s.gamma,
        min_lr=s.min_lr,
        max_lr=s.max_lr,
        rise=rise,
    )


def describe(schedule: Any, lr: float, epochs: int) -> str:
    """One line for people: ``cosine 0.05 → 0 over 30 epochs, 2 warm-up``.

    ``schedule`` is a :class:`~hw2.schema.ScheduleConfig` or its dict (a run's config.yaml).
    """
    get = schedule.get if isinstance(schedule, dict) else (lambda k, d=None: getattr(schedule, k, d))
    name = get("name", "constant") or "constant"
    warm = int(get("warmup_epochs", 0) or 0)
    if name == "step":
        ms = ", ".join(str(m) for m in get("milestones", []) or [])
        text = f"step {lr:g}, x{get('gamma', 0.1):g} after epoch {ms}"
    elif name == "cosine":
        text = f"cosine {lr:g} → {get('min_lr', 0.0) or 0:g} over {epochs} epochs"
    elif name == "onecycle":
        text = (
            f"onecycle {lr:g} → {get('max_lr')} (first {get('pct_start', 0.3):.0%}) → "
            f"{get('min_lr', 0.0) or 0:g} over {epochs} epochs"
        )
    else:
        text = f"constant {lr:g}"
    if warm:
        text += f", {warm} warm-up epoch{'s' if warm > 1 else ''}"
    return text


def schedule_text(cfg: Any) -> str:
    """:func:`describe` for a whole config: an ExperimentConfig or a run's config dict (a run
    written before schedules existed has none: constant)."""
    if isinstance(cfg, dict):
        opt = cfg.get("optimizer") if isinstance(cfg.get("optimizer"), dict) else {}
        train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
        schedule = opt.get("schedule") if isinstance(opt.get("schedule"), dict) else {}
        try:
            return describe(schedule, float(opt.get("lr", 0.01)), int(train.get("epochs", 10)))
        except (TypeError, ValueError):
            return "unreadable"
    return describe(cfg.optimizer.schedule, cfg.optimizer.lr, cfg.train.epochs)
