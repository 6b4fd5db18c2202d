"""MNIST and CIFAR-10 from local files, decoded once into a ``.npy`` cache.

Why this package exists: the experiments run on a remote GPU box that is often offline, the data
folder there may be read-only, and several trainers start at once.  So the loaders

* find the data without a network (:func:`candidate_dirs`): explicit argument, else
  ``$HW2_DATA_DIR``, else ``./data``, ``../shared/data`` (from the cwd) and the project's
  ``../shared/data``; a folder may hold the files itself or in ``mnist/`` / ``cifar10/``;
* accept the formats people actually have (IDX ``.gz``/raw, Keras ``mnist.npz``, the official
  ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``, and ``train|test/<class>/``
  image folders, loose or in a tar such as ``cifar10-jpeg.tar.gz``);
* decode once into uint8 ``.npy`` files under ``$HW2_CACHE_DIR`` (default ``~/.cache/hw2-tui``),
  keyed by the source's path, size and mtime, written atomically under a file lock, so concurrent
  trainers share one decode and later loads are a memory map;
* fall back to the frameworks' downloaders only when nothing local is found (never with
  ``HW2_OFFLINE=1``), importing them lazily so this package stays numpy + pillow + stdlib;
* turn every problem with the data into one-line :class:`DataError` naming the path and what was
  expected, never a traceback.

The modules: :mod:`~trainers.data.base` (types, constants, checks), :mod:`~trainers.data.locating`
(where the data is), :mod:`~trainers.data.archives` (compressed files and tars),
:mod:`~trainers.data.mnist` and :mod:`~trainers.data.cifar` (decoders), :mod:`~trainers.data.cache`,
:mod:`~trainers.data.download`, :mod:`~trainers.data.api` (:func:`load` and friends) and
:mod:`~trainers.data.cli`.

Command line: ``python -m trainers.data check [--data-dir D] [--dataset mnist|cifar10|all]``.
"""

from __future__ import annotations

from trainers.data.api import _DECODERS, load, load_cifar10, load_mnist, split_validation
from trainers.data.base import (
    CACHE_VERSION,
    CIFAR10_CLASSES,
    CIFAR_HINT,
    MNIST_HINT,
    NUM_CLASSES,
    Arrays,
    DataError,
    Downloader,
    LoadInfo,
    LoadResult,
    Source,
    validate,
)
from trainers.data.cache import cache_entry, cache_root, source_fingerprint
from trainers.data.cifar import class_index
from trainers.data.download import DOWNLOADERS, download_cifar10_torchvision, download_mnist_keras
from trainers.data.locating import PROJECT_ROOT, candidate_dirs, find_cifar10, find_mnist, locate
from trainers.data.mnist import parse_idx

__all__ = [
    "CACHE_VERSION",
    "CIFAR10_CLASSES",
    "CIFAR_HINT",
    "DOWNLOADERS",
    "MNIST_HINT",
    "NUM_CLASSES",
    "PROJECT_ROOT",
    "_DECODERS",
    "Arrays",
    "DataError",
    "Downloader",
    "LoadInfo",
    "LoadResult",
    "Source",
    "cache_entry",
    "cache_root",
    "candidate_dirs",
    "class_index",
    "download_cifar10_torchvision",
    "download_mnist_keras",
    "find_cifar10",
    "find_mnist",
    "load",
    "load_cifar10",
    "load_mnist",
    "locate",
    "parse_idx",
    "source_fingerprint",
    "split_validation",
    "validate",
]
