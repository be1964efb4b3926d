"""The /graphql endpoint: GraphQL over HTTP as the GraphQL Foundation's draft specification
has it, and its graphql-transport-ws WebSocket.

The view puts the endpoint's concerns together in the order a request meets them: the
response's media type (`http_media`), cross-site request forgery (`http_csrf`), reading
the request (`http_requests`) or a batch of them (`http_batches`), then execution, whose
result becomes the response (`http_responses`); a request refused on the way answers
with its `Refusal` (`http_refusals`). The WebSocket's handler is `http_websocket`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from scimeta.auth.identity import NOBODY
from scimeta.auth.tokens import Unauthenticated
from scimeta.errors import PARSE_FAILED, QueryTimeout, ServiceUnavailable
from scimeta.faults import database_fault
from scimeta.operation import Context
from scimeta.operation_limits import Limits
from scimeta.resolvers.compiled import compiled_answer
from scimeta.server import observe
from scimeta.server.authn import Authenticator, ws_authorization, www_authenticate
from scimeta.server.cors import normalize_origins
from scimeta.server.documents import DocumentRefused, TrustedDocuments
from scimeta.server.graphiql import graphiql_enabled, graphiql_page
from scimeta.server.http_batches import answer_batch, batch_requests
from scimeta.server.http_csrf import check_content_type
from scimeta.server.http_media import (
    JSON,
    accepts_html,
    negotiate,
    not_acceptable,
    response_status,
)
from scimeta.server.http_refusals import (
    BAD_REQUEST,
    JSONObject,
    Refusal,
    error_body,
    refusal_for,
)
from scimeta.server.http_requests import (
    GraphQLRequest,
    decode_json,
    graphql_request,
    query_parameters,
    read_body,
)
from scimeta.server.http_responses import PartsResponse, encode_body, executed, response_body
from scimeta.server.http_websocket import OperationCapHandler
from scimeta.server.settings import Settings

logger = logging.getLogger(__name__)

METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
UNAUTHENTICATED = "UNAUTHENTICATED"


def sessionmaker_of(connection: HTTPConnection) -> async_sessionmaker[AsyncSession]:
    """The session factory of the application serving this request or WebSocket."""
    return cast(async_sessionmaker[AsyncSession], connection.app.state.sessionmaker)


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
                raise refusal_for(exc) from None
        # over a WebSocket strawberry passes the socket itself as the "response"
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            sessionmaker=sessionmaker,
            hub=getattr(request.app.state, "hub", None),
            identity=identity,
            limits=self.limits,
            write_health=getattr(request.app.state, "write_health", None),
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
                raise not_acceptable(accept)
            if request.method == "GET":
                return await self._serve_one(
                    request, media_type, graphql_request(query_parameters(request))
                )
            check_content_type(request.headers.get("content-type"))
            body = decode_json(
                await read_body(request, self.limits.max_body_bytes), "the request body"
            )
            if isinstance(body, list):
                return await self._serve_batch(
                    request, media_type, batch_requests(body, self.limits.batching)
                )
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

    async def _serve_one(
        self, request: Request, media_type: str, graphql: GraphQLRequest
    ) -> Response:
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        body, started = await self._execute(request, context, graphql)
        status, headers = response_status(media_type, body, started)
        # a resolver or extension may set the status through `context.response`
        status = sub_response.status_code or status
        return self._respond(body, status, media_type, headers, sub_response=sub_response)

    async def _serve_batch(
        self, request: Request, media_type: str, requests: Sequence[GraphQLRequest | Refusal]
    ) -> Response:
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)

        async def execute(graphql: GraphQLRequest) -> JSONObject:
            body, _ = await self._execute(request, context, graphql)
            return body

        bodies = await answer_batch(requests, execute)
        # a batch answers 200, whatever each of its operations would have answered alone
        return self._respond(bodies, 200, media_type, sub_response=sub_response)

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
            encode_body(body, self.encode_json),
            status_code=status,
            headers={**(headers or {}), "Vary": "Accept"},
            media_type=f"{media_type}; charset=utf-8",
        )
        if sub_response is not None:
            response.headers.raw.extend(sub_response.headers.raw)
            response.background = sub_response.background
        return response
