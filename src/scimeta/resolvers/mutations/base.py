"""What every mutation shares: one transaction per call, ids, caps and JSON checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay
from strawberry.types import Info

from scimeta.auth.policy import Action, access_of
from scimeta.errors import BadUserInput
from scimeta.ids import parse_row_id
from scimeta.models import Entity
from scimeta.writes.core import update_fields
from scimeta.writes.idempotency import Idempotency
from scimeta.writes.transaction import Writer, transaction

RowT = TypeVar("RowT", bound=Entity)

# The longest list one call may carry in any bulk field; larger sets go in several calls.
MAX_BULK_ROWS = 10_000


class Caller(Protocol):
    @property
    def name(self) -> str: ...


class WriteContext(Protocol):
    @property
    def session(self) -> AsyncSession: ...

    @property
    def identity(self) -> Caller: ...

    def reset_loaders(self) -> None: ...


WriteInfo = Info[WriteContext, Any]


@asynccontextmanager
async def write(
    info: WriteInfo, action: Action = Action.WRITE, *, server: str | None = None
) -> AsyncIterator[Writer]:
    """One mutation's transaction. Mutations run one after another, so nothing else uses
    the session meanwhile; reads of earlier fields are ended first so that the write
    starts its own transaction, and the loaders forget rows the write may have changed.

    The caller must be allowed `action` on every row the mutation changes (see
    `scimeta.auth.policy`); the rows it may not see it cannot find. `server` names what
    the mutation changes when that belongs to the whole server (new projects, the
    chemistry store): the caller's grant is checked before anything is read or written."""
    context = info.context
    session = context.session
    if session.in_transaction():
        await session.commit()
    try:
        async with transaction(
            session, context.identity.name, access_of(session), action
        ) as writer:
            if server is not None:
                writer.authorize_server(server)
            yield writer
    finally:
        context.reset_loaders()


async def replayed(
    writer: Writer,
    model: type[RowT],
    key: str | None,
    operation: str,
    arguments: Any,
) -> tuple[RowT | None, Idempotency]:
    """The row an earlier call with this idempotency key made (None if this call is the
    first), and the handle to record this call's result with."""
    idempotency = Idempotency(writer, key, operation, arguments)
    earlier = await idempotency.begin()
    if earlier is None:
        return None, idempotency
    return await writer.get(model, earlier[1]), idempotency


def row_id(node_id: relay.GlobalID, model: type[Entity], field: str) -> int:
    """The row id inside a global id, which must be of `model`'s type."""
    expected = model.__name__
    if node_id.type_name != expected:
        raise BadUserInput(
            f"{field} must be the id of a {expected}, not of a {node_id.type_name}.",
            field=field,
        )
    row = parse_row_id(node_id.node_id)
    if row is None:
        raise BadUserInput(
            f"{field} is not a valid {expected} id: pass an id this API returned.", field=field
        )
    return row


def optional_row_id(node_id: relay.GlobalID | None, model: type[Entity], field: str) -> int | None:
    return None if node_id is None else row_id(node_id, model, field)


def capped(items: Sequence[Any], field: str, cap: int = MAX_BULK_ROWS) -> None:
    if len(items) > cap:
        raise BadUserInput(
            f"{field} has {len(items)} entries; one call takes at most {cap}. "
            "Split the list over several calls.",
            field=field,
            maximum=cap,
        )


def json_object(value: Any, field: str) -> dict[str, Any]:
    """A JSON argument that must be an object (attributes, payloads, specs)."""
    if value is None or value is strawberry.UNSET:
        return {}
    if not isinstance(value, dict):
        raise BadUserInput(
            f"{field} must be a JSON object ({{...}}), not {type(value).__name__}.",
            field=field,
        )
    return value


def given(value: Any) -> bool:
    """True if the client passed the argument (null included)."""
    return value is not strawberry.UNSET


async def update_node(info: WriteInfo, model: type[Entity], input: Any) -> Any:
    """The update mutation every type shares: `input` has the node's `id`, an optional
    `expected_version`, and the fields to change."""
    node_id = row_id(input.id, model, "id")
    changes = changes_of(input)
    async with write(info) as writer:
        return await update_fields(
            writer, model, node_id, changes, expected_version=input.expected_version
        )


def changes_of(input: object) -> dict[str, Any]:
    """The fields an update input was given (null included), by column name; `attributes`
    must be a JSON object. Leaves out `id` and `expected_version`."""
    changes = {
        name: value
        for name, value in vars(input).items()
        if name not in {"id", "expected_version"} and given(value)
    }
    if "attributes" in changes:
        changes["attributes"] = json_object(changes["attributes"], "attributes")
    return changes
