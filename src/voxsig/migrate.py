"""Applying Alembic migrations from the package, so `voxsig migrate` works wherever installed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str) -> None:
    """Brings the database to the newest schema; safe to run on every start."""
    command.upgrade(alembic_config(database_url), "head")
