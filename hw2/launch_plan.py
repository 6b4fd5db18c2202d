"""What a launch will do, in sentences a launch dialog can show: how many runs it queues, how many
epochs each, where they run, about how long that takes, and why earlier runs of the study are not
counted as twins.

Why a module of its own: the TUI's launch dialog shows it, but the facts come from the core and
must not be guessed twice. Twins are :func:`hw2.planning.plan_sweep`'s, identities
:func:`hw2.run_keys.identity`'s, a run's settings and its measured seconds per epoch come from its
summary (:mod:`hw2.runs.summary`), a setting that differs is :func:`hw2.analysis.report.plan_diff`'s,
and how many runs the local scheduler runs at once is :class:`hw2.scheduler.Scheduler`'s.

UI-free: no Textual. :func:`make_plan` reads the runs folder, so a dialog calls it in a thread.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2.executors import LOCAL, Placement
from hw2.runs.summary import RunSummary, flatten_config

SpeedKey = tuple[Any, ...]

# --------------------------------------------------------------------------- where runs run


# :class:`hw2.executors.Placement`, made by each executor's ``plan`` (:meth:`hw2.executors.Executor.plan`).


# --------------------------------------------------------------------------- the time estimate


def device_kind(device: str | None) -> str | None:
    """``cpu`` or ``gpu`` from a run's recorded device (``cuda:0``, ``/GPU:0``, ``cpu``); None unknown."""
    if not device:
        return None
    text = device.lower()
    if "cuda" in text or "gpu" in text or "mps" in text:
        return "gpu"
    return "cpu" if "cpu" in text else None


def speed_keys(trainer: str, hparams: Mapping[str, Any]) -> tuple[SpeedKey, SpeedKey]:
    """(fine, coarse) keys under which runs share a speed: the same trainer, model, batch size and
    data (dataset and subset: a smaller subset makes shorter epochs); the fine key adds the
    optimizer, which changes an epoch's cost too (Adam keeps two moments per weight)."""
    coarse = (
        trainer,
        hparams.get("model.name"),
        hparams.get("train.batch_size"),
        hparams.get("data.dataset"),
        hparams.get("data.subset"),
    )
    return (*coarse, hparams.get("optimizer.name")), coarse


@dataclass(frozen=True)
class Speed:
    """Mean measured seconds per epoch of ``runs`` finished runs of one key, on ``device``."""

    seconds_per_epoch: float
    runs: int
    device: str | None


def measured_speeds(summaries: Iterable[RunSummary]) -> dict[tuple[SpeedKey, str | None], Speed]:
    """Seconds per epoch of earlier runs, by (speed key, device kind): done runs only (a failed
    run's epochs may be cut short), smoke runs left out (one epoch of a small subset)."""
    samples: dict[tuple[SpeedKey, str | None], list[float]] = {}
    for s in summaries:
        if s.status != "done" or s.smoke or s.seconds_per_epoch is None or s.seconds_per_epoch <= 0:
            continue
        for key in speed_keys(s.trainer, s.hparams):
            samples.setdefault((key, device_kind(s.device)), []).append(s.seconds_per_epoch)
    return {k: Speed(sum(v) / len(v), len(v), k[1]) for k, v in samples.items()}


def speed_of(
    speeds: Mapping[tuple[SpeedKey, str | None], Speed], trainer: str, hparams: Mapping[str, Any], device: str
) -> Speed | None:
    """The measured speed for a planned run: the fine key before the coarse one, runs on the same
    device kind before runs on any other (still better than nothing; the dialog names the device)."""
    keys = speed_keys(trainer, hparams)
    for dev in (device, *sorted({d for (_k, d) in speeds if d != device}, key=str)):
        for key in keys:
            found = speeds.get((key, dev))
            if found is not None:
                return found
    return None


def wall_seconds(durations: Sequence[float], slots: int | None) -> float:
    """How long ``durations`` take when a scheduler starts them in order, each on the first free
    slot (``slots`` None: all at once)."""
    if not durations:
        return 0.0
    if slots is None or slots >= len(durations):
        return max(durations)
    free = [0.0] * max(1, slots)
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
    return max(free)


