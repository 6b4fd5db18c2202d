"""The decode cache: reused, invalidated by source changes, shared safely by concurrent loaders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.data.fixtures import MNIST_FILES, write_cifar_imagefolder, write_mnist_idx
from trainers import data as D

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def count_decodes(monkeypatch: pytest.MonkeyPatch, fmt: str) -> list[int]:
    calls: list[int] = []
    real: Callable[[D.Source], D.Arrays] = D._DECODERS[fmt]

    def counting(src: D.Source) -> D.Arrays:
        calls.append(1)
        return real(src)

    monkeypatch.setitem(D._DECODERS, fmt, counting)
    return calls


def test_second_load_uses_cache(data_root: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    want = write_mnist_idx(data_root, n_train=20, n_test=5)
    calls = count_decodes(monkeypatch, "idx")
    first = D.load("mnist", data_root, cache_dir)
    assert calls == [1] and not first.info.from_cache and first.info.decode_seconds is not None
    entry = first.info.cache_path
    assert entry is not None and entry.parent == cache_dir
    assert sorted(p.name for p in entry.iterdir()) == [
        "source.json",
        "x_test.npy",
        "x_train.npy",
        "y_test.npy",
        "y_train.npy",
    ]
    mtime = (entry / "x_train.npy").stat().st_mtime_ns

    second = D.load("mnist", data_root, cache_dir)
    assert calls == [1], "second load decoded again"
    assert second.info.from_cache and second.info.cache_path == entry
    assert (entry / "x_train.npy").stat().st_mtime_ns == mtime
    assert isinstance(second.arrays.x_train, np.memmap)
    np.testing.assert_array_equal(second.arrays.x_train, want.x_train)
    np.testing.assert_array_equal(second.arrays.y_test, want.y_test)
    meta = json.loads((entry / "source.json").read_text())
    assert meta["format"] == "idx" and meta["shapes"]["x_train"] == [20, 28, 28]


def test_arrays_are_read_only_both_times(data_root: Path, cache_dir: Path) -> None:
    """Cold and warm loads behave the same, so a trainer cannot pass once and fail on a warm cache."""
    write_mnist_idx(data_root, n_train=5, n_test=2)
    for _ in range(2):
        a = D.load_mnist(data_root, cache_dir)
        assert not a.x_train.flags.writeable
        with pytest.raises(ValueError):
            a.x_train[0, 0, 0] = 1
    b = D.load_mnist(data_root, cache_dir, mmap=False)
    assert not isinstance(b.x_train, np.memmap)


def test_changed_source_invalidates_and_replaces_cache(
    data_root: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_mnist_idx(data_root, n_train=10, n_test=3, seed=1)
    calls = count_decodes(monkeypatch, "idx")
    old = D.load("mnist", data_root, cache_dir).info.cache_path
    time.sleep(0.01)
    want = write_mnist_idx(data_root, n_train=12, n_test=3, seed=2)  # new size and mtime
    res = D.load("mnist", data_root, cache_dir)
    assert calls == [1, 1] and res.info.cache_path != old
    np.testing.assert_array_equal(res.arrays.x_train, want.x_train)
    assert old is not None and not old.exists(), "stale cache of the same source was not removed"


def test_imagefolder_cache_key_sees_a_changed_file(
    data_root: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cifar_imagefolder(data_root, ext="png", n_per_class=1)
    calls = count_decodes(monkeypatch, "imagefolder-dir")
    D.load_cifar10(data_root, cache_dir)
    D.load_cifar10(data_root, cache_dir)
    assert calls == [1]
    f = data_root / "train" / "cat" / "0000.png"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    D.load_cifar10(data_root, cache_dir)
    assert calls == [1, 1]


def test_broken_cache_is_rebuilt(data_root: Path, cache_dir: Path) -> None:
    want = write_mnist_idx(data_root, n_train=10, n_test=3)
    entry = D.load("mnist", data_root, cache_dir).info.cache_path
    assert entry is not None
    (entry / "x_train.npy").write_bytes(b"garbage")
    res = D.load("mnist", data_root, cache_dir)
    assert not res.info.from_cache
    np.testing.assert_array_equal(res.arrays.x_train, want.x_train)


def test_unusable_cache_dir_still_loads(data_root: Path, tmp_path: Path) -> None:
    want = write_mnist_idx(data_root, n_train=10, n_test=3)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    res = D.load("mnist", data_root, blocker / "cache")
    assert res.info.cache_path is None and any("cache disabled" in n for n in res.info.notes)
    np.testing.assert_array_equal(res.arrays.x_train, want.x_train)


def test_cache_root_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert D.cache_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("HW2_CACHE_DIR", str(tmp_path / "env"))
    assert D.cache_root() == tmp_path / "env"
    monkeypatch.delenv("HW2_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.cache_root() == tmp_path / "home" / ".cache" / "hw2-tui"


def test_read_only_data_dir_is_fine(data_root: Path, cache_dir: Path) -> None:
    want = write_mnist_idx(data_root / "mnist", n_train=8, n_test=2)
    for p in (data_root / "mnist").iterdir():
        p.chmod(0o444)
    (data_root / "mnist").chmod(0o555)
    try:
        np.testing.assert_array_equal(D.load_mnist(data_root, cache_dir).x_train, want.x_train)
        names = {p.name for p in (data_root / "mnist").iterdir()}
        assert names == {f"{stem}.gz" for stem in MNIST_FILES.values()}, "the loader wrote into the data dir"
    finally:
        (data_root / "mnist").chmod(0o755)


_CHILD = r"""
import json, sys, time
from pathlib import Path
import trainers.data as D
real = D._DECODERS["idx"]
def slow(src):
    time.sleep(1.0)  # widen the window in which a second process could decode too
    return real(src)
