"""The sample store's one table (SQLAlchemy Core): a prediction, what the model saw, and its correction.

The schema itself is created and changed only by the Alembic migrations in ``migrations/versions``; this
module describes it for queries, and ``tests/store`` checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Sequence = BigInteger().with_variant(Integer(), "sqlite")

samples = Table(
    "samples",
    metadata,
    Column("seq", Sequence, primary_key=True, autoincrement=True),  # insertion order (retention)
    Column("prediction_id", String(32), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("route", String(64), nullable=False),  # the route template that answered
    Column("model_name", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("predicted", SmallInteger, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("probabilities", JSON, nullable=False),  # 10 floats, P(digit) for 0..9
    Column("pixels", LargeBinary, nullable=False),  # 784 bytes: the 28x28 uint8 the model saw
    Column("looks_like_digit", Boolean, nullable=True),  # null where the model does not say
    Column("feedback_label", SmallInteger, nullable=True),  # the user's correction, 0..9
    Column("not_a_digit", Boolean, nullable=True),  # true: the user said it is no digit
    Column("feedback_at", DateTime(timezone=True), nullable=True, index=True),
)
