"""Errors a client can act on, each with a stable `extensions.code`.

Errors raised by resolvers carry their code. Errors raised by GraphQL itself (a syntax
error, a document that does not match the schema, a variable of the wrong type) get one
in `add_code`, so that every error a client sees has a code to branch on.
"""

from __future__ import annotations

import logging
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
    elif error.path is None or isinstance(original, GlobalIDValueError):
        # Outside any field: variables that do not coerce to their declared types (an
        # unknown enum value, a string for an Int); or an id that is no global id.
        code = "BAD_USER_INPUT"
    else:
        code = INTERNAL
        logger.error("internal error in %s", error.path, exc_info=original)
    error.extensions = {**(error.extensions or {}), "code": code}
