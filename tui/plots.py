"""Loss and accuracy plots (plotext through ``textual_plotext``), for the main screen and the
study view.

What makes overlaid curves comparable (issue 17): plotext's in-canvas legend is never used (it
covered the curves at 80x24); a one- or two-line key beside the plots names each curve by the
shortest hyperparameter values that tell the runs apart (``lr 0.001 · do 0.2``) with its colour,
says once which line style is train and which is validation, and labels the best-epoch marker.
The axes get 1-2-5 y ticks and whole-epoch x ticks that include the last epoch, computed here and
passed to plotext. With more than :data:`MAX_SHOWN` runs the best few by validation accuracy are
drawn (the highlighted or marked ones always) and the key says so.

``textual_plotext`` (and with it plotext) is imported only when the plots mount, after the first
frame, which keeps cold start short.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import MountError
from textual.widgets import Static

from tui.model import RunState, differing_keys, downsample, ema

if TYPE_CHECKING:
    from textual_plotext import PlotextPlot

PROGRESS_REDRAW_S = 2.0  # the partial epoch (progress lines) redraws the plots at most this often
MAX_SHOWN = 6
"""At most this many runs (or study variants) are drawn at once, each as a train and a val curve."""

# Colours per overlaid run: the plotext name and the same terminal colour for the key's swatch.
PALETTE: tuple[tuple[str, str], ...] = (
    ("cyan", "color(6)"),
    ("orange", "color(3)"),  # plotext's "orange" is ANSI colour 3
    ("green", "color(2)"),
    ("magenta", "color(5)"),
    ("blue+", "color(12)"),
    ("red", "color(1)"),
    ("white", "color(15)"),
    ("gray+", "color(7)"),
)
RUN_COLORS = tuple(name for name, _ in PALETTE)
FAINT = "gray"  # the raw curve behind an EMA
# One line style per split, said once in the key: train thin braille, validation half blocks.
TRAIN_MARKER, VAL_MARKER, BAND_MARKER = "braille", "hd", "dot"
TRAIN_GLYPH, VAL_GLYPH, BAND_GLYPH, BEST_GLYPH = "⢕⢕", "▞▞", "••", "│"
SINGLE_VAL_COLOR = "orange"  # one run: val in its own colour as well as its own style

KEY_ABBREVIATIONS = {
    "dropout": "do",
    "block_dropout": "bdo",
    "momentum": "mom",
    "weight_decay": "wd",
    "batch_size": "bs",
    "epochs": "ep",
    "label_smoothing": "ls",
}
NAME_LIMIT = 28
"""A key name longer than this falls back to the run's (or variant's) own name."""


def swatch_color(plotext_color: str) -> str:
    """The Rich colour of a plotext colour of :data:`PALETTE` (the same terminal colour)."""
    return dict(PALETTE).get(plotext_color, plotext_color)


# --------------------------------------------------------------------------- ticks


def nice_step(span: float, max_ticks: int) -> float:
    """The smallest 1-2-5 step (…, 0.1, 0.2, 0.5, 1, 2, 5, 10, …) that covers ``span`` in at
    most ``max_ticks`` ticks: evenly spaced, round labels a reader can interpolate."""
    intervals = max(1, max_ticks - 1)
    raw = max(span, 1e-12) / intervals
    mag = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        step = mult * mag
        if span / step <= intervals + 1e-9:
            return step
    return 10 * mag


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step) + 1e-9))


def y_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str], tuple[float, float]]:
    """Ticks, their labels and the axis limits for data in [lo, hi]: 1-2-5 spaced, the limits on
    ticks so that the ticks span the whole axis."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.05 or 0.05
        lo, hi = lo - pad, hi + pad
    max_ticks = max(2, max_ticks)
    step = nice_step(hi - lo, max_ticks)
    while True:
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        if last - first + 1 <= max_ticks or step > 1e12:
            break
        step = nice_step((last - first) * step, max_ticks)  # the rounding outwards added a tick
    digits = _decimals(step)
    ticks = [round(k * step, digits + 2) for k in range(first, last + 1)]
    return ticks, [f"{t:.{digits}f}" for t in ticks], (first * step, last * step)


