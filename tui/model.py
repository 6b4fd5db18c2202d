"""The TUI's in-memory view of the runs: pure Python, no Textual, so it is cheap to test.

Why a separate model: the poll worker hands over batches of store updates; the app folds them
into :class:`RunState` objects here and then updates only the table cells and plots whose data
changed. Every per-run series is capped (:data:`MAX_EPOCHS_KEPT`, :data:`MAX_PARTIAL_KEPT`), so
16 runs writing progress lines at 20 Hz for an hour use the same memory as for a minute.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_EPOCHS_KEPT = 2048
"""Epoch points kept per run; beyond that the older half is decimated (every other point)."""
MAX_PARTIAL_KEPT = 64
"""Progress points kept for the current (partial) epoch; cleared when the epoch line lands."""

STATUS_STYLES: dict[str, str] = {
    "queued": "yellow",
    "running": "bold cyan",
    "done": "green",
    "failed": "bold red",
    "killed": "magenta",
    "deleted": "dim strike",
}

# Config keys never shown as hyperparameters (free text or machine-local paths).
_HPARAM_SKIP = ("name", "description", "data.data_dir")


@dataclass
class EpochPoint:
    epoch: float
    train_loss: float | None
    val_loss: float | None
    train_acc: float | None
    val_acc: float | None
    seconds: float | None = None


def _num(value: Any) -> float | None:
    """A finite float or None (garbage, NaN and inf become None instead of breaking a plot)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class RunState:
    """What the TUI knows about one run folder."""

    run_id: str
    name: str = ""
    study: str | None = None
    status: str = "queued"
    device: str | None = None
    trainer: str = ""
    path: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    started: float | None = None
    ended: float | None = None
    created: float | None = None
    error: str | None = None
    epochs_total: int | None = None
    points: list[EpochPoint] = field(default_factory=list)
    partial: deque[tuple[float, float | None, float | None]] = field(
        default_factory=lambda: deque(maxlen=MAX_PARTIAL_KEPT)
    )
    progress: dict[str, Any] | None = None
    best_val_acc: float | None = None
    best_epoch: float | None = None
    garbage: int = 0
    deleted: bool = False
    _hparams: tuple[dict[str, Any], dict[str, Any]] | None = field(default=None, repr=False, compare=False)
    status_history: list[str] = field(default_factory=list)
    """Every status seen, in order, without repeats (bounded: a run has at most a handful)."""
    version: int = 0
    """Bumped whenever anything plotted changes, so plots redraw only when needed."""
    epoch_version: int = 0
    """Bumped for changes other than progress lines (epochs, result, status): redrawn at once;
    progress-only changes are redrawn at most every PROGRESS_REDRAW_S (tui.widgets)."""

    # ------------------------------------------------------------------ ingest

    def set_status(self, status: str) -> None:
        self.status = status
        if not self.status_history or self.status_history[-1] != status:
            self.status_history.append(status)

    def set_meta(self, meta: Any) -> None:
        """Copy the fields shown from a :class:`hw2.contract.RunMeta` (or a dict)."""
        get = meta.get if isinstance(meta, Mapping) else (lambda k, d=None: getattr(meta, k, d))
        self.name = get("name") or self.name or self.run_id
        self.study = get("study", self.study)
        self.trainer = get("trainer") or self.trainer
        self.device = get("device") or self.device
        self.started = get("started", self.started)
        self.ended = get("ended", self.ended)
        self.created = get("created", self.created)
        self.error = get("error", self.error)
        if get("epochs"):
            self.epochs_total = int(get("epochs"))

    def add_epochs(self, lines: Iterable[Mapping[str, Any]]) -> bool:
        """Append epoch lines (a re-sent epoch replaces the last one); True if anything changed."""
        changed = False
        for line in lines:
            ep = _num(line.get("epoch"))
            if ep is None:
                self.garbage += 1
                continue
            if line.get("epochs"):
                total = _num(line.get("epochs"))
                if total:
                    self.epochs_total = int(total)
            pt = EpochPoint(
                ep,
                _num(line.get("train_loss")),
                _num(line.get("val_loss")),
                _num(line.get("train_acc")),
                _num(line.get("val_acc")),
                _num(line.get("seconds")),
            )
            if self.points and self.points[-1].epoch >= ep:
                # A restarted or duplicated epoch: drop what it supersedes.
                while self.points and self.points[-1].epoch >= ep:
                    self.points.pop()
            self.points.append(pt)
            if pt.val_acc is not None and (self.best_val_acc is None or pt.val_acc > self.best_val_acc):
                self.best_val_acc, self.best_epoch = pt.val_acc, ep
            self.partial.clear()
            changed = True
        if len(self.points) > MAX_EPOCHS_KEPT:
            half = len(self.points) // 2
            self.points = self.points[:half:2] + self.points[half:]
        if changed:
            self.version += 1
            self.epoch_version += 1
        return changed

    def set_progress(self, line: Mapping[str, Any] | None) -> bool:
        """Record the latest progress line and its point on the partial-epoch curve."""
        if line is None or line == self.progress:
            return False
        self.progress = dict(line)
        ep, batch, batches = _num(line.get("epoch")), _num(line.get("batch")), _num(line.get("batches"))
        if line.get("epochs") and _num(line.get("epochs")):
            self.epochs_total = int(_num(line.get("epochs")) or 0) or self.epochs_total
        if ep is not None and batch is not None and batches:
            done_epochs = self.points[-1].epoch if self.points else 0.0
            if ep > done_epochs:
                x = ep - 1 + min(batch / batches, 1.0)
                self.partial.append((x, _num(line.get("loss")), _num(line.get("acc"))))
                self.version += 1
        return True

    def set_result(self, result: Mapping[str, Any] | None) -> None:
        if result is not None:
            self.result = dict(result)
            self.version += 1
            self.epoch_version += 1

    # ------------------------------------------------------------------ derived

    @property
    def epochs_done(self) -> int:
        return int(self.points[-1].epoch) if self.points else 0

    @property
    def latest(self) -> EpochPoint | None:
        return self.points[-1] if self.points else None

    def fraction_done(self) -> float | None:
        """Fraction of all batches done, counting the current epoch's progress line."""
        total = self.epochs_total
        if not total:
            return None
        done = float(self.epochs_done)
        if self.progress and self.status == "running":
            ep, b, n = (_num(self.progress.get(k)) for k in ("epoch", "batch", "batches"))
            if ep is not None and b is not None and n and ep > done:
                done = ep - 1 + min(b / n, 1.0)
        return max(0.0, min(done / total, 1.0))

    def epoch_fraction(self) -> float | None:
        """How far the current epoch is (from the last progress line), None when unknown."""
        if self.status != "running" or not self.progress:
            return None
        ep, b, n = (_num(self.progress.get(k)) for k in ("epoch", "batch", "batches"))
        if ep is None or b is None or not n or ep <= self.epochs_done:
            return None
        return max(0.0, min(b / n, 1.0))

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        if self.status == "running":
            return max(0.0, now - self.started)
        if self.ended is not None:
            return max(0.0, self.ended - self.started)
        return _num(self.result.get("total_seconds")) if self.result else None

    def eta(self, now: float) -> float | None:
        if self.status != "running":
            return None
        frac, el = self.fraction_done(), self.elapsed(now)
        if not frac or el is None or frac <= 0:
            return None
        return max(0.0, el / frac - el)

    def test_acc(self) -> float | None:
        return _num(self.result.get("test_acc")) if self.result else None

    def best(self) -> float | None:
        if self.result and _num(self.result.get("best_val_acc")) is not None:
            return _num(self.result.get("best_val_acc"))
        return self.best_val_acc

    def best_at(self) -> float | None:
        if self.result and _num(self.result.get("best_epoch")) is not None:
            return _num(self.result.get("best_epoch"))
        return self.best_epoch

    def hparams(self) -> dict[str, Any]:
        """Flattened config, cached until the config object changes."""
        cached = self._hparams
        if cached is None or cached[0] is not self.config:
            cached = self._hparams = (self.config, flatten_config(self.config))
        return cached[1]


