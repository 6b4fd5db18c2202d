"""Loss and accuracy plots (plotext through ``textual_plotext``), for the main screen and the
study view.

``textual_plotext`` (and with it plotext) is imported only when the plots mount, after the first
frame, which keeps cold start short.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import MountError
from textual.widgets import Static

from tui.model import RunState, downsample, ema

if TYPE_CHECKING:
    from textual_plotext import PlotextPlot


# Colours per overlaid run (plotext names), and the faint colour for raw curves behind EMA.
PROGRESS_REDRAW_S = 2.0  # the partial epoch (progress lines) redraws the plots at most this often
RUN_COLORS = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")
FAINT = "gray"


def _series(xs: list[float], ys: list[float | None]) -> tuple[list[float], list[float]]:
    pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


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


class MetricPlots(Horizontal):
    """Loss and accuracy against epoch for the highlighted run plus any marked runs."""

    class Ready(Message):
        """The plots are mounted or resized: the app should (re)draw them."""

    DEFAULT_CSS = """
    MetricPlots { height: 1fr; }
    MetricPlots > #plots-placeholder { width: 1fr; content-align: center middle; color: $text-muted; }
    MetricPlots > #plots-empty { width: 1fr; height: 1fr; content-align: center middle; color: $text-muted;
                                 text-align: center; display: none; }
    MetricPlots.-empty > #plots-empty { display: block; }
    MetricPlots.-empty > PlotextPlot { display: none; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.loss: PlotextPlot | None = None
        self.acc: PlotextPlot | None = None
        self._drawn_sig: Any = None
        self._drawn_at = 0.0
        self.draw_count = 0
        self.last_draw_versions: dict[str, int] = {}

    EMPTY_HINT = (
        "No run to plot yet.\n\nPick a config on the left (shift+tab) and press enter to launch it,\n"
        "or s to launch a whole study. Highlight a run in the table to plot it; space overlays more."
    )

    def compose(self) -> ComposeResult:
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
            await self.mount(loss, acc, before="#plots-empty")
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
        """Redraw if the data, options or size changed since the last draw; True if it drew."""
        if self.loss is None or self.acc is None:
            return False
        if not runs:
            self.set_class(True, "-empty")
            self._drawn_sig = None
            return False
        self.set_class(False, "-empty")
        if self.loss.size.width == 0:
            return False  # just un-hidden: drawn on the resize that follows
        width = max(self.loss.size.width, 20)
        sig = (
            tuple((r.run_id, r.epoch_version, r.status) for r in runs),
            smooth,
            width,
            self.loss.size.height,
        )
        versions = {r.run_id: r.version for r in runs}
        now = time.monotonic()
        # Same epochs, status and options: only progress lines (the partial epoch) may have
        # changed, which is redrawn at most every PROGRESS_REDRAW_S.
        if sig == self._drawn_sig and (
            versions == self.last_draw_versions or now - self._drawn_at < PROGRESS_REDRAW_S
        ):
            return False
        self._drawn_sig, self._drawn_at = sig, now
        npts = max(8, (width - 10) * 2)
        overlay = len(runs) > 1
        for plot, metric, title in ((self.loss, "loss", "loss"), (self.acc, "acc", "accuracy")):
            plt = plot.plt
            plt.clear_data()
            plt.xlabel("epoch")
            if not runs:
                plt.title(f"{title}: highlight a run")
                plot.refresh()
                continue
            for i, r in enumerate(runs):
                color = RUN_COLORS[i % len(RUN_COLORS)]
                self._plot_run(
                    plt, r, metric, color, overlay, smooth, npts, val_color=None if overlay else "orange"
                )
            head = runs[0]
            best, at = head.best(), head.best_at()
            ema_tag = " (EMA)" if smooth else ""
            if metric == "acc" and best is not None and at is not None:
                long = f"{title}{ema_tag} · best val {100 * best:.2f}% @ epoch {at:g}"
                short = f"acc{ema_tag} best {100 * best:.1f}%@{at:g}"
                plt.title(long if len(long) + 8 <= width else short)
            elif metric == "loss" and not overlay:
                # Name the run, and say why the axes are still empty (queued, just started).
                name = head.name or head.run_id
                waiting = (
                    "" if head.epochs_done or head.epoch_fraction() else f" ({head.status}, no epoch yet)"
                )
                long = f"{title}{ema_tag} · {name}{waiting}"
                plt.title(long if len(long) + 8 <= width else title + ema_tag)
            else:
                plt.title(title + ema_tag)
            plot.data_serial += 1
            plot.refresh()
        self.draw_count += 1
        self.last_draw_versions = versions
        return True

    @staticmethod
    def _plot_run(
        plt: Any,
        r: RunState,
        metric: str,
        color: str,
        overlay: bool,
        smooth: bool,
        npts: int,
        val_color: str | None,
    ) -> None:
        xs = [p.epoch for p in r.points]
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
        name = r.name or r.run_id
        prefix = f"{name[:18]} " if overlay else ""
        for label, x, y, col, marker in (
            ("train", tx, ty, color, "braille"),
            ("val", vx, vy, val_color or color, "hd" if not overlay else "dot"),
        ):
            if not x:
                continue
            x, y = downsample(x, y, npts)
            if smooth and len(y) > 2:
                plt.plot(x, y, color=FAINT, marker="braille")
                y = ema(y)
            if len(x) == 1:
                plt.scatter(x, y, color=col, marker=marker, label=prefix + label)
            else:
                plt.plot(x, y, color=col, marker=marker, label=prefix + label)
        at = r.best_at()
        if at is not None and xs:
            plt.vertical_line(at, color=val_color or color)
