"""agent bots: the bots, the inbox each answers first, bot senders of messages, and bot
endpoints in `webhooks`

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from voxsig.models.base import JSONType, UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bot_reference(table: str, ondelete: str, *, unique: bool = False) -> None:
    """`agent_bot_id` on `table`. A batch, so that SQLite gets a real foreign key (env.py runs
    migrations with foreign keys off: the rebuild cascades to nothing)."""
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("agent_bot_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            f"fk_{table}_agent_bot_id_agent_bots",
            "agent_bots",
            ["agent_bot_id"],
            ["id"],
            ondelete=ondelete,
        )
        if unique:
            batch.create_unique_constraint(f"uq_{table}_agent_bot_id", ["agent_bot_id"])
        else:
            batch.create_index(f"ix_{table}_agent_bot_id", ["agent_bot_id"])


def upgrade() -> None:
    op.create_table(
        "agent_bots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("avatar_url", sa.String(length=2048), nullable=False),
        sa.Column("bot_type", sa.String(length=16), nullable=False),
        sa.Column("bot_config", JSONType, nullable=False),
        sa.Column("access_token", sa.String(length=128), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_agent_bots_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agent_bots"),
        sa.UniqueConstraint("token_digest", name="uq_agent_bots_token_digest"),
    )
    op.create_index("ix_agent_bots_account_id", "agent_bots", ["account_id"])
    _bot_reference("inboxes", "SET NULL")
    _bot_reference("webhooks", "CASCADE", unique=True)
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("sender_agent_bot_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_sender_agent_bot_id_agent_bots",
            "agent_bots",
            ["sender_agent_bot_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    op.execute("DELETE FROM webhooks WHERE kind = 'agent_bot'")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("fk_messages_sender_agent_bot_id_agent_bots", type_="foreignkey")
        batch.drop_column("sender_agent_bot_id")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_constraint("uq_webhooks_agent_bot_id", type_="unique")
        batch.drop_constraint("fk_webhooks_agent_bot_id_agent_bots", type_="foreignkey")
        batch.drop_column("agent_bot_id")
    with op.batch_alter_table("inboxes") as batch:
        batch.drop_index("ix_inboxes_agent_bot_id")
        batch.drop_constraint("fk_inboxes_agent_bot_id_agent_bots", type_="foreignkey")
        batch.drop_column("agent_bot_id")
    op.drop_index("ix_agent_bots_account_id", table_name="agent_bots")
    op.drop_table("agent_bots")
