"""Seeds as an axis: a study's runs grouped by variant, aggregated, and compared.

A *variant* is one arm of a study (a variant or a grid cell); its runs differ only in seed. Only
runs that ended ``done`` are aggregated; the others are counted and named (``"2 of 3 done"``), never
averaged in silently. Two variants are compared with Welch's t-test on a metric over seeds
(``scipy.stats.ttest_ind(equal_var=False)``), reported as the difference of means with its 95 %
confidence interval, the p-value, and a plain word.

UI-free and framework-free; scipy is imported only when a comparison is made.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hw2.runs.summary import RunSummary

ALPHA = 0.05
"""Significance level of a verdict (the confidence interval is ``1 - ALPHA``)."""

METRICS: dict[str, Callable[[RunSummary], float | None]] = {
    "best_val_acc": lambda s: s.best_val_acc,
    "test_acc": lambda s: s.test_acc,
    "train_loss": lambda s: s.latest.train_loss if s.latest else None,
    "val_loss": lambda s: s.latest.val_loss if s.latest else None,
    "train_acc": lambda s: s.latest.train_acc if s.latest else None,
    "val_acc": lambda s: s.latest.val_acc if s.latest else None,
    "best_epoch": lambda s: s.best_epoch,
    "epochs": lambda s: float(s.epochs_done) if s.epochs_done else None,
    "seconds_per_epoch": lambda s: s.seconds_per_epoch,
    "params": lambda s: s.params,
}
"""Per-run figures that can be aggregated over seeds, read from the run's summary."""

METRIC_NAMES: dict[str, str] = {
    "best_val_acc": "best validation accuracy (%)",
    "test_acc": "test accuracy (%)",
    "train_loss": "final train loss",
    "val_loss": "final validation loss",
    "train_acc": "final train accuracy (%)",
    "val_acc": "final validation accuracy (%)",
    "best_epoch": "best epoch",
    "epochs": "epochs run",
    "seconds_per_epoch": "seconds per epoch",
    "params": "parameters",
}
"""How a report names each of :data:`METRICS` (accuracies are shown in percent)."""

HIGHER_IS_BETTER = frozenset({"best_val_acc", "test_acc", "train_acc", "val_acc"})


@dataclass(frozen=True)
class Aggregate:
    """One metric over the done runs of a variant: n, mean, sample std (None when n < 2), min, max."""

    n: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Aggregate:
        xs = tuple(float(v) for v in values if v is not None and math.isfinite(v))
        if not xs:
            return cls(0, None, None, None, None, ())
        std = statistics.stdev(xs) if len(xs) > 1 else None
        return cls(len(xs), statistics.fmean(xs), std, min(xs), max(xs), xs)


@dataclass(frozen=True)
class VariantGroup:
    """The runs of one variant of a study, seeds aggregated."""

    study: str | None
    variant: str
    runs: tuple[RunSummary, ...]
    stats: dict[str, Aggregate] = field(default_factory=dict)

    @property
    def done(self) -> tuple[RunSummary, ...]:
        return tuple(r for r in self.runs if r.status == "done")

    @property
    def not_done(self) -> tuple[RunSummary, ...]:
        return tuple(r for r in self.runs if r.status != "done")

    @property
    def complete(self) -> bool:
        return bool(self.runs) and not self.not_done

    def done_text(self) -> str:
        """``"3 of 3 done"``, or ``"2 of 3 done (s2 failed)"`` naming the runs left out and why."""
        text = f"{len(self.done)} of {len(self.runs)} done"
        missing = [f"{_seed_label(r)} {r.status}" for r in self.not_done]
        return f"{text} ({', '.join(missing)})" if missing else text

    def seeds(self) -> list[int | None]:
        return [r.seed for r in self.runs]


def _seed_label(run: RunSummary) -> str:
    return f"s{run.seed}" if run.seed is not None else run.name


def variant_of(run: RunSummary) -> str:
    """The variant a run belongs to: its recorded variant, else its name (a lone experiment)."""
    return run.variant or run.name


def group_runs(runs: Iterable[RunSummary]) -> list[VariantGroup]:
    """Group runs by (study, variant) in first-seen order; aggregate every metric of :data:`METRICS`
    over each group's done runs. A requeued run replaces nothing: every attempt is a run."""
    order: dict[tuple[str | None, str], list[RunSummary]] = {}
    for run in runs:
        order.setdefault((run.study, variant_of(run)), []).append(run)
    groups = []
    for (study, variant), members in order.items():
        done = [r for r in members if r.status == "done"]
        stats = {name: Aggregate.of(get(r) for r in done) for name, get in METRICS.items()}
        groups.append(VariantGroup(study, variant, tuple(members), stats))
    return groups