D._DECODERS["idx"] = slow
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
res = D.load("mnist", sys.argv[1], sys.argv[2])
print(json.dumps({"decoded": not res.info.from_cache, "sum": int(res.arrays.x_train.astype("int64").sum()),
                  "labels": res.arrays.y_train.tolist(), "cache": str(res.info.cache_path)}))
"""


def test_concurrent_loads_decode_once(data_root: Path, cache_dir: Path, tmp_path: Path) -> None:
    want = write_mnist_idx(data_root, n_train=40, n_test=5)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(data_root), str(cache_dir), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    time.sleep(0.2)
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out))
    assert sorted(o["decoded"] for o in outs) == [False, True], "exactly one process must decode"
    assert {o["cache"] for o in outs} == {outs[0]["cache"]}
    for o in outs:
        assert o["sum"] == int(want.x_train.astype(np.int64).sum())
        assert o["labels"] == want.y_train.tolist()
    leftovers = [p.name for p in cache_dir.iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []
    np.testing.assert_array_equal(np.load(Path(outs[0]["cache"]) / "x_train.npy"), want.x_train)


def test_leftovers_of_a_killed_writer_are_removed(data_root: Path, cache_dir: Path) -> None:
    write_mnist_idx(data_root, n_train=5, n_test=2)
    src, _ = D.locate("mnist", data_root)
    assert src is not None
    entry = D.cache_entry(src, cache_dir)
    stale = cache_dir / f".tmp-{entry.name}-abc123"
    stale.mkdir(parents=True)
    (stale / "x_train.npy").write_bytes(b"half")
    assert D.load("mnist", data_root, cache_dir).info.cache_path == entry
    assert not stale.exists()


def test_unusable_lock_file_degrades_to_unlocked(
    data_root: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want = write_mnist_idx(data_root, n_train=5, n_test=2)
    real_open = os.open

    def no_lock(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", no_lock)
    res = D.load("mnist", data_root, cache_dir)
    assert res.info.cache_path is not None and not res.info.from_cache
    np.testing.assert_array_equal(res.arrays.x_train, want.x_train)
