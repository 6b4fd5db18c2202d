"""The one file-lock helper: an exclusive ``flock`` on a lock file, blocking or not.

Why ``flock`` and not a lock library: the scheduler daemon holds its lock for its whole life and
other processes *probe* it (is a scheduler running?), the queue and ``meta.json`` updates hold
theirs for milliseconds, and the data cache holds one while it decodes; ``fcntl.flock`` does all
of that in a few lines, is released by the kernel when a holder dies (SIGKILL included), and
leaves the lock file in place, so no process ever unlinks a file another one has locked.

A *folder* can be the lock too (:func:`locked` on a directory): a run's ``meta.json`` updates lock
the run folder itself, so no lock file is added to a folder whose files the run contract lists.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def locked(path: Path | str, *, optional: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Blocks until the lock is free. An ``OSError`` opening the file propagates unless ``optional``,
    in which case the block runs unlocked (for caches, where the worst case is duplicate work).

    ``path`` may be an existing directory: the directory itself is locked. Where a file system
    cannot lock a directory (NFS emulates ``flock`` with POSIX locks, which need a descriptor open
    for writing), a hidden ``.lock`` file inside it is locked instead.
    """
    try:
        fd = _lock_dir(path) if os.path.isdir(path) else _lock_file(path)
    except OSError:
        if not optional:
            raise
        yield
        return
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def locked_dir(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on the existing folder ``path`` for the ``with`` block (see
    :func:`locked`). Never creates anything in its place: a missing folder raises
    ``FileNotFoundError``, a file ``NotADirectoryError``."""
    fd = _lock_dir(path)
    try:
        yield
    finally:
        os.close(fd)


def _lock_file(path: Path | str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_dir(path: Path | str) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # cannot lock a directory here: lock a file inside it
        os.close(fd)
        return _lock_file(os.path.join(path, ".lock"))
    except BaseException:
        os.close(fd)
        raise
    return fd


def try_lock(path: Path | str, wait_s: float = 0.0, poll_s: float = 0.05) -> int | None:
    """Take the lock on ``path`` without blocking (retrying for up to ``wait_s`` seconds).

    Returns the open descriptor that holds the lock (close it with :func:`release`), or None when
    another process holds it. An ``OSError`` opening the file propagates.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(poll_s)


def release(fd: int | None) -> None:
    """Let go of a lock taken with :func:`try_lock` (None: nothing to do)."""
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def is_locked(path: Path | str) -> bool:
    """Whether some process holds the lock on ``path`` (a probe: take it and let go at once)."""
    fd = try_lock(path)
    if fd is None:
        return True
    release(fd)
    return False
