"""The TUI's in-memory view of the runs: pure Python, no Textual, so it is cheap to test.

Every figure of a run (status, epochs, best and test accuracy, elapsed, ETA, hyperparameters…)
comes from its :class:`hw2.runs.summary.RunSummary`, built once in the core; :class:`RunState`
adds only what the screen needs beyond it: the plot series (capped: :data:`MAX_EPOCHS_KEPT`,
:data:`MAX_PARTIAL_KEPT`), the mark, ``deleted``, versions and the status history.
:class:`RunsModel` folds the watcher's updates into those states (:meth:`RunsModel.apply`) and
says what changed, so the app touches only the rows and plots that need it.

Series are kept only for the runs being plotted: when a run is highlighted or marked,
:meth:`RunsModel.set_plotted` says its series is missing, the app asks the poll thread for its
epoch lines and hands them to :meth:`RunsModel.load_series`; runs never plotted cost one summary
each (and the series of at most :data:`MAX_SERIES_KEPT` runs plotted earlier stay loaded).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hw2.runs.summary import EpochPoint, EpochStats, RunSummary, fold_lines, num

MAX_EPOCHS_KEPT = 2048
"""Epoch points kept per run; beyond that the older half is decimated (every other point)."""
MAX_PARTIAL_KEPT = 64
"""Progress points kept for the current (partial) epoch; cleared when the epoch line lands."""
MAX_SERIES_KEPT = 32
"""Finished runs whose series stay loaded after they are no longer plotted (least recent dropped)."""

STATUS_STYLES: dict[str, str] = {
    "queued": "yellow",
    "running": "bold cyan",
    "done": "green",
    "failed": "bold red",
    "killed": "magenta",
    "deleted": "dim strike",
}


@dataclass(eq=False)
class RunState:
    """What the TUI keeps about one run folder: its summary plus the plot series and UI flags."""

    run_id: str
    summary: RunSummary
    config: Mapping[str, Any] = field(default_factory=dict)
    """The resolved config (shown in the Config tab)."""
    points: list[EpochPoint] = field(default_factory=list)
    _partial: deque[tuple[float, float | None, float | None]] | None = field(
        default=None, init=False, repr=False
    )
    """Made on the first progress line: a deque per run was 7 MB of a 10 000-run folder's UI."""
    series_loaded: bool = False
    """``points`` hold the run's epochs (loaded because it is or was plotted); else they are empty."""
    series_requested: bool = False
    """Its series was asked for and has not arrived yet."""
    marked: bool = False
    deleted: bool = False
    status_history: list[str] = field(default_factory=list)
    """Every status seen, in order, without repeats (bounded: a run has at most a handful)."""
    version: int = 0
    """Bumped whenever anything plotted changes, so plots redraw only when needed."""
    epoch_version: int = 0
    """Bumped for changes other than progress lines (epochs, result, status): redrawn at once;
    progress-only changes are redrawn at most every PROGRESS_REDRAW_S (tui.widgets)."""

    # ------------------------------------------------------------------ the summary's figures

    @property
    def name(self) -> str:
        return self.summary.name

    @property
    def status(self) -> str:
        return self.summary.status

    @property
    def study(self) -> str | None:
        return self.summary.study

    @property
    def path(self) -> str:
        return self.summary.path

    @property
    def error(self) -> str | None:
        return self.summary.error

    @property
    def epochs_done(self) -> int:
        return self.summary.epochs_done

    @property
    def garbage(self) -> int:
        """Unreadable metric lines skipped so far."""
        return self.summary.skipped_lines

    def hparams(self) -> Mapping[str, Any]:
        return self.summary.hparams

    def test_acc(self) -> float | None:
        return self.summary.test_acc

    def best(self) -> float | None:
        return self.summary.best_val_acc

    def best_at(self) -> float | None:
        return self.summary.best_epoch

    def epoch_fraction(self) -> float | None:
        return self.summary.epoch_fraction()

    # ------------------------------------------------------------------ series

    def _add_epochs(self, lines: Iterable[Mapping[str, Any]]) -> bool:
        changed = False
        for line in lines:
            pt = EpochPoint.from_line(line)
            if pt is None:
                continue  # counted by the summary (skipped_lines)
            while self.points and self.points[-1].epoch >= pt.epoch:
                self.points.pop()  # a restarted or re-sent epoch replaces what it supersedes
            self.points.append(pt)
            self._partial = None
            changed = True
        if len(self.points) > MAX_EPOCHS_KEPT:
            half = len(self.points) // 2
            self.points = self.points[:half:2] + self.points[half:]
        return changed

    @property
    def partial(self) -> Sequence[tuple[float, float | None, float | None]]:
        """Progress points of the current epoch (empty when none came)."""
        return self._partial if self._partial is not None else ()

    def _add_progress(self, line: Mapping[str, Any]) -> bool:
        """The progress line's point on the partial-epoch curve (x = epoch - 1 + batch fraction)."""
        ep, batch, batches = num(line.get("epoch")), num(line.get("batch")), num(line.get("batches"))
        if ep is None or batch is None or not batches:
            return False
        if ep <= (self.points[-1].epoch if self.points else 0.0):
            return False
        x = ep - 1 + min(batch / batches, 1.0)
        if self._partial is None:
            self._partial = deque(maxlen=MAX_PARTIAL_KEPT)
        self._partial.append((x, num(line.get("loss")), num(line.get("acc"))))
        return True

    def clear_series(self) -> None:
        self.points.clear()
        self._partial = None


