"""Refusals: requests to /graphql turned away before any of their operations runs.

Each carries the HTTP status that tells tooling on the way why, and a GraphQL error whose
code and message tell the client what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scimeta.faults import RETRY_AFTER_SECONDS, database_fault

JSONObject = dict[str, Any]

BAD_REQUEST = "BAD_REQUEST"


class Refusal(Exception):
    """A request refused before any of it runs, with the status that tells HTTP tooling
    why and a GraphQL error that tells the client what to do."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **details: object,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details

    @property
    def body(self) -> JSONObject:
        return error_body(self.message, self.code, **self.details)


def error_body(message: str, code: str, **details: object) -> JSONObject:
    return {"errors": [{"message": message, "extensions": {"code": code, **details}}]}


def refusal_for(exc: Exception) -> Refusal:
    """The refusal of a request whose caller could not be identified because the database
    could not be asked; any other failure is raised as it is."""
    fault = database_fault(exc)
    if fault is None:
        raise exc
    return Refusal(
        503,
        fault.code,
        fault.message,
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
        **{key: value for key, value in (fault.extensions or {}).items() if key != "code"},
    )
