"""The real datasets under ../shared/data (or $HW2_DATA_DIR); skipped when absent."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from trainers import data as D

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist(shared_data_dir: Path, shared_cache_dir: Path) -> None:
    res = D.load("mnist", shared_data_dir, shared_cache_dir)
    a = res.arrays
    assert a.x_train.shape == (60000, 28, 28) and a.x_test.shape == (10000, 28, 28)
    assert a.x_train.dtype == np.uint8 and a.y_train.dtype == np.int64
    assert np.bincount(a.y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(a.y_test, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert 0.12 < float(a.x_train.mean()) / 255 < 0.14  # MNIST's well-known mean 0.1307
    t = time.perf_counter()
    again = D.load("mnist", shared_data_dir, shared_cache_dir)
    assert again.info.from_cache and time.perf_counter() - t < 2.0


@pytest.mark.slow
def test_real_cifar10(shared_data_dir: Path, shared_cache_dir: Path) -> None:
    """Cold decode of 60 000 JPEGs takes ~10-30 s on 2 cores; warm loads are memory maps."""
    res = D.load("cifar10", shared_data_dir, shared_cache_dir)
    a = res.arrays
    assert a.x_train.shape == (50000, 32, 32, 3) and a.x_test.shape == (10000, 32, 32, 3)
    assert a.x_train.dtype == np.uint8
    assert np.bincount(a.y_train, minlength=10).tolist() == [5000] * 10
    assert np.bincount(a.y_test, minlength=10).tolist() == [1000] * 10
    mean = a.x_train.reshape(-1, 3).mean(axis=0) / 255
    np.testing.assert_allclose(mean, [0.491, 0.482, 0.447], atol=0.002)
    # HWC, not CHW: neighbouring pixels correlate strongly, channels of one pixel too.
    x = a.x_test[:500].astype(np.float32)
    assert np.corrcoef(x[:, :, :-1, 0].ravel(), x[:, :, 1:, 0].ravel())[0, 1] > 0.8
    t = time.perf_counter()
    again = D.load("cifar10", shared_data_dir, shared_cache_dir)
    assert again.info.from_cache and time.perf_counter() - t < 2.0
    np.testing.assert_array_equal(again.arrays.y_train, a.y_train)
