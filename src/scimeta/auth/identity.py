"""The caller of a request, and how the server decides whether callers need a token.

A server bound to loopback on a database where no API token was ever made runs open: it
has one user, on the same machine, who may do everything. Once a token has been made,
or when it listens on any other address, every request needs a token. A revoked or
expired token keeps its row, so revoking the last one does not open the server again:
whoever can still run `scimeta token create` on the database recovers access.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta.auth.policy import Access
from scimeta.auth.tokens import Grant, Unauthenticated, authenticate
from scimeta.models import ApiToken, Role


@dataclass(frozen=True)
class Identity:
    """Who is calling and what they may do. Hashable: what callers may see differs, so
    reads are shared only among callers with one identity."""

    name: str = "local"
    token_id: int | None = None
    grants: tuple[Grant, ...] = (Grant(Role.ADMIN),)
    # when the token stops working (None: never)
    expires_at: datetime | None = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        """An admin of everything: may manage tokens and see all rows."""
        return any(
            grant.role is Role.ADMIN and grant.project_id is None and grant.study_id is None
            for grant in self.grants
        )

    @cached_property
    def access(self) -> Access:
        """What the grants allow, as checks and SQL conditions."""
        return Access(self)


# The one user of a server that runs open.
LOCAL = Identity()
# A caller not yet identified (a WebSocket before its `connection_init`): no grants.
NOBODY = Identity(name="nobody", grants=())


class AccessMode(enum.Enum):
    OPEN = "open"
    TOKENS = "tokens"


class OpenServerRefused(Exception):
    """A server without tokens was asked to listen beyond this machine."""


async def identify(session: AsyncSession, authorization: str | None) -> Identity:
    """The identity an `Authorization: Bearer <token>` header names."""
    if not authorization:
        raise Unauthenticated(
            "This server needs an API token: send the header Authorization: Bearer <token>.",
            reason="MISSING",
        )
    token, grants = await authenticate(session, bearer_secret(authorization))
    return Identity(
        name=f"{token.name} (token {token.id})",
        token_id=token.id,
        grants=tuple(Grant(g.role, g.project_id, g.study_id) for g in grants),
        expires_at=token.expires_at,
    )


def bearer_secret(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(
            "Send the token as Authorization: Bearer <token>.", reason="MALFORMED"
        )
    return secret.strip()


@dataclass(frozen=True)
class AccessDecision:
    """How a server runs, and what the database said that decided it."""

    mode: AccessMode
    # tokens ever made, revoked and expired ones included
    tokens: int
    # tokens neither revoked nor expired
    usable_tokens: int


async def decide_access(session: AsyncSession, host: str) -> AccessDecision:
    """OPEN on loopback while no token was ever made; TOKENS once one was, even if all
    are revoked or expired by now. Refuses to run open on any other address."""
    tokens, usable = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(
                    ApiToken.revoked_at.is_(None),
                    or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now()),
                ),
            ).select_from(ApiToken)
        )
    ).one()
    if tokens:
        return AccessDecision(AccessMode.TOKENS, tokens, usable)
    if is_loopback(host):
        return AccessDecision(AccessMode.OPEN, 0, 0)
    raise OpenServerRefused(
        f"refusing to listen on {host} without API tokens: anyone who can reach it could "
        "read and change everything. Create a token first (scimeta token create --role "
        "admin --all), or listen on 127.0.0.1."
    )


async def access_mode(session: AsyncSession, host: str) -> AccessMode:
    """How a server listening on `host` runs (see `decide_access`)."""
    return (await decide_access(session, host)).mode


async def tokens_exist(session: AsyncSession) -> bool:
    """Whether a token was ever made: revoked and expired tokens keep their rows, and
    count, so that revoking the last token does not open the server."""
    return bool(await session.scalar(select(select(ApiToken.id).exists())))


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this
    machine's loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
