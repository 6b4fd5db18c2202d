"""Writers for tiny datasets in every format :mod:`trainers.data` accepts.

Other test folders reuse these (``from tests.data.fixtures import write_mnist_idx``) to build a data
folder for a trainer or CLI test in milliseconds instead of touching the real 60 000-image sets.

Every writer returns the :class:`FixtureArrays` it wrote, in the order the loader must return them
(images sorted by path for image folders), so a test can compare exactly (PNG, IDX, npz, pickles) or
approximately (JPEG).  Labels cycle through all ten classes so per-class counts are predictable:
with ``n`` examples, class ``c`` gets the indices ``i`` with ``i % 10 == c``.

Typical use in another test::

    from tests.data.fixtures import write_mnist_idx, write_cifar_imagefolder
    write_mnist_idx(tmp_path / "data" / "mnist", n_train=100, n_test=20)
    write_cifar_imagefolder(tmp_path / "data" / "cifar10", as_tar=True, n_per_class=5)
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "data"))
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

CIFAR10_CLASSES = (
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

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class FixtureArrays(NamedTuple):
    """What a writer wrote: same fields as ``trainers.data.Arrays``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# --------------------------------------------------------------------------------------------- arrays
def mnist_arrays(n_train: int = 30, n_test: int = 10, seed: int = 0) -> FixtureArrays:
    """Random 28x28 uint8 digits with labels cycling 0..9 (train shifted so train != test)."""
    rng = np.random.default_rng(seed)
    return FixtureArrays(
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        ((np.arange(n_test) + 3) % 10).astype(np.uint8),
    )


def cifar_arrays(n_train: int = 50, n_test: int = 10, seed: int = 0) -> FixtureArrays:
    """Random 32x32x3 (HWC) uint8 images with labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    return FixtureArrays(
        rng.integers(0, 256, size=(n_train, 32, 32, 3), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, size=(n_test, 32, 32, 3), dtype=np.uint8),
        ((np.arange(n_test) + 3) % 10).astype(np.uint8),
    )


def smooth_image(seed: int, size: int = 32) -> np.ndarray:
    """A smooth 32x32 RGB image (gradient + per-image colour): JPEG keeps it within a few levels."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 216, size=3)
    yy, xx = np.mgrid[0:size, 0:size]
    ramp = (xx + yy) * (30.0 / (2 * size))  # up to ~+30 across the image
    img = base[None, None, :] + ramp[:, :, None] - 15.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- MNIST
