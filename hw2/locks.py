"""The one file-lock helper: an exclusive ``flock`` on a lock file, blocking or not.

Why ``flock`` and not a lock library: the scheduler daemon holds its lock for its whole life and
other processes *probe* it (is a scheduler running?), the queue and ``meta.json`` updates hold
theirs for milliseconds, and the data cache holds one while it decodes; ``fcntl.flock`` does all
of that in a few lines, is released by the kernel when a holder dies (SIGKILL included), and
leaves the lock file in place, so no process ever unlinks a file another one has locked.

A *folder* can be the lock too (:func:`locked` on a directory): a run's ``meta.json`` updates lock
the run folder itself, so no lock file is added to a folder whose files the run contract lists.

On a shared login node ``flock`` needs only *read* access, so a lock file another user can open is
a lock they can hold forever. Every lock file (and every state file the tool appends to, such as
``.scheduler.log``) is opened through :func:`open_private`: created ``0600``, never through a
symbolic link. State files written whole go through :func:`hw2.contract.atomic_writer`, whose
``mkstemp`` gives the same (``0600``, ``O_EXCL``, no link followed). A wait can end
(:func:`locked`'s ``timeout_s``), in :class:`LockTimeout`, which names the holder's pid when
``/proc/locks`` tells it (:func:`holder_pid`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


class UnsafeLockFile(OSError):
    """A lock or state file is a symbolic link: never followed (one line, naming the file and the fix)."""

    def __str__(self) -> str:
        return f"{self.filename}: is a symbolic link, which the tool never follows; fix: remove it (rm {self.filename})"


class LockTimeout(Exception):
    """Another process held the lock for the whole wait (``timeout_s``)."""

    def __init__(self, path: Path | str, waited_s: float, pid: int | None) -> None:
        self.path, self.waited_s, self.pid = Path(path), waited_s, pid
        who = f"pid {pid}" if pid is not None else "another process (pid unknown)"
        super().__init__(f"{path}: held by {who} for {waited_s:.0f} s")


def open_private(path: Path | str, flags: int = os.O_RDWR) -> int:
    """Open (creating it ``0600`` if missing) a lock or state file, never through a symbolic link.

    The one way the tool opens such a file: another local user cannot read it, so cannot hold its
    ``flock``, and a link planted in its place (to a file of the user's elsewhere) raises
    :class:`UnsafeLockFile` instead of being written through. An existing file keeps its mode (a
    runs dir shared with a group on purpose can pre-create its lock files ``0660``).
    """
    try:
        return os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeLockFile(errno.ELOOP, "is a symbolic link", os.fspath(path)) from None
        raise


@contextlib.contextmanager
def locked(path: Path | str, *, optional: bool = False, timeout_s: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Blocks until the lock is free, or for at most ``timeout_s`` seconds, then raises
    :class:`LockTimeout`. An ``OSError`` opening the file propagates unless ``optional``, in which
    case the block runs unlocked (for caches, where the worst case is duplicate work).

    ``path`` may be an existing directory: the directory itself is locked. Where a file system
    cannot lock a directory (NFS emulates ``flock`` with POSIX locks, which need a descriptor open
    for writing), a hidden ``.lock`` file inside it is locked instead.
    """
    try:
        fd = _lock_dir(path) if _is_real_dir(path) else _lock_file(path, timeout_s)
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


def _is_real_dir(path: Path | str) -> bool:
    """A directory, not a link to one (a link is refused by :func:`open_private`)."""
    return os.path.isdir(path) and not os.path.islink(path)


def _lock_file(path: Path | str, timeout_s: float | None = None) -> int:
    if timeout_s is not None:
        fd = try_lock(path, wait_s=timeout_s)
        if fd is None:
            raise LockTimeout(path, timeout_s, holder_pid(path))
        return fd
    fd = open_private(path)
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
    fd = open_private(path)
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


def holder_pid(path: Path | str) -> int | None:
    """The pid holding a ``flock`` on ``path``, from ``/proc/locks`` (Linux; None when nobody holds
    it, the file is missing, or the system does not say)."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146405 0 EOF"; waiters have "->" after the number
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == where:
            with contextlib.suppress(ValueError):
                pid = int(fields[4])
                if pid > 0:
                    return pid
    return None
