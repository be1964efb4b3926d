"""`scimeta token create | list | revoke` against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import DatabaseFactory

from scimeta.auth.tokens import Unauthenticated, authenticate
from scimeta.server.database import create_engine


def scimeta(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scimeta", "token", *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_token_is_made_listed_and_revoked_from_the_command_line(
    databases: DatabaseFactory,
) -> None:
    url = await databases.create()
    made = scimeta(url, "create", "--role", "viewer", "--all", "--expires-in-days", "30")
    assert made.returncode == 0, made.stderr
    header, secret, warning = made.stdout.strip().splitlines()[-3:]
    token_id = header.split()[1]
    listed = scimeta(url, "list")
    revoked = scimeta(url, "revoke", token_id)
    missing_project = scimeta(url, "create", "--role", "admin", "--project", "nowhere")

    assert secret.startswith("smt_") and "cannot be shown again" in warning
    assert header.endswith("(viewer on everything):")
    [line] = listed.stdout.strip().splitlines()
    assert line.startswith(f"{token_id}\t{secret[:12]}…\tviewer on everything\tVIEWER on all")
    assert secret not in listed.stdout
    assert revoked.returncode == 0 and f"token {token_id}" in revoked.stdout
    assert missing_project.returncode == 1
    assert "no project is named 'nowhere'" in missing_project.stderr
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            with pytest.raises(Unauthenticated) as refused:
                await authenticate(session, secret)
    finally:
        await engine.dispose()
    assert refused.value.extensions == {"code": "UNAUTHENTICATED", "reason": "REVOKED"}
