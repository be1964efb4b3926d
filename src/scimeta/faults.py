"""Faults that are the database's state, not the request's: it is down or restarting, out
of connections or disk, or read-only. A client cannot fix these and should not report
them as bugs; it should try again in a moment. `database_fault` recognises them in any
exception the drivers raise, and `WriteHealth` remembers that writes are failing so that
readiness can say so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from scimeta.errors import LockTimeout, ServiceUnavailable

LOCK_NOT_AVAILABLE = "55P03"

# reason codes of SERVICE_UNAVAILABLE, each with what the client is told
UNREACHABLE = "DATABASE_UNREACHABLE"
RESTARTING = "DATABASE_RESTARTING"
TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
DISK_FULL = "DISK_FULL"
OUT_OF_RESOURCES = "OUT_OF_RESOURCES"
READ_ONLY = "READ_ONLY"
BUSY = "BUSY"

_EXPLANATIONS = {
    UNREACHABLE: "the database cannot be reached",
    RESTARTING: "the database is restarting or shutting down",
    TOO_MANY_CONNECTIONS: "the database has no free connections",
    DISK_FULL: "the database's disk is full",
    OUT_OF_RESOURCES: "the database is out of memory or another resource",
    READ_ONLY: "the database accepts no writes (it is read-only or a standby)",
    BUSY: "the server's connections to the database are all in use",
}

# SQLSTATEs of a database that cannot serve now, by the reason they stand for
_SQLSTATES = {
    "53100": DISK_FULL,
    "53200": OUT_OF_RESOURCES,
    "53300": TOO_MANY_CONNECTIONS,
    "53400": OUT_OF_RESOURCES,
    "25006": READ_ONLY,
    # terminated by an administrator (a restart), by a crash of another backend, and
    # "the database system is starting up / shutting down / in recovery"
    "57P01": RESTARTING,
    "57P02": RESTARTING,
    "57P03": RESTARTING,
}
# reasons that say the database cannot take writes (while reads may still work)
WRITE_REASONS = frozenset({DISK_FULL, READ_ONLY})

# A client that is told to retry waits this long first (HTTP Retry-After).
RETRY_AFTER_SECONDS = 1


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what caused it: SQLAlchemy's wrapper, its DBAPI adapter's error and the
    driver's exception, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending += [
            current.__context__,
            current.__cause__,
            orig if isinstance(orig, BaseException) else None,
        ]


def _reason(exc: BaseException) -> str | None:
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _SQLSTATES:
            return _SQLSTATES[sqlstate]
        if sqlstate.startswith("08"):  # connection exception
            return UNREACHABLE
    if isinstance(exc, PoolTimeoutError):
        return BUSY
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return UNREACHABLE
    if isinstance(
        exc,
        DisconnectionError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.exceptions._base.InternalClientError,
    ):
        # the last: asyncpg's protocol in a state a broken connection leaves it in
        return UNREACHABLE
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return UNREACHABLE
    # refused, reset, no such socket, a name that does not resolve, a connect timeout
    if isinstance(exc, OSError):
        return UNREACHABLE
    return None


def database_fault(exc: BaseException) -> ServiceUnavailable | LockTimeout | None:
    """The retryable error `exc` stands for, or None if it is no fault of the database's
    state."""
    for cause in _chain(exc):
        if getattr(cause, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return LockTimeout(
                "A row or lock this operation needs was held by another transaction for "
                "longer than the server waits (lock_timeout); nothing was changed. Retry "
                "in a moment.",
                retryable=True,
            )
        reason = _reason(cause)
        if reason is not None:
            return unavailable(reason)
    return None


def unavailable(reason: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Service unavailable: {_EXPLANATIONS[reason]}. Nothing was changed by the "
        f"failed part; retry in {RETRY_AFTER_SECONDS} s or more.",
        reason=reason,
        retryable=True,
    )


def is_retryable(error: Any) -> bool:
    """Whether a formatted GraphQL error (a dict) tells the client to retry."""
    extensions = error.get("extensions") if isinstance(error, dict) else None
    return bool(extensions and extensions.get("retryable") is True)


@dataclass
class WriteHealth:
    """Whether this process's writes fail for the database's state (a full disk, a
    read-only server): a database that answers every read may still take no write, and
    a load balancer should then send writes elsewhere. A failure is remembered until a
    write succeeds or `hold_seconds` pass (then a readiness check tries again)."""

    hold_seconds: float = 30.0
    _failed_at: float | None = None
    reason: str | None = None

    def failed(self, reason: str) -> None:
        self._failed_at = time.monotonic()
        self.reason = reason

    def succeeded(self) -> None:
        self._failed_at = None
        self.reason = None

    def failing(self) -> str | None:
        """The reason writes are failing, or None."""
        if self._failed_at is None:
            return None
        if time.monotonic() - self._failed_at > self.hold_seconds:
            self.succeeded()
            return None
        return self.reason

    @staticmethod
    def explain(reason: str) -> str:
        return _EXPLANATIONS[reason]
