"""Making, checking and revoking API tokens.

A token is `smt_` followed by 43 random URL-safe characters (256 bits). It is shown once;
the database keeps its SHA-256, which is what a request's token is looked up by. A token
that is unknown, expired or revoked is refused with a reason the caller can act on.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta.errors import BadUserInput, ClientError, NotFound
from scimeta.models import ApiToken, Role, TokenGrant

SECRET_PREFIX = "smt_"
# notified when a token is made or revoked: a server running open on loopback starts
# asking for tokens once one exists
TOKENS_CHANNEL = "scimeta_tokens"
# what a listing shows of a secret: the prefix and a few characters after it
SHOWN_CHARACTERS = 12
# a token's events name it "NAME (token ID)" as their actor, which must fit the
# 255 characters of `events.actor` whatever the id (up to 19 digits)
NAME_LENGTH = 200


class Unauthenticated(ClientError):
    """The request's token cannot be used. `reason` is MISSING, MALFORMED, UNKNOWN,
    EXPIRED or REVOKED."""

    code = "UNAUTHENTICATED"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)


@dataclass(frozen=True)
class Grant:
    """A role on one project, one study, or (neither given) everything."""

    role: Role
    project_id: int | None = None
    study_id: int | None = None

    def __post_init__(self) -> None:
        if self.project_id is not None and self.study_id is not None:
            raise BadUserInput("A grant is on a project or on a study, not both.")


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    # the only time the secret exists outside the caller's hands
    secret: str


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(
    session: AsyncSession,
    *,
    name: str,
    grants: Sequence[Grant],
    expires_at: datetime | None = None,
) -> NewToken:
    """Make a token with `grants`, in the session's transaction."""
    if not name or len(name) > NAME_LENGTH:
        raise BadUserInput(f"name must be 1 to {NAME_LENGTH} characters.", field="name")
    if not grants:
        raise BadUserInput("A token needs at least one grant.", field="grants")
    now = (await session.execute(select(func.now()))).scalar_one()
    if expires_at is not None and expires_at <= now:
        raise BadUserInput("expiresAt must be in the future.", field="expiresAt")
    secret = new_secret()
    token = ApiToken(
        name=name,
        secret_hash=secret_hash(secret),
        prefix=secret[:SHOWN_CHARACTERS],
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    session.add_all(
        TokenGrant(
            token_id=token.id,
            role=grant.role,
            project_id=grant.project_id,
            study_id=grant.study_id,
        )
        for grant in grants
    )
    await session.flush()
    await _announce(session)
    return NewToken(token, secret)


async def authenticate(session: AsyncSession, secret: str) -> tuple[ApiToken, list[TokenGrant]]:
    """The token `secret` names, with its grants; refused if it is not a token, or is
    unknown, expired or revoked."""
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 128:
        raise Unauthenticated(
            f"That is not a scimeta API token (they start with {SECRET_PREFIX}).",
            reason="MALFORMED",
        )
    found = (
        await session.execute(
            select(ApiToken, func.now())
            .where(ApiToken.secret_hash == secret_hash(secret))
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if found is None:
        raise Unauthenticated("Unknown API token: ask an admin for a new one.", reason="UNKNOWN")
    token, now = found
    if token.revoked_at is not None:
        raise Unauthenticated(
            f"API token {token.prefix}… was revoked at {token.revoked_at.isoformat()}.",
            reason="REVOKED",
        )
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated(
            f"API token {token.prefix}… expired at {token.expires_at.isoformat()}.",
            reason="EXPIRED",
        )
    grants = await session.scalars(select(TokenGrant).where(TokenGrant.token_id == token.id))
    return token, list(grants)


async def revoke_token(session: AsyncSession, token_id: int) -> ApiToken:
    """Revoke the token from now on, in the session's transaction; revoking twice keeps the
    first time."""
    token = await session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise NotFound(f"No API token has the id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = await session.scalar(select(func.now()))
        await session.flush()
        await _announce(session)
    return token


async def _announce(session: AsyncSession) -> None:
    """Tell every server process, at commit, that the tokens changed."""
    await session.execute(select(func.pg_notify(TOKENS_CHANNEL, "")))
