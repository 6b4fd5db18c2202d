"""Finding a dataset on disk without a network: the candidate folders and the layouts accepted."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

from trainers.data.base import _HINTS, _TITLES, CIFAR_HINT, MNIST_HINT, DataError, Source

#: The repository root (its ``../shared/data`` is the last place searched).
PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]


def candidate_dirs(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
    """The data folders to search, in order, each with where it came from.

    An explicit argument or ``$HW2_DATA_DIR`` is the only candidate: a user who names a folder wants
    that folder (or an error about it), not a silent fallback to some other copy.
    """
    if data_dir is not None and str(data_dir) != "":
        return [(Path(data_dir).expanduser(), "argument")]
    env = os.environ.get("HW2_DATA_DIR")
    if env:
        return [(Path(env).expanduser(), "HW2_DATA_DIR")]
    cwd = Path.cwd()
    out: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for p, origin in (
        (cwd / "data", "./data"),
        (cwd.parent / "shared" / "data", "../shared/data"),
        (PROJECT_ROOT.parent / "shared" / "data", "project ../shared/data"),
    ):
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append((p, origin))
    return out


_MNIST_STEMS: Final = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _idx_file(root: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        p = root / name
        if p.is_file():
            return p
    return None


def find_mnist(d: Path, origin: str) -> Source | None:
    """MNIST in ``d``, ``d/mnist``, ``d/MNIST/raw`` or ``d/mnist/MNIST/raw``: IDX files, then mnist.npz."""
    for root in (d, d / "mnist", d / "MNIST" / "raw", d / "mnist" / "MNIST" / "raw"):
        if not root.is_dir():
            continue
        found = {k: _idx_file(root, stem) for k, stem in _MNIST_STEMS.items()}
        if any(found.values()):
            missing = [_MNIST_STEMS[k] + "[.gz]" for k, p in found.items() if p is None]
            if missing:
                raise DataError(
                    f"{root}: incomplete MNIST IDX set, missing {', '.join(missing)}; "
                    f"expected all four IDX files; {MNIST_HINT}"
                )
            files = tuple(p for p in found.values() if p is not None)
            return Source("mnist", "idx", root, files, origin)
        npz = root / "mnist.npz"
        if npz.is_file():
            return Source("mnist", "npz", npz, (npz,), origin)
    return None


def _is_tar_name(name: str) -> bool:
    return name.lower().endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz"))


def find_cifar10(d: Path, origin: str) -> Source | None:
    """CIFAR-10 in ``d`` or ``d/cifar10``: batches folder, official tar, image folder, other tar."""
    for root in (d, d / "cifar10", d / "cifar-10", d / "CIFAR10"):
        if not root.is_dir():
            continue
        for batches in (root / "cifar-10-batches-py", root):
            if (batches / "data_batch_1").is_file() or (batches / "test_batch").is_file():
                files = tuple(batches / n for n in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"))
                missing = [f.name for f in files if not f.is_file()]
                if missing:
                    raise DataError(
                        f"{batches}: incomplete CIFAR-10 batches folder, missing {', '.join(missing)}; "
                        f"expected data_batch_1..5 and test_batch; {CIFAR_HINT}"
                    )
                return Source("cifar10", "cifar-pickle-dir", batches, files, origin)
        official = root / "cifar-10-python.tar.gz"
        if official.is_file():
            return Source("cifar10", "tar", official, (official,), origin)
        if (root / "train").is_dir() or (root / "test").is_dir():
            return Source("cifar10", "imagefolder-dir", root, (root / "train", root / "test"), origin)
        tars = sorted(
            (p for p in root.iterdir() if p.is_file() and _is_tar_name(p.name)),
            key=lambda p: ("cifar" not in p.name.lower(), p.name),
        )
        if tars:
            return Source("cifar10", "tar", tars[0], (tars[0],), origin)
    return None


_FINDERS: Final = {"mnist": find_mnist, "cifar10": find_cifar10}


def locate(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> tuple[Source | None, list[str]]:
    """The first candidate folder holding ``dataset``, plus a description of every folder tried.

    Raises :class:`DataError` for an explicitly named folder that does not exist, or for a folder
    holding the dataset in a broken form (incomplete IDX set, ...).
    """
    finder = _FINDERS[dataset]
    tried: list[str] = []
    for d, origin in candidate_dirs(data_dir):
        try:
            found = _look_in(d, origin, dataset, finder, tried)
        except OSError as e:  # permission problems on the way: still one line, not a traceback
            raise DataError(f"{d} ({origin}): cannot read ({e.strerror or e}); {_HINTS[dataset]}") from None
        if found is not None:
            return found, tried
    return None, tried


def _look_in(
    d: Path, origin: str, dataset: str, finder: Callable[[Path, str], Source | None], tried: list[str]
) -> Source | None:
    """``finder`` on one candidate folder; records why it did not match in ``tried``."""
    if not d.exists():
        if origin in ("argument", "HW2_DATA_DIR"):
            src = "--data-dir/argument" if origin == "argument" else "HW2_DATA_DIR"
            raise DataError(
                f"{_TITLES[dataset]}: data dir {d} (from {src}) does not exist; {_HINTS[dataset]}"
            )
        tried.append(f"{d} ({origin}, missing)")
        return None
    if not d.is_dir():
        raise DataError(f"{d} ({origin}) is not a folder; {_HINTS[dataset]}")
    src_found = finder(d, origin)
    if src_found is None:
        empty = not any(d.iterdir())
        tried.append(f"{d} ({origin}, {'empty' if empty else 'no ' + _TITLES[dataset]})")
    return src_found