@dataclass(frozen=True)
class Estimate:
    """How long the runs to queue take: ``seconds`` of wall time for those with a measured speed
    (None when none has), ``unknown`` how many have none, and what it rests on."""

    seconds: float | None
    unknown: int
    measured_runs: int
    per_epoch: tuple[float, ...] = ()
    devices: tuple[str, ...] = ()

    def text(self) -> str:
        """``Time: about 4 min (4.7 s/epoch measured on cpu over 6 earlier runs).``"""
        if self.seconds is None:
            return "Time: unknown (no earlier finished run of this model, batch size and data)."
        pace = pace_text(min(self.per_epoch), max(self.per_epoch))
        where = f" on {'/'.join(self.devices)}" if self.devices else ""
        runs = f"{self.measured_runs} earlier run{'s' if self.measured_runs != 1 else ''}"
        basis = f"{pace}/epoch measured{where} over {runs}"
        if self.unknown:
            return f"Time: {duration_text(self.seconds)} for the measured runs, unknown for {self.unknown} ({basis})."
        return f"Time: {duration_text(self.seconds)} ({basis})."


def estimate(planned: Sequence[Any], summaries: Iterable[RunSummary], executor: Placement) -> Estimate:
    """The time ``planned`` (runs to queue, in queue order) take on ``executor``: each run's epochs
    times the measured seconds per epoch of earlier runs of its model (:func:`speed_of`), laid out
    over the executor's slots (:func:`wall_seconds`)."""
    speeds = measured_speeds(summaries)
    durations: list[float] = []
    used: dict[int, Speed] = {}
    unknown = 0
    for p in planned:
        hp = flatten_config(p.cfg.model_dump(mode="json"))
        speed = speed_of(speeds, p.cfg.trainer, hp, executor.device)
        if speed is None:
            unknown += 1
            continue
        used[id(speed)] = speed
        durations.append(speed.seconds_per_epoch * p.cfg.train.epochs)
    if not durations:
        return Estimate(None, unknown, 0)
    return Estimate(
        seconds=wall_seconds(durations, executor.slots),
        unknown=unknown,
        measured_runs=max(s.runs for s in used.values()),
        per_epoch=tuple(s.seconds_per_epoch for s in used.values()),
        devices=tuple(sorted({s.device for s in used.values() if s.device})),
    )


def per_epoch_text(seconds: float) -> str:
    """``4.7 s``, ``30 s``, ``2.5 min``: two figures or so, as a measured pace deserves."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def pace_text(lo: float, hi: float) -> str:
    """Seconds per epoch over a range: ``4.7 s``, ``2.5–4.7 s``, ``1.2–2.0 min``."""
    low, high = per_epoch_text(lo), per_epoch_text(hi)
    if low == high:
        return high
    if low.split()[1] == high.split()[1]:
        return f"{low.split()[0]}–{high}"
    return f"{low}–{high}"


def duration_text(seconds: float) -> str:
    """A rough wall time: ``under a minute``, ``about 7 min``, ``about 3 h 20 min``."""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    h, m = divmod(minutes, 60)
    return f"about {h} h {m:02d} min"


# --------------------------------------------------------------------------- runs that are not twins


def _value(key: str, value: Any) -> str:
    if key == "train.epochs" and isinstance(value, int):
        return f"{value} epoch{'s' if value != 1 else ''}"
    if value is None:
        return "unset"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _setting(key: str, got: Iterable[Any], want: Iterable[Any]) -> str:
    """``2 epochs, planned 20``, ``perf.threads 1, planned unset``."""
    ran = "/".join(dict.fromkeys(_value(key, v) for v in got))
    planned = "/".join(dict.fromkeys(_value(key, v) for v in want))
    if key == "train.epochs":
        return f"{ran}, planned {planned.split()[0]}"
    return f"{key} {ran}, planned {planned}"


def short_study(title: str) -> str:
    """A study's short name: its question number (``2.1.4``) when the title starts with one."""
    head = title.split()[0] if title.split() else title
    if head[:1].isdigit():
        return head
    return title if len(title) <= 24 else title[:23] + "…"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