def _idx_bytes(arr: np.ndarray) -> bytes:
    """IDX encoding: magic 0x00000800 | ndim (unsigned byte data), big-endian dims, raw data."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.tobytes()


def write_mnist_idx(
    dir: Path | str,
    n_train: int = 30,
    n_test: int = 10,
    gz: bool = True,
    *,
    seed: int = 0,
    dot_names: bool = False,
) -> FixtureArrays:
    """Write the four MNIST IDX files into ``dir`` (created), gzip-compressed when ``gz``.

    ``dot_names`` uses the ``train-images.idx3-ubyte`` spelling some mirrors use.
    """
    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    arrays = mnist_arrays(n_train, n_test, seed)
    contents = {
        "train_images": arrays.x_train,
        "train_labels": arrays.y_train,
        "test_images": arrays.x_test,
        "test_labels": arrays.y_test,
    }
    for key, arr in contents.items():
        name = MNIST_FILES[key]
        if dot_names:
            name = name.replace("-idx", ".idx")
        data = _idx_bytes(arr)
        if gz:
            (d / (name + ".gz")).write_bytes(gzip.compress(data, mtime=0))
        else:
            (d / name).write_bytes(data)
    return arrays


def write_mnist_npz(dir: Path | str, n_train: int = 30, n_test: int = 10, *, seed: int = 0) -> FixtureArrays:
    """Write a Keras-style ``mnist.npz`` (keys x_train, y_train, x_test, y_test) into ``dir``."""
    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    arrays = mnist_arrays(n_train, n_test, seed)
    np.savez_compressed(d / "mnist.npz", **arrays._asdict())
    return arrays


# ------------------------------------------------------------------------------------ CIFAR (pickles)
def _cifar_batch_bytes(x: np.ndarray, y: np.ndarray, name: str) -> bytes:
    """One pickled batch as in the official python version: data (N, 3072) CHW-flattened, labels list."""
    data = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x), 3072)
    batch = {
        b"batch_label": name.encode(),
        b"labels": [int(v) for v in y],
        b"data": data,
        b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(x))],
    }
    return pickle.dumps(batch, protocol=2)


def _cifar_batch_files(arrays: FixtureArrays) -> dict[str, bytes]:
    """File name -> contents for the ``cifar-10-batches-py`` folder (5 train batches + test + meta)."""
    files: dict[str, bytes] = {}
    chunks = np.array_split(np.arange(len(arrays.x_train)), 5)
    for i, idx in enumerate(chunks, start=1):
        files[f"data_batch_{i}"] = _cifar_batch_bytes(
            arrays.x_train[idx], arrays.y_train[idx], f"training batch {i} of 5"
        )
    files["test_batch"] = _cifar_batch_bytes(arrays.x_test, arrays.y_test, "testing batch 1 of 1")
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": len(chunks[0])}
    files["batches.meta"] = pickle.dumps(meta, protocol=2)
    files["readme.html"] = b"<html>fixture</html>"
    return files


def write_cifar_batches_dir(
    dir: Path | str, n_train: int = 50, n_test: int = 10, *, seed: int = 0
) -> FixtureArrays:
    """Write an extracted ``dir/cifar-10-batches-py/`` (data_batch_1..5, test_batch, batches.meta)."""
    d = Path(dir) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    arrays = cifar_arrays(n_train, n_test, seed)
    for name, data in _cifar_batch_files(arrays).items():
        (d / name).write_bytes(data)
    return arrays


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_cifar_pickle_tar(
    dir: Path | str, n_train: int = 50, n_test: int = 10, *, seed: int = 0
) -> FixtureArrays:
    """Write ``dir/cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/...`` like the official file."""
    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    arrays = cifar_arrays(n_train, n_test, seed)
    with tarfile.open(d / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, data in _cifar_batch_files(arrays).items():
            _add_bytes(tar, f"cifar-10-batches-py/{name}", data)
    return arrays


# ------------------------------------------------------------------------------- CIFAR (image folder)
def _encode(img: np.ndarray, ext: str) -> bytes:
    buf = io.BytesIO()
    if ext in ("jpg", "jpeg"):
        Image.fromarray(img, "RGB").save(buf, format="JPEG", quality=95)
    elif ext == "png":
        Image.fromarray(img, "RGB").save(buf, format="PNG")
    else:
        raise ValueError(f"unsupported fixture image extension {ext!r}")
    return buf.getvalue()


def write_cifar_imagefolder(
    dir: Path | str,
    as_tar: bool = False,
    ext: str = "png",
    n_per_class: int = 3,
    *,
    n_test_per_class: int | None = None,
    classes: tuple[str, ...] | list[str] = CIFAR10_CLASSES,
    tar_name: str = "cifar10-jpeg.tar.gz",
    prefix: str = "",
    seed: int = 0,
) -> FixtureArrays:
    """Write ``train/<class>/NNNN.<ext>`` and ``test/<class>/NNNN.<ext>`` under ``dir``.

    ``as_tar`` packs them into ``dir/<tar_name>`` instead (gzip when the name ends in .gz/.tgz), in a
    shuffled member order so the loader's sort-by-path is exercised; ``prefix`` puts the tree under a
    top folder inside the tar (e.g. ``"cifar10/"``).  Images are smooth so JPEG stays within a few
    levels of the returned arrays; PNG is exact.  Labels: the class's position in the standard order
    when ``classes`` are all standard names, else in sorted order (what the loader does).
    """
    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    n_test_per_class = n_per_class if n_test_per_class is None else n_test_per_class
    classes = list(classes)
    if all(c in CIFAR10_CLASSES for c in classes):
        label_of = {c: CIFAR10_CLASSES.index(c) for c in classes}
    else:
        label_of = {c: i for i, c in enumerate(sorted(classes))}

    members: list[tuple[str, bytes]] = []
    out: dict[str, tuple[list[np.ndarray], list[int]]] = {"train": ([], []), "test": ([], [])}
    counter = seed * 1_000_003
    for split, n in (("train", n_per_class), ("test", n_test_per_class)):
        # Sorted by path == sorted by (class name, file number): the order the loader returns.
        for cls in sorted(classes):
            for k in range(n):
                counter += 1
                img = smooth_image(counter)
                members.append((f"{prefix}{split}/{cls}/{k:04d}.{ext}", _encode(img, ext)))
                out[split][0].append(img)
                out[split][1].append(label_of[cls])

    if as_tar:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(members))
        mode = "w:gz" if tar_name.endswith((".gz", ".tgz")) else "w"
        with tarfile.open(d / tar_name, mode) as tar:
            for i in order:
                _add_bytes(tar, *members[i])
    else:
        for name, data in members:
            p = d / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)

    def stack(imgs: list[np.ndarray]) -> np.ndarray:
        return np.stack(imgs) if imgs else np.zeros((0, 32, 32, 3), np.uint8)

    return FixtureArrays(
        stack(out["train"][0]),
        np.asarray(out["train"][1], dtype=np.uint8),
        stack(out["test"][0]),
        np.asarray(out["test"][1], dtype=np.uint8),
    )
