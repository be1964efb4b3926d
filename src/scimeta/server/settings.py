"""Server settings, read from the environment and overridden by the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DATABASE_URL_VARIABLE = "DATABASE_URL"
DATA_DIR_VARIABLE = "SCIMETA_DATA_DIR"
GRAPHIQL_VARIABLE = "SCIMETA_GRAPHIQL"
LEASE_SWEEP_VARIABLE = "SCIMETA_LEASE_SWEEP_SECONDS"

_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


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
    # how often each process looks for runs whose lease ran out; 0 turns the sweep off
    lease_sweep_seconds: float = 5.0
    # how long shutting down waits for requests in flight before cancelling them
    shutdown_timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `DATABASE_URL`, `SCIMETA_DATA_DIR`, `SCIMETA_GRAPHIQL` and
        `SCIMETA_LEASE_SWEEP_SECONDS`.

        Worker processes started by uvicorn learn the database only through these
        variables, so an empty value counts as unset rather than as a URL.
        """
        env = os.environ if environ is None else environ
        data_dir = env.get(DATA_DIR_VARIABLE)
        graphiql = env.get(GRAPHIQL_VARIABLE)
        sweep = env.get(LEASE_SWEEP_VARIABLE)
        return cls(
            database_url=env.get(DATABASE_URL_VARIABLE) or None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            graphiql=graphiql is None or graphiql.strip().lower() not in _FALSE_WORDS,
            lease_sweep_seconds=_seconds(sweep, LEASE_SWEEP_VARIABLE)
            if sweep
            else cls.lease_sweep_seconds,
        )


def _seconds(value: str, variable: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{variable} must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{variable} must be 0 or more, not {seconds}")
    return seconds
