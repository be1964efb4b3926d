"""Rows with a unique key: created once, and a duplicate refused the same way whether the
row that holds the key was committed long ago or a moment ago by a concurrent call.

A check followed by an INSERT cannot promise that: two calls that check at once both
find nothing, and the unique index refuses the later INSERT with PostgreSQL's error,
which aborts the transaction before the row that won can be read. INSERT ... ON
CONFLICT DO NOTHING on the key's index instead waits for a concurrent insert of the key
to commit (and then inserts nothing) or roll back (and then inserts), and leaves the
transaction usable; under READ COMMITTED the next statement sees the committed row, so
the refusal can name it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import inspect as inspect_row
from sqlalchemy.dialects.postgresql import insert

from scimeta.errors import ClientError, Conflict
from scimeta.models import Entity
from scimeta.writes.database_errors import key_phrase
from scimeta.writes.transaction import Writer, snapshot

RowT = TypeVar("RowT", bound=Entity)

# How often a call inserts again after the row that held its key vanished before it
# could be read (deleted by another call right after it committed).
ATTEMPTS = 3


async def insert_new(
    writer: Writer,
    model: type[RowT],
    values: Mapping[str, Any],
    *,
    key: Sequence[str] | None = None,
    where: ColumnElement[bool] | None = None,
    **payload: Any,
) -> RowT | None:
    """Insert the row and record its "created" event (with `payload`); None if a row
    holds one of its unique keys, or with `key` (the columns of one unique index, and
    `where`, the predicate of a partial one), that key. A row that breaks another unique
    index is still refused by the database.

    A concurrent insert of the same key is waited for: None once it commits, the new row
    if it rolls back. The caller's next statement sees the row that holds the key.
    """
    statement = insert(model).values(dict(values))
    if key is None:
        statement = statement.on_conflict_do_nothing()
    else:
        statement = statement.on_conflict_do_nothing(index_elements=key, index_where=where)
    inserted = await writer.session.scalars(statement.returning(model))
    row = inserted.one_or_none()
    if row is not None:
        writer.event(row, "created", {**snapshot(row), **payload})
    return row


async def create_unique(
    writer: Writer,
    model: type[RowT],
    values: Mapping[str, Any],
    *,
    key: Sequence[str],
    where: ColumnElement[bool] | None = None,
    taken: Callable[[], Awaitable[ClientError | None]],
    **payload: Any,
) -> RowT:
    """Create the row, or raise what `taken` gives: the error that refuses a duplicate,
    built from the row that holds the key (None if no row holds it now).

    Every duplicate takes the one path, the insert that skips and then `taken`: one
    committed before this call and one committed by a concurrent call while this call
    waited on the index get the same error, with the same row in it.
    """
    for _ in range(ATTEMPTS):
        row = await insert_new(writer, model, values, key=key, where=where, **payload)
        if row is not None:
            return row
        refusal = await taken()
        if refusal is not None:
            raise refusal
    raise Conflict(
        f"The {key_phrase(list(key))} of the {model.__name__} was taken and freed again "
        "while this call ran; send it again.",
        reason="ALREADY_EXISTS",
    )


def column_values(row: Entity) -> dict[str, Any]:
    """The columns set on a new (not yet added) row, by attribute name, for `insert_new`.
    Unset and None columns are left out, so that the table's defaults apply as they do
    when the session inserts the row."""
    state = inspect_row(row)
    return {
        attribute.key: state.dict[attribute.key]
        for attribute in state.mapper.column_attrs
        if state.dict.get(attribute.key) is not None
    }
