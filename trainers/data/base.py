"""What every part of :mod:`trainers.data` shares: the error, the array and source types, the
constants and the checks every decoded dataset passes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np

CIFAR10_CLASSES: Final[tuple[str, ...]] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
NUM_CLASSES: Final = 10

#: Bumped when the decoded layout changes, so old caches are not reused.
CACHE_VERSION: Final = 1

IMAGE_EXTS: Final = (".jpg", ".jpeg", ".png")

MNIST_HINT: Final = (
    "set HW2_DATA_DIR to a folder holding mnist/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or mnist.npz)"
)
CIFAR_HINT: Final = (
    "set HW2_DATA_DIR to a folder holding cifar10/cifar10-jpeg.tar.gz (train|test/<class>/*.jpg), "
    "cifar-10-python.tar.gz or cifar-10-batches-py/"
)


class DataError(Exception):
    """The dataset is missing, unreadable or not in an accepted format.

    ``str()`` is always one line naming the path(s) and what was expected, ready to show a user.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class Arrays(NamedTuple):
    """A dataset as uint8 images (MNIST ``(N,28,28)``, CIFAR-10 ``(N,32,32,3)`` HWC) and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass
class LoadInfo:
    """How a load went: what :func:`load` found and whether it decoded or used the cache."""

    dataset: str
    source: Path | None
    format: str
    origin: str
    cache_path: Path | None = None
    from_cache: bool = False
    seconds: float = 0.0
    decode_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


class LoadResult(NamedTuple):
    arrays: Arrays
    info: LoadInfo


@dataclass(frozen=True)
class Source:
    """A located dataset: the decoder to use and the files whose stat keys the cache."""

    dataset: str  # "mnist" | "cifar10"
    format: str  # "idx" | "npz" | "cifar-pickle-dir" | "tar" | "imagefolder-dir"
    path: Path  # the file or folder shown to the user
    files: tuple[Path, ...]  # what the cache key covers
    origin: str  # where the data dir came from ("argument", "HW2_DATA_DIR", "./data", ...)


Downloader = Callable[[Path], Arrays]

_HINTS: Final = {"mnist": MNIST_HINT, "cifar10": CIFAR_HINT}
_TITLES: Final = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


def _check_labels(y: np.ndarray, path: Path) -> None:
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DataError(f"{path}: labels must be integers 0..9 (got {y.dtype}, max {y.max()})")


def validate(arrays: Arrays, dataset: str, where: str) -> None:
    """Shapes, dtypes and label ranges every consumer relies on."""
    img = (28, 28) if dataset == "mnist" else (32, 32, 3)
    for split in ("train", "test"):
        x, y = getattr(arrays, f"x_{split}"), getattr(arrays, f"y_{split}")
        if x.dtype != np.uint8 or x.shape[1:] != img:
            raise DataError(
                f"{where}: x_{split} is {x.dtype}{x.shape}, expected uint8 (N, {', '.join(map(str, img))})"
            )
        if len(x) == 0:
            raise DataError(f"{where}: no {split} images")
        if y.shape != (len(x),):
            raise DataError(f"{where}: y_{split} has shape {y.shape}, expected ({len(x)},)")
        _check_labels(y, Path(where))
