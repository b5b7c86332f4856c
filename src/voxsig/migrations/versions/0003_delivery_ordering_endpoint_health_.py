"""delivery ordering, endpoint health, secret rotation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:33:24.084362
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxsig.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ordering_key", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_deliveries_ordering", ["webhook_id", "ordering_key", "status", "id"], unique=False
        )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled_at", voxsig.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("failing_since", voxsig.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("previous_secret", sa.String(length=128), nullable=True))
        batch_op.add_column(
            sa.Column(
                "previous_secret_expires_at",
                voxsig.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("disabled_at")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("conversation_id")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_ordering")
        batch_op.drop_column("ordering_key")
