"""API tokens: made with a secret shown once and stored as a hash; refused when unknown,
malformed, expired or revoked, each with its reason."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models
from scimeta.auth.identity import LOCAL, AccessMode, OpenServerRefused, access_mode, identify
from scimeta.auth.tokens import (
    Grant,
    Unauthenticated,
    authenticate,
    create_token,
    revoke_token,
    secret_hash,
)
from scimeta.errors import BadUserInput
from scimeta.models import Role


async def a_project(session: AsyncSession) -> models.Project:
    project = models.Project(name=f"tokens-{uuid.uuid4().hex[:8]}")
    session.add(project)
    await session.flush()
    return project


async def test_a_token_is_stored_as_a_hash_and_authenticates_with_its_grants(
    session: AsyncSession,
) -> None:
    project = await a_project(session)
    made = await create_token(
        session,
        name="pipeline",
        grants=[Grant(Role.CONTRIBUTOR, project_id=project.id), Grant(Role.VIEWER)],
    )
    stored = (
        await session.execute(
            text("SELECT secret_hash, prefix FROM api_tokens WHERE id = :id"),
            {"id": made.token.id},
        )
    ).one()

    token, grants = await authenticate(session, made.secret)

    assert made.secret.startswith("smt_") and len(made.secret) == 47
    assert stored.secret_hash == secret_hash(made.secret) != made.secret
    assert made.secret.startswith(stored.prefix) and len(stored.prefix) < len(made.secret)
    assert token.id == made.token.id
    assert sorted((g.role.value, g.project_id) for g in grants) == sorted(
        [("CONTRIBUTOR", project.id), ("VIEWER", None)]
    )


@pytest.mark.parametrize(
    ("secret", "reason"),
    [("smt_" + "x" * 43, "UNKNOWN"), ("Bearer abc", "MALFORMED"), ("", "MALFORMED")],
)
async def test_a_token_that_is_not_one_is_refused_with_its_reason(
    session: AsyncSession, secret: str, reason: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await authenticate(session, secret)
    assert refused.value.extensions == {"code": "UNAUTHENTICATED", "reason": reason}


async def test_an_expired_or_revoked_token_is_refused(session: AsyncSession) -> None:
    now = (await session.execute(select(func.now()))).scalar_one()
    expiring = await create_token(
        session, name="short", grants=[Grant(Role.VIEWER)], expires_at=now + timedelta(hours=1)
    )
    revoked = await create_token(session, name="old", grants=[Grant(Role.VIEWER)])
    # the hour passes: the expiry moves back, as the clock cannot
    await session.execute(
        text(
            "UPDATE api_tokens SET created_at = created_at - interval '2 hours', "
            "expires_at = expires_at - interval '90 minutes' WHERE id = :id"
        ),
        {"id": expiring.token.id},
    )
    await revoke_token(session, revoked.token.id)
    first_revocation = revoked.token.revoked_at
    await revoke_token(session, revoked.token.id)

    reasons = []
    for made in (expiring, revoked):
        with pytest.raises(Unauthenticated) as refused:
            await authenticate(session, made.secret)
        reasons.append(refused.value.extensions["reason"])  # type: ignore[index]
        assert made.token.prefix in refused.value.message

    assert reasons == ["EXPIRED", "REVOKED"]
    assert revoked.token.revoked_at == first_revocation


async def test_bad_token_requests_are_refused(session: AsyncSession) -> None:
    project = await a_project(session)
    now = (await session.execute(select(func.now()))).scalar_one()
    with pytest.raises(BadUserInput, match="at least one grant"):
        await create_token(session, name="none", grants=[])
    with pytest.raises(BadUserInput, match="in the future"):
        await create_token(session, name="past", grants=[Grant(Role.VIEWER)], expires_at=now)
    with pytest.raises(BadUserInput, match="not both"):
        Grant(Role.VIEWER, project_id=project.id, study_id=1)
    with pytest.raises(BadUserInput, match="1 to 200"):
        await create_token(session, name="", grants=[Grant(Role.VIEWER)])


async def test_a_bearer_header_names_an_identity_with_the_tokens_grants(
    session: AsyncSession,
) -> None:
    project = await a_project(session)
    made = await create_token(
        session, name="runner", grants=[Grant(Role.RUNNER, project_id=project.id)]
    )

    identity = await identify(session, f"Bearer {made.secret}")

    assert identity.token_id == made.token.id
    assert identity.name == f"runner (token {made.token.id})"
    assert identity.grants == (Grant(Role.RUNNER, project_id=project.id),)
    assert not identity.is_admin and LOCAL.is_admin
    assert hash(identity) != hash(LOCAL)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "MISSING"),
        ("", "MISSING"),
        ("Basic dXNlcjpwdw==", "MALFORMED"),
        ("Bearer ", "MALFORMED"),
    ],
)
async def test_a_missing_or_malformed_header_is_refused(
    session: AsyncSession, header: str | None, reason: str
) -> None:
    with pytest.raises(Unauthenticated) as refused:
        await identify(session, header)
    assert refused.value.extensions == {"code": "UNAUTHENTICATED", "reason": reason}
    assert "Authorization: Bearer" in refused.value.message


async def test_the_server_runs_open_only_on_loopback_and_only_without_tokens(
    session: AsyncSession,
) -> None:
    # no usable token: open on loopback, refused elsewhere
    await session.execute(text("UPDATE api_tokens SET revoked_at = now()"))
    open_modes = [await access_mode(session, host) for host in ("127.0.0.1", "::1", "localhost")]
    with pytest.raises(OpenServerRefused, match=r"refusing to listen on 0\.0\.0\.0"):
        await access_mode(session, "0.0.0.0")
    await create_token(session, name="admin", grants=[Grant(Role.ADMIN)])
    with_a_token = [await access_mode(session, host) for host in ("127.0.0.1", "0.0.0.0")]

    assert open_modes == [AccessMode.OPEN] * 3
    assert with_a_token == [AccessMode.TOKENS] * 2
