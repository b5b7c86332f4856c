"""outbound targets: endpoint kinds (account webhook, API-inbox callback), payload formats and
signing schemes per endpoint, the Chatwoot-format body of each event

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 00:00:00.000000
"""

import base64
import json
from collections.abc import Sequence
from secrets import token_bytes

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What an API inbox's callback receives (events.names.INBOX_CALLBACK, as of this revision).
CALLBACK_EVENTS = [
    "conversation_created",
    "conversation_updated",
    "conversation_status_changed",
    "message_created",
    "message_updated",
    "conversation_typing_on",
    "conversation_typing_off",
]
ACCOUNT_KIND = sa.text("kind = 'account'")
INBOX_KIND = sa.text("kind = 'inbox'")


def _unique_indexes() -> None:
    # An account's webhooks have distinct URLs; an inbox has at most one callback, whose URL may
    # be anyone's (several inboxes of one gateway often share it).
    op.create_index(
        "uq_webhooks_account_url",
        "webhooks",
        ["account_id", "url"],
        unique=True,
        sqlite_where=ACCOUNT_KIND,
        postgresql_where=ACCOUNT_KIND,
    )
    op.create_index(
        "uq_webhooks_inbox_callback",
        "webhooks",
        ["inbox_id"],
        unique=True,
        sqlite_where=INBOX_KIND,
        postgresql_where=INBOX_KIND,
    )


def _callbacks_of_existing_inboxes() -> None:
    """An API inbox that already had a webhook_url gets its callback endpoint."""
    connection = op.get_bind()
    inboxes = connection.execute(
        sa.text(
            "SELECT id, account_id, webhook_url FROM inboxes "
            "WHERE channel_type = 'api' AND webhook_url <> ''"
        )
    ).all()
    now = sa.func.now() if connection.dialect.name == "postgresql" else sa.text("CURRENT_TIMESTAMP")
    for inbox_id, account_id, url in inboxes:
        secret = "whsec_" + base64.b64encode(token_bytes(32)).decode()
        connection.execute(
            sa.text(
                "INSERT INTO webhooks (account_id, inbox_id, name, url, subscriptions, secret, "
                "enabled, kind, payload_format, signing, auto_recover, created_at, updated_at) "
                "VALUES (:account, :inbox, '', :url, :subs, :secret, :yes, 'inbox', 'chatwoot', "
                "'symmetric', :no, :now, :now)"
            ),
            {
                "account": account_id,
                "inbox": inbox_id,
                "url": url,
                "subs": json.dumps(CALLBACK_EVENTS),
                "secret": secret,
                "yes": True,
                "no": False,
                "now": connection.execute(sa.select(now)).scalar_one(),
            },
        )


def upgrade() -> None:
    for column, default in (
        ("kind", "account"),
        ("payload_format", "voxsig"),
        ("signing", "symmetric"),
    ):
        op.add_column(
            "webhooks",
            sa.Column(column, sa.String(length=16), server_default=default, nullable=False),
        )
    # On SQLite this batch rebuilds `webhooks`: env.py runs migrations with foreign keys off, so
    # dropping the old table cascades to no delivery.
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_constraint("uq_webhooks_account_id_url", type_="unique")
    _unique_indexes()
    op.add_column("events", sa.Column("chatwoot_body", sa.Text(), nullable=True))
    op.add_column(
        "deliveries",
        sa.Column("payload_format", sa.String(length=16), server_default="voxsig", nullable=False),
    )
    _callbacks_of_existing_inboxes()


def downgrade() -> None:
    op.execute("DELETE FROM webhooks WHERE kind <> 'account'")
    op.execute("ALTER TABLE deliveries DROP COLUMN payload_format")
    op.execute("ALTER TABLE events DROP COLUMN chatwoot_body")
    op.drop_index("uq_webhooks_inbox_callback", table_name="webhooks")
    op.drop_index("uq_webhooks_account_url", table_name="webhooks")
    with op.batch_alter_table("webhooks") as batch:
        batch.create_unique_constraint("uq_webhooks_account_id_url", ["account_id", "url"])
    for column in ("signing", "payload_format", "kind"):
        op.execute(f"ALTER TABLE webhooks DROP COLUMN {column}")
