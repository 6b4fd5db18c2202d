"""Reading archives: gzip/bzip2/xz by magic number, and the regular files of a tar, read once.

Tars are read with the stdlib :mod:`tarfile`. A hand-written header reader walked CIFAR-10's
60 000 members ~5x faster, but that is ~2.5 s of a ~20 s decode (Pillow's JPEG decoding is the
rest), within the 1.3x that issue 9 set for keeping it: ``bench/bench_data.py`` prints both figures
(see bench/RESULTS.md, "Tar reader: hand-written vs tarfile").
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from trainers.data.base import CIFAR_HINT, DataError

#: Archives up to this size are decompressed in memory (gzip in one call is much faster than
#: tarfile's ``r|gz`` stream reads on 60 000 small members); bigger ones are streamed.
IN_MEMORY_TAR_LIMIT: int = 1 << 30


def _decompress(raw: bytes, path: Path) -> bytes:
    """gzip/bzip2/xz-decompress ``raw`` by magic number (plain bytes pass through)."""
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
        if raw[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(raw)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        raise DataError(f"{path}: corrupt or truncated compressed file ({e})") from None
    return raw


def _iter_tar(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member name, data)`` for every regular file in the tar at ``path``, reading it once.

    Archives up to :data:`IN_MEMORY_TAR_LIMIT` are decompressed in memory in one call and each
    member's bytes are sliced from that buffer; bigger ones are streamed through ``tarfile``.
    Any damage (not a tar, truncated, corrupt compression) is a one-line :class:`DataError`.
    """
    try:
        if path.stat().st_size <= IN_MEMORY_TAR_LIMIT:
            yield from _members_in_memory(_decompress(path.read_bytes(), path), path)
        else:
            yield from _members_streamed(path)
    except tarfile.TarError as e:
        raise DataError(f"{path}: not a readable tar archive ({e}); {CIFAR_HINT}") from None
    except (EOFError, zlib.error, lzma.LZMAError) as e:
        raise DataError(f"{path}: corrupt or truncated archive ({e})") from None


def _members_in_memory(data: bytes, path: Path) -> Iterator[tuple[str, bytes]]:
    if len(data) < 512:
        raise DataError(f"{path}: not a tar archive ({len(data)} bytes); {CIFAR_HINT}")
    view = memoryview(data)
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - closed by the with below
    except tarfile.ReadError as e:  # the first header is not a tar header
        raise DataError(f"{path}: not a tar archive ({e}); {CIFAR_HINT}") from None
    with tf:
        try:
            for m in tf:
                if not m.isfile():
                    continue
                end = m.offset_data + m.size
                if end > len(data):
                    raise DataError(
                        f"{path}: truncated tar archive (member {m.name} needs {end} bytes, "
                        f"archive has {len(data)})"
                    )
                yield m.name, bytes(view[m.offset_data : end])
        except tarfile.ReadError as e:  # past the first header: the archive ends too early
            raise DataError(f"{path}: truncated tar archive ({e})") from None
        stop = tf.offset  # where tarfile stopped: the end-of-archive block, or a header it refused
    # After the first member tarfile ends quietly at a broken header; say so instead.
    rest = view[stop : stop + 512]
    if 0 < len(rest) < 512:
        raise DataError(f"{path}: truncated tar archive (ends inside a header at byte {stop})")
    if any(rest):
        raise DataError(f"{path}: corrupt tar archive (bad header at byte {stop}); {CIFAR_HINT}")


def _members_streamed(path: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path, mode="r|*") as tf:
        for m in tf:
            if not m.isfile():
                continue
            fh = tf.extractfile(m)
            if fh is None:
                continue
            blob = fh.read()
            if len(blob) != m.size:
                raise DataError(f"{path}: truncated tar archive (member {m.name})")
            yield m.name, blob
