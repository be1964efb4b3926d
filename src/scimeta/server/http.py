"""The /graphql endpoint: GraphQL over HTTP as the GraphQL Foundation's draft specification
has it, and the limits of its graphql-transport-ws WebSocket.

HTTP status codes follow the response's media type. With
`application/graphql-response+json` (preferred, and the answer to a missing or `*/*`
Accept) a request that never reached execution (it does not parse, validate, name an
operation to run, or its variables do not coerce) carries no `data` and is a 400 (a 500
if the server failed); with `application/json`, which legacy clients ask for, it is a
200, because there a non-200 answer may come from any proxy on the way.

Cross-site request forgery: a browser sends a cross-site POST without asking the server
first (a CORS preflight) only if it is "simple", whose Content-Type is text/plain,
application/x-www-form-urlencoded or multipart/form-data. A POST must therefore say
`Content-Type: application/json`, which makes it non-simple; one with a simple
Content-Type or none is refused before its body is read. A GET runs only queries, which
change nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from scimeta.auth.identity import NOBODY
from scimeta.auth.tokens import Unauthenticated
from scimeta.errors import INTERNAL, PARSE_FAILED, QueryTimeout, ServiceUnavailable
from scimeta.faults import RETRY_AFTER_SECONDS, database_fault, is_retryable
from scimeta.live.shared import send_shared
from scimeta.operation_limits import Limits
from scimeta.planner.execute import JSONText
from scimeta.resolvers.compiled import compiled_answer
from scimeta.server import observe
from scimeta.server.authn import Authenticator, ws_authorization, www_authenticate
from scimeta.server.context import Context
from scimeta.server.cors import normalize_origins
from scimeta.server.documents import DocumentRefused, TrustedDocuments, requested_id
from scimeta.server.graphiql import graphiql_enabled, graphiql_page
from scimeta.server.settings import Settings

logger = logging.getLogger(__name__)

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# the media types a response can take, the server's preference first
RESPONSE_MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, JSON)

# the Content-Types a browser may send cross-site without a CORS preflight
SIMPLE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)

# Each operation of a batch runs at once with the others, each on a database connection
# of its own, and each is checked against the per-operation limits alone: the cap keeps
# one request from taking the whole pool or multiplying those limits.
MAX_BATCH_OPERATIONS = 10

BAD_REQUEST = "BAD_REQUEST"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
CSRF_REFUSED = "CSRF_REFUSED"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
BATCHING_DISABLED = "BATCHING_DISABLED"
BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"
UNAUTHENTICATED = "UNAUTHENTICATED"
QUERY_TIMEOUT = QueryTimeout.code
# WebSocket close code (IANA registry): the server cannot serve now, the client retries
TRY_AGAIN_LATER = 1013

JSONObject = dict[str, Any]


def sessionmaker_of(connection: HTTPConnection) -> async_sessionmaker[AsyncSession]:
    """The session factory of the application serving this request or WebSocket."""
    return cast(async_sessionmaker[AsyncSession], connection.app.state.sessionmaker)


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


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    quality: float
    position: int

    def specificity(self, media_type: str) -> int | None:
        """How closely this range names `media_type` (2: exactly, 0: `*/*`), or None if
        it does not cover it."""
        type_, subtype = media_type.split("/")
        if self.type == "*" and self.subtype == "*":
            return 0
        if self.type != type_:
            return None
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == subtype else None


def parse_accept(header: str) -> list[MediaRange]:
    ranges = []
    for position, part in enumerate(header.split(",")):
        essence, parameters = parse_media_type(part)
        if essence.count("/") != 1:
            continue
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            continue
        type_, subtype = essence.split("/")
        ranges.append(MediaRange(type_, subtype, quality, position))
    return ranges


def parse_media_type(text: str) -> tuple[str, dict[str, str]]:
    """The lower-cased essence ("type/subtype") of a media type, and its parameters."""
    essence, *parameters = text.split(";")
    values = {}
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        values[name.strip().lower()] = value.strip().strip('"')
    return essence.strip().lower(), values


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None if it admits neither.

    The most specific range naming a type gives its quality (RFC 9110); the highest
    quality wins, then the more specific range, then the one listed first, then the
    server's preference. Without an Accept header the answer is
    `application/graphql-response+json`, as the specification says from 2025 on.
    """
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE_JSON
    ranges = parse_accept(accept)
    best: tuple[tuple[float, int, int, int], str] | None = None
    for preference, media_type in enumerate(RESPONSE_MEDIA_TYPES):
        matches = [
            (specificity, media_range)
            for media_range in ranges
            if (specificity := media_range.specificity(media_type)) is not None
        ]
        if not matches:
            continue
        specificity, media_range = max(matches, key=lambda match: match[0])
        if media_range.quality <= 0:
            continue
        rank = (media_range.quality, specificity, -media_range.position, -preference)
        if best is None or rank > best[0]:
            best = (rank, media_type)
    return None if best is None else best[1]


