"""Study figures with matplotlib (headless ``Agg``): loss and accuracy panels, one colour per
variant, train solid and validation dashed, the mean over seeds with a ±std band when a variant
has more than one done seed, and the best epoch (argmax of the mean validation accuracy) marked.

matplotlib (~0.5 s to import) is imported only inside the figure functions: the TUI's study view
uses :func:`mean_curve` alone and never loads it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw2.analysis.stats import VariantGroup
from hw2.runs.summary import EpochPoint


@dataclass(frozen=True)
class MeanCurve:
    """One metric of one variant over epochs: mean and sample std over the seeds that reached
    each epoch (``n`` per epoch; std None where fewer than two)."""

    epochs: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float | None, ...]
    n: tuple[int, ...]


def mean_curve(series: Sequence[Sequence[EpochPoint]], field: str) -> MeanCurve:
    by_epoch: dict[float, list[float]] = {}
    for points in series:
        for p in points:
            v = getattr(p, field)
            if v is not None and math.isfinite(v):
                by_epoch.setdefault(p.epoch, []).append(v)
    epochs = tuple(sorted(by_epoch))
    vals = [by_epoch[e] for e in epochs]
    return MeanCurve(
        epochs,
        tuple(statistics.fmean(v) for v in vals),
        tuple(statistics.stdev(v) if len(v) > 1 else None for v in vals),
        tuple(len(v) for v in vals),
    )


def best_epoch(curve: MeanCurve) -> float | None:
    """The epoch of the highest mean validation accuracy (the first one on a tie)."""
    if not curve.mean:
        return None
    i = max(range(len(curve.mean)), key=lambda k: (curve.mean[k], -k))
    return curve.epochs[i]


LEGEND_INSIDE_MAX = 3
"""Up to this many variants, each panel has its own legend (6 lines); more would cover the curves,
so the figure gets one key below both panels: a colour per variant, line styles for train / val."""


def study_figure(
    title: str,
    groups: Sequence[VariantGroup],
    series: Mapping[str, Sequence[EpochPoint]],
) -> Any:
    """The figure of a study: left panel loss, right panel accuracy (in %).

    ``series`` maps a run id to its epoch points; only done runs are drawn (a variant with none
    is left out of the plot, and the report says so).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    keyed: list[tuple[str, str]] = []  # (label, colour) of each variant drawn
    for i, group in enumerate(groups):
        runs = [series.get(r.run_id, ()) for r in group.done]
        runs = [s for s in runs if s]
        if not runs:
            continue
        colour = colours[i % len(colours)]
        n = len(runs)
        label = f"{group.variant} (n={n})"
        keyed.append((label, colour))
        for ax, field, scale in (
            (ax_loss, "train_loss", 1.0),
            (ax_loss, "val_loss", 1.0),
            (ax_acc, "train_acc", 100.0),
            (ax_acc, "val_acc", 100.0),
        ):
            curve = mean_curve(runs, field)
            if not curve.epochs:
                continue
            val = field.startswith("val")
            ys = [m * scale for m in curve.mean]
            ax.plot(
                curve.epochs,
                ys,
                color=colour,
                linestyle="--" if val else "-",
                label=f"{label} {'val' if val else 'train'}",
                gid=f"{group.variant}:{field}",
            )
            if n > 1 and any(s is not None for s in curve.std):
                lo = [(m - (s or 0.0)) * scale for m, s in zip(curve.mean, curve.std, strict=True)]
                hi = [(m + (s or 0.0)) * scale for m, s in zip(curve.mean, curve.std, strict=True)]
                band = ax.fill_between(curve.epochs, lo, hi, color=colour, alpha=0.15, linewidth=0)
                band.set_gid(f"{group.variant}:{field}:band")
            if field == "val_acc":
                be = best_epoch(curve)
                if be is not None:
                    k = curve.epochs.index(be)
                    ax.plot(
                        [be],
                        [ys[k]],
                        marker="*",
                        markersize=11,
                        color=colour,
                        linestyle="none",
                        gid=f"{group.variant}:best",
                    )
    ax_loss.set_title("Loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_acc.set_title("Accuracy (★ best epoch by mean val accuracy)")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if ax.lines and len(keyed) <= LEGEND_INSIDE_MAX:
            ax.legend(fontsize="small")
    if len(keyed) > LEGEND_INSIDE_MAX:  # a legend that would cover the curves: one key below both
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=c, label=label) for label, c in keyed]
        handles += [
            Line2D([], [], color="black", linestyle="-", label="train"),
            Line2D([], [], color="black", linestyle="--", label="val"),
        ]
        ncol = min(4, len(handles))
        fig.set_size_inches(11, 4.2 + 0.22 * -(-len(handles) // ncol))
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)
    fig.suptitle(title)
    return fig


def save_figure(fig: Any, stem: Path) -> tuple[Path, Path]:
    """Write ``stem.png`` and ``stem.pdf``; returns both paths and closes the figure."""
    import matplotlib.pyplot as plt

    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    # Fixed metadata so that regenerating a report gives the same files (idempotent).
    fig.savefig(png, dpi=120, metadata={"Software": None})
    fig.savefig(pdf, metadata={"Creator": None, "Producer": None, "CreationDate": None})
    plt.close(fig)
    return png, pdf
