"""Reading one GraphQL-over-HTTP request: its `query` (or trusted `documentId`),
`operationName`, `variables` and `extensions`, from a GET's query string or a POST's JSON
body, each checked for its type before anything runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

from scimeta.server.documents import DocumentRefused, requested_id
from scimeta.server.http_refusals import BAD_REQUEST, JSONObject, Refusal

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"


@dataclass(frozen=True)
class GraphQLRequest:
    # None when the request names a trusted document instead (`document_id`)
    query: str | None
    variables: JSONObject | None
    operation_name: str | None
    extensions: JSONObject | None
    document_id: str | None = None


def graphql_request(parameters: Mapping[str, object]) -> GraphQLRequest:
    """The parameters of one GraphQL-over-HTTP request, checked for their types."""
    query = parameters.get("query")
    extensions = _object_parameter(parameters, "extensions")
    try:
        document_id = requested_id(parameters)
    except DocumentRefused as refused:
        raise Refusal(400, refused.code, refused.message) from None
    if query is None and document_id is None:
        raise Refusal(
            400,
            BAD_REQUEST,
            "the request has no `query`: send the GraphQL document (or the `documentId` "
            "of a trusted one)",
        )
    if query is not None and not isinstance(query, str):
        raise Refusal(400, BAD_REQUEST, "`query` must be a string holding the GraphQL document")
    operation_name = parameters.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise Refusal(
            400, BAD_REQUEST, "`operationName` must be a string naming an operation of `query`"
        )
    return GraphQLRequest(
        query=query,
        variables=_object_parameter(parameters, "variables"),
        # the specification reads an empty name as none
        operation_name=operation_name or None,
        extensions=extensions,
        document_id=document_id,
    )


def _object_parameter(parameters: Mapping[str, object], name: str) -> JSONObject | None:
    value = parameters.get(name)
    if value is not None and not isinstance(value, dict):
        raise Refusal(400, BAD_REQUEST, f"`{name}` must be a JSON object (or null)")
    return value


def query_parameters(request: Request) -> dict[str, object]:
    """A GET's request parameters, each given at most once, `variables` and `extensions`
    decoded from the JSON they are written in."""
    parameters: dict[str, object] = {}
    for name in ("query", "operationName", "variables", "extensions", "documentId"):
        values = request.query_params.getlist(name)
        if len(values) > 1:
            raise Refusal(400, BAD_REQUEST, f"`{name}` is given more than once")
        if values:
            parameters[name] = values[0]
    for name in ("variables", "extensions"):
        text = parameters.get(name)
        if isinstance(text, str):
            parameters[name] = decode_json(text, f"`{name}`") if text else None
    return parameters


def decode_json(text: str | bytes, what: str) -> object:
    try:
        return json.loads(text)
    # a body nested too deep for the parser is as unreadable as a malformed one
    except (ValueError, RecursionError):
        raise Refusal(400, BAD_REQUEST, f"{what} is not valid JSON in UTF-8") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to be longer than `limit`: from its
    Content-Length before reading any of it, otherwise once the bytes read pass the limit."""
    too_large = Refusal(
        413,
        REQUEST_TOO_LARGE,
        f"the request body is larger than {limit} bytes, the most this server accepts: "
        "send less in one request (split bulk inputs), or raise SCIMETA_MAX_BODY_BYTES",
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refusal(400, BAD_REQUEST, "Content-Length must be a number of bytes")
        if int(declared) > limit:
            raise too_large
    chunks = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refusal(
            400, BAD_REQUEST, "the client went away before sending the whole body"
        ) from None
    return b"".join(chunks)
