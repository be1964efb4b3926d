"""Errors a client can act on, each with a stable `extensions.code`.

Errors raised by resolvers carry their code. Errors raised by GraphQL itself (a syntax
error, a document that does not match the schema, a variable of the wrong type) get one
in `add_code`, so that every error a client sees has a code to branch on.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from graphql import GraphQLError
from strawberry.relay.types import GlobalIDValueError

logger = logging.getLogger("scimeta.errors")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL_SERVER_ERROR"


class ClientError(GraphQLError):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **details})


class BadUserInput(ClientError):
    code = "BAD_USER_INPUT"


class NotFound(ClientError):
    code = "NOT_FOUND"


class Conflict(ClientError):
    """The request is well-formed but clashes with the data as it is now. `reason` says
    how, so that a client can branch on it:

    - ALREADY_EXISTS: a unique name or key is taken;
    - ILLEGAL_TRANSITION: the status (or phase, or audit status) cannot move that way;
    - STALE_VERSION: the row changed since the client read the version it passed;
    - IDEMPOTENCY_KEY_REUSED: the key was used before for a different call;
    - HAS_DEPENDENTS: a delete would orphan recorded results;
    - STALE_LEASE: a worker's lease on a run expired, was released or was ended.
    """

    code = "CONFLICT"

    def __init__(self, message: str, *, reason: str, **details: Any) -> None:
        super().__init__(message, reason=reason, **details)


class QueryTimeout(ClientError):
    """A statement of the operation ran longer than the server's statement timeout."""

    code = "QUERY_TIMEOUT"


class ServiceUnavailable(ClientError):
    """The database cannot serve the request now (down, restarting, out of connections or
    disk, read-only), or the server is too busy to start it in time. Nothing the client
    sent is wrong: `extensions.retryable` is true and `reason` says why
    (`scimeta.faults`)."""

    code = "SERVICE_UNAVAILABLE"


class LockTimeout(ClientError):
    """A lock the operation needed was held by another transaction past `lock_timeout`;
    the operation changed nothing and may be retried."""

    code = "LOCK_TIMEOUT"


class OperationRefused(ClientError):
    """An operation over one of the server's limits, refused before anything ran."""


class QueryTooDeep(OperationRefused):
    code = "QUERY_TOO_DEEP"


class TooManyAliases(OperationRefused):
    code = "TOO_MANY_ALIASES"


class TooManyTokens(OperationRefused):
    code = "TOO_MANY_TOKENS"


class QueryTooCostly(OperationRefused):
    code = "QUERY_TOO_COSTLY"


class OperationNotChosen(ClientError):
    """A document of several operations without `operationName` to choose one."""

    code = "BAD_REQUEST"


REFUSAL_CODES = frozenset(
    refusal.code for refusal in (QueryTooDeep, TooManyAliases, TooManyTokens, QueryTooCostly)
)


def add_code(error: GraphQLError, *, executing: bool) -> None:
    """Give `error` an `extensions.code` if it has none. `executing` tells whether the
    error arose while executing (after the document was parsed and validated)."""
    original = error.original_error
    if isinstance(original, ClientError):
        error.extensions = {**(error.extensions or {}), **(original.extensions or {})}
    if error.extensions and "code" in error.extensions:
        return
    # an exception behind the error means a resolver or a subscription's source raised
    # it: the document was valid
    if not executing and original is None:
        code = PARSE_FAILED if error.message.startswith("Syntax Error") else VALIDATION_FAILED
    elif isinstance(original, GlobalIDValueError) or (error.path is None and error.nodes):
        # Outside any field but at a place in the document: variables that do not coerce
        # to their declared types (an unknown enum value, a string for an Int); or an id
        # that is no global id.
        code = "BAD_USER_INPUT"
    else:
        mask_internal_error(error)
        return
    error.extensions = {**(error.extensions or {}), "code": code}


def mask_internal_error(error: GraphQLError) -> None:
    """Replace what `error` says with an id that the log repeats beside the exception: its
    text may show SQL, data or the code's insides, which are the operators' to read."""
    error_id = str(uuid.uuid4())
    logger.error(
        "internal error %s at %s: %s",
        error_id,
        ".".join(map(str, error.path or [])) or "(no field)",
        error.message,
        exc_info=error.original_error,
        # a field of its own in JSON lines, beside the request id of the request's line;
        # each one is written, never summarised with others (scimeta.server.logs): the
        # operators must find the id a client quotes
        extra={"error_id": error_id, "summary_key": None},
    )
    error.message = f"Internal server error; quote error id {error_id} to the operators"
    error.extensions = {"code": INTERNAL, "errorId": error_id}