class Changes:
    """The run ids an :meth:`RunsModel.apply` changed (iterated in the order of the updates), and how.

    ``rows``: the row must be drawn in full (new run, new summary figures beyond progress);
    ``progress``: only progress lines arrived (the epoch bar and times); ``shown``: the status,
    meta, result or config changed (or the run is new or removed): show it at once, re-sort;
    ``columns``: a config changed or a run came or went (diff columns may change); ``dropped``:
    runs moved to the trash, whose states are gone (their rows go too).
    """

    def __init__(self) -> None:
        self._ids: dict[str, None] = {}
        self.rows: set[str] = set()
        self.progress: set[str] = set()
        self.shown: set[str] = set()
        self.dropped: set[str] = set()
        self.columns = False

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __eq__(self, other: object) -> bool:
        return set(self._ids) == other if isinstance(other, set | frozenset) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Changes(rows={sorted(self.rows)}, progress={sorted(self.progress)}, shown={sorted(self.shown)})"
        )

    def add_row(self, run_id: str, *, shown: bool = False) -> None:
        self._ids[run_id] = None
        self.rows.add(run_id)
        self.progress.discard(run_id)
        if shown:
            self.shown.add(run_id)

    def add_progress(self, run_id: str) -> None:
        self._ids[run_id] = None
        if run_id not in self.rows:
            self.progress.add(run_id)


