"""The body of a /graphql response: what one operation's result answers, and its bytes,
sent in the parts they were built of so that a compiled read's JSON is never copied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from scimeta.planner.execute import JSONText
from scimeta.server.http_refusals import JSONObject


def executed(result: ExecutionResult) -> bool:
    """Whether execution started: errors before it (a document that does not parse or
    validate, variables that do not coerce) come with no data and outside any field."""
    if isinstance(result, PreExecutionError):
        return False
    return not (
        result.data is None and result.errors and all(e.path is None for e in result.errors)
    )


def response_body(result: ExecutionResult) -> JSONObject:
    body: JSONObject = {}
    # a request that never ran has no data entry (GraphQL specification, "Response")
    if executed(result):
        body["data"] = result.data
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    return body


def encode_body(
    body: JSONObject | list[JSONObject], encode_json: Callable[[object], str | bytes]
) -> list[bytes]:
    """The response body in parts; `data` that is JSON already (a compiled read's)
    is one of them as it is, never decoded, encoded or copied."""
    if isinstance(body, list):
        parts: list[bytes] = [b"["]
        for position, item in enumerate(body):
            if position:
                parts.append(b",")
            parts += encode_body(item, encode_json)
        return [*parts, b"]"]
    data = body.get("data")
    if not isinstance(data, JSONText):
        return [_bytes(encode_json(body))]
    rest = {key: value for key, value in body.items() if key != "data"}
    tail = b"," + _bytes(encode_json(rest))[1:] if rest else b"}"
    return [b'{"data":', *data.chunks, tail]


def _bytes(encoded: str | bytes) -> bytes:
    return encoded.encode() if isinstance(encoded, str) else encoded


class PartsResponse(Response):
    """A response whose body is sent in the parts it was built of, without joining
    them."""

    def __init__(self, parts: list[bytes], **kwargs: Any) -> None:
        super().__init__(b"", **kwargs)
        self.parts = parts
        self.headers["content-length"] = str(sum(len(part) for part in parts))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        last = len(self.parts) - 1
        for position, part in enumerate(self.parts):
            await send({"type": "http.response.body", "body": part, "more_body": position < last})
        if self.background is not None:
            await self.background()
