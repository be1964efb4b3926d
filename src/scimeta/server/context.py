"""The per-request GraphQL context: database session, loaders and the caller's identity."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from scimeta.loaders import Loaders


@dataclass(frozen=True)
class Identity:
    """Who is calling. Until tokens exist every caller is the local, unrestricted user."""

    name: str = "local"
    is_admin: bool = True


@dataclass
class Context:
    """Built once per HTTP request (or once per WebSocket connection).

    The session is opened lazily and closed by `SessionExtension` when the operation ends.
    GraphQL resolves sibling fields concurrently and an `AsyncSession` is not safe for
    concurrent use, so every database access goes through `db_lock`.
    """

    request: Request | WebSocket
    response: Response | None
    sessionmaker: async_sessionmaker[AsyncSession]
    identity: Identity = field(default_factory=Identity)
    db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _session: AsyncSession | None = None
    _loaders: Loaders | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.sessionmaker()
        return self._session

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self)
        return self._loaders

    def reset_loaders(self) -> None:
        """Forget what the loaders cached: a mutation changed the rows."""
        self._loaders = None

    async def close(self) -> None:
        session, self._session, self._loaders = self._session, None, None
        if session is not None:
            await session.close()

    def __getitem__(self, key: str) -> Any:
        # strawberry's GraphiQL/ASGI integration looks up "request" and "response" by key
        return getattr(self, key)
