"""Checkpoint files in a run folder, written atomically; shared by the trainers (issue 18 §2).

A trainer writes, at the end of every epoch, one checkpoint (everything needed to train on from
the next epoch) and, when the epoch is the best so far, the best weights. Only these two files are
kept, each replaced as a whole; there is never one file per epoch.

Atomicity: a file is written to a temporary name in the same folder (:func:`temp_path`, a
dot-file that no reader opens), flushed and ``fsync``-ed, then moved over the old file with
``os.replace`` (atomic on POSIX within one file system), and the folder is ``fsync``-ed. A process
killed mid-write leaves at most a stale temporary file: the previous checkpoint stays whole and is
the one read. Readers open the final names only; :func:`remove_stale_temps` clears leftovers.

This module imports no training framework; the torch helpers import torch when called.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from hw2 import contract

TORCH_CHECKPOINT = contract.CHECKPOINT_FILES[0]
"""The CNN's last checkpoint: ``torch.save`` of a dict of state dicts (see ``trainers.cnn``)."""
TORCH_BEST = contract.BEST_FILES[0]
"""The CNN's best weights: ``torch.save`` of the model's state dict at the best epoch."""

KERAS_CHECKPOINT = contract.CHECKPOINT_FILES[1]
"""The MLP's last checkpoint: the Keras model's and optimizer's variables (``trainers.mlp``)."""
KERAS_BEST = contract.BEST_FILES[1]
"""The MLP's best weights: the model's weights (``model.get_weights()`` order) at the best epoch."""

TEMP_MARK = ".tmp-"


def temp_path(path: Path) -> Path:
    """Where ``path`` is written before it replaces the old file: ``.NAME.tmp-PID`` beside it."""
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot open or sync a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` whole or not at all: ``write(f)`` into a temp file, fsync, ``os.replace``.

    If ``write`` raises (or the process dies), ``path`` is untouched; the temp file is removed when
    the exception passes through here.
    """
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def remove_stale_temps(run_dir: Path) -> list[Path]:
    """Delete temp files left by a writer killed mid-write (never read; returns those removed)."""
    removed = []
    for p in run_dir.glob(f".*{TEMP_MARK}*"):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


class BackgroundWriter:
    """Writes files atomically on one background thread, so training does not wait for the disk.

    The trainer serialises a checkpoint to bytes (a snapshot: training may change its tensors
    right after) and hands the bytes here; the files are written one after the other with
    :func:`atomic_write` while the next epoch trains. A new batch first waits for the previous
    one, so at most one is in flight and files never overtake each other. :meth:`wait` joins it
    and re-raises its error (a full disk) on the trainer's thread. A process killed while a write
    is in flight keeps the previous files whole (only temp files are being written).
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.write_seconds = 0.0
        """Seconds the background thread spent writing (fsync included), over all batches."""

    def submit(self, files: list[tuple[Path, bytes]]) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(files,), name="checkpoint-writer")
        self._thread.start()

    def _write(self, files: list[tuple[Path, bytes]]) -> None:
        t0 = time.perf_counter()
        try:
            for path, data in files:
                atomic_write(path, lambda f, data=data: f.write(data))
        except BaseException as exc:  # noqa: BLE001 - handed to the trainer's thread by wait()
            self._error = exc
        self.write_seconds += time.perf_counter() - t0

    def wait(self, *, raise_error: bool = True) -> None:
        """Block until the batch in flight is on disk; raise its error (once) if it failed."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and raise_error:
            raise error


# --------------------------------------------------------------------------------- RNG states


def python_rng_state() -> tuple[Any, ...]:
    """Python's ``random`` state as it is (a tuple of ints and None: loads with weights_only)."""
    return random.getstate()


def set_python_rng_state(state: Any) -> None:
    version, internal, gauss = state
    random.setstate((int(version), tuple(int(x) for x in internal), gauss))


def numpy_rng_state() -> dict[str, Any]:
    """NumPy's legacy global state (``np.random.get_state``) with its key array as a list of ints."""
    import numpy as np

    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": [int(k) for k in keys],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def set_numpy_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    np.random.set_state(
        (
            state["name"],
            np.asarray(state["keys"], dtype=np.uint32),
            state["pos"],
            state["has_gauss"],
            state["cached_gaussian"],
        )
    )


# ------------------------------------------------------------------------------------- torch


def npz_bytes(arrays: dict[str, Any]) -> bytes:
    """``numpy.savez`` of ``arrays`` into memory (numeric arrays and strings only: loads without pickle)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npz_load(path: Path) -> dict[str, Any] | None:
    """The arrays at ``path`` (``allow_pickle=False``), or None when there is none; a file that
    cannot be read raises a one-line error naming it."""
    import numpy as np

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:
        raise RuntimeError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "fix: delete it to train from the start"
        ) from exc


def torch_bytes(obj: dict[str, Any]) -> bytes:
    """``torch.save`` of ``obj`` into memory: a snapshot of its tensors (CUDA ones copied to host)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def torch_save(path: Path, obj: dict[str, Any]) -> None:
    """``torch.save`` of ``obj`` (tensors and plain containers only) to ``path``, atomically."""
    import torch

    atomic_write(path, lambda f: torch.save(obj, f))


def torch_load(path: Path) -> dict[str, Any] | None:
    """The dict at ``path`` (on the CPU, ``weights_only=True``), or None when there is none.

    Only the final name is read, never a temp file; a file that exists but cannot be read raises
    a one-line error naming it.
    """
    import torch

    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RuntimeError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            "fix: delete it to train from the start"
        ) from exc
