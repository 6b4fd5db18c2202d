"""The runs folder's trash: ``<runs>/.trash/``. ``hw2-tui rm`` moves run folders there, ``restore``
puts one back, ``gc`` empties it (the TUI's delete key does the same through these functions).

Why a trash and not ``rm -rf``: a semester of runs piles up (smoke runs, failed attempts), and a
run removed by mistake is a lost afternoon of training. A move is one ``os.rename`` of the run
folder on the same file system: atomic, so the scheduler and the watchers see the whole folder or
none of it (a name starting with ``.`` is never a run folder, :func:`hw2.contract.list_run_dirs`),
and the folder comes back byte for byte. Each move and restore happens under the queue lock
(:func:`hw2.launch.queue_lock`, which the scheduler holds to launch a run) and the run folder's
own lock (which every ``meta.json`` update holds), after checking the run's effective status there:
a queued or running run is never moved, and no meta update is half done in a moving folder.

A trashed folder keeps its name (the run id); the same id trashed again gets ``<id>~2``, ``~3``...
(``~`` is never in a run id, :func:`hw2.contract.safe_name`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hw2 import contract, launch, locks
from hw2.runs import liveness
from hw2.runs.summary import fmt_bytes

TRASH_DIR = contract.TRASH_DIR
_GONE = ".gc-"  # an entry being deleted by gc: hidden from restore and from the listing
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class TrashError(Exception):
    """A trash operation could not be done; ``str()`` is one line naming the fix."""


@dataclass(frozen=True)
class Removed:
    """A run folder moved to the trash."""

    run_id: str
    size_bytes: int
    trash_path: Path


@dataclass
class Removal:
    """What :func:`remove` did: the runs moved, and one line per run left where it was."""

    removed: list[Removed] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        return sum(r.size_bytes for r in self.removed)


@dataclass(frozen=True)
class Trashed:
    """One folder in the trash: its name there, the run id it had, its size and when it was moved
    (the folder's ctime, which the move sets)."""

    name: str
    run_id: str
    path: Path
    size_bytes: int
    trashed_at: float


@dataclass(frozen=True)
class Sizes:
    """Bytes in the runs folder (the trash excluded) and in its trash."""

    runs_bytes: int
    trash_bytes: int

    def text(self) -> str:
        return f"runs {fmt_bytes(self.runs_bytes)} · trash {fmt_bytes(self.trash_bytes)}"


# --------------------------------------------------------------------------- sizes


def trash_dir(runs_dir: Path | str) -> Path:
    return Path(runs_dir) / TRASH_DIR


def folder_size(path: Path | str) -> int:
    """Bytes of the files under ``path`` (links not followed; a file gone meanwhile counts 0)."""
    total = 0
    try:
        with os.scandir(path) as it:
            for entry in it:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        total += folder_size(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        pass
    return total


def sizes(runs_dir: Path | str) -> Sizes:
    """The bytes of the run folders and of the trash: a walk of every file, so callers (the TUI's
    header) run it in a thread, rarely. The tool's own files (the summary cache, the scheduler's
    log) are not runs and are left out."""
    runs = sum(folder_size(p) for p in contract.list_run_dirs(Path(runs_dir)))
    return Sizes(runs, folder_size(trash_dir(runs_dir)))


# --------------------------------------------------------------------------- selection


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` → seconds."""
    m = _AGE.match(text)
    if m is None:
        raise TrashError(
            f"--older-than {text!r}: not a duration; fix: a number and a unit, e.g. 30d, 12h, 2w"
        )
    return float(m.group(1)) * _UNITS[m.group(2)]


def select(
    runs_dir: Path | str,
    run_dirs: Iterable[Path] | None = None,
    *,
    smoke: bool = False,
    failed: bool = False,
    study: str | None = None,
    older_than_s: float | None = None,
    now: float | None = None,
) -> list[Path]:
    """The run folders (``run_dirs``, else every run of ``runs_dir``) that pass every selector
    given (AND): smoke runs, failed or killed runs (effective status, as ``requeue --failed``),
    runs of ``study`` (its title or study file), runs created more than ``older_than_s`` ago."""
    t = time.time() if now is None else now
    dirs = contract.list_run_dirs(Path(runs_dir)) if run_dirs is None else list(run_dirs)
    out = []
    for path in dirs:
        meta = contract.read_meta(path)
        if meta is None:
            continue
        if smoke and meta.extra.get("smoke") is not True:
            continue
        if failed and liveness.effective_status(meta) not in contract.RESUMABLE_STATUSES:
            continue
        if study is not None and not contract.of_study(meta, study):
            continue
        if older_than_s is not None and not (meta.created and t - float(meta.created) > older_than_s):
            continue
        out.append(path)
    return out


def refusal(meta: contract.RunMeta) -> str | None:
    """Why the run may not be moved now (one line), or None when it may: a queued or running run
    (a ``running`` run whose process is gone counts as failed and may go), or a finished run whose
    process is still exiting."""
    status = liveness.effective_status(meta)
    if status in ("queued", "running"):
        return f"{meta.run_id} is {status}: stop it first with hw2-tui kill {meta.run_id}"
    if meta.pid and liveness.is_alive(meta) is True:
        return f"{meta.run_id}: its process (pid {meta.pid}) is still exiting; try again in a moment"
    return None


def movable(run_dirs: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """(the folders that may be moved now, one line per folder that may not): what to ask about
    before :func:`remove`, which checks again under the locks."""
    ok, refused = [], []
    for path in run_dirs:
        meta = contract.read_meta(path)
        why = f"{path.name}: no readable meta.json; not a run folder" if meta is None else refusal(meta)
        if why is None:
            ok.append(path)
        else:
            refused.append(why)
    return ok, refused


# --------------------------------------------------------------------------- rm / restore / gc


def remove(runs_dir: Path | str, run_dirs: Iterable[Path]) -> Removal:
    """Move each run folder to ``<runs>/.trash/``, one by one, each under the queue lock and the
    folder's lock after re-checking its status there (:func:`refusal`): a run that may not go is
    left in place with its line in ``refused``. Its summary-cache entry is dropped."""
    runs_dir = Path(runs_dir)
    trash = trash_dir(runs_dir)
    out = Removal()
    for path in run_dirs:
        size = folder_size(path)  # outside the locks: the scheduler waits only for the rename
        try:
            with launch.queue_lock(runs_dir), locks.locked_dir(path):
                meta = contract.read_meta(path)
                why = (
                    f"{path.name}: no readable meta.json; not a run folder" if meta is None else refusal(meta)
                )
                if why is not None:
                    out.refused.append(why)
                    continue
                contract.make_runs_dir(trash)
                dest = _free_name(trash, path.name)
                os.rename(path, dest)
        except FileNotFoundError:
            out.refused.append(f"{path.name}: no such run (removed meanwhile?)")
            continue
        except launch.LaunchError as exc:
            raise TrashError(str(exc)) from exc
        out.removed.append(Removed(path.name, size, dest))
    _forget_summaries(runs_dir, [r.run_id for r in out.removed])
    return out


def _free_name(trash: Path, run_id: str) -> Path:
    """``trash/<run_id>``, or ``<run_id>~N`` when that is taken (held under the queue lock)."""
    dest, n = trash / run_id, 1
    while os.path.lexists(dest):
        n += 1
        dest = trash / f"{run_id}~{n}"
    return dest


def _forget_summaries(runs_dir: Path, run_ids: list[str]) -> None:
    """Drop the summary cache's entries of moved runs: a copy never outlives its run."""
    if not run_ids:
        return
    from hw2.runs.index import SummaryCache

    cache = SummaryCache(runs_dir)
    for run_id in run_ids:
        cache.drop(run_id)
    cache.save()


def trashed(runs_dir: Path | str, *, with_sizes: bool = True) -> list[Trashed]:
    """The folders in the trash, oldest move first."""
    trash = trash_dir(runs_dir)
    out = []
    try:
        with os.scandir(trash) as it:
            entries = [e for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    for e in entries:
        with contextlib.suppress(OSError):
            out.append(
                Trashed(
                    name=e.name,
                    run_id=e.name.split("~", 1)[0],
                    path=Path(e.path),
                    size_bytes=folder_size(e.path) if with_sizes else 0,
                    trashed_at=e.stat(follow_symlinks=False).st_ctime,
                )
            )
    out.sort(key=lambda t: (t.trashed_at, t.name))
    return out


def find_trashed(runs_dir: Path | str, ref: str) -> Trashed:
    """The trashed run named by ``ref``: its run id, a unique part of it, or its name in the trash."""
    entries = trashed(runs_dir, with_sizes=False)
    # a run id trashed twice (<id>, <id>~2) is ambiguous: its name in the trash tells which
    exact = [t for t in entries if ref == t.name and "~" in ref] or [t for t in entries if ref == t.run_id]
    matches = exact or [t for t in entries if ref in t.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise TrashError(
            f"no run matching {ref!r} in {trash_dir(runs_dir)}; fix: see `ls {trash_dir(runs_dir)}`"
        )
    names = ", ".join(t.name for t in matches[:4])
    raise TrashError(
        f"{ref!r} matches {len(matches)} trashed folders ({names}); fix: give its full name there"
    )


def restore(runs_dir: Path | str, ref: str) -> Trashed:
    """Move a trashed run back to ``<runs>/<run_id>`` (the very folder, byte for byte), under the
    queue lock; refused when a run with that id exists."""
    runs_dir = Path(runs_dir)
    found = find_trashed(runs_dir, ref)
    dest = contract.run_path(runs_dir, found.run_id)
    try:
        with launch.queue_lock(runs_dir):
            if os.path.lexists(dest):
                raise TrashError(
                    f"{found.run_id}: a run with that id is already in {runs_dir}; fix: rm it first"
                )
            os.rename(found.path, dest)
    except FileNotFoundError as exc:
        raise TrashError(f"{found.name}: no longer in the trash (restored or emptied meanwhile)") from exc
    except launch.LaunchError as exc:
        raise TrashError(str(exc)) from exc
    return Trashed(found.name, found.run_id, dest, folder_size(dest), found.trashed_at)


def gc(
    runs_dir: Path | str,
    *,
    dry_run: bool = False,
    older_than_s: float | None = None,
    now: float | None = None,
) -> list[Trashed]:
    """Delete the trash's folders (moved there more than ``older_than_s`` ago, when given); with
    ``dry_run`` only say which. Each is first renamed out of reach (``.gc-<name>``, under the queue
    lock, so a restore never gets half a folder), then deleted."""
    runs_dir = Path(runs_dir)
    t = time.time() if now is None else now
    chosen = [e for e in trashed(runs_dir) if older_than_s is None or t - e.trashed_at > older_than_s]
    if dry_run:
        return chosen
    trash = trash_dir(runs_dir)
    for e in chosen:
        gone = trash / f"{_GONE}{e.name}"
        try:
            with launch.queue_lock(runs_dir):
                os.rename(e.path, gone)
        except FileNotFoundError:
            continue  # restored meanwhile
        except launch.LaunchError as exc:
            raise TrashError(str(exc)) from exc
        shutil.rmtree(gone, ignore_errors=True)
    for leftover in trash.glob(f"{_GONE}*") if trash.is_dir() else []:  # an earlier gc interrupted
        shutil.rmtree(leftover, ignore_errors=True)
    return chosen
