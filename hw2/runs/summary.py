"""The one place where a run's figures are derived: :class:`RunSummary`.

``hw2-tui ls``, the CSV export, the TUI and the report all show a run through a summary built here,
so they cannot disagree: effective status, epochs done/total, latest and best values, best epoch,
elapsed, ETA, test metrics, variant, seed and the flattened hyperparameters. A summary is a frozen
snapshot: the watcher builds one whenever a run changes and hands it to readers (the TUI's poll
thread posts it to the UI thread as it is). It is also what a finished run's cache entry holds
(:func:`hw2.runs.index.pack` / :func:`hw2.runs.index.unpack`), so a finished run is summarised once.

Pure Python, no YAML, no Textual: cheap to import and to test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from hw2 import contract
from hw2.runs.liveness import LOCAL, SLURM

HPARAM_SKIP = ("name", "description", "data.data_dir")
"""Config keys never shown as hyperparameters (free text or machine-local paths)."""


def num(value: Any) -> float | None:
    """A finite float or None (garbage, booleans, NaN and inf become None, never a crash)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass(frozen=True, slots=True)
class EpochPoint:
    """One epoch line of ``metrics.jsonl``, as numbers (None where a value is missing or garbage)."""

    epoch: float
    train_loss: float | None
    val_loss: float | None
    train_acc: float | None
    val_acc: float | None
    seconds: float | None = None
    lr: float | None = None

    @classmethod
    def from_line(cls, line: Mapping[str, Any]) -> EpochPoint | None:
        """The point of an epoch line, or None when it has no usable epoch number."""
        ep = num(line.get("epoch"))
        if ep is None:
            return None
        return cls(
            ep,
            num(line.get("train_loss")),
            num(line.get("val_loss")),
            num(line.get("train_acc")),
            num(line.get("val_acc")),
            num(line.get("seconds")),
            num(line.get("lr")),
        )