@dataclass
class _Others:
    """A study's earlier runs sorted by why they are not twins of a planned run."""

    settings: dict[str, list[Any]] = field(default_factory=dict)
    """Each differing config key → the values the runs had."""
    differ: int = 0
    seeds: list[int] = field(default_factory=list)
    unfinished: int = 0
    smoke: int = 0


def not_twins(planned: Sequence[Any], summaries: Iterable[RunSummary], study: str | None) -> list[str]:
    """Why the study's earlier runs do not count as twins of ``planned``, one sentence per reason,
    e.g. ``6 runs of 2.1.4 with other settings (2 epochs, planned 20) are not twins.``
    Only runs of ``study`` (its title) are looked at; an empty list when there is nothing to say.

    A run is compared with the planned run of its variant, or (a run without one) the planned run
    it differs least from; the settings that differ are :func:`hw2.analysis.report.plan_diff`'s,
    less what is no part of a run's identity (:data:`hw2.run_keys.NOT_IDENTITY`; the seed apart)."""
    if not study or not planned:
        return []
    from hw2.planning import BLOCKING_STATUSES
    from hw2.run_keys import identity

    wanted = {identity(p.cfg) for p in planned}
    flats = [flatten_config(p.cfg.model_dump(mode="json")) for p in planned]
    by_variant = {p.variant: flat for p, flat in reversed(list(zip(planned, flats, strict=True)))}
    out = _Others()
    for s in summaries:
        if s.study != study:
            continue
        if s.smoke:
            out.smoke += 1
        elif s.status not in BLOCKING_STATUSES:
            out.unfinished += 1
        elif _identity_of(s) not in wanted:
            _sort_other(out, s, [by_variant[s.variant]] if s.variant in by_variant else flats)
    return _sentences(out, short_study(study), flats)


def _identity_of(s: RunSummary) -> str | None:
    """An existing run's identity (:func:`hw2.planning.run_identity`), from its folder."""
    from hw2 import contract
    from hw2.planning import run_identity

    meta = contract.read_meta(Path(s.path)) if s.path else None
    return run_identity(Path(s.path), meta) if meta is not None else None


def _sort_other(out: _Others, s: RunSummary, plans: Sequence[Mapping[str, Any]]) -> None:
    """File a run that is no twin: under the settings it differs in from its nearest plan, or,
    differing in none (the seed apart), under other seeds."""
    from hw2.analysis.report import plan_diff
    from hw2.run_keys import NOT_IDENTITY

    diffs = [{k: v for k, v in plan_diff(plan, s.hparams).items() if k not in NOT_IDENTITY} for plan in plans]
    diff = min(diffs, key=len)
    if not diff:
        if s.seed is not None:
            out.seeds.append(s.seed)
        return
    out.differ += 1
    for key, (_want, got) in diff.items():
        out.settings.setdefault(key, []).append(got)


