"""Tar reader benchmark (issue 9): the hand-written tar parser vs the stdlib ``tarfile``.

Until 2026-12-03 ``trainers/data.py`` walked CIFAR-10's ``cifar10-jpeg.tar.gz`` (60 000 small
JPEG members) with its own ustar/pax/GNU header reader, because ``tarfile`` builds a Python
``TarInfo`` per header. Issue 9 asked to replace it by ``tarfile`` unless a benchmark shows it is
worth keeping. This script times, on the real archive, side by side:

1. **member iteration** (names + bytes of every regular file): the archive is gunzipped in memory
   once per try and walked by (a) the hand-written reader, kept below as :func:`handwritten_members`
   (the code as it was, for comparison only) and (b) what ``trainers.data`` ships, its
   ``archives._iter_tar`` (gunzip + ``tarfile``); best of ``--tries`` each, alternating;
2. **the whole decode** (iteration + 60 000 Pillow decodes into the uint8 arrays,
   ``trainers.data.cifar._decode_cifar_tar``) with each reader, best of ``--decode-tries``
   (alternating; ``--no-decode`` skips it).

It prints both figures and the ratio (tarfile / hand-written) in CPU seconds of this process
(``time.process_time``: the readers and the decode are serial, and on a shared machine wall time
swings by seconds with the other processes' load). The rule was: remove the hand-written reader if
``tarfile`` is within ~1.3x for the whole decode.

Usage::

    python bench/bench_data.py [--tries 3] [--decode-tries 2] [--no-decode]
    python bench/bench_data.py --archive PATH/cifar10-jpeg.tar.gz   # default: ../shared/data/cifar10/
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainers.data import Source, archives, cifar  # noqa: E402

DEFAULT_ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10-jpeg.tar.gz"


# ------------------------------------------------------------------- the hand-written reader (as it was)
class _Unsupported(Exception):
    """A header the hand-written reader did not handle (the product then fell back to tarfile)."""


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:
        raise _Unsupported("base-256 number")
    text = field.replace(b"\0", b" ").strip()
    return int(text, 8) if text else 0


def _pax_records(body: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(body):
        sp = body.find(b" ", pos)
        if sp < 0:
            break
        length = int(body[pos:sp])
        key, _, value = body[sp + 1 : pos + length - 1].partition(b"=")
        out[key] = value
        pos += length
    return out


def _parse_tar(data: bytes) -> list[tuple[str, bytes]]:
    """Regular files of an in-memory ustar/pax/GNU tar (error checks trimmed to what timing needs)."""
    out: list[tuple[str, bytes]] = []
    n, pos, long_name = len(data), 0, None
    zero = bytes(512)
    while pos + 512 <= n:
        hdr = data[pos : pos + 512]
        if hdr == zero:
            break
        stored, size = _octal(hdr[148:156]), _octal(hdr[124:136])
        if stored != sum(hdr) - sum(hdr[148:156]) + 256:
            raise ValueError(f"bad header checksum at byte {pos}")
        kind = hdr[156:157]
        name = hdr[0:100].split(b"\0", 1)[0]
        if hdr[257:262] == b"ustar":
            prefix = hdr[345:500].split(b"\0", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        start = pos + 512
        body = data[start : start + size]
        pos = start + (size + 511) // 512 * 512
        if kind in (b"0", b"\0", b"7"):
            out.append(((long_name or name).decode("utf-8", "surrogateescape"), body))
            long_name = None
        elif kind == b"L":
            long_name = body.split(b"\0", 1)[0]
        elif kind == b"x":
            rec = _pax_records(body)
            if b"size" in rec:
                raise _Unsupported("pax size")
            long_name = rec.get(b"path", long_name)
        elif kind in (b"1", b"2", b"3", b"4", b"5", b"6"):
            long_name = None
        elif kind not in (b"g", b"K"):
            raise _Unsupported(f"member type {kind!r}")
    return out


def handwritten_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """The hand-written reader's path through a .tar.gz: gunzip in memory, walk the headers."""
    yield from _parse_tar(gzip.decompress(path.read_bytes()))


