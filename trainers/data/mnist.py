"""MNIST decoders: the four IDX files (raw or gzipped) or Keras' ``mnist.npz``."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from trainers.data.base import Arrays, DataError, Source, _check_labels
from trainers.data.locating import _MNIST_STEMS


def _read_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: corrupt or truncated gzip file ({e})") from None
    return raw


def parse_idx(data: bytes, path: Path, ndim: int, trailing: tuple[int, ...] = ()) -> np.ndarray:
    """An IDX unsigned-byte array, with magic, dims and length checked against what MNIST needs."""
    kind = "image" if ndim == 3 else "label"
    expect_magic = 0x0800 | ndim
    if len(data) < 4:
        raise DataError(
            f"{path}: not an MNIST IDX {kind} file (only {len(data)} bytes); expected magic {expect_magic:#010x}"
        )
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expect_magic:
        raise DataError(
            f"{path}: not an MNIST IDX {kind} file (magic {magic:#010x}, expected {expect_magic:#010x})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, expected {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if trailing and tuple(dims[1:]) != trailing:
        raise DataError(
            f"{path}: IDX images are {'x'.join(map(str, dims[1:]))}, expected {'x'.join(map(str, trailing))}"
        )
    need = int(np.prod(dims, dtype=np.int64))
    have = len(data) - header
    if have != need:
        what = "truncated" if have < need else "has trailing bytes"
        raise DataError(f"{path}: IDX data {what} ({have} bytes, expected {need} for dims {dims})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _decode_mnist_idx(src: Source) -> Arrays:
    paths = dict(zip(_MNIST_STEMS, src.files, strict=True))
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        ip, lp = paths[f"{split}_images"], paths[f"{split}_labels"]
        x = parse_idx(_read_maybe_gz(ip), ip, 3, (28, 28))
        y = parse_idx(_read_maybe_gz(lp), lp, 1)
        if len(y) != len(x):
            raise DataError(f"{lp}: {len(y)} labels but {ip.name} has {len(x)} images; expected equal counts")
        _check_labels(y, lp)
        out[f"x_{split}"], out[f"y_{split}"] = x, y.astype(np.int64)
    return Arrays(out["x_train"], out["y_train"], out["x_test"], out["y_test"])


def _decode_mnist_npz(src: Source) -> Arrays:
    try:
        with np.load(src.path, allow_pickle=False) as z:
            missing = [k for k in Arrays._fields if k not in z.files]
            if missing:
                raise DataError(
                    f"{src.path}: mnist.npz lacks {', '.join(missing)}; expected keys x_train y_train x_test y_test"
                )
            arrays = Arrays(*(np.asarray(z[k]) for k in Arrays._fields))
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zlib.error, KeyError) as e:
        raise DataError(f"{src.path}: not a readable .npz file ({e}); expected Keras mnist.npz") from None
    x_tr, y_tr, x_te, y_te = arrays
    for name, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise DataError(f"{src.path}: x_{name} is {x.dtype}{x.shape}, expected uint8 (N, 28, 28)")
        if y.shape != (len(x),):
            raise DataError(
                f"{src.path}: y_{name} has shape {y.shape}, expected ({len(x)},) to match x_{name}"
            )
        _check_labels(y, src.path)
    return Arrays(x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64))
