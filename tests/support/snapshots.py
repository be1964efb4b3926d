"""The state of the whole database, to show that a refused call wrote nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta.models import Base


async def database_state(session: AsyncSession) -> dict[str, tuple[Any, ...]]:
    """Per table: its row count and, where rows have one, the sum of their versions (the
    newest sequence for events), so that an insert, a delete or an update anywhere shows
    as a difference. (`updated_at` would not: inside one test's transaction `now()` is
    the same for every statement.)"""
    state: dict[str, tuple[Any, ...]] = {}
    for table in Base.metadata.sorted_tables:
        marker = table.c.get("version", table.c.get("sequence"))
        columns: list[Any] = [func.count()]
        if marker is not None:
            aggregate = func.max if marker.name == "sequence" else func.sum
            columns.append(func.coalesce(aggregate(marker), 0))
        row = (await session.execute(select(*columns).select_from(table))).one()
        state[table.name] = tuple(row)
    return state


async def assert_refused(
    graphql: Any,
    session: AsyncSession,
    query: str,
    *,
    code: str,
    reason: str | None = None,
    says: str,
    **variables: Any,
) -> dict[str, Any]:
    """Run `query`, which must fail with `code` (and `reason`) and a message containing
    `says`, leaving the database as it was. Returns the error."""
    before = await database_state(session)
    body = await graphql.execute(query, **variables)
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    assert error["extensions"]["code"] == code, error
    if reason is not None:
        assert error["extensions"]["reason"] == reason, error
    assert says in error["message"], error
    assert await database_state(session) == before
    return error
