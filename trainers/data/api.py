"""The loading API: :func:`load` (find, decode once, cache), the per-dataset loaders, the validation split."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from typing import Final

import numpy as np

from hw2.locks import locked
from trainers.data.base import (
    _HINTS,
    _TITLES,
    CACHE_VERSION,
    Arrays,
    DataError,
    Downloader,
    LoadInfo,
    LoadResult,
    Source,
    validate,
)
from trainers.data.cache import _load_cached, _readonly, _try_cache, _write_cache, cache_entry, cache_root
from trainers.data.cifar import _decode_cifar_imagefolder, _decode_cifar_pickle_dir, _decode_cifar_tar
from trainers.data.download import _try_download
from trainers.data.locating import _FINDERS, locate
from trainers.data.mnist import _decode_mnist_idx, _decode_mnist_npz

_DECODERS: Final[dict[str, Callable[[Source], Arrays]]] = {
    "idx": _decode_mnist_idx,
    "npz": _decode_mnist_npz,
    "cifar-pickle-dir": _decode_cifar_pickle_dir,
    "tar": _decode_cifar_tar,
    "imagefolder-dir": _decode_cifar_imagefolder,
}


def _decode_source(src: Source) -> Arrays:
    """Decode ``src`` into validated arrays; any failure becomes a one-line :class:`DataError`."""
    try:
        arrays = _DECODERS[src.format](src)
    except DataError:
        raise
    except MemoryError:
        raise
    except Exception as e:  # unexpected breakage in the data still must not become a traceback
        raise DataError(f"{src.path}: cannot read {src.format} data ({type(e).__name__}: {e})") from None
    validate(arrays, src.dataset, str(src.path))
    return arrays


def load(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    mmap: bool = True,
    download: Downloader | bool | None = None,
) -> LoadResult:
    """Load ``"mnist"`` or ``"cifar10"``, decoding once into the cache; see :mod:`trainers.data`.

    ``mmap`` returns read-only memory maps of the cache (shared page cache across concurrent
    trainers); otherwise read-only in-memory arrays.  Copy with ``np.array(x)`` if you must write.
    ``download``: ``None`` uses :data:`DOWNLOADERS`, ``False`` never downloads, a callable
    ``(dest_dir) -> Arrays`` replaces the downloader.  ``HW2_OFFLINE=1`` disables all downloads.
    """
    if dataset not in _FINDERS:
        raise ValueError(f"unknown dataset {dataset!r}; expected mnist or cifar10")
    t0 = time.perf_counter()
    root = cache_root(cache_dir)
    src, tried = locate(dataset, data_dir)
    if src is None:
        arrays, why = _try_download(dataset, download, root)
        if arrays is None:
            raise DataError(
                f"{_TITLES[dataset]} not found; tried: {'; '.join(tried) or 'no folders'}; {why}; {_HINTS[dataset]}"
            )
        info = LoadInfo(dataset, None, "download", "download", seconds=time.perf_counter() - t0)
        return LoadResult(_readonly(arrays), info)

    info = LoadInfo(dataset, src.path, src.format, src.origin)
    try:
        root.mkdir(parents=True, exist_ok=True)
        entry = cache_entry(src, root)
        lock = root / (entry.name + ".lock")
        writable = os.access(root, os.W_OK)
    except OSError as e:
        entry, writable = None, False
        info.notes.append(f"cache disabled: {root} not usable ({e.strerror or e})")
    if entry is None or not writable:
        if entry is not None:
            info.notes.append(f"cache disabled: {root} is not writable")
        t1 = time.perf_counter()
        arrays = _decode_source(src)
        info.decode_seconds = time.perf_counter() - t1
        info.seconds = time.perf_counter() - t0
        return LoadResult(_readonly(arrays), info)

    info.cache_path = entry
    arrays_or_none = _try_cache(entry, dataset, mmap)
    if arrays_or_none is None:
        # One process decodes, the others wait and then read its cache. Without a usable lock file
        # we go on unlocked: the atomic rename still prevents torn reads, the worst case is a
        # duplicate decode.
        with locked(lock, optional=True):
            arrays_or_none = _try_cache(entry, dataset, mmap)  # someone may have written it meanwhile
            if arrays_or_none is None:
                if entry.exists():  # unreadable leftovers (e.g. disk trouble): rebuild
                    shutil.rmtree(entry, ignore_errors=True)
                t1 = time.perf_counter()
                decoded = _decode_source(src)
                info.decode_seconds = time.perf_counter() - t1
                meta = {
                    "dataset": dataset,
                    "format": src.format,
                    "source": str(src.path.resolve()),
                    "files": [str(f) for f in src.files],
                    "decode_seconds": round(info.decode_seconds, 3),
                    "created": time.time(),
                    "cache_version": CACHE_VERSION,
                    "shapes": {k: list(a.shape) for k, a in zip(Arrays._fields, decoded, strict=True)},
                }
                try:
                    _write_cache(entry, decoded, meta)
                    arrays_or_none = _load_cached(entry, mmap)
                except OSError as e:  # full disk etc.: still return the data
                    info.notes.append(f"cache not written: {e.strerror or e}")
                    info.cache_path = None
                    arrays_or_none = decoded
    if info.decode_seconds is None:
        info.from_cache = True
    info.seconds = time.perf_counter() - t0
    return LoadResult(_readonly(arrays_or_none), info)


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    mmap: bool = True,
    download: Downloader | bool | None = None,
) -> Arrays:
    """MNIST as uint8 ``(N,28,28)`` images and int64 labels: 60 000 train, 10 000 test."""
    return load("mnist", data_dir, cache_dir, mmap=mmap, download=download).arrays


def load_cifar10(
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    mmap: bool = True,
    download: Downloader | bool | None = None,
) -> Arrays:
    """CIFAR-10 as uint8 ``(N,32,32,3)`` HWC images and int64 labels: 50 000 train, 10 000 test."""
    return load("cifar10", data_dir, cache_dir, mmap=mmap, download=download).arrays


def split_validation(n: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx) from a fixed ``default_rng(seed)`` permutation; val size ``round(n*val_split)``.

    Both index arrays are sorted (faster gathers from memory-mapped arrays); which examples land in
    validation depends only on ``n``, ``val_split`` and ``seed``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0 (got {n})")
    if not 0.0 <= val_split < 1.0:
        raise ValueError(f"val_split must be in [0, 1) (got {val_split})")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_split)
    return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)