@dataclass(frozen=True)
class Verdict:
    """``b`` compared with the reference ``a`` on ``metric`` (difference = mean(b) - mean(a))."""

    reference: str
    variant: str
    metric: str
    n_a: int
    n_b: int
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    word: str

    def p_text(self) -> str:
        """``p = 0.031`` (three decimals; ``p < 0.001`` below that), ``""`` without a test."""
        if self.p_value is None:
            return ""
        return "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3f}"

    def text(self, scale: float = 100.0, unit: str = " pt") -> str:
        """One line: ``sgd vs adam: -1.23 pt [95 % CI -2.01, -0.45], p = 0.004: worse``."""
        head = f"{self.variant} vs {self.reference}"
        if self.diff is None:
            return f"{head}: {self.word}"
        d = f"{self.diff * scale:+.2f}{unit}"
        if self.ci_low is None or self.ci_high is None:
            return f"{head}: {d}: {self.word}"
        ci = f"[95 % CI {self.ci_low * scale:+.2f}, {self.ci_high * scale:+.2f}]"
        return f"{head}: {d} {ci}, {self.p_text()}: {self.word}"


def compare(a: VariantGroup, b: VariantGroup, metric: str = "test_acc", alpha: float = ALPHA) -> Verdict:
    """Welch's t-test of ``b`` against the reference ``a`` on ``metric`` over their done seeds.

    Words: "better" / "worse" (the difference is significant at ``alpha``, in the metric's good or
    bad direction), "no clear difference", or — with a single seed on either side — "one seed each:
    no verdict (raise repeat)" (no variance can be estimated, so no test is made).
    """
    xa, xb = a.stats[metric], b.stats[metric]
    base: dict[str, Any] = {"reference": a.variant, "variant": b.variant, "metric": metric}
    if xa.n == 0 or xb.n == 0:
        return Verdict(
            **base,
            n_a=xa.n,
            n_b=xb.n,
            diff=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            word="no done runs: no verdict",
        )
    diff = (xb.mean or 0.0) - (xa.mean or 0.0)
    if xa.n < 2 or xb.n < 2:
        return Verdict(
            **base,
            n_a=xa.n,
            n_b=xb.n,
            diff=diff,
            ci_low=None,
            ci_high=None,
            p_value=None,
            word="one seed each: no verdict (raise repeat)",
        )
    if not (xa.std or xb.std):  # no spread on either side: nothing to test, the means say it all
        word = "no clear difference" if diff == 0 else _direction(metric, diff)
        return Verdict(
            **base, n_a=xa.n, n_b=xb.n, diff=diff, ci_low=None, ci_high=None, p_value=None, word=word
        )
    from scipy import stats as sps

    res = sps.ttest_ind(xb.values, xa.values, equal_var=False)
    p = float(res.pvalue)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    low, high = float(ci.low), float(ci.high)
    word = _direction(metric, diff) if p < alpha else "no clear difference"
    return Verdict(**base, n_a=xa.n, n_b=xb.n, diff=diff, ci_low=low, ci_high=high, p_value=p, word=word)


def _direction(metric: str, diff: float) -> str:
    up = diff > 0
    return "better" if up == (metric in HIGHER_IS_BETTER) else "worse"


def verdicts(groups: Sequence[VariantGroup], metric: str = "test_acc") -> list[Verdict]:
    """Each variant against the study's first (reference) variant."""
    if len(groups) < 2:
        return []
    ref = groups[0]
    return [compare(ref, g, metric) for g in groups[1:]]


def count_text(agg: Aggregate) -> str:
    """Epoch counts (epochs run, best epoch): ``3`` when every seed agrees, else mean ± std with
    one decimal."""
    if agg.mean is not None and agg.min == agg.max:
        return f"{agg.mean:.0f}"
    return mean_std_text(agg, digits=1)


def mean_std_text(agg: Aggregate, scale: float = 1.0, digits: int = 2) -> str:
    """``"97.12 ± 0.31"`` (``"97.12"`` with one value, ``"–"`` with none)."""
    if agg.mean is None:
        return "–"
    if agg.std is None:
        return f"{agg.mean * scale:.{digits}f}"
    return f"{agg.mean * scale:.{digits}f} ± {agg.std * scale:.{digits}f}"
