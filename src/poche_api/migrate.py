"""Alembic, driven from code: ``poche-api db upgrade`` and the embedded default's start."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

_PACKAGED = Path(__file__).parent / "_migrations"
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "migrations"


def migrations_dir() -> Path:
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE_TREE


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    # env.py runs its own event loop; give it a thread.
    await asyncio.to_thread(upgrade, database_url, revision)