def _sentences(o: _Others, name: str, plans: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    if o.differ:
        keys = sorted(o.settings, key=lambda k: (k != "train.epochs", k))  # the epochs first, then by name
        parts = [_setting(k, o.settings[k], [p.get(k) for p in plans]) for k in keys[:3]]
        if len(keys) > 3:
            parts.append(f"{len(keys) - 3} more")
        verb = "is not a twin" if o.differ == 1 else "are not twins"
        out.append(f"{_plural(o.differ, 'run')} of {name} with other settings ({'; '.join(parts)}) {verb}.")
    if o.seeds:
        seeds = ", ".join(str(s) for s in sorted(set(o.seeds)))
        verb = "is" if len(o.seeds) == 1 else "are"
        out.append(
            f"{_plural(len(o.seeds), 'run')} of {name} with other seeds ({seeds}) {verb} not in this plan."
        )
    if o.unfinished:
        verb = "does" if o.unfinished == 1 else "do"
        out.append(f"{_plural(o.unfinished, 'failed or killed run')} of {name} {verb} not count.")
    if o.smoke:
        out.append(f"{_plural(o.smoke, 'smoke run')} never count{'s' if o.smoke == 1 else ''}.")
    return out


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class LaunchPlan:
    """What a launch will do: ``to_queue`` (planned runs, in queue order) out of ``planned``, how
    many have a done/queued/running ``twins``, the executor, the estimate and the reasons earlier
    runs are not twins. :meth:`lines` says it in a few sentences."""

    planned: int
    to_queue: tuple[Any, ...]
    twins: int
    force: bool
    executor: Placement
    estimate: Estimate
    not_twins: tuple[str, ...] = ()
    ahead: int = 0
    """Runs of the same executor already queued or running: a local scheduler starts them first."""

    @property
    def count(self) -> int:
        return len(self.to_queue)

    def epochs_text(self) -> str:
        """``20 epochs`` or ``2–20 epochs`` over the runs to queue."""
        epochs = sorted({p.cfg.train.epochs for p in self.to_queue})
        if not epochs:
            return ""
        span = str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"
        return f"{span} epoch{'s' if epochs[-1] != 1 else ''}"

    def twins_line(self) -> str:
        n, t = self.planned, self.twins
        if self.force:
            if t:
                return f"force: all {n} planned runs are queued, {t} of them again (they have a twin)."
            return f"force: all {n} planned runs are queued (none has a twin)."
        if not t:
            if n == 1:
                return "The planned run is not done or queued yet."
            return f"None of the {n} planned runs is done or queued yet."
        if t == n:
            if n == 1:
                return "The planned run is done or queued already (a twin): nothing to queue."
            every = "Both" if n == 2 else f"All {n}"
            return f"{every} planned runs are done or queued already (twins): nothing to queue."
        return f"{t} of the {n} planned runs are done or queued already (twins)."

    def run_line(self) -> str:
        """``Queue 3 runs × 20 epochs on local CPU, one at a time.``"""
        verb = "Queue" if self.executor.kind == LOCAL else "Submit"
        where = "on" if self.executor.kind == LOCAL else "to"
        line = (
            f"{verb} {_plural(self.count, 'run')} × {self.epochs_text()} {where} {self.executor.what},"
            f" {self.executor.at_once()}."
        )
        if self.ahead and self.executor.kind == LOCAL:
            line += f" {_plural(self.ahead, 'run')} already queued or running come first."
        return line

    def lines(self) -> list[str]:
        """The plan in sentences: twins, what runs where, the time, why others are not twins."""
        out = [self.twins_line()]
        if self.count:
            out += [self.run_line(), self.estimate.text()]
        return out + list(self.not_twins)


def make_plan(
    runs_dir: Path | str,
    planned: Sequence[Any],
    *,
    force: bool,
    executor: Placement,
    study: str | None,
    summaries: Sequence[RunSummary] | None = None,
) -> LaunchPlan:
    """The plan of launching ``planned`` (a study's or an experiment's planned runs) into
    ``runs_dir`` on ``executor``. Reads the runs folder (its summaries through the summary cache,
    :func:`hw2.runs.readers.list_runs`, unless ``summaries`` are given): call it off the UI thread."""
    from hw2.planning import plan_sweep

    if summaries is None:
        from hw2.runs.readers import list_runs

        summaries = list_runs(runs_dir)
    sweep = plan_sweep(runs_dir, list(planned))
    to_queue = tuple(planned) if force else tuple(sweep.to_queue)
    ahead = sum(
        1
        for s in summaries
        if s.status in ("queued", "running") and s.executor == executor.kind and not s.smoke
    )
    return LaunchPlan(
        planned=len(planned),
        to_queue=to_queue,
        twins=len(sweep.skipped),
        force=force,
        executor=executor,
        estimate=estimate(to_queue, summaries, executor),
        not_twins=tuple(not_twins(planned, summaries, study)),
        ahead=ahead,
    )


def planned_runs(entry: Any, repeat: int | None) -> list[Any]:
    """A config entry's planned runs (:class:`hw2.config.ConfigEntry`): as written, or expanded again
    with ``repeat`` seeds per variant (what the launch dialog plans and launches)."""
    if repeat is None:
        return list(entry.runs)
    from hw2.config import expand_study

    return list(expand_study(entry.path, repeat=repeat))