class RunsModel:
    """All runs the TUI knows, folded from the watcher's updates."""

    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}
        self.running: set[str] = set()
        """Ids of the runs whose status is ``running`` (the ones whose times tick each second),
        kept here so that a tick never walks every run of a 10 000-run folder."""
        self.queued: set[str] = set()
        """Ids of the ``queued`` runs (with :attr:`running`, the live ones)."""
        self._counts: dict[bool, dict[str, int]] = {}  # by include_smoke; emptied when a status changes
        self._plotted: set[str] = set()
        # Series of runs no longer plotted, least recently plotted first (dropped beyond MAX_SERIES_KEPT).
        self._kept: OrderedDict[str, None] = OrderedDict()

    def __getitem__(self, run_id: str) -> RunState:
        return self.runs[run_id]

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.runs

    def __len__(self) -> int:
        return len(self.runs)

    def counts(self, *, include_smoke: bool = False) -> dict[str, int]:
        """Runs per status (running, queued, done, failed, killed), without the deleted ones and,
        unless ``include_smoke``, without smoke runs; computed once per change of any status."""
        cached = self._counts.get(include_smoke)
        if cached is None:
            cached = {s: 0 for s in ("running", "queued", "done", "failed", "killed")}
            for st in self.runs.values():
                if not st.deleted and st.status in cached and (include_smoke or not st.summary.smoke):
                    cached[st.status] += 1
            self._counts[include_smoke] = cached
        return dict(cached)

    def _track_status(self, st: RunState) -> None:
        for status, ids in (("running", self.running), ("queued", self.queued)):
            if st.status == status and not st.deleted:
                ids.add(st.run_id)
            else:
                ids.discard(st.run_id)

    def live(self) -> list[RunState]:
        """The queued and running runs, by id."""
        return [self.runs[rid] for rid in sorted(self.running | self.queued)]

    def forget(self, run_id: str) -> None:
        """Drop a run's state (its folder went to the trash): no row, no plot, no study figure."""
        self.runs.pop(run_id, None)
        self.running.discard(run_id)
        self.queued.discard(run_id)
        self._counts.clear()
        self._plotted.discard(run_id)
        self._kept.pop(run_id, None)

    def apply(self, updates: Iterable[Any]) -> Changes:
        """Fold a batch of :class:`hw2.runs.watcher.RunUpdate` (``summary``, ``config``, ``new_lines``,
        ``truncated``, ``removed``, ``trashed``…) into the states; returns what changed."""
        changes = Changes()
        for u in updates:
            st = self.runs.get(u.run_id)
            if u.removed and u.trashed:  # moved to the trash: gone from every view
                if st is not None:
                    self.forget(u.run_id)
                    changes.dropped.add(u.run_id)
                    changes.columns = True
                continue
            if u.removed:
                if st is not None and not st.deleted:
                    self._counts.clear()
                    st.deleted = True
                    self._track_status(st)
                    st.version += 1
                    st.epoch_version += 1
                    changes.add_row(u.run_id, shown=True)
                    changes.columns = True
                continue
            summary: RunSummary | None = u.summary
            if summary is None:
                continue
            if st is None:
                st = self.runs[u.run_id] = RunState(u.run_id, summary)
                changes.columns = True
                view, last = True, None
                self._counts.clear()
            else:
                prev = st.summary
                last = (prev.latest, prev.skipped_lines, prev.best_val_acc, prev.epochs_total)
                view = bool(u.view_changed or u.new or st.deleted)
                if st.deleted or (prev.status, prev.smoke) != (summary.status, summary.smoke):
                    self._counts.clear()
                st.summary = summary
            st.deleted = False
            self._track_status(st)
            if u.config is not None:
                if st.config != u.config:
                    changes.columns = True
                st.config = u.config
            if not st.status_history or st.status_history[-1] != summary.status:
                st.status_history.append(summary.status)
            if u.truncated:  # the file restarted: what was plotted is gone; ask for the series again
                st.clear_series()
                st.series_loaded = st.series_requested = False
            plot_changed = False
            if st.series_loaded and u.new_lines:  # runs never plotted keep no series
                epochs: list[Mapping[str, Any]] = []
                progress = fold_lines(u.new_lines, EpochStats(), epochs)
                plot_changed = st._add_epochs(epochs)
                if progress is not None and summary.status == "running":
                    plot_changed |= st._add_progress(progress)
            # An epoch line (or a skipped one) changes the row's figures; progress lines only the
            # epoch bar and the times.
            figures = (summary.latest, summary.skipped_lines, summary.best_val_acc, summary.epochs_total)
            if view or u.truncated or figures != last:
                st.version += 1
                st.epoch_version += 1
                changes.add_row(u.run_id, shown=view or bool(u.truncated))
            elif u.new_lines:
                if plot_changed:
                    st.version += 1
                changes.add_progress(u.run_id)
        return changes

    # ------------------------------------------------------------------ series on demand

    def set_plotted(self, run_ids: Iterable[str]) -> list[str]:
        """The runs now on the plots; returns those whose series must be asked for (once)."""
        plotted = [rid for rid in run_ids if rid in self.runs]
        for rid in self._plotted - set(plotted):
            if rid in self.runs:
                self._kept[rid] = None
        for rid in plotted:
            self._kept.pop(rid, None)
        self._plotted = set(plotted)
        while len(self._kept) > MAX_SERIES_KEPT:
            rid, _ = self._kept.popitem(last=False)
            st = self.runs.get(rid)
            if st is not None and st.series_loaded:
                st.clear_series()
                st.series_loaded = False
        missing = [
            rid for rid in plotted if not (self.runs[rid].series_loaded or self.runs[rid].series_requested)
        ]
        for rid in missing:
            self.runs[rid].series_requested = True
        return missing

    def load_series(
        self, run_id: str, lines: Iterable[Mapping[str, Any]], config: Mapping[str, Any] | None = None
    ) -> bool:
        """Replace the run's series by its epoch lines (from ``RunsWatcher.epoch_lines``); a
        ``config`` read with them replaces the one held (finished runs arrive without one)."""
        st = self.runs.get(run_id)
        if st is None or not st.series_requested:
            return False  # gone, or truncated since it was asked for (asked for again)
        st.series_requested = False
        if config is not None:
            st.config = config
        st.clear_series()
        epochs: list[Mapping[str, Any]] = []
        fold_lines(lines, EpochStats(), epochs)
        st._add_epochs(epochs)
        st.series_loaded = True
        st.version += 1
        st.epoch_version += 1
        return True