def flatten_config(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` → ``{"optimizer.lr": 0.1}`` (lists become ``"AxB"`` strings);
    free-text and machine-local keys (:data:`HPARAM_SKIP`) are left out."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_config(value, path + "."))
        elif path not in HPARAM_SKIP:
            out[path] = "x".join(map(str, value)) if isinstance(value, list) else value
    return out


class EpochStats:
    """Running figures over a run's epoch lines, fed one line at a time (the watcher's tailer and
    the TUI feed the same lines). A re-sent or restarted epoch replaces what it supersedes."""

    __slots__ = ("best_epoch", "best_val_acc", "epochs_total", "latest", "seconds", "skipped")

    def __init__(self) -> None:
        self.latest: EpochPoint | None = None
        self.best_val_acc: float | None = None
        self.best_epoch: float | None = None
        self.epochs_total: int | None = None
        self.seconds: list[float] = []  # per-epoch seconds of the epochs kept
        # lines not used: epoch lines without a usable epoch number, plus the garbage lines the
        # reader counted (fold_lines adds those), so a summary's skipped_lines is the one "!N"
        self.skipped = 0

    def add(self, line: Mapping[str, Any]) -> EpochPoint | None:
        """Fold one epoch line in; returns its point (None if it was unusable)."""
        pt = EpochPoint.from_line(line)
        if pt is None:
            self.skipped += 1
            return None
        total = num(line.get("epochs"))
        if total:
            self.epochs_total = int(total)
        if self.latest is not None and self.latest.epoch >= pt.epoch:
            # a restarted run: the best so far may belong to the epochs it supersedes
            if self.best_epoch is not None and self.best_epoch >= pt.epoch:
                self.best_val_acc = self.best_epoch = None
            keep = int(pt.epoch) - 1
            del self.seconds[max(0, keep) :]
        self.latest = pt
        if pt.val_acc is not None and (self.best_val_acc is None or pt.val_acc > self.best_val_acc):
            self.best_val_acc, self.best_epoch = pt.val_acc, pt.epoch
        if pt.seconds is not None:
            self.seconds.append(pt.seconds)
        return pt

    def add_all(self, lines: Iterable[Mapping[str, Any]]) -> None:
        for line in lines:
            self.add(line)


def fold_lines(
    lines: Iterable[Mapping[str, Any]],
    stats: EpochStats,
    epochs: list[Mapping[str, Any]] | None = None,
    progress: Mapping[str, Any] | None = None,
    skipped: int = 0,
) -> Mapping[str, Any] | None:
    """THE split of metric lines into epoch and progress lines (``docs/run-contract.md``: a line's
    ``type`` is ``epoch`` or ``progress``), in file order.

    Each epoch line is folded into ``stats`` (and appended to ``epochs`` when a list is given);
    ``skipped`` garbage lines the reader counted are added to ``stats.skipped``. Returns the latest
    progress line (``progress`` when the batch holds none). The watcher, ``load_run``, the export
    and the CLI's foreground display all go through here.
    """
    stats.skipped += skipped
    for line in lines:
        if line.get("type") == "epoch":
            stats.add(line)
            if epochs is not None:
                epochs.append(line)
        else:
            progress = line
    return progress


def _intish(value: float | None) -> float | int | None:
    """An integral float as an int (``3.0`` → ``3``: an epoch number, a parameter count)."""
    return int(value) if value is not None and value.is_integer() and abs(value) < 2**53 else value


@dataclass(frozen=True)
class RunSummary:
    """Every figure of one run that any reader shows. Build it with :func:`summarize`."""

    run_id: str
    name: str
    status: str
    """The effective status (a ``running`` run whose process is gone reads ``failed``)."""
    path: str = ""
    study: str | None = None
    variant: str | None = None
    seed: int | None = None
    smoke: bool = False
    """A smoke run (meta ``smoke: true``): one epoch on a small subset; kept out of reports and exports
    unless asked for."""
    trainer: str = ""
    device: str | None = None
    executor: str = "local"
    """Where the run runs: ``local`` (the scheduler daemon) or ``slurm`` (meta ``executor``)."""
    node: str | None = None
    """A Slurm run's compute node (its meta ``host``); None for local runs."""
    slurm: str | None = None
    """What Slurm last said about a Slurm run's job (:func:`slurm_text`), None for local runs."""
    config_path: str | None = None
    error: str | None = None
    note: str | None = None
    """The person's note on the run (meta ``note``, :func:`hw2.runs.lifecycle.set_note`)."""
    attempt: int = 1
    """1 for a first run; + 1 for each requeue (a new folder) or resume (the same folder)."""
    resumed: int = 0
    """How many times this folder's run was resumed from its checkpoint (``hw2-tui resume``)."""
    requeued: bool = False
    """A Slurm run whose job Slurm requeued (time limit, preemption, lost node) and holds to start
    again: it resumes by itself (:func:`awaiting_requeue`)."""
    checkpoint_bytes: int | None = None
    """Size of the folder's last checkpoint (``checkpoint.pt`` / ``checkpoint.npz``); None: none."""
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    epochs_done: int = 0
    epochs_total: int | None = None
    latest: EpochPoint | None = None
    best_val_acc: float | None = None
    best_epoch: float | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    params: float | None = None
    total_seconds: float | None = None
    seconds_per_epoch: float | None = None
    progress_epoch: float | None = None
    """The current epoch's batch fraction from the latest progress line: (epoch, batch, batches)."""
    progress_batch: float | None = None
    progress_batches: float | None = None
    skipped_lines: int = 0
    has_result: bool = False
    hparams: Mapping[str, Any] = field(default_factory=dict, compare=False)

    # ------------------------------------------------------------------ derived on demand

    @property
    def resumable(self) -> bool:
        """A failed or killed run whose folder holds a checkpoint: ``hw2-tui resume`` goes on from it."""
        return self.status in contract.RESUMABLE_STATUSES and self.checkpoint_bytes is not None

    def status_text(self) -> str:
        """The status with what resume adds: ``failed · resumable``, ``running · resumed 2×``,
        ``killed · requeued`` (Slurm will start it again); a smoke run's ends in ``· smoke``."""
        text = self.status
        if self.requeued:
            text = f"{self.status} · requeued"
        elif self.resumable:
            text = f"{self.status} · resumable"
        elif self.resumed:
            text = f"{self.status} · resumed {self.resumed}×"
        return f"{text} · smoke" if self.smoke else text

    def elapsed(self, now: float) -> float | None:
        """Seconds from start to end (to ``now`` while running); the result's ``total_seconds``
        when the run never recorded an end; None if it never started."""
        if self.started is None:
            return None
        if self.status == "running":
            return max(0.0, now - self.started)
        if self.ended is not None:
            return max(0.0, self.ended - self.started)
        return self.total_seconds

    def epoch_fraction(self) -> float | None:
        """How far the current epoch is (from the latest progress line), None when unknown."""
        if self.status != "running":
            return None
        ep, b, n = self.progress_epoch, self.progress_batch, self.progress_batches
        if ep is None or b is None or not n or ep <= self.epochs_done:
            return None
        return max(0.0, min(b / n, 1.0))

    def fraction_done(self) -> float | None:
        """Fraction of all batches done, counting the current epoch's progress."""
        total = self.epochs_total
        if not total:
            return None
        done = float(self.epochs_done)
        frac = self.epoch_fraction()
        if frac is not None and self.progress_epoch is not None:
            done = self.progress_epoch - 1 + frac
        return max(0.0, min(done / total, 1.0))

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far (running runs only)."""
        if self.status != "running":
            return None
        frac, el = self.fraction_done(), self.elapsed(now)
        if not frac or el is None:
            return None
        return max(0.0, el / frac - el)

    def row(self, now: float) -> dict[str, Any]:
        """The figures as a flat dict (``ls --json``, the export): numbers, not formatted text."""
        latest = self.latest
        return {
            "run_id": self.run_id,
            "name": self.name,
            "study": self.study,
            "variant": self.variant,
            "seed": self.seed,
            "status": self.status,
            "trainer": self.trainer,
            "device": self.device,
            "epoch": self.epochs_done,
            "epochs": self.epochs_total,
            "train_loss": latest.train_loss if latest else None,
            "train_acc": latest.train_acc if latest else None,
            "val_loss": latest.val_loss if latest else None,
            "val_acc": latest.val_acc if latest else None,
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "test_acc": self.test_acc,
            "test_loss": self.test_loss,
            "params": self.params,
            "seconds_per_epoch": self.seconds_per_epoch,
            "elapsed": self.elapsed(now),
            "error": self.error,
            "note": self.note,
            "attempt": self.attempt,
            "resumed": self.resumed,
            "resumable": self.resumable,
            "checkpoint_bytes": self.checkpoint_bytes,
        }


def _get(meta: Any, key: str, default: Any = None) -> Any:
    if meta is None:
        return default
    if isinstance(meta, Mapping):
        return meta.get(key, default)
    value = getattr(meta, key, None)
    if value is None:
        extra = getattr(meta, "extra", None)
        if isinstance(extra, Mapping):
            value = extra.get(key)
    return default if value is None else value


def _text_or_none(value: Any) -> str | None:
    """A free-text meta field as text: a hand-edited meta.json may hold a number or a list."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def slurm_text(meta: Any) -> str | None:
    """What Slurm last said about a run's job, for a status cell: ``"pending: Resources"``,
    ``"running on node07"``, ``"submitting"`` before it has a job; None for a run that is not a
    Slurm run. (:func:`hw2.slurm.describe` says the same from a RunMeta.)"""
    if _get(meta, "executor") != SLURM:
        return None
    job = _get(meta, "slurm_job_id")
    state = str(_get(meta, "slurm_state") or "").lower()
    reason = _get(meta, "slurm_reason")
    host = _get(meta, "host")
    if not job:
        return "submitting"
    if state == "pending":
        return f"pending: {reason}" if reason and reason != "None" else "pending"
    if state == "running" or (_get(meta, "status") == "running" and not state):
        return f"running on {host}" if host else "running"
    return state or None


REQUEUED_STATES: Final = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"})
"""Slurm job states of a requeued job waiting to start again."""


def awaiting_requeue(meta: Any) -> bool:
    """Whether a failed or killed Slurm run's job is back in Slurm's queue (requeued by the time
    limit, a preemption or a lost node): the job resumes the run when it starts
    (:mod:`hw2.slurm.requeue`), so nobody else may."""
    return (
        _get(meta, "executor") == SLURM
        and _get(meta, "status") in contract.RESUMABLE_STATUSES
        and _get(meta, "started") is not None  # a run killed while queued waits for nothing
        and bool(_get(meta, "slurm_job_id"))
        and _get(meta, "slurm_state") in REQUEUED_STATES
    )


def slurm_count_text(pending: int, running: int) -> str | None:
    """``"slurm: 3 pending · 2 running"``; None when both are 0."""
    if not pending and not running:
        return None
    return f"slurm: {pending} pending · {running} running"


def slurm_summary_line(summaries: Iterable[RunSummary]) -> str | None:
    """``"slurm: 3 pending · 2 running"`` over the queued and running Slurm runs; None when there is none."""
    slurm = [s for s in summaries if s.executor == SLURM]
    return slurm_count_text(
        sum(1 for s in slurm if s.status == "queued"), sum(1 for s in slurm if s.status == "running")
    )


def summarize(
    *,
    run_id: str,
    meta: Any,
    status: str,
    error: str | None = None,
    config: Mapping[str, Any] | None = None,
    result: Mapping[str, Any] | None = None,
    stats: EpochStats | None = None,
    progress: Mapping[str, Any] | None = None,
    path: str = "",
    hparams: Mapping[str, Any] | None = None,
) -> RunSummary:
    """A run's summary from what its folder holds.

    ``meta`` is a :class:`hw2.contract.RunMeta` (or its dict), ``status``/``error`` the effective
    ones, ``stats`` the epoch lines folded so far, ``progress`` the latest progress line, and
    ``hparams`` the flattened config when the caller already has it (else flattened here). The
    result, when present, wins over what the epoch lines say (a restored best model, say).
    """
    stats = stats or EpochStats()
    res = result or {}
    config = config or {}
    latest = stats.latest
    epochs_total = _get(meta, "epochs")
    epochs_total = int(epochs_total) if num(epochs_total) else stats.epochs_total
    if epochs_total is None and progress and num(progress.get("epochs")):
        epochs_total = int(num(progress.get("epochs")) or 0) or None
    if epochs_total is None:
        train = config.get("train")
        if isinstance(train, Mapping) and isinstance(train.get("epochs"), int):
            epochs_total = train["epochs"]
    best_val = num(res.get("best_val_acc"))
    best_epoch = num(res.get("best_epoch"))
    if best_val is None:
        best_val, best_epoch = stats.best_val_acc, stats.best_epoch
    elif best_epoch is None:
        best_epoch = stats.best_epoch
    secs = [s for s in stats.seconds if s is not None]
    seed = _get(meta, "seed")
    if seed is None:
        seed = config.get("seed")
    ckpt = contract.checkpoint_file(path) if path else None
    try:
        ckpt_bytes = ckpt.stat().st_size if ckpt is not None else None
    except OSError:  # removed meanwhile
        ckpt_bytes = None
    attempt, resumed = num(_get(meta, "attempt")), num(_get(meta, "resumed"))
    return RunSummary(
        run_id=run_id,
        name=str(_get(meta, "name") or run_id),
        status=status,
        path=path,
        study=_get(meta, "study"),
        variant=_get(meta, "variant"),
        seed=int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None,
        smoke=_get(meta, "smoke") is True,
        trainer=str(_get(meta, "trainer") or ""),
        device=_get(meta, "device") or res.get("device"),
        executor=SLURM if _get(meta, "executor") == SLURM else LOCAL,
        node=_get(meta, "host") if _get(meta, "executor") == SLURM and _get(meta, "started") else None,
        slurm=slurm_text(meta),
        config_path=_get(meta, "config_path"),
        error=error,
        note=_text_or_none(_get(meta, "note")),
        attempt=int(attempt) if attempt else 1,
        resumed=int(resumed) if resumed else 0,
        requeued=awaiting_requeue(meta),
        checkpoint_bytes=ckpt_bytes,
        created=num(_get(meta, "created")),
        started=num(_get(meta, "started")),
        ended=num(_get(meta, "ended")),
        epochs_done=int(latest.epoch) if latest else 0,
        epochs_total=epochs_total,
        latest=latest,
        best_val_acc=best_val,
        best_epoch=_intish(best_epoch),
        test_acc=num(res.get("test_acc")),
        test_loss=num(res.get("test_loss")),
        params=_intish(num(res.get("params"))),
        total_seconds=num(res.get("total_seconds")),
        seconds_per_epoch=sum(secs) / len(secs) if secs else None,
        progress_epoch=num(progress.get("epoch")) if progress else None,
        progress_batch=num(progress.get("batch")) if progress else None,
        progress_batches=num(progress.get("batches")) if progress else None,
        skipped_lines=stats.skipped,
        has_result=result is not None,
        hparams=flatten_config(config) if hparams is None else hparams,
    )


# --------------------------------------------------------------------------- formatting (one way)


def fmt_float(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def fmt_bytes(n: int | None) -> str:
    """``812 B``, ``4.2 kB``, ``300 MB``, ``1.2 GB`` (powers of 1000, as ``du --si``); ``–`` when unknown."""
    if n is None:
        return "–"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            break
        size /= 1000
    if unit == "B":
        return f"{int(size)} B"
    return f"{size:.1f} {unit}" if size < 100 else f"{size:.0f} {unit}"


def fmt_duration(seconds: float | None) -> str:
    """``m:ss`` or ``h:mm:ss``, rounded to the second; ``–`` when unknown."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
