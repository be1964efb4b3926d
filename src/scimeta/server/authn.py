"""Who sends a request: the identity its API token names, or the one local user of a
server that runs open."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scimeta.auth.identity import (
    LOCAL,
    AccessMode,
    Identity,
    access_mode,
    identify,
    is_loopback,
    usable_tokens_exist,
)

OPEN_NOTICE = (
    "scimeta is running OPEN: no API token exists and it listens on loopback only, so "
    "anyone on this machine may read and change everything without a token. Once a token "
    "exists (scimeta token create), every request needs one."
)
TOKENS_NOTICE = "scimeta requires an API token on every request (Authorization: Bearer)"

# the header value of a 401: RFC 6750's scheme, with its error code once a token was sent
REALM = 'Bearer realm="scimeta"'


class Authenticator:
    """Identifies requests. On loopback, while no usable token exists, requests without a
    token are the local user's: the server runs open. Once a token exists, every request
    needs one until the server restarts.

    Whether tokens exist is asked once, and again only when the process's listener hears
    that tokens changed (`recheck`, wired to the hub), so running open costs requests
    nothing and a token made while the server runs closes it within a notification."""

    def __init__(self, host: str) -> None:
        self.may_run_open = is_loopback(host)
        # None: not known (ask the database at the next request without a token)
        self._open: bool | None = None if self.may_run_open else False

    @property
    def runs_open(self) -> bool | None:
        return self._open

    async def start(self, sessionmaker: async_sessionmaker[AsyncSession], host: str) -> AccessMode:
        """Decide how the server runs, before it serves: open, or with tokens. Raises
        `OpenServerRefused` for a server beyond loopback without a usable token."""
        async with sessionmaker() as session:
            mode = await access_mode(session, host)
        self._open = mode is AccessMode.OPEN
        return mode

    def recheck(self) -> None:
        if self._open:
            self._open = None

    async def identify(
        self, sessionmaker: async_sessionmaker[AsyncSession], authorization: str | None
    ) -> Identity:
        async with sessionmaker() as session:
            if not authorization and self._open is not False:
                if self._open is None:
                    self._open = not await usable_tokens_exist(session)
                if self._open:
                    return LOCAL
            return await identify(session, authorization)


def ws_authorization(payload: object) -> str | None:
    """The token of a WebSocket's `connection_init` payload, as an Authorization header:
    `{"Authorization": "Bearer <token>"}` (any case), or `{"token": "<token>"}`."""
    if not isinstance(payload, Mapping):
        return None
    for key, value in payload.items():
        if isinstance(key, str) and isinstance(value, str):
            if key.lower() == "authorization":
                return value
            if key.lower() == "token":
                return f"Bearer {value}"
    return None


def www_authenticate(reason: str) -> str:
    if reason == "MISSING":
        return REALM
    return f'{REALM}, error="invalid_token"'
