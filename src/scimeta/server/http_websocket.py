"""The /graphql endpoint's graphql-transport-ws WebSocket: strawberry's handler with a cap
on the operations open on one socket, a database outage answered with "try again later",
and each new operation's access checked again and its trusted document resolved."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from scimeta.faults import database_fault
from scimeta.live.shared import send_shared
from scimeta.operation import Context
from scimeta.server import observe
from scimeta.server.documents import DocumentRefused, TrustedDocuments, requested_id

if TYPE_CHECKING:
    from scimeta.server.http import GraphQLView

logger = logging.getLogger(__name__)

TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"
# WebSocket close code (IANA registry): the server cannot serve now, the client retries
TRY_AGAIN_LATER = 1013


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
        documents: TrustedDocuments = cast("GraphQLView", self.view).documents
        text = documents.resolve(query, document, self.context.identity)
        return cast(SubscribeMessage, {**message, "payload": {**payload, "query": text}})

    async def send_message(self, message: Message) -> None:
        observe.note_message(message)
        # a message executed once for subscribers that get the same one goes out as the
        # text it was encoded to once (see `scimeta.live.shared`)
        if not await send_shared(self.websocket, message, self.view.encode_json):
            await super().send_message(message)
