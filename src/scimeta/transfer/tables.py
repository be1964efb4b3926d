"""Which tables an export holds, in which order, and how their ids appear in it.

Every entity is written with its `id` as the global id clients know it by, and every
column that refers to another entity as that entity's global id, so that an export reads
like the API and a reference cannot be mistaken for a number. The catalogue is derived
from the ORM's metadata, so a column added by a migration is exported and imported
without a change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import Column, Table
from sqlalchemy.dialects.postgresql import JSONB

from scimeta.models import Base

# Credentials and per-caller state of this server, not data: API tokens and their grants
# (a copy would let the old tokens in elsewhere) and idempotency keys (scoped by the
# callers of this server; a retry after a move is a new call).
NOT_EXPORTED = frozenset({"api_tokens", "token_grants", "idempotency_keys"})

# The event log's subject: a type name and a row id, not a foreign key.
SUBJECT_TYPE, SUBJECT_ID = "subject_type", "subject_id"


@dataclass(frozen=True)
class EntityTable:
    """One exported table: its entity's type name, its key column (`id`, or an event's
    `sequence`), and the entity type each referring column names."""

    table: Table
    type_name: str
    key: str
    # column -> the type name of the entity it refers to
    references: dict[str, str]
    # columns the database computes, which are neither exported nor inserted
    computed: frozenset[str]

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def columns(self) -> list[str]:
        """The stored columns, in table order, as an export names them."""
        return [c.name for c in self.table.columns if c.name not in self.computed]

    @property
    def nullable_json(self) -> list[str]:
        """JSON columns that may be NULL: an export leaves out their key when they are,
        so that NULL and a JSON `null` stay apart."""
        return [
            c.name
            for c in self.table.columns
            if c.nullable and isinstance(c.type, JSONB) and c.name not in self.computed
        ]

    @property
    def polymorphic(self) -> bool:
        """Whether rows name their subject by type and id (the event log)."""
        return SUBJECT_TYPE in self.table.c and SUBJECT_ID in self.table.c

    @property
    def fields(self) -> list[str]:
        """The fields of an exported row: its `id` (an event's is its `sequence`), then
        the stored columns."""
        return self.columns if self.key == "id" else ["id", *self.columns]

    @property
    def id_columns(self) -> list[str]:
        """The fields an export holds as global ids."""
        ids = ["id", *self.references]
        if self.polymorphic:
            ids.append(SUBJECT_ID)
        return ids


def _type_names() -> dict[str, str]:
    return {
        mapper.local_table.name: mapper.class_.__name__
        for mapper in Base.registry.mappers
        if isinstance(mapper.local_table, Table)
    }


def _referenced_type(column: Column[object], names: dict[str, str], seen: frozenset[str]) -> str:
    """The entity type a column refers to: the table of the `id` its foreign keys reach,
    directly or through another table's column (a chunk's `run_id` is its trajectory's)."""
    for foreign_key in column.foreign_keys:
        target = foreign_key.column
        if target.name == "id" and target.table.name in names:
            return names[target.table.name]
    for foreign_key in column.foreign_keys:
        target = foreign_key.column
        qualified = f"{target.table.name}.{target.name}"
        if qualified not in seen:
            found = _referenced_type(target, names, seen | {qualified})
            if found:
                return found
    return ""


@cache
def entity_tables() -> tuple[EntityTable, ...]:
    """The exported tables, each after every table it refers to."""
    names = _type_names()
    result = []
    for table in Base.metadata.sorted_tables:
        if table.name in NOT_EXPORTED or table.name not in names:
            continue
        (key,) = (c.name for c in table.primary_key.columns)
        references = {}
        for column in table.columns:
            if column.name != key and column.foreign_keys:
                target = _referenced_type(column, names, frozenset())
                if target:
                    references[column.name] = target
        computed = frozenset(c.name for c in table.columns if c.computed is not None)
        result.append(EntityTable(table, names[table.name], key, references, computed))
    # the log last: it talks about the rows before it, as it does when they are written
    return tuple(sorted(result, key=lambda entity: entity.polymorphic))


def entity_table(type_name: str) -> EntityTable:
    for entity in entity_tables():
        if entity.type_name == type_name:
            return entity
    raise KeyError(type_name)