# ---------------------------------------------------------------------- helpers


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` → ``{"optimizer.lr": 0.1}`` (lists become strings)."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_config(value, path + "."))
        elif path not in _HPARAM_SKIP:
            out[path] = "x".join(map(str, value)) if isinstance(value, list) else value
    return out


def differing_keys(runs: Sequence[RunState]) -> list[str]:
    """Hyperparameter keys whose values are not all equal across ``runs`` (in a stable order)."""
    flats = [r.hparams() for r in runs]
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    missing = object()
    return [k for k in keys if len({repr(f.get(k, missing)) for f in flats}) > 1]


def downsample(xs: Sequence[float], ys: Sequence[float], n: int) -> tuple[list[float], list[float]]:
    """At most ``n`` evenly spaced points, always keeping the first and the last."""
    m = len(xs)
    if n < 2 or m <= n:
        return list(xs), list(ys)
    idx = sorted({round(i * (m - 1) / (n - 1)) for i in range(n)})
    return [xs[i] for i in idx], [ys[i] for i in idx]


def ema(values: Sequence[float], weight: float = 0.6) -> list[float]:
    """Exponential moving average (TensorBoard-style, debiased so the start is not pulled to 0)."""
    out: list[float] = []
    last = 0.0
    for num, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**num))
    return out


def fmt_float(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


_BLOCKS = " ▏▎▍▌▋▊▉█"


def progress_bar(fraction: float | None, width: int = 6) -> str:
    """A ``width``-cell bar with eighth-block resolution; blanks when unknown."""
    if fraction is None:
        return " " * width
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_BLOCKS[part] if part and full < width else "")
    return bar.ljust(width, "░")


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