def accepts_html(accept: str | None) -> bool:
    return any(
        (media_range.type, media_range.subtype) == ("text", "html") and media_range.quality > 0
        for media_range in parse_accept(accept or "")
    )


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


def check_content_type(header: str | None) -> None:
    essence, parameters = parse_media_type(header or "")
    if not essence or essence in SIMPLE_CONTENT_TYPES:
        raise Refusal(
            403,
            CSRF_REFUSED,
            "refused as a possible cross-site request forgery: a POST must have "
            "`Content-Type: application/json`"
            + (f", not {essence}" if essence else ", and this one has no Content-Type"),
        )
    charset = parameters.get("charset", "utf-8").lower()
    if essence != JSON or charset not in ("utf-8", "utf8"):
        raise Refusal(
            415,
            UNSUPPORTED_MEDIA_TYPE,
            f"a POST body must be `application/json` in UTF-8, not {header}",
        )


class OperationCapHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with at most `max_subscriptions_per_connection` operations
    open at once on one socket. The one over the cap gets an `error` message with a code;
    the socket and its other operations carry on."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Exception as exc:
            # the token could not be checked for an outage: "try again later" (1013)
            if database_fault(exc) is None:
                raise
            logger.warning("WebSocket closed: the database is unavailable (%s)", exc)
            await self.websocket.close(code=TRY_AGAIN_LATER, reason="database unavailable")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        try:
            allowed = not self.connection_acknowledged or await self.context.still_allowed()
        except Exception as exc:
            fault = database_fault(exc)
            if fault is None:
                raise
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [fault.formatted]}
            )
            return
        if not allowed:
            await self.context.refuse()
            return
        cap = self.max_subscriptions_per_connection
        # the checks strawberry makes first (acknowledged, a new id) keep their close codes
        if (
            cap is not None
            and self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= cap
        ):
            error = GraphQLError(
                f"this WebSocket already has {cap} operations open, the most it may: "
                "complete one first, or open another connection",
                extensions={"code": TOO_MANY_OPERATIONS},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        if self.connection_acknowledged and message["id"] not in self.operations:
            try:
                message = self._with_document(message)
            except DocumentRefused as refused:
                error = GraphQLError(refused.message, extensions={"code": refused.code})
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [error.formatted]}
                )
                return
        await super().handle_subscribe(message)

    def _with_document(self, message: SubscribeMessage) -> SubscribeMessage:
        """The message with the text of the trusted document its payload names
        (`documentId` or `extensions.persistedQuery`) as its `query`, and its free text
        checked as an HTTP request's is (`scimeta.server.documents`)."""
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return message
        document = requested_id(cast(Mapping[str, object], payload))
        query = payload.get("query")
        if document is None and not isinstance(query, str):
            # strawberry refuses a subscribe message without a document as it does
            return message
        documents: TrustedDocuments = cast(GraphQLView, self.view).documents
        text = documents.resolve(query, document, self.context.identity)
        return cast(SubscribeMessage, {**message, "payload": {**payload, "query": text}})

    async def send_message(self, message: Message) -> None:
        observe.note_message(message)
        # a message executed once for subscribers that get the same one goes out as the
        # text it was encoded to once (see `scimeta.live.shared`)
        if not await send_shared(self.websocket, message, self.view.encode_json):
            await super().send_message(message)


