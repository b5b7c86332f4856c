"""security: revocable dashboard sessions, account invitations, verified identities

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import voxsig.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# One section a concern, so each can be read (and reverted) on its own.


def _sessions_upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", voxsig.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", voxsig.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxsig.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_dashboard_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_dashboard_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_dashboard_sessions_token_digest")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_sessions_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_dashboard_sessions_account_id"), ["account_id"], unique=False
        )


def _sessions_downgrade() -> None:
    op.drop_table("dashboard_sessions")


def _invitations_upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", voxsig.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", voxsig.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_invitations_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_invitations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint(
            "account_id", "user_id", name=op.f("uq_invitations_account_id_user_id")
        ),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitations_user_id"), ["user_id"], unique=False)


def _invitations_downgrade() -> None:
    op.drop_table("invitations")


def _identities_upgrade() -> None:
    # A plain ADD COLUMN, not a batch: on SQLite a batch copies and drops `contacts`, and with
    # foreign keys on, the drop cascades to every contact_inbox, conversation and message.
    op.add_column(
        "contacts", sa.Column("anonymous", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    # Existing widget visitors nobody verified are anonymous; contacts agents made (even if
    # linked to an API inbox) and verified customers stay as they were.
    contacts = sa.table("contacts", sa.column("id"), sa.column("anonymous", sa.Boolean()))
    links = sa.table(
        "contact_inboxes",
        sa.column("contact_id"),
        sa.column("inbox_id"),
        sa.column("hmac_verified", sa.Boolean()),
    )
    inboxes = sa.table("inboxes", sa.column("id"), sa.column("channel_type"))
    in_widget = (
        sa.select(links.c.contact_id)
        .join(inboxes, inboxes.c.id == links.c.inbox_id)
        .where(inboxes.c.channel_type == "Channel::WebWidget")
    )
    verified = sa.select(links.c.contact_id).where(links.c.hmac_verified.is_(sa.true()))
    op.execute(
        contacts.update()
        .where(contacts.c.id.in_(in_widget), contacts.c.id.not_in(verified))
        .values(anonymous=sa.true())
    )


def _identities_downgrade() -> None:
    # DROP COLUMN in place (SQLite 3.35+ and PostgreSQL), for the same reason.
    op.execute("ALTER TABLE contacts DROP COLUMN anonymous")


def upgrade() -> None:
    _sessions_upgrade()
    _invitations_upgrade()
    _identities_upgrade()


def downgrade() -> None:
    _identities_downgrade()
    _invitations_downgrade()
    _sessions_downgrade()
