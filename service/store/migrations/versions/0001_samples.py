"""samples: one row per stored prediction, with the user's correction

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "samples",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("prediction_id", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("predicted", sa.SmallInteger(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=False),
        sa.Column("pixels", sa.LargeBinary(), nullable=False),
        sa.Column("looks_like_digit", sa.Boolean(), nullable=True),
        sa.Column("feedback_label", sa.SmallInteger(), nullable=True),
        sa.Column("not_a_digit", sa.Boolean(), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_samples_created_at", "samples", ["created_at"])
    op.create_index("ix_samples_feedback_at", "samples", ["feedback_at"])


def downgrade() -> None:
    op.drop_index("ix_samples_feedback_at", "samples")
    op.drop_index("ix_samples_created_at", "samples")
    op.drop_table("samples")
