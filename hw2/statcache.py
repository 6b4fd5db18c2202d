"""The one "has this file changed?" probe, and a cache of parsed files keyed on it.

A file is considered unchanged while its (inode, size, mtime_ns) stay the same. Every writer in
the run contract replaces files atomically (new inode) or appends (new size), so this key is
enough and costs one ``stat`` instead of a read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

StatKey = tuple[int, int, int]


def stat_key(path: Path | str) -> StatKey | None:
    """(inode, size, mtime_ns) of ``path``, or None when it is missing."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class StatCache(Generic[T]):
    """``get(path)`` parses a file with ``load`` only when its :func:`stat_key` changed."""

    def __init__(self, load: Callable[[Path], T]) -> None:
        self._load = load
        self._entries: dict[Path, tuple[StatKey | None, T]] = {}

    def get(self, path: Path) -> T:
        key = stat_key(path)
        cached = self._entries.get(path)
        if cached is not None and key is not None and cached[0] == key:
            return cached[1]
        value = self._load(path)
        self._entries[path] = (key, value)
        return value

    def forget(self, path: Path) -> None:
        self._entries.pop(path, None)

    def keep_only(self, paths: set[Path]) -> None:
        """Drop entries for files no longer of interest (deleted runs)."""
        for p in [p for p in self._entries if p not in paths]:
            del self._entries[p]
