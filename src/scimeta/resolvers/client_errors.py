"""The client errors behind errors of an operation: what the client can change (a smaller
document, a shorter query, another value) is answered with that error's code and
message, not as a failure of the server.
"""

from __future__ import annotations

import re

from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy.exc import DBAPIError

from scimeta.errors import ClientError, QueryTimeout, TooManyTokens
from scimeta.faults import database_fault
from scimeta.operation_limits import Limits
from scimeta.writes.database_errors import (
    client_error,
    is_aborted_transaction,
    is_statement_timeout,
)

# What graphql-core's parser says when it stops at its token or comment limit.
_PARSER_LIMIT = re.compile(r"Document contains more than \d+ (?P<what>tokens|comments)\.")


def client_errors_behind(errors: list[GraphQLError], limits: Limits) -> list[ClientError | None]:
    """For each error, the client error it stands for, if any: the parser stopping at the
    token limit, a statement cancelled by the statement timeout, or a value the database
    refused. A statement refused because an earlier one failed stands for what the
    earlier one does (the statements of an operation share one transaction)."""
    found = [_client_error_behind(error, limits) for error in errors]
    cause = next(
        (
            client
            for error, client in zip(errors, found, strict=True)
            if client is not None and isinstance(error.original_error, DBAPIError)
        ),
        None,
    )
    return [
        cause
        if client is None
        and isinstance(error.original_error, DBAPIError)
        and is_aborted_transaction(error.original_error)
        else client
        for error, client in zip(errors, found, strict=True)
    ]


def _client_error_behind(error: GraphQLError, limits: Limits) -> ClientError | None:
    if isinstance(error, GraphQLSyntaxError):
        match = _PARSER_LIMIT.search(error.message)
        if match is None:
            return None
        return TooManyTokens(
            f"The document has more than {limits.max_tokens} {match['what']}, the limit. "
            "Send a smaller document, or split it in several.",
            limit=limits.max_tokens,
        )
    original = error.original_error
    if original is None:
        return None
    # the database's state, not the request: retry later (checked first, since a
    # connection that broke mid-statement also leaves an aborted transaction behind)
    fault = database_fault(original)
    if fault is not None:
        return fault
    if not isinstance(original, DBAPIError):
        return None
    if is_statement_timeout(original):
        seconds = f"{limits.statement_timeout_seconds:g}"
        return QueryTimeout(
            f"The query ran longer than {seconds} s; ask for less (smaller pages, fewer "
            "nested lists, a narrower where).",
            seconds=limits.statement_timeout_seconds,
        )
    return client_error(original)
