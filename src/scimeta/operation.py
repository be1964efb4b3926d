"""A GraphQL operation's lifecycle, in one place: the caller's identity and limits (the
`Context`, one per HTTP request or WebSocket), and per operation a database session bound
to the caller's access and loaders (the `OperationScope`), opened on first use and closed
when the operation answers (`OperationExtension`), or, for a subscription, between the
batches of events it pushes (`Context.between_batches`, `Context.batch_scope`).

The server builds the context; the resolvers only read through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from scimeta.auth.identity import LOCAL, Identity
from scimeta.auth.policy import bind
from scimeta.auth.tokens import Unauthenticated
from scimeta.faults import WriteHealth
from scimeta.loaders import Loaders
from scimeta.operation_limits import Limits

if TYPE_CHECKING:
    from scimeta.live.hub import Delivery, Hub


class OperationScope:
    """What one GraphQL operation reads through: a session opened on first use, loaders,
    and the lock that keeps concurrent resolvers off the session at the same time (an
    `AsyncSession` is not safe for concurrent use).

    Subscriptions that push the same change share one scope, so that their loaders batch
    together (see `scimeta.resolvers.subscription`)."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], identity: Identity = LOCAL
    ) -> None:
        self.sessionmaker = sessionmaker
        self.identity = identity
        self.db_lock = asyncio.Lock()
        self._session: AsyncSession | None = None
        self._loaders: Loaders | None = None
        self._ended = False

    @property
    def session(self) -> AsyncSession:
        if self._ended:
            # a resolver still running after its operation answered (GraphQL does not
            # wait for siblings of a field whose error nulled their parent)
            raise OperationEnded("the operation has ended; its session is closed")
        if self._session is None:
            self._session = self.sessionmaker()
            # every statement of the session sees only the caller's rows
            bind(self._session, self.identity.access)
        return self._session

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    def reset_loaders(self) -> None:
        self._loaders = None

    async def close(self) -> None:
        """Give the connection back and forget what was read; the scope can be used again.
        A statement in flight is waited for: its session is not closed under it."""
        async with self.db_lock:
            session, self._session, self._loaders = self._session, None, None
            if session is not None:
                await session.close()

    async def end(self) -> None:
        """Close the scope for good: its operation has answered."""
        self._ended = True
        await self.close()


class Authenticator(Protocol):
    """Who a request's `Authorization` header identifies (the server's authenticator)."""

    async def identify(
        self, sessionmaker: async_sessionmaker[AsyncSession], authorization: str | None
    ) -> Identity: ...


class OperationExtension(SchemaExtension):
    """Gives each operation its own scope (session and loaders), and closes it once the
    operation has answered."""

    async def on_operation(self) -> AsyncIterator[None]:
        context: Any = self.execution_context.context
        operation = context.begin_operation()
        try:
            yield
        finally:
            await context.end_operation(operation)


class OperationEnded(Exception):
    """A read was started after its operation had answered."""


# The scope of the operation running in this task. Strawberry runs each operation in a
# task of its own (each HTTP request, each operation on a WebSocket) and resolvers in
# tasks started from it, which inherit this variable.
_operation_scope: ContextVar[OperationScope | None] = ContextVar("operation_scope", default=None)
ScopeToken: TypeAlias = Token[OperationScope | None]


@dataclass
class Context:
    """Built once per HTTP request, or once per WebSocket connection.

    A WebSocket carries many operations at once, each subscription for as long as the
    client likes: each operation gets its own `OperationScope` (see `begin_operation`),
    so that one operation's session and loaders never serve another, and a subscription
    holds a connection only while it resolves a message.
    """

    request: Request | WebSocket
    response: Response | None
    sessionmaker: async_sessionmaker[AsyncSession]
    hub: Hub | None = None
    identity: Identity = LOCAL
    connection_params: Any = None
    # a WebSocket's: what identified it at `connection_init`, to check again later
    authenticator: Authenticator | None = None
    authorization: str | None = None
    # the server's limits on an operation's size, time and rows
    limits: Limits = field(default_factory=Limits)
    # whether the database takes writes, as the last ones found
    write_health: WriteHealth | None = None
    _default_scope: OperationScope | None = None

    async def still_allowed(self) -> bool:
        """Whether the WebSocket's token still works: it is checked when each operation
        starts and before each message, so a token revoked or expired (or, for the local
        user of a server that ran open, a token made since) ends the socket's access.
        Cached by the authenticator, so it costs no statement while nothing changed."""
        if self.authenticator is None:
            return True
        try:
            self.identity = await self.authenticator.identify(self.sessionmaker, self.authorization)
        except Unauthenticated:
            return False
        return True

    async def refuse(self) -> None:
        """Close the WebSocket as one whose token does not work (4403)."""
        if isinstance(self.request, WebSocket):
            with contextlib.suppress(RuntimeError):
                await self.request.close(code=4403, reason="Forbidden")

    @property
    def scope(self) -> OperationScope:
        scope = _operation_scope.get()
        if scope is not None:
            return scope
        # outside an operation (tests calling loaders directly): one scope for the context
        if self._default_scope is None:
            self._default_scope = OperationScope(self.sessionmaker, self.identity)
        return self._default_scope

    @property
    def session(self) -> AsyncSession:
        return self.scope.session

    @property
    def loaders(self) -> Loaders:
        return self.scope.loaders

    @property
    def db_lock(self) -> asyncio.Lock:
        return self.scope.db_lock

    def reset_loaders(self) -> None:
        """Forget what the loaders cached: a mutation changed the rows."""
        self.scope.reset_loaders()

    def begin_operation(self) -> tuple[OperationScope, ScopeToken]:
        scope = OperationScope(self.sessionmaker, self.identity)
        return scope, _operation_scope.set(scope)

    async def end_operation(self, operation: tuple[OperationScope, ScopeToken]) -> None:
        """Close the operation's own scope (not whichever is current: a subscription may
        have been stopped while reading through a shared one)."""
        scope, token = operation
        _operation_scope.reset(token)
        await scope.end()

    async def between_batches(self) -> None:
        """A subscription waits for events: close its session (an idle subscription holds
        no database connection) and forget what its loaders read (each message shows the
        rows as they are when it is sent); its scope stays usable."""
        await self.scope.close()

    @contextlib.contextmanager
    def batch_scope(self, delivery: Delivery | None, visibility: Hashable) -> Iterator[None]:
        """Read one batch of a subscription's events. Live events (the hub's `delivery` of
        them to the subscriptions of this process) are read through the scope those
        pushing the batch share for this `visibility` (callers with the same grants read
        the same rows), so that their loaders batch together; events read from the log,
        through the operation's own."""
        if delivery is None:
            yield
            return
        shared = delivery.shared(
            ("scope", visibility), lambda: OperationScope(self.sessionmaker, self.identity)
        )
        token = _operation_scope.set(cast(OperationScope, shared))
        try:
            yield
        finally:
            _operation_scope.reset(token)

    def __getitem__(self, key: str) -> Any:
        # strawberry's GraphiQL/ASGI integration looks up "request" and "response" by key
        return getattr(self, key)
