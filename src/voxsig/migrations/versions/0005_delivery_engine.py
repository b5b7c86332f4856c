"""delivery engine: worker heartbeats and lease owners, per-endpoint caps and backlogs, comeback
recovery

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxsig.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATETIME = voxsig.models.base.UTCDateTime(timezone=True)

# Plain ADD COLUMNs, not batches: on SQLite a batch copies and drops the table, and with foreign
# keys on, dropping `webhooks` would cascade to every delivery.


def _leases_upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", DATETIME, nullable=False),
        sa.Column("heartbeat_at", DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.add_column("deliveries", sa.Column("leased_by", sa.String(length=64), nullable=True))
    op.add_column("deliveries", sa.Column("leased_at", DATETIME, nullable=True))
    # An endpoint's recent successes (its drain rate): appended to, never moved, so it costs
    # the hot path almost nothing (an index on deliveries' status halved the drain rate).
    op.create_index("ix_delivery_attempts_started_at", "delivery_attempts", ["started_at"])


def _drop_columns(table: str, *columns: str) -> None:
    # DROP COLUMN in place (SQLite 3.35+ and PostgreSQL), for the same reason.
    for column in columns:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def _leases_downgrade() -> None:
    op.drop_index("ix_delivery_attempts_started_at", table_name="delivery_attempts")
    _drop_columns("deliveries", "leased_at", "leased_by")
    op.drop_table("workers")


def _endpoints_upgrade() -> None:
    op.add_column("webhooks", sa.Column("max_in_flight", sa.Integer(), nullable=True))
    op.add_column("webhooks", sa.Column("recovery_offer_since", DATETIME, nullable=True))
    op.add_column("webhooks", sa.Column("recovery_offer_at", DATETIME, nullable=True))
    op.add_column(
        "webhooks",
        sa.Column("auto_recover", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def _endpoints_downgrade() -> None:
    _drop_columns(
        "webhooks", "auto_recover", "recovery_offer_at", "recovery_offer_since", "max_in_flight"
    )


def upgrade() -> None:
    _leases_upgrade()
    _endpoints_upgrade()


def downgrade() -> None:
    _endpoints_downgrade()
    _leases_downgrade()