def tarfile_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """What trainers.data ships: gunzip in memory, walk the members with tarfile."""
    yield from archives._iter_tar(path)


# ------------------------------------------------------------------------------------------- timing
def _time(fn: object) -> tuple[float, list[tuple[str, bytes]]]:
    """CPU seconds of this process (the readers are serial), and the members read."""
    t0 = time.process_time()
    result = list(fn(ARCHIVE))  # type: ignore[operator]
    return time.process_time() - t0, result


def _decode_with(reader: object) -> float:
    """CPU seconds for the whole CIFAR-10 decode with ``reader`` as the tar member iterator."""
    real = cifar._iter_tar
    cifar._iter_tar = reader  # type: ignore[assignment]
    try:
        t0 = time.process_time()
        arrays = cifar._decode_cifar_tar(Source("cifar10", "tar", ARCHIVE, (ARCHIVE,), "bench"))
        seconds = time.process_time() - t0
    finally:
        cifar._iter_tar = real
    assert len(arrays.x_train) + len(arrays.x_test) == 60_000, [len(a) for a in arrays]
    return seconds


def _print_pair(hand: float, tar: float) -> None:
    print(
        f"  hand-written {hand:6.2f} s   tarfile {tar:6.2f} s   ratio tarfile/hand-written {tar / hand:.2f}x"
    )


def main() -> int:
    global ARCHIVE
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE, help="CIFAR-10 image tar (.tar.gz)")
    p.add_argument("--tries", type=int, default=3, help="member iteration: best of N tries per reader")
    p.add_argument("--decode-tries", type=int, default=2, help="whole decode: best of N tries per reader")
    p.add_argument("--no-decode", action="store_true", help="skip the whole-decode comparison")
    args = p.parse_args()
    ARCHIVE = args.archive
    if not ARCHIVE.is_file():
        print(f"{ARCHIVE}: not found; pass --archive PATH to cifar10-jpeg.tar.gz", file=sys.stderr)
        return 2
    print(f"archive {ARCHIVE} ({ARCHIVE.stat().st_size / 1e6:.1f} MB), load average {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    gzip.decompress(ARCHIVE.read_bytes())
    print(f"gunzip alone (in both readers): {time.perf_counter() - t0:.2f} s wall")

    hand_s = tar_s = float("inf")
    hand: list[tuple[str, bytes]] = []
    tar: list[tuple[str, bytes]] = []
    for _ in range(args.tries):  # alternate, so drift on a busy machine hits both alike
        s, hand = _time(handwritten_members)
        hand_s = min(hand_s, s)
        s, tar = _time(tarfile_members)
        tar_s = min(tar_s, s)
    if hand != tar:
        print("the two readers disagree on the members!", file=sys.stderr)
        return 1
    print(f"member iteration ({len(tar)} members, names + bytes, CPU s, best of {args.tries}):")
    _print_pair(hand_s, tar_s)
    if args.no_decode:
        return 0
    hand_d = tar_d = float("inf")
    for _ in range(args.decode_tries):  # alternate, as above
        hand_d = min(hand_d, _decode_with(handwritten_members))
        tar_d = min(tar_d, _decode_with(tarfile_members))
    print("whole decode (iteration + 60 000 Pillow decodes into uint8 arrays, CPU s, ", end="")
    print(f"best of {args.decode_tries}):")
    _print_pair(hand_d, tar_d)
    verdict = "within" if tar_d / hand_d <= 1.3 else "beyond"
    print(f"tarfile is {verdict} 1.3x of the hand-written reader for the whole decode")
    return 0


ARCHIVE = DEFAULT_ARCHIVE

if __name__ == "__main__":
    raise SystemExit(main())