# ---------------------------------------------------------------------- helpers


def differing_keys(runs: Sequence[RunState]) -> list[str]:
    """Hyperparameter keys whose values are not all equal across ``runs`` (in a stable order)."""
    flats = [r.hparams() for r in runs]
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    if not flats:
        return []
    missing = object()
    first = flats[0]
    out = []
    for k in keys:  # a key differs as soon as one run's value does: most keys stop early or never
        ref = first.get(k, missing)
        kind = type(ref)
        for flat in flats:
            v = flat.get(k, missing)
            if v is not ref and (type(v) is not kind or v != ref):  # 1, 1.0 and True differ
                out.append(k)
                break
    return out


HPARAM_LABELS: dict[str, str] = {
    "model.name": "model",
    "optimizer.name": "optimizer",
    "optimizer.lr": "lr",
    "optimizer.weight_decay": "wd",
    "optimizer.schedule.name": "schedule",
    "train.batch_size": "batch",
    "train.epochs": "epochs",
    "train.early_stopping.enabled": "early stop",
    "augment.enabled": "augment",
    "augment.crop_padding": "crop pad",
}
"""Short names of common hyperparameters: the runs table's headers, and keys the filter knows
(``batch=64``); others go by their last part (``dropout``)."""


def run_matches(st: RunState, words: Sequence[str]) -> bool:
    """Does the run match every (lower-case) filter word? A word matches a part of the run's
    name, study, status, trainer, id, device, model or note, or one of its hyperparameters: by value
    (``adam``; a number by value, so ``1e-3`` finds 0.001 and ``0.1`` does not find 0.15) or as
    ``key=value``, the key by its last parts or its short name (``lr=0.001``,
    ``optimizer.lr=0.001``, ``dropout=0.2``, ``batch=64``)."""
    s = st.summary
    hay = " ".join(
        str(x)
        for x in (
            s.name,
            s.study or "",
            s.status,
            s.trainer,
            st.run_id,
            s.device or "",
            s.hparams.get("model.name", ""),
            s.note or "",
        )
    ).lower()
    return all(w in hay or hparam_matches(s.hparams, w) for w in words)


def hparam_matches(hparams: Mapping[str, Any], word: str) -> bool:
    """One filter word against the hyperparameters (see :func:`run_matches`)."""
    key, sep, value = word.partition("=")
    if not sep:
        key, value = "", word
    want = _number(value)
    for k, v in hparams.items():
        if v is None:
            continue
        if key and not (k.lower() == key or k.lower().endswith("." + key) or HPARAM_LABELS.get(k) == key):
            continue
        if want is not None and isinstance(v, int | float) and not isinstance(v, bool):
            if float(v) == want:
                return True
            continue
        text = fmt_value(v).lower()
        if text == value or (not key and want is None and value in text):
            return True
    return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


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
    for i, v in enumerate(values, start=1):
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**i))
    return out


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
