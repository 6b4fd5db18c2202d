"""Every accepted layout decodes to exactly the arrays the fixture writers wrote."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.data.fixtures import (
    CIFAR10_CLASSES,
    FixtureArrays,
    write_cifar_batches_dir,
    write_cifar_imagefolder,
    write_cifar_pickle_tar,
    write_mnist_idx,
    write_mnist_npz,
)
from trainers import data as D
from trainers.data import archives


def assert_same(got: D.Arrays, want: FixtureArrays) -> None:
    for field in D.Arrays._fields:
        g, w = getattr(got, field), getattr(want, field)
        assert g.shape == w.shape, field
        np.testing.assert_array_equal(g, w, err_msg=field)
    assert got.x_train.dtype == np.uint8 and got.x_test.dtype == np.uint8
    assert got.y_train.dtype == np.int64 and got.y_test.dtype == np.int64


# ------------------------------------------------------------------------------------------- MNIST
@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dot_names", [False, True])
def test_mnist_idx_round_trip(data_root: Path, gz: bool, dot_names: bool) -> None:
    want = write_mnist_idx(data_root / "mnist", n_train=23, n_test=7, gz=gz, dot_names=dot_names)
    res = D.load("mnist", data_root)
    assert res.info.format == "idx" and res.info.source == data_root / "mnist"
    assert_same(res.arrays, want)


@pytest.mark.parametrize("sub", ["", "mnist", "MNIST/raw", "mnist/MNIST/raw"])
def test_mnist_idx_layouts(data_root: Path, sub: str) -> None:
    want = write_mnist_idx(data_root / sub if sub else data_root, n_train=12, n_test=4)
    assert_same(D.load_mnist(data_root), want)


def test_mnist_accepts_the_mnist_subfolder_itself(data_root: Path) -> None:
    want = write_mnist_idx(data_root / "mnist", n_train=12, n_test=4)
    assert_same(D.load_mnist(data_root / "mnist"), want)


def test_mnist_npz_round_trip(data_root: Path) -> None:
    want = write_mnist_npz(data_root / "mnist", n_train=15, n_test=5)
    res = D.load("mnist", data_root)
    assert res.info.format == "npz"
    assert_same(res.arrays, want)


def test_mnist_idx_preferred_over_npz(data_root: Path) -> None:
    want = write_mnist_idx(data_root, n_train=10, n_test=3, seed=1)
    write_mnist_npz(data_root, n_train=10, n_test=3, seed=2)
    assert_same(D.load_mnist(data_root), want)


# ------------------------------------------------------------------------------------ CIFAR pickles
def test_cifar_pickle_tar_round_trip(data_root: Path) -> None:
    want = write_cifar_pickle_tar(data_root, n_train=25, n_test=6)
    res = D.load("cifar10", data_root)
    assert res.info.format == "tar"
    assert_same(res.arrays, want)


def test_cifar_batches_dir_round_trip(data_root: Path) -> None:
    want = write_cifar_batches_dir(data_root / "cifar10", n_train=25, n_test=6)
    res = D.load("cifar10", data_root)
    assert res.info.format == "cifar-pickle-dir"
    assert_same(res.arrays, want)


def test_cifar_batches_dir_given_directly(data_root: Path) -> None:
    want = write_cifar_batches_dir(data_root, n_train=10, n_test=2)
    assert_same(D.load_cifar10(data_root / "cifar-10-batches-py"), want)


def test_cifar_pickle_is_chw_to_hwc(data_root: Path) -> None:
    """A pixel's R, G, B come from offsets 0, 1024, 2048 of the flat CHW row."""
    want = write_cifar_batches_dir(data_root, n_train=5, n_test=1)
    got = D.load_cifar10(data_root)
    flat = np.ascontiguousarray(want.x_train[0].transpose(2, 0, 1)).reshape(3072)
    assert got.x_train[0, 3, 7].tolist() == [
        flat[3 * 32 + 7],
        flat[1024 + 3 * 32 + 7],
        flat[2048 + 3 * 32 + 7],
    ]


# -------------------------------------------------------------------------------- CIFAR image trees
@pytest.mark.parametrize("as_tar", [False, True])
def test_cifar_imagefolder_png_exact(data_root: Path, as_tar: bool) -> None:
    want = write_cifar_imagefolder(
        data_root / "cifar10", as_tar=as_tar, ext="png", n_per_class=2, n_test_per_class=1
    )
    res = D.load("cifar10", data_root)
    assert res.info.format == ("tar" if as_tar else "imagefolder-dir")
    assert_same(res.arrays, want)


