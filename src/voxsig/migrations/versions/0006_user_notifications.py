"""user notifications: each user's choice of browser notifications and sound in the dashboard

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ADD COLUMNs, not batches: on SQLite a batch copies and drops the table, and with foreign
# keys on, dropping `users` would cascade to memberships, tokens and sessions.
COLUMNS = ("notify_browser", "notify_sound")


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column(
            "users", sa.Column(column, sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+ and PostgreSQL), for the same reason.
    for column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE users DROP COLUMN {column}")
