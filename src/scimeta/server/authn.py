"""Who sends a request: the identity its API token names, or the one local user of a
server that runs open."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scimeta.auth.identity import (
    LOCAL,
    AccessMode,
    Identity,
    access_mode,
    bearer_secret,
    identify,
    is_loopback,
    usable_tokens_exist,
)
from scimeta.auth.tokens import secret_hash

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

    What the database says about tokens is remembered in the process and forgotten when
    its listener hears that tokens changed (`tokens_changed`, wired to the hub: a token
    made or revoked anywhere is announced by NOTIFY). So running open costs requests
    nothing, a known token costs no statement, and a revoked token is refused from the
    notification on. Nothing is remembered while no listener is connected (`listening`),
    since a notification could be missed then.
    """

    def __init__(self, host: str) -> None:
        # None: not known (ask the database at the next request without a token)
        self._open: bool | None = None if is_loopback(host) else False
        self._known: dict[str, Identity] = {}
        # counts `tokens_changed`: what was read from the database before a change is
        # not kept after it
        self._generation = 0
        self.listening: Callable[[], bool] = lambda: False

    async def start(self, sessionmaker: async_sessionmaker[AsyncSession], host: str) -> AccessMode:
        """Decide how the server runs, before it serves: open, or with tokens. Raises
        `OpenServerRefused` for a server beyond loopback without a usable token."""
        async with sessionmaker() as session:
            mode = await access_mode(session, host)
        self._open = mode is AccessMode.OPEN
        return mode

    def remembers(self, secret: str) -> bool:
        """Whether the process would identify `secret` without the database."""
        return secret_hash(secret) in self._known

    def tokens_changed(self) -> None:
        self._generation += 1
        self._known.clear()
        if self._open:
            self._open = None

    async def identify(
        self, sessionmaker: async_sessionmaker[AsyncSession], authorization: str | None
    ) -> Identity:
        if not authorization and self._open:
            return LOCAL
        secret = bearer_secret(authorization) if authorization else None
        key = secret_hash(secret) if secret is not None else None
        if key is not None:
            known = self._known.get(key)
            if known is not None and not _expired(known) and self.listening():
                return known
        generation = self._generation
        async with sessionmaker() as session:
            if not authorization and self._open is None:
                runs_open = not await usable_tokens_exist(session)
                if generation == self._generation:
                    self._open = runs_open
                if runs_open:
                    return LOCAL
            identity = await identify(session, authorization)
        if key is not None and self.listening() and generation == self._generation:
            if len(self._known) >= KNOWN_TOKENS:
                self._known.clear()
            self._known[key] = identity
        return identity


# the most tokens a process remembers; more are looked up again
KNOWN_TOKENS = 10_000


def _expired(identity: Identity) -> bool:
    return identity.expires_at is not None and identity.expires_at <= datetime.now(UTC)


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
