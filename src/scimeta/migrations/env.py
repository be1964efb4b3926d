"""Alembic environment: runs migrations on a connection it is handed, or on its own engine.

`scimeta.server.migrate` configures alembic in code, so there is no alembic.ini: a caller
either puts a synchronous `Connection` in `config.attributes["connection"]` (tests do, to
migrate inside a transaction they roll back) or sets `sqlalchemy.url`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from scimeta.models import Base
from scimeta.server.database import create_engine

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_own_engine(url: str) -> None:
    # a migration may rewrite a large table: no statement timeout
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("scimeta migrations run against a database; --sql is not supported")
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic was given neither a connection nor sqlalchemy.url")
    asyncio.run(run_on_own_engine(url))


run()
