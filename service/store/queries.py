"""What the service and training ask of the sample store: feedback, its summary, the live figures, samples.

Plain functions on a SQLAlchemy connection or engine, so the service (in a worker thread) and training
(``python -m training evaluate --store``) run exactly the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Connection, Engine, case, func, select, update

import contract
from service.store.schema import samples

NUM_CLASSES = contract.NUM_CLASSES


def set_feedback(engine: Engine, prediction_id: str, label: int | None, not_a_digit: bool) -> bool:
    """Store (or replace) the correction of one prediction; False when no row has that id."""
    with engine.begin() as connection:
        result = connection.execute(
            update(samples)
            .where(samples.c.prediction_id == prediction_id)
            .values(feedback_label=label, not_a_digit=not_a_digit, feedback_at=datetime.now(UTC))
        )
    return result.rowcount > 0


def has_prediction(engine: Engine, prediction_id: str) -> bool:
    with engine.connect() as connection:
        found = connection.execute(select(samples.c.seq).where(samples.c.prediction_id == prediction_id))
        return found.first() is not None


@dataclass
class VersionFeedback:
    """The feedback on one model version: counts, accuracy on corrected samples, confusion matrix."""

    model_name: str
    model_version: str
    stored: int = 0
    labelled: int = 0  # feedback with a digit label
    correct: int = 0  # ... that agreed with the prediction
    not_a_digit: int = 0
    confusion: list[list[int]] = field(
        default_factory=lambda: [[0] * NUM_CLASSES for _ in range(NUM_CLASSES)]
    )

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


def feedback_by_version(connection: Connection) -> list[VersionFeedback]:
    """Per model version: rows stored, feedback counts and the confusion (rows: the user's label,
    columns: the prediction). One grouped query each, whatever the table size."""
    versions: dict[tuple[str, str], VersionFeedback] = {}

    def entry(name: str, version: str) -> VersionFeedback:
        return versions.setdefault((name, version), VersionFeedback(name, version))

    key = (samples.c.model_name, samples.c.model_version)
    counts = select(
        *key,
        func.count(),
        func.count(samples.c.feedback_label),
        func.sum(case((samples.c.not_a_digit.is_(True), 1), else_=0)),
    ).group_by(*key)
    for name, version, stored, labelled, not_a_digit in connection.execute(counts):
        row = entry(name, version)
        row.stored, row.labelled, row.not_a_digit = int(stored), int(labelled), int(not_a_digit or 0)
    cells = (
        select(*key, samples.c.feedback_label, samples.c.predicted, func.count())
        .where(samples.c.feedback_label.is_not(None))
        .group_by(*key, samples.c.feedback_label, samples.c.predicted)
    )
    for name, version, label, predicted, count in connection.execute(cells):
        row = entry(name, version)
        row.confusion[int(label)][int(predicted)] = int(count)
        if int(label) == int(predicted):
            row.correct += int(count)
    return sorted(versions.values(), key=lambda v: (v.model_name, v.model_version))


@dataclass(frozen=True)
class CorrectedSamples:
    """Stored pictures with a user's digit label, for evaluation and training."""

    images: np.ndarray  # uint8 [N, 28, 28], MNIST format
    labels: np.ndarray  # int64 [N]
    predicted: np.ndarray  # int64 [N]: what the serving model said
    model_versions: list[str]


def corrected_samples(engine: Engine, model_version: str | None = None) -> CorrectedSamples:
    """Every sample with a digit correction (not the not-a-digit ones), oldest first."""
    query = select(
        samples.c.pixels, samples.c.feedback_label, samples.c.predicted, samples.c.model_version
    ).where(samples.c.feedback_label.is_not(None))
    if model_version is not None:
        query = query.where(samples.c.model_version == model_version)
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(samples.c.seq)).all()
    side = contract.IMAGE_SIZE
    images = np.zeros((len(rows), side, side), dtype=np.uint8)
    for i, row in enumerate(rows):
        images[i] = np.frombuffer(row.pixels, dtype=np.uint8).reshape(side, side)
    return CorrectedSamples(
        images=images,
        labels=np.array([row.feedback_label for row in rows], dtype=np.int64),
        predicted=np.array([row.predicted for row in rows], dtype=np.int64),
        model_versions=[row.model_version for row in rows],
    )


def delete_older_than(connection: Connection, cutoff: datetime) -> int:
    return connection.execute(samples.delete().where(samples.c.created_at < cutoff)).rowcount


def delete_beyond_rows(connection: Connection, max_rows: int) -> int:
    """Keep the newest ``max_rows`` rows (by insertion order)."""
    cutoff = connection.execute(
        select(samples.c.seq).order_by(samples.c.seq.desc()).offset(max_rows).limit(1)
    ).scalar()
    if cutoff is None:
        return 0
    return connection.execute(samples.delete().where(samples.c.seq <= cutoff)).rowcount


def count_rows(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(samples)).scalar() or 0)
