"""Seeds aggregated per variant and Welch's verdicts, checked against values computed independently
(the t statistic, Welch-Satterthwaite degrees of freedom, p-value and confidence interval are
recomputed here from their textbook formulas with a numerically integrated Student t density)."""

from __future__ import annotations

import math
import statistics

import pytest

from hw2.analysis.stats import Aggregate, compare, count_text, group_runs, mean_std_text, verdicts
from hw2.runs.summary import EpochStats, summarize


def run(variant: str, seed: int, test_acc: float | None, status: str = "done", study: str = "S") -> object:
    stats = EpochStats()
    stats.add(
        {
            "type": "epoch",
            "epoch": 1,
            "epochs": 2,
            "train_loss": 0.5,
            "val_loss": 0.6,
            "train_acc": 0.8,
            "val_acc": 0.7,
            "seconds": 2.0,
        }
    )
    stats.add(
        {
            "type": "epoch",
            "epoch": 2,
            "epochs": 2,
            "train_loss": 0.4,
            "val_loss": 0.55,
            "train_acc": 0.85,
            "val_acc": 0.75,
            "seconds": 4.0,
        }
    )
    result = (
        None
        if test_acc is None
        else {
            "test_acc": test_acc,
            "test_loss": 1.0,
            "best_val_acc": 0.75,
            "best_epoch": 2,
            "total_seconds": 6.0,
            "params": 1000,
        }
    )
    return summarize(
        run_id=f"{variant}-s{seed}",
        meta={"name": f"{variant}-s{seed}", "study": study, "variant": variant, "seed": seed},
        status=status,
        result=result,
        stats=stats,
    )


def _t_pdf(x: float, df: float) -> float:
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    return c * (1 + x * x / df) ** (-(df + 1) / 2)


def _t_sf(t: float, df: float, steps: int = 20000) -> float:
    """P(T > t) for t >= 0 by Simpson's rule on x = t + u / (1 - u), u in [0, 1)."""
    h = 1.0 / steps
    total = 0.0
    for i in range(steps + 1):
        u = min(i * h, 1 - 1e-12)
        x = t + u / (1 - u)
        f = _t_pdf(x, df) / (1 - u) ** 2
        w = 1 if i in (0, steps) else (4 if i % 2 else 2)
        total += w * f
    return total * h / 3


def _t_quantile(q: float, df: float) -> float:
    lo, hi = 0.0, 100.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 1 - _t_sf(mid, df, 4000) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def welch_by_hand(a: list[float], b: list[float]) -> tuple[float, float, float, float]:
    """(diff, p, ci_low, ci_high) of mean(b) - mean(a) by the textbook formulas."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    diff = statistics.fmean(b) - statistics.fmean(a)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p = 2 * _t_sf(abs(diff / se), df)
    tc = _t_quantile(0.975, df)
    return diff, p, diff - tc * se, diff + tc * se


def test_aggregate_mean_sample_std_min_max() -> None:
    agg = Aggregate.of([0.90, 0.92, None, 0.94, float("nan")])
    assert agg.n == 3
    assert agg.mean == pytest.approx(0.92)
    assert agg.std == pytest.approx(0.02)  # sample std (n - 1)
    assert (agg.min, agg.max) == (0.90, 0.94)
    assert mean_std_text(agg, scale=100) == "92.00 ± 2.00"
    assert mean_std_text(Aggregate.of([0.5])) == "0.50"
    assert mean_std_text(Aggregate.of([])) == "–"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0.901, 0.905, 0.899], [0.921, 0.925, 0.930]),  # clearly better
        ([0.901, 0.905, 0.899, 0.910], [0.903, 0.899, 0.912]),  # overlapping
        ([0.95, 0.96], [0.90, 0.91, 0.89, 0.905]),  # worse, unequal n
    ],
)
def test_welch_verdict_matches_the_textbook_formulas(a: list[float], b: list[float]) -> None:
    groups = group_runs(
        [run("ref", i, x) for i, x in enumerate(a)] + [run("new", i, x) for i, x in enumerate(b)]
    )
    v = compare(groups[0], groups[1], "test_acc")
    diff, p, low, high = welch_by_hand(a, b)
    assert v.diff == pytest.approx(diff, abs=1e-12)
    assert v.p_value == pytest.approx(p, rel=1e-4)
    assert v.ci_low == pytest.approx(low, rel=1e-3)
    assert v.ci_high == pytest.approx(high, rel=1e-3)
    expected = "no clear difference" if p >= 0.05 else ("better" if diff > 0 else "worse")
    assert v.word == expected
    assert v.p_text() == (f"p = {p:.3f}" if p >= 0.001 else "p < 0.001")


def test_one_seed_each_gives_no_verdict() -> None:
    groups = group_runs([run("ref", 0, 0.90), run("new", 0, 0.95)])
    v = compare(groups[0], groups[1])
    assert v.word == "one seed each: no verdict (raise repeat)"
    assert v.p_value is None and v.diff == pytest.approx(0.05)


def test_losses_are_better_when_lower() -> None:
    ref = [run("ref", i, 0.9) for i in range(3)]
    new = [run("new", i, 0.9) for i in range(3)]
    groups = group_runs(ref + new)
    # same final losses for both: no clear difference, and the direction word for a loss is inverted
    from hw2.analysis.stats import _direction

    assert _direction("val_loss", -0.1) == "better" and _direction("test_acc", -0.1) == "worse"
    assert compare(groups[0], groups[1], "val_loss").word == "no clear difference"


def test_groups_never_average_in_runs_that_are_not_done() -> None:
    runs = [
        run("a", 0, 0.90),
        run("a", 1, 0.92),
        run("a", 2, None, status="failed"),
        run("b", 0, None, status="killed"),
        run("b", 1, None, status="running"),
    ]
    a, b = group_runs(runs)
    assert a.variant == "a" and len(a.runs) == 3
    assert a.stats["test_acc"].n == 2 and a.stats["test_acc"].mean == pytest.approx(0.91)
    assert a.done_text() == "2 of 3 done (s2 failed)"
    assert not a.complete
    assert b.stats["test_acc"].n == 0 and b.done_text() == "0 of 2 done (s0 killed, s1 running)"
    assert compare(a, b).word == "no done runs: no verdict"


def test_verdicts_compare_each_variant_with_the_first() -> None:
    runs = [
        run(v, s, x)
        for v, xs in (("sgd", [0.9, 0.91]), ("adam", [0.95, 0.96]), ("mom", [0.9, 0.905]))
        for s, x in enumerate(xs)
    ]
    out = verdicts(group_runs(runs))
    assert [(v.reference, v.variant) for v in out] == [("sgd", "adam"), ("sgd", "mom")]
    assert "vs sgd" in out[0].text() and "95 % CI" in out[0].text()


def test_count_text_is_whole_when_the_seeds_agree() -> None:
    assert count_text(Aggregate(2, 3.0, 0.0, 3.0, 3.0)) == "3"
    assert count_text(Aggregate(1, 7.0, None, 7.0, 7.0)) == "7"
    assert count_text(Aggregate(2, 2.5, 0.7071, 2.0, 3.0)) == "2.5 ± 0.7"
    assert count_text(Aggregate(0, None, None, None, None)) == "–"
