"""Telling the user when work ends: which events, their words, and how each channel says them.

Why here and UI-free: the TUI (toast, bell, desktop notification through the terminal) and the
CLI's foreground ``sweep`` (its last line, the bell) announce the same events in the same words, and
the rules (no notification storm on startup, each event once) are testable without Textual.

* :class:`EventDetector` turns the run summaries a UI sees, poll after poll, into :class:`Event`\\ s:
  a run that goes from ``queued``/``running`` to ``failed``, and a study whose runs seen live in this
  session have all ended. Runs already final when it first sees them fire nothing.
* :func:`study_text` / :func:`run_failed_text`: the sentences
  (``2.1.4 Optimizers: all 6 runs ended · 5 done, 1 failed``).
* :func:`terminal_sequence`: the bell (BEL) and the desktop notification escape sequences
  (OSC 9, understood by iTerm2, WezTerm, Windows Terminal, kitty, ghostty…; OSC 777 ``notify``, by
  foot, urxvt, VTE terminals, WezTerm…). They travel inside the terminal's own byte stream, so over
  SSH they reach the user's desktop; tmux passes them on only with ``allow-passthrough``.
* :class:`NotifySettings`: which channels are on, from ``$HW2_NOTIFY`` (a comma list of
  ``toast,bell,osc9,osc777,cmd``; ``osc`` is both OSC; unset: all; ``off``/``none``: none) and
  ``$HW2_NOTIFY_CMD``, a command run with the summary as its one extra argument
  (:func:`run_command`: no shell, in the background, never raising into the caller).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from hw2.contract import FINAL_STATUSES

log = logging.getLogger(__name__)

LIVE_STATUSES: Final = frozenset({"queued", "running"})
CHANNELS: Final = ("toast", "bell", "osc9", "osc777", "cmd")
"""Every channel ``$HW2_NOTIFY`` can name (``osc`` is short for ``osc9,osc777``)."""
ENV_CHANNELS: Final = "HW2_NOTIFY"
ENV_COMMAND: Final = "HW2_NOTIFY_CMD"
MAX_TEXT: Final = 240
"""Characters of a notification's text at most (a long error is cut, ending in ``…``)."""
COMMAND_TIMEOUT_S: Final = 60.0
"""``$HW2_NOTIFY_CMD`` is killed when it runs longer than this (a hung ``curl``)."""
TITLE: Final = "hw2-tui"
BEL: Final = "\a"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


# ---------------------------------------------------------------------- events and their words


