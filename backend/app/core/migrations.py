"""Run Alembic migrations from code (`orca migrate`, `orca up`, the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def _find_alembic_ini() -> Path:
    here = Path(__file__).resolve()
    # The source tree's own file first (never another project's in the working directory); an
    # installed package (the container image) falls back to the working directory.
    for candidate in (here.parents[3] / "alembic.ini", Path.cwd() / "alembic.ini"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "alembic.ini not found: run Orca from its source directory (the one with alembic/)"
    )


def alembic_config(database_url: str) -> Config:
    config = Config(str(_find_alembic_ini()))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