@pytest.mark.parametrize("tar_name", ["cifar10-jpeg.tar.gz", "images.tar", "images.tgz"])
def test_cifar_imagefolder_jpeg_tar_approx(data_root: Path, tar_name: str) -> None:
    want = write_cifar_imagefolder(
        data_root / "cifar10", as_tar=True, ext="jpg", n_per_class=2, n_test_per_class=1, tar_name=tar_name
    )
    got = D.load_cifar10(data_root)
    np.testing.assert_array_equal(got.y_train, want.y_train)
    np.testing.assert_array_equal(got.y_test, want.y_test)
    assert got.x_train.shape == want.x_train.shape == (20, 32, 32, 3)
    diff = np.abs(got.x_train.astype(int) - want.x_train.astype(int))
    assert diff.mean() < 2.0 and diff.max() <= 12


def test_cifar_tar_with_top_folder_and_jpeg_extension(data_root: Path) -> None:
    want = write_cifar_imagefolder(data_root, as_tar=True, ext="png", n_per_class=1, prefix="cifar10/")
    assert_same(D.load_cifar10(data_root), want)


def test_cifar_label_order_is_standard_not_sorted(data_root: Path) -> None:
    """Standard names use the CIFAR-10 index even when a class is absent."""
    classes = ("truck", "cat", "airplane")
    want = write_cifar_imagefolder(data_root, ext="png", n_per_class=2, classes=classes)
    got = D.load_cifar10(data_root)
    assert sorted(set(got.y_train.tolist())) == [0, 3, 9]
    assert_same(got, want)


def test_cifar_nonstandard_class_names_are_sorted(data_root: Path) -> None:
    want = write_cifar_imagefolder(data_root, ext="png", n_per_class=1, classes=("zebra", "apple", "mango"))
    got = D.load_cifar10(data_root)
    assert got.y_train.tolist() == [0, 1, 2]  # apple, mango, zebra
    assert_same(got, want)


def test_class_index() -> None:
    assert D.class_index(list(CIFAR10_CLASSES)) == {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    assert D.class_index({"b", "a"}) == {"a": 0, "b": 1}


def test_grayscale_jpeg_becomes_rgb(data_root: Path) -> None:
    from PIL import Image

    for split in ("train", "test"):
        d = data_root / split / "cat"
        d.mkdir(parents=True)
        Image.fromarray(np.full((32, 32), 77, np.uint8), "L").save(d / "0.png")
    got = D.load_cifar10(data_root)
    assert got.x_train.shape == (1, 32, 32, 3) and (got.x_train == 77).all()


# ------------------------------------------------------------------------------------ tar reading
def _tar_bytes(members: list[tuple[str, bytes]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        tf.addfile(tarfile.TarInfo("somedir"))  # a zero-size regular file named like a folder
        d = tarfile.TarInfo("adir/")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        link = tarfile.TarInfo("alink")
        link.type = tarfile.SYMTYPE
        link.linkname = "x" * (150 if fmt != tarfile.USTAR_FORMAT else 50)
        tf.addfile(link)
        for name, blob in members:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_tar_reader_yields_the_regular_files(fmt: int, tmp_path: Path) -> None:
    long_dir = (
        "d" * 120 if fmt != tarfile.USTAR_FORMAT else "d" * 90
    )  # ustar: prefix field; others: long names
    members = [
        ("train/cat/0001.png", b"abc"),
        (f"{long_dir}/train/dog/{'n' * 60}.jpg", bytes(range(256)) * 5),
        ("test/bird/empty.png", b""),
        ("x/ünïcode.jpg", b"\x00" * 513),
    ]
    data = _tar_bytes(members, fmt)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        expected = [(m.name, tf.extractfile(m).read()) for m in tf if m.isfile()]  # type: ignore[union-attr]
    assert len(expected) == 5
    for name, blob in (("t.tar", data), ("t.tar.gz", gzip.compress(data))):
        (tmp_path / name).write_bytes(blob)
        assert list(archives._iter_tar(tmp_path / name)) == expected


def test_tar_in_memory_and_stream_paths_agree(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    want = write_cifar_imagefolder(data_root, as_tar=True, ext="png", n_per_class=1)
    tar = data_root / "cifar10-jpeg.tar.gz"
    in_memory = list(archives._iter_tar(tar))
    assert len(in_memory) == 20
    monkeypatch.setattr(archives, "IN_MEMORY_TAR_LIMIT", 0)
    assert list(archives._iter_tar(tar)) == in_memory  # tarfile streaming
    assert_same(D.load_cifar10(data_root, cache_dir=data_root.parent / "other-cache"), want)


def test_python2_style_batches_load(data_root: Path) -> None:
    """The official batches were pickled by Python 2 numpy: str keys, numpy.core globals."""
    want = write_cifar_batches_dir(data_root, n_train=10, n_test=2)
    import pickle

    for f in (data_root / "cifar-10-batches-py").glob("*_batch*"):
        batch = pickle.loads(f.read_bytes())
        plain = {"batch_label": "b", "labels": batch[b"labels"], "data": batch[b"data"]}
        blob = pickle.dumps(plain, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        assert b"numpy.core.multiarray" in blob
        f.write_bytes(blob)
    assert_same(D.load_cifar10(data_root), want)
