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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `DATABASE_URL`, `SCIMETA_DATA_DIR` and `SCIMETA_GRAPHIQL`.

        Worker processes started by uvicorn learn the database only through these
        variables, so an empty value counts as unset rather than as a URL.
        """
        env = os.environ if environ is None else environ
        data_dir = env.get(DATA_DIR_VARIABLE)
        graphiql = env.get(GRAPHIQL_VARIABLE)
        return cls(
            database_url=env.get(DATABASE_URL_VARIABLE) or None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            graphiql=graphiql is None or graphiql.strip().lower() not in _FALSE_WORDS,
        )
