"""The ASGI application: GraphQL at /graphql, liveness at /healthz, readiness at /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from scimeta.faults import READ_ONLY, WriteHealth
from scimeta.live.hub import Hub
from scimeta.live.sweeper import LeaseSweeper
from scimeta.liveness import liveness_of
from scimeta.resolvers.admission import Turns
from scimeta.resolvers.schema import schema
from scimeta.server import metrics, observe
from scimeta.server.authn import access_notice
from scimeta.server.cors import CorsMiddleware
from scimeta.server.dashboard import dashboard_enabled, dashboard_routes, with_dashboard_documents
from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.server.graphiql import graphiql_assets_route, graphiql_enabled
from scimeta.server.hosts import HostCheck
from scimeta.server.http import GraphQLView, sessionmaker_of
from scimeta.server.migrate import current_revision, head_revision
from scimeta.server.settings import Settings
from scimeta.server.timeouts import BodyTimeoutMiddleware
from scimeta.server.tracing import Tracing
from scimeta.server.tracing import from_env as tracing_from_env

logger = logging.getLogger(__name__)

# a load balancer polls /readyz; an answer after this long is as good as none
READINESS_TIMEOUT_SECONDS = 5.0


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers, can take writes, and its schema is at the newest
    migration. Writes are not possible on a read-only server or standby, and are taken
    to fail while this process's last writes failed for a full disk or a read-only
    database (`WriteHealth`): a database that answers reads may still refuse every
    write."""
    async with sessionmaker_of(request)() as session:
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                connection = await session.connection()
                read_only = await connection.scalar(
                    text(
                        "SELECT pg_is_in_recovery() "
                        "OR current_setting('transaction_read_only') = 'on'"
                    )
                )
                current = await connection.run_sync(current_revision)
        # whatever went wrong, the answer is "not ready"; the details go to the log only
        except Exception as exc:
            logger.warning("readiness check: database unavailable", exc_info=True)
            return _not_ready("database", f"database unavailable ({type(exc).__name__})")
    if read_only:
        return _not_ready("writes", f"database accepts no writes: {WriteHealth.explain(READ_ONLY)}")
    health = getattr(request.app.state, "write_health", None)
    failing = health.failing() if isinstance(health, WriteHealth) else None
    if failing is not None:
        return _not_ready("writes", f"database accepts no writes: {WriteHealth.explain(failing)}")
    head = head_revision()
    if current is None or current != head:
        return _not_ready(
            "migrations",
            f"database schema is at revision {current or 'none'}, expected {head}; "
            "run `scimeta db upgrade`",
        )
    return JSONResponse({"status": "ready"})