def epoch_ticks(
    lo: float, hi: float, max_ticks: int, canvas_width: int | None = None
) -> tuple[list[int], tuple[float, float]]:
    """Whole-epoch ticks from the first to the last epoch (both always shown), 1-2-5 steps in
    between, none crowding either end: closer than a label and a space on a canvas of
    ``canvas_width`` cells (without a width, half a step); and the axis limits."""
    first, last = math.floor(lo), math.ceil(hi)
    if last <= first:
        return [first], (first - 1.0, first + 1.0)
    max_ticks = max(2, max_ticks)
    step = max(1, round(nice_step(last - first, max_ticks)))
    gap = step / 2
    if canvas_width:
        gap = (len(str(last)) + 1) * (last - first) / canvas_width  # in epochs
    inner = [
        k * step
        for k in range(first // step + 1, last // step + 1)
        if k * step - first >= gap and last - k * step >= gap and k * step != last
    ]
    return [first, *inner, last], (float(first), float(last))


def apply_axes(plt: Any, xs: Sequence[float], ys: Sequence[float], width: int, height: int) -> None:
    """Set the epoch and value axes of ``plt`` for the points drawn: limits, ticks and labels.
    As many epoch ticks as their labels leave room for (at most 10), a y tick every other row
    (at most 6)."""
    canvas_w, canvas_h = max(4, width - 8), max(2, height - 5)
    if not xs or not ys:  # nothing drawn yet (a queued run): an empty first epoch
        xs, ys = [1.0], [0.0, 1.0]
    label = len(str(math.ceil(max(xs)))) + 3
    xt, (x0, x1) = epoch_ticks(min(xs), max(xs), min(10, canvas_w // label), canvas_w)
    plt.xlim(x0, x1)
    plt.xticks(xt, [str(t) for t in xt])
    yt, labels, (y0, y1) = y_ticks(min(ys), max(ys), min(6, canvas_h // 2 + 2))
    plt.ylim(y0, y1)
    plt.yticks(yt, labels)


# --------------------------------------------------------------------------- names


def short_key(key: str) -> str:
    """``optimizer.lr`` → ``lr``, ``model.dropout`` → ``do``: the last part, abbreviated."""
    last = key.rsplit(".", 1)[-1]
    return KEY_ABBREVIATIONS.get(last, last)


def value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "–" if value is None else str(value)


def _part(key: str, value: Any) -> str:
    """One key's piece of a name: the value alone for a ``….name`` (``adam``), the section for a
    switch (``augmentation`` / ``no augmentation`` for ``augmentation.enabled``), else
    ``lr 0.001``."""
    if key.endswith(".name") or key == "trainer":
        return value_text(value)
    if isinstance(value, bool):
        parts = key.split(".")
        what = parts[-2] if parts[-1] == "enabled" and len(parts) > 1 else parts[-1]
        return what if value else f"no {what}"
    if key == "seed":
        return f"s{value_text(value)}"
    return f"{short_key(key)} {value_text(value)}"


def _distinct(hparams: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> int:
    return len({tuple(repr(h.get(k)) for k in keys) for h in hparams})


def short_names(
    hparams: Sequence[Mapping[str, Any]], keys: Sequence[str], fallback: Sequence[str]
) -> list[str]:
    """The shortest names that tell these runs apart: the fewest of ``keys`` (the hyperparameters
    that differ among them) whose values are unique per run, e.g. ``lr 0.001 · do 0.2``; the seed
    only when nothing else differs. Falls back to ``fallback`` (the runs' own names) when the
    values do not tell them apart or make a name longer than :data:`NAME_LIMIT`."""
    n = len(hparams)
    chosen: list[str] = []
    remaining = sorted(keys, key=lambda k: k == "seed")  # the seed last among equals
    while remaining and _distinct(hparams, chosen) < n:
        gains = [_distinct(hparams, [*chosen, k]) for k in remaining]
        best = max(range(len(remaining)), key=lambda i: gains[i])
        if gains[best] <= _distinct(hparams, chosen):
            break
        chosen.append(remaining.pop(best))
    ordered = sorted((k for k in keys if k in chosen), key=lambda k: k == "seed")  # "adam · s1"
    names = [" · ".join(_part(k, h.get(k)) for k in ordered) for h in hparams]
    if n > 1 and chosen and len(set(names)) == n and all(len(x) <= NAME_LIMIT for x in names):
        return names
    return unique_names(fallback)


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats told apart (``x``, ``x (2)``)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


T = TypeVar("T")


def pick_shown(
    items: Sequence[T], score: Callable[[T], float | None], keep: Callable[[T], bool], limit: int = MAX_SHOWN
) -> list[T]:
    """At most ``limit`` of ``items`` in their order: every one ``keep`` holds for, then the best
    by ``score`` (higher first; unscored last)."""
    if len(items) <= limit:
        return list(items)
    kept = [i for i, x in enumerate(items) if keep(x)][:limit]
    rest = sorted(
        (i for i in range(len(items)) if i not in kept),
        key=lambda i: -(score(items[i]) if score(items[i]) is not None else -math.inf),  # type: ignore[operator]
    )
    return [items[i] for i in sorted(kept + rest[: limit - len(kept)])]


# --------------------------------------------------------------------------- the key


@dataclass(frozen=True)
class KeyEntry:
    """One plotted run (or variant) in the key: its name, colour and best epoch."""

    name: str
    color: str
    best_at: float | None = None


def style_text(*, band: bool = False, best: bool = True, smooth: bool = False) -> Text:
    """The part of the key that says which line style is what, said once."""
    out = Text()
    out.append(TRAIN_GLYPH, style="bold")
    out.append(" train  ")
    out.append(VAL_GLYPH, style="bold")
    out.append(" val")
    if band:
        out.append("  " + BAND_GLYPH, style="bold")
        out.append(" val ± std")
    if best:
        out.append("  " + BEST_GLYPH, style="bold")
        out.append("N best val epoch")
    if smooth:
        out.append("  EMA; raw faint")
    return out


def pack(pieces: Sequence[Text], width: int, gap: str = "  ") -> Text:
    """``pieces`` on as few lines of ``width`` cells as they fit, never broken inside a piece
    (a name cut in two reads as two names)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    used = 0
    for piece in pieces:
        need = len(piece.plain)
        if used and used + len(gap) + need > width:
            out.append("\n")
            used = 0
        elif used:
            out.append(gap)
            used += len(gap)
        out.append_text(piece)
        used += need
    return out


def overlay_key(
    entries: Sequence[KeyEntry],
    note: str = "",
    *,
    band: bool = False,
    smooth: bool = False,
    width: int = 80,
    tail: str = "",
) -> Text:
    """The key of an overlay: ``■ name │best`` per run in its colour, then the line styles (said
    once), packed into as few lines of ``width`` as they fit."""
    pieces = []
    for e in entries:
        piece = Text()
        piece.append("■ ", style=swatch_color(e.color))
        piece.append(e.name, style="bold")
        if e.best_at is not None:
            piece.append(f" {BEST_GLYPH}{e.best_at:g}")
        pieces.append(piece)
    styles = style_text(band=band, best=any(e.best_at is not None for e in entries), smooth=smooth)
    if tail:
        styles.append(tail)
    pieces.append(styles)
    if note:
        pieces.append(Text(note, style="italic"))
    return pack(pieces, width)


def single_key(run: RunState, smooth: bool = False) -> Text:
    """The key of one run: train and val in their colours, and what the vertical line marks."""
    out = Text()
    out.append(TRAIN_GLYPH + " train", style=swatch_color(RUN_COLORS[0]))
    out.append("  ")
    out.append(VAL_GLYPH + " val", style=swatch_color(SINGLE_VAL_COLOR))
    best, at = run.best(), run.best_at()
    if at is not None:
        out.append(f"  {BEST_GLYPH} best val epoch {at:g}")
        if best is not None:
            out.append(f": {100 * best:.2f} %")
    if smooth:
        out.append("  EMA; raw faint")
    return out


def run_names(runs: Sequence[RunState]) -> list[str]:
    """The key's name of each run: the hyperparameter values that differ among them."""
    return short_names([r.hparams() for r in runs], differing_keys(runs), [r.name or r.run_id for r in runs])


def overlay_title(runs: Sequence[RunState]) -> str:
    """``2.1.4 Optimizers (3 runs)`` when they share a study, else ``3 runs``."""
    studies = {r.study for r in runs}
    if len(studies) == 1 and None not in studies:
        (study,) = studies
        return f"{short_title(str(study))} ({len(runs)} runs)"
    return f"{len(runs)} runs"


def short_title(title: str) -> str:
    """A study title's head: the part before ':' or '(' (``2.1.4 Optimizers``)."""
    return title.split(":", 1)[0].split("(", 1)[0].strip() or title


# --------------------------------------------------------------------------- widgets


def cached_plot_class() -> type[PlotextPlot]:
    """A PlotextPlot that rebuilds its text only when its data, size or theme changed.

    Plain PlotextPlot rebuilds the whole plotext figure on every render, which includes every
    unrelated repaint of the screen region; this keeps the last build instead.
    """
    from textual_plotext import PlotextPlot

    class CachedPlot(PlotextPlot):
        data_serial = 0
        _key: Any = None
        _built: Any = None

        def render(self) -> Any:
            key = (self.data_serial, self.size, self.app.theme, self.theme)
            if key != self._key or self._built is None:
                self._built, self._key = super().render(), key
            return self._built

    return CachedPlot


def _series(xs: list[float], ys: list[float | None]) -> tuple[list[float], list[float]]:
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


class MetricPlots(Vertical):
    """Loss and accuracy against epoch for the highlighted run plus any marked runs, under a key."""

    class Ready(Message):
        """The plots are mounted or resized: the app should (re)draw them."""

    DEFAULT_CSS = """
    MetricPlots { height: 1fr; }
    MetricPlots > #plots-key { height: auto; max-height: 3; padding: 0 1; }
    MetricPlots > #plots-row { height: 1fr; }
    MetricPlots #plots-placeholder { width: 1fr; content-align: center middle; color: $text-muted; }
    MetricPlots > #plots-empty { width: 1fr; height: 1fr; content-align: center middle; color: $text-muted;
                                 text-align: center; display: none; }
    MetricPlots.-empty > #plots-empty { display: block; }
    MetricPlots.-empty > #plots-key { display: none; }
    MetricPlots.-empty > #plots-row { display: none; }
    MetricPlots.-empty PlotextPlot { display: none; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.loss: PlotextPlot | None = None
        self.acc: PlotextPlot | None = None
        self._drawn_sig: Any = None
        self._drawn_at = 0.0
        self.draw_count = 0
        self.last_draw_versions: dict[str, int] = {}
        self.shown: list[RunState] = []
        """The runs drawn by the last draw (at most :data:`MAX_SHOWN`)."""
        self.names: list[str] = []
        """Their names in the key, in the same order."""
        self.key_text = ""
        """The key's plain text (what the user reads above the plots)."""

    EMPTY_HINT = (
        "No run to plot yet.\n\nPick a config on the left (shift+tab) and press enter to launch it,\n"
        "or s to launch a whole study. Highlight a run in the table to plot it; space overlays more."
    )

    def compose(self) -> ComposeResult:
        yield Static("", id="plots-key")
        with Horizontal(id="plots-row"):
            yield Static("plots load…", id="plots-placeholder")
        yield Static(self.EMPTY_HINT, id="plots-empty")

    def on_mount(self) -> None:
        self.call_after_refresh(self._mount_plots)

    async def _mount_plots(self) -> None:
        if not self.is_attached or self.app._exit:
            return  # the app quit before its first frame settled
        cls = cached_plot_class()  # heavy (plotext): after the first frame
        loss, acc = cls(id="loss-plot"), cls(id="acc-plot")
        try:
            await self.query_one("#plots-placeholder").remove()
            await self.query_one("#plots-row").mount(loss, acc)
        except MountError:
            return  # closing
        self.loss, self.acc = loss, acc
        self._drawn_sig = None
        self.call_after_refresh(self.post_message, self.Ready())

    def on_resize(self) -> None:
        if self.ready:
            self.post_message(self.Ready())

    @property
    def ready(self) -> bool:
        return self.loss is not None and self.acc is not None

    def draw(self, runs: Sequence[RunState], smooth: bool) -> bool:
        """Redraw if the data, options or size changed since the last draw; True if it drew.

        ``runs``: the highlighted run first, then the marked ones."""
        if self.loss is None or self.acc is None:
            return False
        if not runs:
            self.set_class(True, "-empty")
            self._drawn_sig = None
            return False
        self.set_class(False, "-empty")
        if self.loss.size.width == 0:
            return False  # just un-hidden: drawn on the resize that follows
        width, height = max(self.loss.size.width, 20), self.loss.size.height
        sig = (tuple((r.run_id, r.epoch_version, r.status) for r in runs), smooth, width, height)
        versions = {r.run_id: r.version for r in runs}
        now = time.monotonic()
        # Same epochs, status and options: only progress lines (the partial epoch) may have
        # changed, which is redrawn at most every PROGRESS_REDRAW_S.
        if sig == self._drawn_sig and (
            versions == self.last_draw_versions or now - self._drawn_at < PROGRESS_REDRAW_S
        ):
            return False
        self._drawn_sig, self._drawn_at = sig, now
        head = runs[0]
        shown = pick_shown(list(runs), lambda r: r.best(), lambda r: r is head)
        self.shown = shown
        self.names = run_names(shown) if len(shown) > 1 else [head.name or head.run_id]
        for plot, metric in ((self.loss, "loss"), (self.acc, "acc")):
            self._draw_one(plot, metric, shown, smooth, width, height)
        self._show_key(runs, shown, smooth)
        self.draw_count += 1
        self.last_draw_versions = versions
        return True

    def _draw_one(
        self, plot: Any, metric: str, runs: Sequence[RunState], smooth: bool, width: int, height: int
    ) -> None:
        plt = plot.plt
        plt.clear_data()
        plt.xlabel("epoch")
        overlay = len(runs) > 1
        npts = max(8, (width - 10) * 2)
        xs_all: list[float] = []
        ys_all: list[float] = []
        for i, r in enumerate(runs):
            color = RUN_COLORS[i % len(RUN_COLORS)]
            val_color = color if overlay else SINGLE_VAL_COLOR
            xs, ys = self._plot_run(plt, r, metric, color, val_color, smooth, npts)
            xs_all += xs
            ys_all += ys
        apply_axes(plt, xs_all, ys_all, width, height)
        plt.title(self._title(metric, runs, smooth, width))
        plot.data_serial += 1
        plot.refresh()

    @staticmethod
    def _title(metric: str, runs: Sequence[RunState], smooth: bool, width: int) -> str:
        """The run's name (one run) or the study and count (an overlay), as much as fits."""
        title = "loss" if metric == "loss" else "accuracy"
        ema_tag = " (EMA)" if smooth else ""
        head = runs[0]
        if len(runs) > 1:
            candidates = [f"{title}{ema_tag} · {overlay_title(runs)}", f"{title}{ema_tag} · {len(runs)} runs"]
        else:
            name = head.name or head.run_id
            waiting = "" if head.epochs_done or head.epoch_fraction() else f" ({head.status}, no epoch yet)"
            best, at = head.best(), head.best_at()
            candidates = [f"{title}{ema_tag} · {name}{waiting}"]
            if metric == "acc" and best is not None and at is not None:
                best_text = f"{100 * best:.2f}% @ epoch {at:g}"
                candidates[:0] = [
                    f"{title}{ema_tag} · {name} · best val {best_text}",
                    f"acc{ema_tag} · {name} · best {best_text}",
                ]
            candidates.append(f"{'acc' if metric == 'acc' else title}{ema_tag} · {name}")
        candidates.append(title + ema_tag)
        return next(c for c in candidates if len(c) + 6 <= width or c == candidates[-1])

    @staticmethod
    def _plot_run(
        plt: Any, r: RunState, metric: str, color: str, val_color: str, smooth: bool, npts: int
    ) -> tuple[list[float], list[float]]:
        """Draw one run's train and val curves and its best-epoch line; the points drawn."""
        xs = [p.epoch for p in r.points]
        scale = 100.0 if metric == "acc" else 1.0
        if metric == "loss":
            train = [p.train_loss for p in r.points]
            val = [p.val_loss for p in r.points]
        else:
            train = [p.train_acc for p in r.points]
            val = [p.val_acc for p in r.points]
        tx, ty = _series(xs, train)
        # The partial current epoch (running average from progress lines) continues the train curve.
        if r.status == "running" and r.partial:
            px = [p[0] for p in r.partial]
            py = [p[1] if metric == "loss" else p[2] for p in r.partial]
            ptx, pty = _series(px, py)
            tx, ty = tx + ptx, ty + pty
        vx, vy = _series(xs, val)
        all_x: list[float] = []
        all_y: list[float] = []
        for x, y, col, marker in ((tx, ty, color, TRAIN_MARKER), (vx, vy, val_color, VAL_MARKER)):
            if not x:
                continue
            x, y = downsample(x, [v * scale for v in y], npts)
            all_x += x
            all_y += y
            if smooth and len(y) > 2:
                plt.plot(x, y, color=FAINT, marker=TRAIN_MARKER)
                y = ema(y)
            if len(x) == 1:
                plt.scatter(x, y, color=col, marker=marker)
            else:
                plt.plot(x, y, color=col, marker=marker)
        at = r.best_at()
        if at is not None and xs:
            plt.vertical_line(at, color=val_color)
        return all_x, all_y

    def _show_key(self, runs: Sequence[RunState], shown: Sequence[RunState], smooth: bool) -> None:
        if len(shown) == 1:
            text = single_key(shown[0], smooth)
        else:
            note = ""
            if len(shown) < len(runs):
                note = (
                    f"showing {len(shown)} of {len(runs)} runs: the highlighted and the best "
                    f"{len(shown) - 1} marked by val acc"
                )
            entries = [
                KeyEntry(name, RUN_COLORS[i % len(RUN_COLORS)], r.best_at())
                for i, (r, name) in enumerate(zip(shown, self.names, strict=True))
            ]
            text = overlay_key(entries, note, smooth=smooth, width=max(20, self.size.width - 2))
        self.key_text = text.plain
        self.query_one("#plots-key", Static).update(text)
