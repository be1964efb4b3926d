"""The limits an operation runs under: what one request or connection may ask for.

Read from the environment by the server's settings (`scimeta.server.settings`), and
handed to each operation through its context, where the resolvers' checks read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request or connection may ask for. Each is refused with an
    error code of its own; each is set by the environment variable named beside it."""

    # nesting of fields, after fragments are expanded (SCIMETA_MAX_DEPTH)
    max_depth: int = 15
    # aliased fields in one document, after fragments are expanded (SCIMETA_MAX_ALIASES)
    max_aliases: int = 50
    # lexical tokens of one document (SCIMETA_MAX_TOKENS)
    max_tokens: int = 20_000
    # the estimated rows a query may ask for: page sizes (given, or the default 50)
    # multiplied along each path (SCIMETA_MAX_COST). The default admits the deepest
    # documents of the frontends, a job tree three levels deep with files and metrics at
    # default page sizes (about 154 million); lower it where clients give page sizes.
    max_cost: int = 200_000_000
    # `where` inputs nested in each other, each relation, `and`, `or` and `not` a level
    # (SCIMETA_MAX_FILTER_DEPTH), and the values all filters of an operation compare,
    # each item of an `in` list one (SCIMETA_MAX_FILTER_VALUES)
    max_filter_depth: int = 10
    max_filter_values: int = 5_000
    # objects and lists nested in an operation's variables (SCIMETA_MAX_VARIABLE_DEPTH)
    max_variable_depth: int = 64
    # bytes of one HTTP request body (SCIMETA_MAX_BODY_BYTES); bulk writes of 10,000 rows
    # take about 1 MB
    max_body_bytes: int = 16 * 1024 * 1024
    # any one SQL statement (SCIMETA_STATEMENT_TIMEOUT_SECONDS; 0: none)
    statement_timeout_seconds: float = 30.0
    # one operation, from the start of its execution to its answer, Python included
    # (SCIMETA_OPERATION_TIMEOUT_SECONDS; 0: none); a subscription's lifetime is not bound
    operation_timeout_seconds: float = 30.0
    # waiting for a row or advisory lock another transaction holds
    # (SCIMETA_LOCK_TIMEOUT_SECONDS; 0: none); refused with LOCK_TIMEOUT, retryable
    lock_timeout_seconds: float = 10.0
    # a session of the server left idle inside a transaction is ended after this long,
    # releasing its locks (SCIMETA_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS; 0: none)
    idle_in_transaction_timeout_seconds: float = 15.0
    # an operation whose estimated cost reaches this is heavy (SCIMETA_HEAVY_COST): at
    # most SCIMETA_MAX_HEAVY_OPERATIONS of them run at once in a worker process, and the
    # rest wait their turn within their operation timeout, while lighter operations go
    # straight through
    heavy_cost: int = 1_000_000
    max_heavy_operations: int = 2
    # a connection must send a complete request head within this long of opening or of
    # its previous response (SCIMETA_HEAD_TIMEOUT_SECONDS), and each part of a body
    # within this long of the last (SCIMETA_BODY_TIMEOUT_SECONDS)
    head_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    # operations open at once on one WebSocket (SCIMETA_MAX_SUBSCRIPTIONS_PER_SOCKET)
    max_subscriptions_per_socket: int = 100
    # time a WebSocket client has to send connection_init
    # (SCIMETA_CONNECTION_INIT_TIMEOUT_SECONDS)
    connection_init_timeout_seconds: float = 5.0
    # several operations in one HTTP request, as a JSON array (SCIMETA_BATCHING)
    batching: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        values: dict[str, object] = {}
        for limit in fields(cls):
            variable = f"SCIMETA_{limit.name.upper()}"
            text = env.get(variable)
            if not text:
                continue
            if limit.type in ("bool", bool):
                values[limit.name] = text.strip().lower() not in FALSE_WORDS
            elif limit.type in ("float", float):
                values[limit.name] = seconds_from(text, variable)
            else:
                values[limit.name] = count_from(text, variable)
        return cls(**values)  # type: ignore[arg-type]


def seconds_from(value: str, variable: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{variable} must be a number of seconds, not {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{variable} must be 0 or more, not {seconds}")
    return seconds


def count_from(value: str, variable: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{variable} must be a whole number, not {value!r}") from None
    if count < 1:
        raise ValueError(f"{variable} must be 1 or more, not {count}")
    return count
