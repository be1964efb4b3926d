"""Who sends a request: the identity its API token names, or the one local user of a
server that runs open."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scimeta.auth.identity import (
    LOCAL,
    AccessDecision,
    AccessMode,
    Identity,
    bearer_secret,
    decide_access,
    identify,
    is_loopback,
    tokens_exist,
)
from scimeta.auth.tokens import secret_hash

OPEN_NOTICE = (
    "scimeta is open: no API token has ever been created and it listens on loopback only, "
    "so anyone on this machine may read and change everything without a token. It answers "
    "only requests addressed to {hosts}, from no other site's pages. Once a token is "
    "created (scimeta token create), every request needs one, for good."
)
TOKENS_NOTICE = "scimeta requires a token on every request (Authorization: Bearer): {why}"
# the names an open server answers to without being told more (see scimeta.server.hosts)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# the header value of a 401: RFC 6750's scheme, with its error code once a token was sent
REALM = 'Bearer realm="scimeta"'


def access_notice(decision: AccessDecision, allowed_hosts: Sequence[str] = ()) -> str:
    """The line a server starts with: whether it runs open or needs tokens, and why."""
    if decision.mode is AccessMode.OPEN:
        names = [*LOOPBACK_NAMES, *allowed_hosts]
        hosts = ", ".join(names[:-1]) + " or " + names[-1]
        return OPEN_NOTICE.format(hosts=hosts)
    if decision.usable_tokens:
        plural = "token exists" if decision.usable_tokens == 1 else "tokens exist"
        return TOKENS_NOTICE.format(why=f"{decision.usable_tokens} usable {plural}")
    return TOKENS_NOTICE.format(
        why="tokens were issued before (all revoked or expired); create one with "
        "scimeta token create"
    )


class Authenticator:
    """Identifies requests. On loopback, while no token was ever made, requests without a
    token are the local user's: the server runs open. Once a token is made, every request
    needs one, also after the token is revoked and after the server restarts.

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

    async def start(
        self, sessionmaker: async_sessionmaker[AsyncSession], host: str
    ) -> AccessDecision:
        """Decide how the server runs, before it serves: open, or with tokens. Raises
        `OpenServerRefused` for a server beyond loopback where no token was ever made."""
        async with sessionmaker() as session:
            decision = await decide_access(session, host)
        self._open = decision.mode is AccessMode.OPEN
        return decision

    async def runs_open(self, sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
        """Whether a request without a token is the local user's, now. Asks the database
        only after a token was made or revoked while the server ran open; once a token
        exists, the answer is no for good."""
        if self._open is not None:
            return self._open
        generation = self._generation
        async with sessionmaker() as session:
            runs_open = not await tokens_exist(session)
        if generation == self._generation:
            self._open = runs_open
        return runs_open

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
        if not authorization and await self.runs_open(sessionmaker):
            return LOCAL
        secret = bearer_secret(authorization) if authorization else None
        key = secret_hash(secret) if secret is not None else None
        if key is not None:
            known = self._known.get(key)
            if known is not None and not _expired(known) and self.listening():
                return known
        generation = self._generation
        async with sessionmaker() as session:
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
