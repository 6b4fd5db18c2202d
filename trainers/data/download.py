"""Last-resort downloads through the frameworks (imported lazily), never with ``HW2_OFFLINE=1``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hw2.env import env_flag
from trainers.data.base import _TITLES, Arrays, Downloader, validate


def _offline() -> bool:
    """``HW2_OFFLINE=1`` (or true/yes/on): never download."""
    return env_flag("HW2_OFFLINE")


def download_mnist_keras(_dest: Path) -> Arrays:
    """``keras.datasets.mnist.load_data()`` (downloads to ``~/.keras/datasets``); needs keras."""
    from keras.datasets import mnist  # lazy: only ever imported as the last resort

    (x_tr, y_tr), (x_te, y_te) = mnist.load_data()
    return Arrays(
        np.asarray(x_tr, np.uint8),
        np.asarray(y_tr, np.int64),
        np.asarray(x_te, np.uint8),
        np.asarray(y_te, np.int64),
    )


def download_cifar10_torchvision(dest: Path) -> Arrays:
    """``torchvision.datasets.CIFAR10(download=True)`` into ``dest``; needs torchvision."""
    from torchvision.datasets import CIFAR10  # lazy: only ever imported as the last resort

    dest.mkdir(parents=True, exist_ok=True)
    tr = CIFAR10(str(dest), train=True, download=True)
    te = CIFAR10(str(dest), train=False, download=True)
    return Arrays(
        np.asarray(tr.data, np.uint8),
        np.asarray(tr.targets, np.int64),
        np.asarray(te.data, np.uint8),
        np.asarray(te.targets, np.int64),
    )


#: The last-resort downloaders by dataset; tests and callers may replace them.
DOWNLOADERS: dict[str, Downloader] = {
    "mnist": download_mnist_keras,
    "cifar10": download_cifar10_torchvision,
}


def _try_download(dataset: str, download: Downloader | bool | None, root: Path) -> tuple[Arrays | None, str]:
    """(arrays, "") on success, else (None, why not) for the error message."""
    if download is False:
        return None, "downloads disabled"
    if _offline():
        return None, "downloads disabled (HW2_OFFLINE=1)"
    fn = download if callable(download) else DOWNLOADERS[dataset]
    try:
        arrays = fn(root / "downloads")
        validate(arrays, dataset, f"{_TITLES[dataset]} download")
        return arrays, ""
    except MemoryError:
        raise
    except Exception as e:  # offline, no framework installed, HTTP error, bad data...
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        return None, f"download failed: {reason[:300]}"
