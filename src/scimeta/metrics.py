"""The Prometheus metrics every part of the server counts: requests and their SQL, the
pool, subscriptions and the listener, claims and lease expiries, rows transferred, and
the live worker processes. How they are kept and exposed is `scimeta.server.metrics`.

Labels are bounded: operation names are the client's, so a process labels at most
`MAX_OPERATION_NAMES` distinct names and counts the rest as `(other)`; error codes are
the server's.
"""

from __future__ import annotations

import re
import threading

from prometheus_client import Counter, Gauge, Histogram

MAX_OPERATION_NAMES = 200
ANONYMOUS = "(anonymous)"
OTHER = "(other)"
NO_CODE = "none"
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

# seconds: from a cached compiled read (about a millisecond) to the operation timeout
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

REQUESTS = Counter(
    "scimeta_requests",
    "GraphQL requests over HTTP, by operation name and type, HTTP status and the code of "
    "their first error (none: no error).",
    ["operation", "type", "status", "code"],
)
REQUEST_SECONDS = Histogram(
    "scimeta_request_duration_seconds",
    "Time from a GraphQL request's arrival to its last byte, by operation.",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)
SQL_STATEMENTS = Counter(
    "scimeta_sql_statements",
    "SQL statements sent, by the operation that sent them (type background: the listener's "
    "and the lease sweeper's own; websocket: operations over WebSockets).",
    ["operation", "type"],
)
SQL_SECONDS = Counter(
    "scimeta_sql_seconds",
    "Time spent waiting for SQL statements, by the operation that sent them.",
    ["operation", "type"],
)
POOL_IN_USE = Gauge(
    "scimeta_db_pool_connections_in_use",
    "Database connections checked out of the pools.",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "scimeta_db_pool_waiting",
    "Operations waiting for a connection from the pool (or for a new one to open).",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS_OPEN = Gauge(
    "scimeta_subscriptions_open",
    "Subscriptions open.",
    multiprocess_mode="livesum",
)
SUBSCRIPTION_MESSAGES = Counter(
    "scimeta_subscription_messages",
    "Results sent over WebSockets (`next` messages).",
)
LISTENER_CONNECTED = Gauge(
    "scimeta_listener_connected",
    "Processes whose event listener is connected and listening.",
    multiprocess_mode="livesum",
)
LISTENER_RECONNECTS = Counter(
    "scimeta_listener_reconnects",
    "Times an event listener lost or could not open its connection and tried again.",
)
LISTENER_LAG = Gauge(
    "scimeta_listener_lag_events",
    "Events committed and announced that a process's listener has not read yet (the "
    "largest over processes).",
    multiprocess_mode="livemax",
)
CLAIMS = Counter(
    "scimeta_claims",
    "claimRun calls, by outcome: claimed (a run was leased) or empty (none to claim).",
    ["outcome"],
)
LEASE_EXPIRIES = Counter(
    "scimeta_lease_expiries",
    "Expired leases ended by the lease sweeper (and by claims taking a run over, where "
    "claims run in steps: SCIMETA_CLAIMS_IN_STEPS=1).",
)
ROWS_TRANSFERRED = Counter(
    "scimeta_transferred_rows",
    "Rows imported or exported, by direction (import, export) and what they are.",
    ["direction", "what"],
)
WORKER = Gauge(
    "scimeta_worker_up",
    "1 for each live server process, labelled by its pid.",
    multiprocess_mode="liveall",
)


def count_imported(what: str, rows: int) -> None:
    """Count `rows` rows of `what` (a table or kind, from a fixed set) imported."""
    ROWS_TRANSFERRED.labels("import", what).inc(rows)


def count_exported(what: str, rows: int) -> None:
    """Count `rows` rows of `what` (a table or kind, from a fixed set) exported."""
    ROWS_TRANSFERRED.labels("export", what).inc(rows)


class OperationNames:
    """The label of an operation name: the name itself for the first
    `MAX_OPERATION_NAMES` distinct names of the process, `(other)` after them, so that
    clients cannot grow the metrics without bound."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._seen:
            return name
        if not _NAME.fullmatch(name):
            return OTHER
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(name)
        return name


operation_names = OperationNames()


def code_label(code: str | None) -> str:
    if code is None:
        return NO_CODE
    return code if _CODE.fullmatch(code) else OTHER
