"""Bad data fails fast with one line naming the path and what was expected, never a traceback."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.fixtures import (
    _idx_bytes,
    write_cifar_batches_dir,
    write_cifar_imagefolder,
    write_cifar_pickle_tar,
    write_mnist_idx,
)
from trainers import data as D
from trainers.data import locating

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def error_of(dataset: str, data_dir: Path | str | None, **kw: object) -> str:
    with pytest.raises(D.DataError) as ei:
        D.load(dataset, data_dir, **kw)  # type: ignore[arg-type]
    msg = str(ei.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


# ------------------------------------------------------------------------------------ where is it
def test_missing_explicit_dir(tmp_path: Path) -> None:
    msg = error_of("mnist", tmp_path / "nope")
    assert str(tmp_path / "nope") in msg and "does not exist" in msg and "HW2_DATA_DIR" in msg


def test_missing_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW2_DATA_DIR", str(tmp_path / "gone"))
    msg = error_of("cifar10", None)
    assert str(tmp_path / "gone") in msg and "from HW2_DATA_DIR" in msg and "does not exist" in msg


def test_empty_dir_lists_what_was_tried(data_root: Path) -> None:
    msg = error_of("mnist", data_root)
    assert msg.startswith("MNIST not found; tried: ")
    assert f"{data_root} (argument, empty)" in msg
    assert (
        "HW2_OFFLINE=1" in msg
        and "set HW2_DATA_DIR to a folder holding mnist/train-images-idx3-ubyte.gz" in msg
    )


def test_dir_with_other_things(data_root: Path) -> None:
    (data_root / "notes.txt").write_text("hi")
    msg = error_of("cifar10", data_root)
    assert f"{data_root} (argument, no CIFAR-10)" in msg and "cifar10-jpeg.tar.gz" in msg


def test_default_candidates_are_all_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locating, "PROJECT_ROOT", tmp_path / "proj")
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    msg = error_of("mnist", None)
    assert f"{work / 'data'} (./data, missing)" in msg
    assert f"{work.parent / 'shared' / 'data'} (../shared/data, missing)" in msg
    assert f"{tmp_path / 'shared' / 'data'} (project ../shared/data, missing)" in msg


def test_data_dir_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert "is not a folder" in error_of("mnist", f)


# --------------------------------------------------------------------------------------- MNIST
def test_text_file_named_like_idx(data_root: Path) -> None:
    write_mnist_idx(data_root, gz=False)
    bad = data_root / "train-images-idx3-ubyte"
    bad.write_text("hello, I am not an IDX file\n")
    msg = error_of("mnist", data_root)
    assert str(bad) in msg and "not an MNIST IDX image file" in msg and "expected 0x00000803" in msg


def test_labels_where_images_expected(data_root: Path) -> None:
    write_mnist_idx(data_root, gz=False)
    (data_root / "t10k-images-idx3-ubyte").write_bytes((data_root / "t10k-labels-idx1-ubyte").read_bytes())
    assert "magic 0x00000801, expected 0x00000803" in error_of("mnist", data_root)


def test_truncated_idx_data(data_root: Path) -> None:
    write_mnist_idx(data_root, gz=True, n_train=10)
    p = data_root / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(p.read_bytes())
    p.write_bytes(gzip.compress(raw[:-100]))
    msg = error_of("mnist", data_root)
    assert str(p) in msg and "truncated" in msg and "expected 7840" in msg


def test_truncated_gzip(data_root: Path) -> None:
    write_mnist_idx(data_root, gz=True)
    p = data_root / "train-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-12])
    msg = error_of("mnist", data_root)
    assert str(p) in msg and "corrupt or truncated gzip" in msg


def test_wrong_image_dims(data_root: Path) -> None:
    write_mnist_idx(data_root, gz=False)
    (data_root / "train-images-idx3-ubyte").write_bytes(_idx_bytes(np.zeros((30, 27, 27), np.uint8)))
    assert "IDX images are 27x27, expected 28x28" in error_of("mnist", data_root)


def test_label_count_mismatch(data_root: Path) -> None:
    write_mnist_idx(data_root, gz=False, n_train=30)
    p = data_root / "train-labels-idx1-ubyte"
    p.write_bytes(_idx_bytes(np.zeros(29, np.uint8)))
    msg = error_of("mnist", data_root)
    assert str(p) in msg and "29 labels but train-images-idx3-ubyte has 30 images" in msg


def test_label_out_of_range(data_root: Path) -> None:
    write_mnist_idx(data_root, gz=False, n_test=10)
    (data_root / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.full(10, 12, np.uint8)))
    assert "labels must be integers 0..9" in error_of("mnist", data_root)


def test_incomplete_idx_set(data_root: Path) -> None:
    write_mnist_idx(data_root)
    (data_root / "t10k-labels-idx1-ubyte.gz").unlink()
    msg = error_of("mnist", data_root)
    assert "incomplete MNIST IDX set, missing t10k-labels-idx1-ubyte[.gz]" in msg and str(data_root) in msg


def test_npz_missing_keys_and_garbage(data_root: Path) -> None:
    np.savez(data_root / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    assert "mnist.npz lacks y_train, x_test, y_test" in error_of("mnist", data_root)
    (data_root / "mnist.npz").write_text("not a zip")
    msg = error_of("mnist", data_root)
    assert "not a readable .npz file" in msg and str(data_root / "mnist.npz") in msg


def test_npz_wrong_shape(data_root: Path) -> None:
    z = {"x_train": np.zeros((2, 32, 32), np.uint8), "y_train": np.zeros(2, np.uint8)}
    z |= {"x_test": np.zeros((1, 28, 28), np.uint8), "y_test": np.zeros(1, np.uint8)}
    np.savez(data_root / "mnist.npz", **z)
    assert "x_train is uint8(2, 32, 32), expected uint8 (N, 28, 28)" in error_of("mnist", data_root)


# ---------------------------------------------------------------------------------------- CIFAR
def _tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as tf:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))


def test_tar_without_train_test(data_root: Path) -> None:
    _tar(data_root / "cifar10-jpeg.tar.gz", {"readme.txt": b"hello", "images/cat/1.jpg": b"xx"})
    msg = error_of("cifar10", data_root)
    assert str(data_root / "cifar10-jpeg.tar.gz") in msg and "no CIFAR-10 data in this archive" in msg
    assert "expected train/<class>/*.jpg" in msg


def test_tar_with_train_only(data_root: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, "PNG")
    _tar(data_root / "c.tar", {"train/cat/0.png": png.getvalue()}, mode="w")
    msg = error_of("cifar10", data_root)
    assert "has no test/<class>/*.jpg|png images" in msg and str(data_root / "c.tar") in msg


def test_truncated_tar_gz(data_root: Path) -> None:
    write_cifar_imagefolder(data_root, as_tar=True, ext="jpg", n_per_class=2)
    p = data_root / "cifar10-jpeg.tar.gz"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    msg = error_of("cifar10", data_root)
    assert str(p) in msg and "corrupt or truncated" in msg


def test_truncated_plain_tar(data_root: Path) -> None:
    write_cifar_imagefolder(data_root, as_tar=True, ext="png", n_per_class=1, tar_name="c.tar")
    p = data_root / "c.tar"
    p.write_bytes(p.read_bytes()[:5000])
    msg = error_of("cifar10", data_root)
    assert str(p) in msg and "truncated tar archive" in msg


def test_text_file_named_like_tar(data_root: Path) -> None:
    (data_root / "cifar10-jpeg.tar.gz").write_text("this is not an archive at all " * 40)
    msg = error_of("cifar10", data_root)
    assert "not a tar archive" in msg and str(data_root / "cifar10-jpeg.tar.gz") in msg


def test_corrupt_jpeg_in_folder(data_root: Path) -> None:
    write_cifar_imagefolder(data_root, ext="jpg", n_per_class=1)
    bad = data_root / "test" / "dog" / "0000.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    msg = error_of("cifar10", data_root)
    assert str(bad) in msg and "cannot decode image" in msg


def test_wrong_image_size_in_tar(data_root: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (16, 20)).save(png, "PNG")
    _tar(data_root / "x.tar.gz", {"train/cat/0.png": png.getvalue(), "test/cat/0.png": png.getvalue()})
    msg = error_of("cifar10", data_root)
    assert "image is 16x20, expected 32x32 RGB" in msg and "x.tar.gz:test/cat/0.png" in msg


def test_corrupt_pickle_batch(data_root: Path) -> None:
    write_cifar_batches_dir(data_root)
    p = data_root / "cifar-10-batches-py" / "data_batch_3"
    p.write_bytes(b"not a pickle")
    msg = error_of("cifar10", data_root)
    assert str(p) in msg and "not a CIFAR-10 python batch" in msg


def test_pickle_running_code_is_refused(data_root: Path, tmp_path: Path) -> None:
    write_cifar_batches_dir(data_root)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    (data_root / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    msg = error_of("cifar10", data_root)
    assert "refusing to load" in msg and not marker.exists()


def test_pickle_batch_bad_shape(data_root: Path) -> None:
    write_cifar_batches_dir(data_root)
    blob = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    (data_root / "cifar-10-batches-py" / "data_batch_1").write_bytes(blob)
    assert "batch data is uint8(2, 100), expected uint8 (N, 3072)" in error_of("cifar10", data_root)


def test_incomplete_batches_dir(data_root: Path) -> None:
    write_cifar_batches_dir(data_root)
    (data_root / "cifar-10-batches-py" / "data_batch_5").unlink()
    assert "incomplete CIFAR-10 batches folder, missing data_batch_5" in error_of("cifar10", data_root)


def test_pickle_tar_missing_batch(data_root: Path) -> None:
    write_cifar_pickle_tar(data_root)
    p = data_root / "cifar-10-python.tar.gz"
    with tarfile.open(p) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf if m.isfile() and "test_batch" not in m.name}  # type: ignore[union-attr]
    _tar(p, members)
    assert "missing CIFAR-10 batches test_batch" in error_of("cifar10", data_root)


# ------------------------------------------------------------------------------------------- CLI
def test_cli_reports_errors_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "train-images-idx3-ubyte").write_text("nope")
    out = subprocess.run(
        [sys.executable, "-m", "trainers.data", "check", "--data-dir", str(tmp_path), "--dataset", "mnist"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("MNIST: error: ") and "incomplete MNIST IDX set" in lines[0]
    )
