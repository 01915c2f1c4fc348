"""MNIST fetch, verification, cache and splits."""

from __future__ import annotations

import gzip
import io
import pickle
import subprocess
import sys

import numpy as np
import pytest

from contract import IMAGE_SIZE
from training import data


def test_splits_have_the_documented_shapes_and_types(mnist):
    sizes = {"train": data.TRAIN_SIZE, "val": data.VAL_SIZE, "test": data.TEST_SIZE}
    for name, size in sizes.items():
        split = getattr(mnist, name)
        assert split.images.shape == (size, IMAGE_SIZE, IMAGE_SIZE)
        assert split.images.dtype == np.uint8
        assert split.labels.shape == (size,)
        assert split.labels.dtype == np.int64
        assert set(np.unique(split.labels)) == set(range(10))
        assert split.images.max() == 255
        assert split.images.min() == 0
    assert mnist.source == "wheel"
    assert mnist.sha256 == data.MNIST_SHA256
    # The official test set starts 7, 2, 1, 0, 4.
    assert mnist.test.labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_pixels_are_the_original_bytes(mnist):
    """The pickle holds pixel / 256 in float32: converting back is exact, not a rounding guess."""
    x = mnist.train.images[:100].astype(np.float32) / 256.0
    assert np.array_equal(np.rint(x * 256.0).astype(np.uint8), mnist.train.images[:100])


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.default_data_dir() == tmp_path
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert data.default_data_dir() == data.REPO_ROOT / "data"


def test_missing_file_without_download_says_what_to_do(tmp_path):
    with pytest.raises(data.DataError, match="does not exist") as info:
        data.ensure_cached(tmp_path, download=False)
    assert "without --no-download" in str(info.value)
    assert data.MNIST_SHA256 in str(info.value)


def test_hash_mismatch_says_what_to_do(tmp_path):
    (tmp_path / data.CACHE_NAME).write_bytes(b"not mnist")
    with pytest.raises(data.DataError, match="expected " + data.MNIST_SHA256) as info:
        data.ensure_cached(tmp_path, download=False)
    assert "Delete it and run again" in str(info.value)


def test_failed_fetch_says_what_to_do(tmp_path, monkeypatch):
    # No index and nothing to find: pip fails as it would without a network.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(data.DataError, match="Could not fetch MNIST") as info:
        data.ensure_cached(tmp_path / "cache", download=True)
    assert "Check the network" in str(info.value)
    assert not (tmp_path / "cache" / data.CACHE_NAME).exists()


@pytest.mark.parametrize("content", [None, b"corrupt"])
def test_cli_data_errors_are_one_message_without_traceback(tmp_path, content):
    if content is not None:
        (tmp_path / data.CACHE_NAME).write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "training", "--data-dir", str(tmp_path), "--no-download", "--no-report"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("python -m training: data error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unpickler_refuses_anything_but_numpy_arrays():
    payload = gzip.compress(pickle.dumps((print, "hello")))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data._NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(payload))).load()


def test_subset_takes_the_first_images(mnist):
    small = mnist.train.subset(10)
    assert len(small) == 10
    assert np.array_equal(small.labels, mnist.train.labels[:10])
    assert mnist.train.subset(None) is mnist.train


def test_torchvision_source_splits_60k_into_50k_and_10k(mnist, torchvision_dir):
    """torchvision's files are rebuilt offline from the wheel's data (60k train = train + val)."""
    labels = np.concatenate([mnist.train.labels, mnist.val.labels])
    first = data.load("torchvision", torchvision_dir, download=False)
    assert (len(first.train), len(first.val), len(first.test)) == (50_000, 10_000, 10_000)
    assert first.train.images.dtype == np.uint8
    assert first.train.images.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE)
    assert first.train.labels.dtype == np.int64
    assert np.array_equal(first.test.images, mnist.test.images)
    # A fixed split: the same every time, disjoint, together the whole 60k.
    second = data.load("torchvision", torchvision_dir, download=False)
    assert np.array_equal(first.val.labels, second.val.labels)
    assert first.sha256 == second.sha256
    assert np.array_equal(np.sort(np.concatenate([first.train.labels, first.val.labels])), np.sort(labels))
    assert not np.array_equal(first.val.images, mnist.val.images)  # shuffled, not the wheel's split


def test_unknown_source_is_a_data_error(tmp_path):
    with pytest.raises(data.DataError, match="Unknown data source"):
        data.load("kaggle", tmp_path)
