"""The decode cache: uint8 ``.npy`` files keyed by the source's path, size and mtime.

Entries are written atomically (temp folder + rename) while :func:`trainers.data.load` holds the
entry's lock (:func:`hw2.locks.locked`), so concurrent trainers share one decode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from trainers.data.base import CACHE_VERSION, Arrays, DataError, Source, validate
from trainers.data.cifar import _scan_imagefolder


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where decoded arrays live: argument > ``$HW2_CACHE_DIR`` > ``~/.cache/hw2-tui``."""
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get("HW2_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    try:
        return Path.home() / ".cache" / "hw2-tui"
    except RuntimeError:  # no HOME and no passwd entry (some containers)
        return Path(tempfile.gettempdir()) / "hw2-tui-cache"


def source_fingerprint(src: Source) -> str:
    """Hash of the source files' absolute paths, sizes and mtimes (plus the cache version)."""
    h = hashlib.sha256(f"v{CACHE_VERSION}|{src.dataset}|{src.format}".encode())
    if src.format == "imagefolder-dir":
        for p, _, _, size, mtime in _scan_imagefolder(src.path):
            h.update(f"|{p}|{size}|{mtime}".encode())
    else:
        for f in src.files:
            st = f.stat()
            h.update(f"|{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def cache_entry(src: Source, root: Path) -> Path:
    """``<root>/<dataset>-<hash of source path>-<hash of source state>``: one folder per source version."""
    where = hashlib.sha256(str(src.path.resolve()).encode()).hexdigest()[:8]
    return root / f"{src.dataset}-{where}-{source_fingerprint(src)}"


def _load_cached(entry: Path, mmap: bool) -> Arrays:
    mode = "r" if mmap else None
    return Arrays(*(np.load(entry / f"{k}.npy", mmap_mode=mode, allow_pickle=False) for k in Arrays._fields))


def _write_cache(entry: Path, arrays: Arrays, meta: dict[str, Any]) -> None:
    """Write into a temp folder beside ``entry``, then rename it into place (atomic on POSIX).

    Called with the entry's lock held, so any ``.tmp-<entry>-*`` folder is a leftover of a killed
    writer and can go.
    """
    for stale in entry.parent.glob(f".tmp-{entry.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=entry.parent))
    try:
        for k, arr in zip(Arrays._fields, arrays, strict=True):
            with open(tmp / f"{k}.npy", "wb") as fh:
                np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
        (tmp / "source.json").write_text(json.dumps(meta, indent=2))
        try:
            os.replace(tmp, entry)
        except OSError:
            if not (entry / "source.json").is_file():
                raise
            # another writer won the race (only possible without working flock); keep theirs
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    # Drop caches of older versions of the same source file, so the cache does not grow forever.
    prefix = entry.name.rsplit("-", 1)[0] + "-"
    for old in entry.parent.glob(prefix + "*"):
        if old != entry and old.is_dir() and not old.name.endswith(".lock"):
            shutil.rmtree(old, ignore_errors=True)
            with contextlib.suppress(OSError):
                (old.parent / (old.name + ".lock")).unlink()


def _readonly(arrays: Arrays) -> Arrays:
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _try_cache(entry: Path, dataset: str, mmap: bool) -> Arrays | None:
    if not (entry / "source.json").is_file():
        return None
    try:
        arrays = _load_cached(entry, mmap)
        validate(arrays, dataset, str(entry))
        return arrays
    except (OSError, ValueError, DataError):
        return None