@dataclass(frozen=True)
class Event:
    """One thing to tell the user: ``kind`` is ``run_failed`` or ``study_ended``."""

    kind: Literal["run_failed", "study_ended"]
    text: str
    """The one-line summary (already :func:`clean`)."""
    study: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    """``study_ended``: runs per final status (``done``, ``failed``, ``killed``)."""

    @property
    def bad(self) -> bool:
        """A failure, or a study with a failed or killed run: said as a warning."""
        return self.kind == "run_failed" or bool(self.counts.get("failed") or self.counts.get("killed"))

    @property
    def title(self) -> str:
        return "Run failed" if self.kind == "run_failed" else "Study ended"


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` on one line: control characters (newlines, ESC, BEL, C1) become one space; cut to
    ``limit`` characters with ``…``. What a trainer printed can never reach the terminal raw."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def count_text(counts: Mapping[str, int]) -> str:
    """``5 done, 1 failed`` (``killed`` only when some were)."""
    parts = [f"{counts.get('done', 0)} done", f"{counts.get('failed', 0)} failed"]
    if counts.get("killed"):
        parts.append(f"{counts['killed']} killed")
    return ", ".join(parts)


def study_text(study: str, counts: Mapping[str, int]) -> str:
    """``2.1.4 Optimizers: all 6 runs ended · 5 done, 1 failed``."""
    n = sum(counts.values())
    ended = "its run ended" if n == 1 else f"all {n} runs ended"
    return clean(f"{study}: {ended} · {count_text(counts)}")


def run_failed_text(name: str, study: str | None, error: str | None) -> str:
    """``run adam-s1 failed (2.1.4 Optimizers): RuntimeError: boom``."""
    where = f" ({study})" if study else ""
    return clean(f"run {name} failed{where}: {error or 'no error recorded'}")


def study_ended(study: str, statuses: Iterable[str]) -> Event:
    """The ``study_ended`` event of runs that ended with ``statuses``."""
    counts = dict(Counter(statuses))
    return Event("study_ended", study_text(study, counts), study, counts)


class EventDetector:
    """Run summaries in, poll after poll; events out, each once.

    A run is followed from the first time it is seen ``queued`` or ``running``: its move to
    ``failed`` is one ``run_failed`` event (once per attempt: a resumed run that fails again is
    told again), and it joins its study's batch. When every run of a batch is final, the batch is
    one ``study_ended`` event with its counts, and a new batch starts with the study's next live
    run. Smoke runs (``sweep --smoke``) are left out: the smoke test says its own verdict.
    Runs first seen final fire nothing and count in no batch (yesterday's 10 000), unless
    they were created after ``since`` (a run that failed within one poll of being queued).
    """

    def __init__(self, since: float | None = None) -> None:
        self.since = since
        self._status: dict[str, str] = {}
        # study -> run id -> (last status, attempt, times resumed): a resumed batch is a new one
        self._batches: dict[str, dict[str, tuple[str, int, int]]] = {}
        self._fired: set[tuple[Any, ...]] = set()

    def feed(self, summaries: Iterable[Any]) -> list[Event]:
        """Fold one poll's summaries (:class:`hw2.runs.summary.RunSummary`); returns the new events."""
        events: list[Event] = []
        touched: dict[str, None] = {}
        for s in summaries:
            if s is None or getattr(s, "smoke", False):
                continue  # a smoke test's failures are the launch's to tell
            before = self._status.get(s.run_id)
            self._status[s.run_id] = s.status
            if before is None and self._born_here(s):
                before = "queued"  # created in this session: it was live, if only between two polls
            study = s.study
            attempt = (getattr(s, "attempt", 1), getattr(s, "resumed", 0))
            if study and (
                s.status in LIVE_STATUSES
                or before in LIVE_STATUSES
                or s.run_id in self._batches.get(study, {})
            ):
                self._batches.setdefault(study, {})[s.run_id] = (s.status, *attempt)
                touched[study] = None
            if s.status == "failed" and before in LIVE_STATUSES:
                key = ("run_failed", s.run_id, *attempt)
                if key not in self._fired:
                    self._fired.add(key)
                    events.append(Event("run_failed", run_failed_text(s.name, study, s.error), study))
        for study in touched:
            events.extend(self._ended(study))
        return events

    def _born_here(self, summary: Any) -> bool:
        created = getattr(summary, "created", None)
        return self.since is not None and created is not None and created >= self.since

    def forget(self, run_ids: Iterable[str]) -> list[Event]:
        """Runs whose folders are gone: out of their batches (which may thereby have ended)."""
        studies: dict[str, None] = {}
        for rid in run_ids:
            self._status.pop(rid, None)
            for study, batch in self._batches.items():
                if batch.pop(rid, None) is not None:
                    studies[study] = None
        return [e for study in studies for e in self._ended(study)]

    def _ended(self, study: str) -> list[Event]:
        batch = self._batches.get(study)
        if batch is None or not all(st in FINAL_STATUSES for st, *_ in batch.values()):
            return []
        del self._batches[study]
        if not batch:
            return []
        key = ("study_ended", study, frozenset(batch.items()))
        if key in self._fired:
            return []
        self._fired.add(key)
        return [study_ended(study, [st for st, *_ in batch.values()])]


# ---------------------------------------------------------------------- the channels


@dataclass(frozen=True)
class NotifySettings:
    """Which channels are on (:meth:`from_env`), and the command ``cmd`` runs."""

    channels: frozenset[str] = frozenset(CHANNELS)
    command: str | None = None
    unknown: tuple[str, ...] = ()
    """Words of ``$HW2_NOTIFY`` that name no channel (ignored; :meth:`warning` says so)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotifySettings:
        env = os.environ if environ is None else environ
        command = (env.get(ENV_COMMAND) or "").strip() or None
        text = (env.get(ENV_CHANNELS) or "").strip().lower()
        if not text or text in ("all", "on"):
            return cls(frozenset(CHANNELS), command)
        if text in ("off", "none", "0", "no", "false"):
            return cls(frozenset(), command)
        on: set[str] = set()
        unknown: list[str] = []
        for word in filter(None, (w.strip() for w in text.split(","))):
            if word == "osc":
                on.update(("osc9", "osc777"))
            elif word in CHANNELS:
                on.add(word)
            else:
                unknown.append(word)
        return cls(frozenset(on), command, tuple(unknown))

    def __contains__(self, channel: object) -> bool:
        return channel in self.channels

    @property
    def runs_command(self) -> bool:
        return "cmd" in self.channels and self.command is not None

    def warning(self) -> str | None:
        """One line when ``$HW2_NOTIFY`` named something that is no channel; else None."""
        if not self.unknown:
            return None
        names = ", ".join(repr(w) for w in self.unknown)
        return (
            f"{ENV_CHANNELS}: {names} is no channel, ignored; fix: a comma list of "
            f"{','.join(CHANNELS)} (osc: both OSC), or off"
        )


def osc_field(text: str) -> str:
    """A field of an OSC sequence: :func:`clean`, and no ``;`` (OSC 777 splits its fields on it)."""
    return clean(text).replace(";", ",")


def osc9(text: str) -> str:
    """``ESC ] 9 ; text BEL``. The text starts with ``hw2-tui:`` so that terminals reading
    ``9;<number>;`` as a command (ConEmu, Windows Terminal's progress ``9;4``) never see a number."""
    return f"\x1b]9;{osc_field(f'{TITLE}: {text}')}\a"


def osc777(title: str, body: str) -> str:
    """``ESC ] 777 ; notify ; title ; body BEL``."""
    return f"\x1b]777;notify;{osc_field(title)};{osc_field(body)}\a"


def terminal_sequence(event: Event, settings: NotifySettings) -> str:
    """What the terminal gets for one event, each sequence once: the bell, then the desktop
    notifications the settings allow ('' when none)."""
    out = BEL if "bell" in settings else ""
    if "osc9" in settings:
        out += osc9(event.text)
    if "osc777" in settings:
        out += osc777(f"{TITLE}: {event.title}", event.text)
    return out


def run_command(
    command: str, summary: str, on_error: Callable[[str], None] | None = None
) -> threading.Thread:
    """Run ``command`` (``shlex.split``, no shell) with ``summary`` as one more argument, in a
    background thread that waits for it (no zombie) and kills it after :data:`COMMAND_TIMEOUT_S`.
    Its output goes to /dev/null. A failure (not found, non-zero exit, timeout) is one line, to
    ``on_error`` when given, else to the log; it never raises into the caller. Returns the thread
    (the CLI joins it briefly before exiting)."""

    def report(line: str) -> None:
        line = f"{ENV_COMMAND}: {line}"
        if on_error is None:
            log.warning("%s", line)
            return
        try:
            on_error(line)
        except Exception:  # an app shutting down: the line is lost, never the caller
            log.warning("%s", line)

    def go() -> None:
        try:
            argv = [*shlex.split(command), clean(summary, limit=4 * MAX_TEXT)]
            proc = subprocess.Popen(  # noqa: S603 - the user's own command, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal is not for it
                close_fds=True,
            )
        except (OSError, ValueError) as exc:
            report(f"cannot run {command!r}: {exc}; fix: a program and its arguments, no shell syntax")
            return
        try:
            code = proc.wait(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            report(f"{command!r} ran over {COMMAND_TIMEOUT_S:g} s and was killed")
            return
        if code != 0:
            report(f"{command!r} exited with status {code}")

    thread = threading.Thread(target=go, name="hw2-notify-cmd", daemon=True)
    thread.start()
    return thread
