"""CIFAR-10 decoders: the python batches and ``train|test/<class>/`` image trees, each as a folder
or inside a tar."""

from __future__ import annotations

import io
import os
import pickle
import re
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image

from trainers.data.archives import _iter_tar
from trainers.data.base import CIFAR10_CLASSES, IMAGE_EXTS, Arrays, DataError, Source, _check_labels


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what CIFAR-10 batches contain (numpy arrays, lists, dicts, bytes).

    Batches are pickles, and pickles can run code; a data file has no business doing that.
    """

    _ALLOWED: Final = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("copy_reg", "_reconstructor"),
        ("copyreg", "_reconstructor"),
        ("__builtin__", "object"),
        ("builtins", "object"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _parse_cifar_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> (HWC uint8 images, int64 labels)."""
    try:
        d = _BatchUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except Exception as e:  # any unpickling failure means "not a CIFAR batch"
        raise DataError(f"{where}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
    if not isinstance(d, dict):
        raise DataError(f"{where}: not a CIFAR-10 python batch (a {type(d).__name__}, expected a dict)")

    def get(key: str) -> Any:
        for k in (key, key.encode()):
            if k in d:
                return d[k]
        raise DataError(f"{where}: CIFAR-10 batch lacks '{key}'; expected keys data and labels")

    data = np.asarray(get("data"))
    labels = np.asarray(get("labels"))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{where}: batch data is {data.dtype}{data.shape}, expected uint8 (N, 3072)")
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {labels.size} labels for {len(data)} images; expected equal counts")
    _check_labels(labels, Path(where))
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, labels.astype(np.int64)


_BATCH_RE: Final = re.compile(r"(?:^|/)(data_batch_[1-5]|test_batch)$")


def _assemble_batches(batches: dict[str, tuple[np.ndarray, np.ndarray]], where: Path) -> Arrays:
    names = [f"data_batch_{i}" for i in range(1, 6)]
    missing = [n for n in (*names, "test_batch") if n not in batches]
    if missing:
        raise DataError(
            f"{where}: missing CIFAR-10 batches {', '.join(missing)}; expected data_batch_1..5 and test_batch"
        )
    x_tr = np.concatenate([batches[n][0] for n in names])
    y_tr = np.concatenate([batches[n][1] for n in names])
    return Arrays(x_tr, y_tr, *batches["test_batch"])


def _decode_cifar_pickle_dir(src: Source) -> Arrays:
    batches = {f.name: _parse_cifar_batch(f.read_bytes(), str(f)) for f in src.files}
    return _assemble_batches(batches, src.path)


def _split_class(name: str) -> tuple[str, str] | None:
    """``.../train/<class>/<file>.jpg`` -> (split, class); None for anything else."""
    if not name.lower().endswith(IMAGE_EXTS):
        return None
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if len(parts) < 3 or parts[-3] not in ("train", "test"):
        return None
    if parts[-1].startswith("._"):  # macOS resource forks inside tars
        return None
    return parts[-3], parts[-2]


def class_index(names: set[str] | list[str]) -> dict[str, int]:
    """Label of each class: position in the standard CIFAR-10 order when all names are standard, else sorted."""
    if all(n in CIFAR10_CLASSES for n in names):
        return {n: CIFAR10_CLASSES.index(n) for n in names}
    return {n: i for i, n in enumerate(sorted(names))}


def _decode_image(blob: bytes, where: str) -> np.ndarray:
    fmt = ("PNG", "JPEG") if where.lower().endswith(".png") else ("JPEG", "PNG")
    try:
        im = Image.open(io.BytesIO(blob), formats=fmt)
        if im.mode != "RGB":
            im = im.convert("RGB")
        arr = np.asarray(im)
    except Exception as e:  # PIL raises many types for bad bytes; all mean "not an image"
        raise DataError(f"{where}: cannot decode image ({type(e).__name__}: {e})") from None
    if arr.shape != (32, 32, 3):
        raise DataError(f"{where}: image is {arr.shape[1]}x{arr.shape[0]}, expected 32x32 RGB")
    return arr


def _assemble_images(items: list[tuple[str, str, str, bytes]], where: Path, kind: str) -> Arrays:
    """``items`` = (path, split, class, bytes); sorted by path, decoded, labelled."""
    splits = {s for _, s, _, _ in items}
    if not items or splits != {"train", "test"}:
        lacking = sorted({"train", "test"} - splits)
        raise DataError(
            f"{where}: {kind} has no {' or '.join(lacking)}/<class>/*.jpg|png images; "
            f"expected train/<class>/*.jpg and test/<class>/*.jpg"
        )
    labels_of = class_index({c for _, _, c, _ in items})
    items.sort(key=lambda t: t[0])
    out: dict[str, tuple[list[np.ndarray], list[int]]] = {"train": ([], []), "test": ([], [])}
    for name, split, cls, blob in items:
        out[split][0].append(_decode_image(blob, f"{where}:{name}" if kind == "tar" else name))
        out[split][1].append(labels_of[cls])
    return Arrays(
        np.stack(out["train"][0]),
        np.asarray(out["train"][1], dtype=np.int64),
        np.stack(out["test"][0]),
        np.asarray(out["test"][1], dtype=np.int64),
    )


def _decode_cifar_tar(src: Source) -> Arrays:
    """Any tar holding either the python batches or a train|test/<class>/ image tree (read once)."""
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    images: list[tuple[str, str, str, bytes]] = []
    for name, blob in _iter_tar(src.path):
        m = _BATCH_RE.search(name)
        if m:
            batches[m.group(1)] = _parse_cifar_batch(blob, f"{src.path}:{name}")
            continue
        sc = _split_class(name)
        if sc is not None:
            images.append((name, sc[0], sc[1], blob))
    if batches:
        return _assemble_batches(batches, src.path)
    if not images:
        raise DataError(
            f"{src.path}: no CIFAR-10 data in this archive; expected train/<class>/*.jpg and "
            f"test/<class>/*.jpg members or cifar-10-batches-py/data_batch_1..5 + test_batch"
        )
    return _assemble_images(images, src.path, "tar")


def _scan_imagefolder(root: Path) -> list[tuple[str, str, str, int, int]]:
    """(path, split, class, size, mtime_ns) of every image under root/train and root/test."""
    out: list[tuple[str, str, str, int, int]] = []
    for split in ("train", "test"):
        sd = root / split
        if not sd.is_dir():
            continue
        for cd in sorted(os.scandir(sd), key=lambda e: e.name):
            if not cd.is_dir():
                continue
            for f in os.scandir(cd.path):
                if f.is_file() and f.name.lower().endswith(IMAGE_EXTS) and not f.name.startswith("._"):
                    st = f.stat()
                    out.append((f.path, split, cd.name, st.st_size, st.st_mtime_ns))
    return out


def _decode_cifar_imagefolder(src: Source) -> Arrays:
    items = [(p, s, c, Path(p).read_bytes()) for p, s, c, _, _ in _scan_imagefolder(src.path)]
    return _assemble_images(items, src.path, "image folder")