class GraphQLView(GraphQL[Context, None]):
    """Serves POST and GET /graphql, GraphiQL to a browser, and the WebSocket."""

    graphql_transport_ws_handler_class = OperationCapHandler

    def __init__(self, schema: BaseSchema, settings: Settings) -> None:
        limits = settings.limits
        super().__init__(
            schema,
            # the page is scimeta's own (`render_graphql_ide`); the name only turns it on
            graphql_ide="graphiql" if graphiql_enabled(settings) else None,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=timedelta(seconds=limits.connection_init_timeout_seconds),
            max_subscriptions_per_connection=limits.max_subscriptions_per_socket,
            # pages of these origins may open a WebSocket too (see scimeta.server.cors)
            allowed_origins=normalize_origins(settings.cors_origins),
        )
        self.limits: Limits = limits
        self.documents = TrustedDocuments.load(
            settings.trusted_documents, trusted_only=settings.trusted_documents_only
        )
        self.authenticator = Authenticator(settings.host)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this server's own files, not strawberry's page, whose scripts
        come from a CDN (`scimeta.server.graphiql`)."""
        return graphiql_page()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        sessionmaker = sessionmaker_of(request)
        if isinstance(request, WebSocket):
            # nobody, until the token of `connection_init` is checked (`on_ws_connect`);
            # strawberry runs no operation before that
            identity = NOBODY
        else:
            try:
                identity = await self.authenticator.identify(
                    sessionmaker, request.headers.get("authorization")
                )
            except Unauthenticated as refused:
                extensions = refused.extensions or {}
                raise Refusal(
                    401,
                    UNAUTHENTICATED,
                    refused.message,
                    {"WWW-Authenticate": www_authenticate(str(extensions.get("reason")))},
                    reason=extensions.get("reason"),
                ) from None
            except Exception as exc:
                raise _refusal_for(exc) from None
        # over a WebSocket strawberry passes the socket itself as the "response"
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            sessionmaker=sessionmaker,
            hub=getattr(request.app.state, "hub", None),
            identity=identity,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Check the token `connection_init` carries; a refused one closes the socket
        with 4403."""
        authorization = ws_authorization(context.connection_params)
        try:
            context.identity = await self.authenticator.identify(
                context.sessionmaker, authorization
            )
            context.authenticator = self.authenticator
            context.authorization = authorization
        except Unauthenticated as refused:
            logger.info("WebSocket refused: %s", refused.message)
            raise ConnectionRejectionError(
                {"message": refused.message, **(refused.extensions or {})}
            ) from None
        acknowledged: UnsetType = UNSET
        return acknowledged

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        response = await self.serve_http(Request(scope, receive))
        await response(scope, receive, send)

    async def serve_http(self, request: Request) -> Response:
        accept = request.headers.get("accept")
        media_type = negotiate(accept)
        try:
            if request.method not in ("GET", "POST"):
                raise Refusal(
                    405,
                    METHOD_NOT_ALLOWED,
                    f"{request.method} is not served here: POST a GraphQL request "
                    "(or GET one with a query)",
                    {"Allow": "GET, POST"},
                )
            if (
                request.method == "GET"
                and self.graphql_ide
                and "query" not in request.query_params
                and "documentId" not in request.query_params
                and accepts_html(accept)
            ):
                return await self.render_graphql_ide(request)
            if media_type is None:
                raise Refusal(
                    406,
                    NOT_ACCEPTABLE,
                    f"responses are {GRAPHQL_RESPONSE_JSON} or {JSON}, and the Accept "
                    f"header ({accept}) admits neither",
                )
            if request.method == "GET":
                return await self._serve_one(request, media_type, self._get_request(request))
            check_content_type(request.headers.get("content-type"))
            body = decode_json(
                await read_body(request, self.limits.max_body_bytes), "the request body"
            )
            if isinstance(body, list):
                return await self._serve_batch(request, media_type, self._batch(body))
            if not isinstance(body, dict):
                raise Refusal(
                    400,
                    BAD_REQUEST,
                    "the request body must be a JSON object with `query` (and optionally "
                    "`variables`, `operationName`, `extensions`)",
                )
            return await self._serve_one(request, media_type, graphql_request(body))
        except Refusal as refusal:
            return self._respond(refusal.body, refusal.status, media_type or JSON, refusal.headers)

    def _get_request(self, request: Request) -> GraphQLRequest:
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
        return graphql_request(parameters)

    def _batch(self, items: list[object]) -> list[GraphQLRequest | Refusal]:
        if not self.limits.batching:
            raise Refusal(
                400,
                BATCHING_DISABLED,
                "batching (a JSON array of requests) is off on this server: send each "
                "request on its own, or turn it on with SCIMETA_BATCHING",
            )
        if not items:
            raise Refusal(400, BAD_REQUEST, "the batch is empty")
        if len(items) > MAX_BATCH_OPERATIONS:
            raise Refusal(
                400,
                BATCH_TOO_LARGE,
                f"a batch holds at most {MAX_BATCH_OPERATIONS} requests, this one "
                f"{len(items)}: send it in several",
            )
        if not all(isinstance(item, dict) for item in items):
            raise Refusal(400, BAD_REQUEST, "each item of a batch must be a request object")
        requests: list[GraphQLRequest | Refusal] = []
        for item in items:
            try:
                requests.append(graphql_request(cast(JSONObject, item)))
            except Refusal as refusal:
                requests.append(refusal)
        return requests

    async def _serve_one(
        self, request: Request, media_type: str, graphql: GraphQLRequest
    ) -> Response:
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        body, executed = await self._execute(request, context, graphql)
        errors = body.get("errors") or []
        codes = {(error.get("extensions") or {}).get("code") for error in errors}
        headers: dict[str, str] = {}
        if media_type == JSON:
            status = 200
        elif any(is_retryable(error) for error in errors):
            # the database's state, not the request: a client, proxy or load balancer
            # that sees 503 tries again later (or elsewhere), as it would for an outage
            status = 503
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        elif executed:
            status = 200
        elif QUERY_TIMEOUT in codes:
            status = 504
        else:
            # without data the status must say it failed, and whose fault it was
            status = 500 if INTERNAL in codes else 400
        # a resolver or extension may set the status through `context.response`
        status = sub_response.status_code or status
        return self._respond(body, status, media_type, headers, sub_response=sub_response)

    async def _serve_batch(
        self, request: Request, media_type: str, requests: Sequence[GraphQLRequest | Refusal]
    ) -> Response:
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)

        async def answer(item: GraphQLRequest | Refusal) -> JSONObject:
            if isinstance(item, Refusal):
                return item.body
            try:
                body, _ = await self._execute(request, context, item)
            except Refusal as refusal:
                return refusal.body
            return body

        # each operation runs in a task of its own, and so with a session of its own
        bodies = await asyncio.gather(*(answer(item) for item in requests))
        # a batch answers 200, whatever each of its operations would have answered alone
        return self._respond(list(bodies), 200, media_type, sub_response=sub_response)

    async def _execute(
        self, request: Request, context: Context, graphql: GraphQLRequest
    ) -> tuple[JSONObject, bool]:
        """The GraphQL response to one request, and whether execution started."""
        try:
            query = self.documents.resolve(graphql.query, graphql.document_id, context.identity)
        except DocumentRefused as refused:
            return error_body(refused.message, refused.code), False
        # named in the request's log line and metrics, and a span of its own when tracing
        with observe.operation(query, graphql.operation_name, context.identity.name):
            return await self._execute_document(request, context, graphql, query)

    async def _execute_document(
        self, request: Request, context: Context, graphql: GraphQLRequest, query: str
    ) -> tuple[JSONObject, bool]:
        try:
            answer = await compiled_answer(
                self.schema, query, graphql.operation_name, graphql.variables, context
            )
        except (QueryTimeout, ServiceUnavailable) as error:
            return {"errors": [error.formatted]}, False
        except Exception as exc:
            fault = database_fault(exc)
            if fault is None:
                raise
            return {"errors": [fault.formatted]}, False
        if answer is not None:
            return answer, True
        allowed = {OperationType.QUERY}
        if request.method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            result = await self.schema.execute(
                query,
                variable_values=graphql.variables,
                context_value=context,
                operation_name=graphql.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=graphql.extensions,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.MUTATION:
                raise Refusal(
                    405,
                    METHOD_NOT_ALLOWED,
                    "a mutation cannot run over GET, which must change nothing: POST it",
                    {"Allow": "POST"},
                ) from None
            return error_body(
                "subscriptions run over a WebSocket at this URL with the "
                "graphql-transport-ws protocol, not over HTTP",
                BAD_REQUEST,
            ), False
        except MissingQueryError:
            return error_body(
                "Syntax Error: the document is empty; send at least one operation",
                PARSE_FAILED,
            ), False
        except CannotGetOperationTypeError as error:
            return error_body(
                f"{error.as_http_error_reason()}: name one operation of the document "
                "in `operationName`",
                BAD_REQUEST,
            ), False
        return response_body(result), executed(result)

    def _respond(
        self,
        body: JSONObject | list[JSONObject],
        status: int,
        media_type: str,
        headers: Mapping[str, str] | None = None,
        sub_response: Response | None = None,
    ) -> Response:
        observe.note_body(body)
        response = PartsResponse(
            self.encode_body(body),
            status_code=status,
            headers={**(headers or {}), "Vary": "Accept"},
            media_type=f"{media_type}; charset=utf-8",
        )
        if sub_response is not None:
            response.headers.raw.extend(sub_response.headers.raw)
            response.background = sub_response.background
        return response

    def encode_body(self, body: JSONObject | list[JSONObject]) -> list[bytes]:
        """The response body in parts; `data` that is JSON already (a compiled read's)
        is one of them as it is, never decoded, encoded or copied."""
        if isinstance(body, list):
            parts: list[bytes] = [b"["]
            for position, item in enumerate(body):
                if position:
                    parts.append(b",")
                parts += self.encode_body(item)
            return [*parts, b"]"]
        data = body.get("data")
        if not isinstance(data, JSONText):
            return [_bytes(self.encode_json(body))]
        rest = {key: value for key, value in body.items() if key != "data"}
        tail = b"," + _bytes(self.encode_json(rest))[1:] if rest else b"}"
        return [b'{"data":', *data.chunks, tail]


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


def _refusal_for(exc: Exception) -> Refusal:
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


def _bytes(encoded: str | bytes) -> bytes:
    return encoded.encode() if isinstance(encoded, str) else encoded


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
