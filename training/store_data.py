"""Corrected samples from the service's sample store as training data (``--store URL``).

The rows are read with the service's own schema and queries (``service.store``, the ``store`` extra), so
training and serving agree on the format: the 28x28 uint8 the model saw (MNIST format) and the user's
digit. Samples marked "not a digit" are left out: the model has no class for them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from training.data import DataError, Split


@dataclass(frozen=True)
class StoreSamples:
    split: Split
    url: str  # password hidden
    sha256: str  # of the images and labels, in order: which samples a model was trained on

    def divide(self, validation_fraction: float, seed: int) -> tuple[Split, Split]:
        """(training part, validation part): a seeded shuffle, the first ``fraction`` to validation."""
        n = len(self.split)
        order = np.random.default_rng(seed).permutation(n)
        cut = round(n * validation_fraction)
        pick = lambda idx: Split(self.split.images[idx], self.split.labels[idx])  # noqa: E731
        return pick(np.sort(order[cut:])), pick(np.sort(order[:cut]))


def load_store(url: str, model_version: str | None = None) -> StoreSamples:
    try:
        from service.store import database, queries
    except ImportError as exc:
        raise DataError(
            f"--store needs the store extra ({exc.name} missing): pip install -e '.[train,store]'"
        ) from None
    try:
        engine = database.create_store_engine(url)
        try:
            database.check_revision(engine)
            corrected = queries.corrected_samples(engine, model_version)
        finally:
            engine.dispose()
    except database.StoreError as exc:
        raise DataError(str(exc)) from None
    except Exception as exc:  # the database refused or is down
        raise DataError(
            f"cannot read the sample store {database.safe_url(url)}: {str(exc).strip().splitlines()[0]}"
        ) from None
    digest = hashlib.sha256(corrected.images.tobytes() + corrected.labels.tobytes()).hexdigest()
    return StoreSamples(Split(corrected.images, corrected.labels), database.safe_url(url), digest)