def _not_ready(check: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", "failed_check": check, "detail": detail}, status_code=503
    )


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    tracer_provider: Any = None,
) -> Starlette:
    """Build the application.

    With `sessionmaker` the caller owns the database and the application uses it as is;
    without, the application opens an engine on `settings.database_url` at startup and
    disposes of it at shutdown. Its lifespan also starts the process's event listener,
    which subscriptions need, and its lease sweeper.

    With `tracer_provider` (an OpenTelemetry SDK provider) it records spans there;
    without, as the environment asks (`scimeta.server.tracing`).
    """
    settings = settings or Settings.from_env()
    tracing = Tracing(tracer_provider) if tracer_provider is not None else tracing_from_env()
    observe.use_tracing(tracing)
    graphql = GraphQLView(schema, settings)
    routes = [
        Route("/graphql", graphql),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if settings.metrics_port is None:
        # otherwise `scimeta serve` serves them on their own port (scimeta.server.exposition)
        routes.append(Route("/metrics", metrics.metrics_endpoint))
    if graphiql_enabled(settings):
        # the GraphiQL page's scripts and styles (scimeta.server.graphiql)
        routes.append(graphiql_assets_route())
    if dashboard_enabled(settings):
        # the lab dashboard, which sends the ids of its documents (scimeta.server.dashboard)
        routes.extend(dashboard_routes(graphiql=graphiql_enabled(settings)))
        graphql.documents = with_dashboard_documents(graphql.documents)
    if sessionmaker is None and settings.database_url is None:
        raise ValueError(
            "no database: set DATABASE_URL, or start the server with `scimeta serve`, "
            "which provides one"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if sessionmaker is None:
                assert settings.database_url is not None
                engine = create_engine(
                    settings.database_url,
                    statement_timeout_seconds=settings.limits.statement_timeout_seconds,
                    lock_timeout_seconds=settings.limits.lock_timeout_seconds,
                    idle_in_transaction_timeout_seconds=(
                        settings.limits.idle_in_transaction_timeout_seconds
                    ),
                )
                stack.push_async_callback(engine.dispose)
                app.state.sessionmaker = create_sessionmaker(engine)
            else:
                app.state.sessionmaker = sessionmaker
            observe.instrument(app.state.sessionmaker)
            bind = app.state.sessionmaker.kw.get("bind")
            if tracing is not None and bind is not None:
                tracing.instrument_engine(bind)
            metrics.mark_started()
            stack.callback(metrics.mark_stopped)
            decision = await graphql.authenticator.start(app.state.sessionmaker, settings.host)
            logger.info(access_notice(decision, settings.allowed_hosts))
            hub = Hub(listener_connect_args(app.state.sessionmaker))
            hub.token_listeners.append(graphql.authenticator.tokens_changed)
            liveness = liveness_of(app.state.sessionmaker.kw.get("bind"))
            if liveness is not None:
                hub.lost_listeners.append(liveness.lost)
            graphql.authenticator.listening = hub.connected.is_set
            # stopped also if starting is cancelled (the database may be down meanwhile)
            stack.push_async_callback(hub.stop)
            await hub.start()
            app.state.hub = hub
            if settings.lease_sweep_seconds > 0:
                sweeper = LeaseSweeper(app.state.sessionmaker, settings.lease_sweep_seconds)
                sweeper.start()
                stack.push_async_callback(sweeper.stop)
            # what exists now (modules, the schema, the ORM's mappers) lives as long as the
            # process: out of the collector's sight, a full collection costs what requests
            # and subscriptions hold, not also the whole program
            gc.freeze()
            yield

    # a page of another site must not reach a server that runs open (scimeta.server.hosts)
    host_check = Middleware(
        HostCheck,
        authenticator=graphql.authenticator,
        allowed_hosts=settings.allowed_hosts,
        cors_origins=settings.cors_origins,
    )
    # pages of the --cors-origin origins may call it from a browser; WebSockets of other
    # pages are refused (scimeta.server.cors)
    cors = Middleware(CorsMiddleware, origins=settings.cors_origins)
    # a client that stalls in the middle of a body is answered 408 and let go
    # (scimeta.server.timeouts; the request head's own deadline is uvicorn's protocol's)
    body_timeout = Middleware(BodyTimeoutMiddleware, seconds=settings.limits.body_timeout_seconds)
    # request ids, the request's log line and metrics (scimeta.server.observe); outermost,
    # so that refused requests have them too, inside the server span when tracing
    observer = Middleware(observe.RequestObserver, tracing=tracing)
    outer = [observer] if tracing is None else [tracing.middleware(), observer]
    app = Starlette(
        routes=routes, middleware=[*outer, host_check, cors, body_timeout], lifespan=lifespan
    )
    # what the operations' checks read from the application (the limits reach them
    # through their context: `scimeta.operation.Context.limits`)
    app.state.production = settings.production
    app.state.compiled_reads = settings.compiled_reads
    app.state.turns = Turns(settings.limits)
    app.state.write_health = WriteHealth()
    app.state.authenticator = graphql.authenticator
    app.state.metrics_token = settings.metrics_token
    if sessionmaker is not None:
        observe.instrument(sessionmaker)
        # also usable without its lifespan (an in-process test client), minus subscriptions
        app.state.sessionmaker = sessionmaker
    return app


def listener_connect_args(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """asyncpg's arguments for the sessions' database (as the engine's dialect makes them,
    with `ssl` and Unix sockets), for the listener's own connection."""
    engine = sessionmaker.kw["bind"]
    _, arguments = engine.dialect.create_connect_args(engine.url)
    return dict(arguments)


def app_from_env() -> Starlette:
    """Application factory for uvicorn worker processes, which learn everything from the
    environment the command line prepared."""
    return create_app(Settings.from_env())
