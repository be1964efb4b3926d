"""Server settings, read from the environment and overridden by the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from scimeta.operation_limits import FALSE_WORDS, Limits, seconds_from

DATABASE_URL_VARIABLE = "DATABASE_URL"
DATA_DIR_VARIABLE = "SCIMETA_DATA_DIR"
GRAPHIQL_VARIABLE = "SCIMETA_GRAPHIQL"
# the lab dashboard at /dashboard: 1 on, 0 off, unset on unless in production
DASHBOARD_VARIABLE = "SCIMETA_DASHBOARD"
HOST_VARIABLE = "SCIMETA_HOST"
PRODUCTION_VARIABLE = "SCIMETA_PRODUCTION"
LEASE_SWEEP_VARIABLE = "SCIMETA_LEASE_SWEEP_SECONDS"
COMPILED_READS_VARIABLE = "SCIMETA_COMPILED_READS"
# names besides loopback that requests may address the server by, comma-separated
ALLOWED_HOSTS_VARIABLE = "SCIMETA_ALLOWED_HOSTS"
# origins whose pages may call the server from a browser, comma-separated
CORS_ORIGINS_VARIABLE = "SCIMETA_CORS_ORIGINS"
# a manifest of trusted documents, or a folder of .graphql files to build one from
TRUSTED_DOCUMENTS_VARIABLE = "SCIMETA_TRUSTED_DOCUMENTS"
TRUSTED_DOCUMENTS_ONLY_VARIABLE = "SCIMETA_TRUSTED_DOCUMENTS_ONLY"
# the bearer secret that /metrics asks for (scimeta.server.metrics)
METRICS_TOKEN_VARIABLE = "SCIMETA_METRICS_TOKEN"
# the port `scimeta serve --metrics-port` serves /metrics on instead of the API's
METRICS_PORT_VARIABLE = "SCIMETA_METRICS_PORT"
# permessage-deflate on WebSockets (scimeta.server.websockets): off unless turned on
WS_DEFLATE_VARIABLE = "SCIMETA_WS_DEFLATE"


def default_data_dir() -> Path:
    return platformdirs.user_data_path("scimeta")


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start.

    `database_url` of None means "run an embedded PostgreSQL whose files live in `data_dir`".
    """

    database_url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    graphiql: bool = True
    # the lab dashboard (scimeta.server.dashboard); None: on unless in production
    dashboard: bool | None = None
    # production: no GraphiQL, introspection for admins only, no "did you mean" suggestions
    production: bool = False
    # how often each process looks for runs whose lease ran out; 0 turns the sweep off
    lease_sweep_seconds: float = 5.0
    # how long shutting down waits for requests in flight before cancelling them
    shutdown_timeout_seconds: float = 30.0
    # queries the planner can compile run as one SQL statement that builds their JSON;
    # off, the loader executor answers every operation
    compiled_reads: bool = True
    # host names requests may address the server by besides localhost, 127.0.0.1 and
    # [::1] (scimeta.server.hosts): checked while it runs open, and always once given
    allowed_hosts: tuple[str, ...] = ()
    # origins whose pages may call the server from a browser (scimeta.server.cors)
    cors_origins: tuple[str, ...] = ()
    # the documents known by id: a manifest, or a folder of .graphql files built at start;
    # with `trusted_documents_only`, the only ones callers who are not admins of
    # everything may run (scimeta.server.documents)
    trusted_documents: Path | None = None
    trusted_documents_only: bool = False
    limits: Limits = field(default_factory=Limits)
    # /metrics needs this bearer secret when set; otherwise a caller with a grant on
    # everything (scimeta.server.metrics)
    metrics_token: str | None = field(default=None, repr=False)
    # /metrics is served on this port by `scimeta serve`'s own process, not by the API
    metrics_port: int | None = None
    # WebSocket messages compressed (permessage-deflate) for the clients that offer it
    ws_deflate: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `DATABASE_URL`, `SCIMETA_DATA_DIR`, `SCIMETA_HOST`,
        `SCIMETA_PRODUCTION`, `SCIMETA_GRAPHIQL`, `SCIMETA_DASHBOARD`,
        `SCIMETA_LEASE_SWEEP_SECONDS`, `SCIMETA_COMPILED_READS`, `SCIMETA_ALLOWED_HOSTS`,
        `SCIMETA_CORS_ORIGINS`, `SCIMETA_TRUSTED_DOCUMENTS`, `SCIMETA_TRUSTED_DOCUMENTS_ONLY`,
        `SCIMETA_METRICS_TOKEN`, `SCIMETA_METRICS_PORT`, `SCIMETA_WS_DEFLATE` and the
        `Limits` variables.

        Worker processes started by uvicorn learn the database only through these
        variables, so an empty value counts as unset rather than as a URL.
        """
        env = os.environ if environ is None else environ
        data_dir = env.get(DATA_DIR_VARIABLE)
        graphiql = env.get(GRAPHIQL_VARIABLE)
        sweep = env.get(LEASE_SWEEP_VARIABLE)
        allowed_hosts = env.get(ALLOWED_HOSTS_VARIABLE, "")
        cors_origins = env.get(CORS_ORIGINS_VARIABLE, "")
        trusted_documents = env.get(TRUSTED_DOCUMENTS_VARIABLE)
        production = env.get(PRODUCTION_VARIABLE, "").strip().lower() not in {"", *FALSE_WORDS}
        return cls(
            database_url=env.get(DATABASE_URL_VARIABLE) or None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            host=env.get(HOST_VARIABLE) or cls.host,
            production=production,
            graphiql=not production
            and (graphiql is None or graphiql.strip().lower() not in FALSE_WORDS),
            dashboard=_switch(env.get(DASHBOARD_VARIABLE)),
            lease_sweep_seconds=seconds_from(sweep, LEASE_SWEEP_VARIABLE)
            if sweep
            else cls.lease_sweep_seconds,
            compiled_reads=env.get(COMPILED_READS_VARIABLE, "").strip().lower() not in FALSE_WORDS,
            allowed_hosts=tuple(name.strip() for name in allowed_hosts.split(",") if name.strip()),
            cors_origins=tuple(name.strip() for name in cors_origins.split(",") if name.strip()),
            trusted_documents=Path(trusted_documents).expanduser() if trusted_documents else None,
            trusted_documents_only=env.get(TRUSTED_DOCUMENTS_ONLY_VARIABLE, "").strip().lower()
            not in {"", *FALSE_WORDS},
            limits=Limits.from_env(env),
            metrics_token=env.get(METRICS_TOKEN_VARIABLE) or None,
            metrics_port=_port(env.get(METRICS_PORT_VARIABLE), METRICS_PORT_VARIABLE),
            ws_deflate=bool(_switch(env.get(WS_DEFLATE_VARIABLE))),
        )


def _switch(value: str | None) -> bool | None:
    """On or off as a variable says; None where it is unset or empty."""
    if value is None or not value.strip():
        return None
    return value.strip().lower() not in FALSE_WORDS


def _port(value: str | None, variable: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"{variable} must be a port number, not {value!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"{variable} must be a port number (1 to 65535), not {port}")
    return port
