"""Schema migrations through alembic, configured in code rather than by an alembic.ini."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from scimeta.server.database import to_async_url

SCRIPT_LOCATION = "scimeta:migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(url: str | None = None) -> Config:
    """An alembic `Config` for scimeta's migrations, optionally pointed at a database."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        # alembic stores options in a ConfigParser, which reads "%" as interpolation;
        # percent-encoded passwords must survive it
        config.set_main_option("sqlalchemy.url", to_async_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`. Runs its own event loop."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision`. Runs its own event loop."""
    command.downgrade(alembic_config(url), revision)


def run_upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate up on a connection the caller owns.

    Inside a transaction the caller began, the migration is part of it (and is undone by its
    rollback); on a connection with no transaction begun, alembic commits its own.
    """
    command.upgrade(_config_for(connection), revision)


def run_downgrade(connection: Connection, revision: str) -> None:
    """Migrate down on a connection the caller owns; transactions as in `run_upgrade`."""
    command.downgrade(_config_for(connection), revision)


# the scripts ship with the code, so the head cannot change while a process runs
@functools.cache
def head_revision() -> str | None:
    """The newest revision among the migration scripts; None when there are none."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None when it was never migrated.

    Read directly rather than through alembic's MigrationContext, which logs two lines each
    time it is set up: too many for a readiness probe polled every few seconds.
    """
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    revisions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    heads = list(revisions)
    if len(heads) > 1:
        raise RuntimeError(f"the database has several migration heads: {', '.join(heads)}")
    return heads[0] if heads else None


def _config_for(connection: Connection) -> Config:
    config = alembic_config()
    config.attributes["connection"] = connection
    return config
