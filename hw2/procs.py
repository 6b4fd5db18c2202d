"""Processes on this host: is a pid alive (and the same process), when was it created, this host's
name. A primitive below :mod:`hw2.contract` (which re-exports it) and :mod:`hw2.runs.liveness`."""

from __future__ import annotations

import os
import socket


def host_name() -> str:
    return socket.gethostname()


def pid_alive(pid: int | None, create_time: float | None = None) -> bool:
    """Whether process ``pid`` exists (and, if given, was created at ``create_time``).

    Comparing the creation time guards against the pid having been reused by another process.
    Zombies count as dead.
    """
    if not pid:
        return False
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not (create_time is not None and abs(proc.create_time() - create_time) > 1.0)
    except Exception:  # psutil.NoSuchProcess, AccessDenied, ImportError
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return create_time is None


def process_create_time(pid: int) -> float | None:
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:
        return None
