"""security: revocable dashboard sessions, account invitations, verified identities

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401  (used by the sections below)
from alembic import op  # noqa: F401

import voxsig.models.base  # noqa: F401

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# One section a concern, so each can be read (and reverted) on its own.


def _sessions_upgrade() -> None:
    pass


def _sessions_downgrade() -> None:
    pass


def _invitations_upgrade() -> None:
    pass


def _invitations_downgrade() -> None:
    pass


def _identities_upgrade() -> None:
    pass


def _identities_downgrade() -> None:
    pass


def upgrade() -> None:
    _sessions_upgrade()
    _invitations_upgrade()
    _identities_upgrade()


def downgrade() -> None:
    _identities_downgrade()
    _invitations_downgrade()
    _sessions_downgrade()
