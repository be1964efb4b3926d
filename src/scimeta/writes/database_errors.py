"""Errors PostgreSQL raises for bad input, turned into errors a client can act on.

Most input is checked before it reaches the database; the constraints are the last line,
and also the only one that holds under concurrency (two clients taking one name). A
create whose refusal names the row that has its key handles its key's race itself
(`scimeta.writes.unique`); the errors here name what is taken, never the values of rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError

from scimeta.errors import BadUserInput, ClientError, Conflict, NotFound
from scimeta.models import Base

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"
NOT_NULL_VIOLATION = "23502"
QUERY_CANCELED = "57014"
IN_FAILED_TRANSACTION = "25P02"
BAD_VALUES = {
    "22001": "a text value is longer than its field allows",
    "22003": "a number is out of range",
    "22P02": "a value has the wrong format",
    "22007": "a date or time has the wrong format",
    "22008": "a date or time is out of range",
    "22023": "a value is not valid",
    # PostgreSQL text and JSON cannot hold the NUL character, \u0000
    "22021": "a text contains a character that cannot be stored, such as NUL (\\u0000)",
    "22P05": "a text contains a character that cannot be stored, such as NUL (\\u0000)",
}


def client_error(exc: DBAPIError) -> ClientError | None:
    """The client error `exc` stands for, or None when it is the server's own fault.

    A statement cancelled by the statement timeout is left to the caller
    (`is_statement_timeout`): its message gives the timeout, which the server's settings
    know and the error does not.
    """
    cause: Any = getattr(exc.orig, "__cause__", None)
    sqlstate = getattr(cause, "sqlstate", None)
    constraint = getattr(cause, "constraint_name", None) or ""
    table = getattr(cause, "table_name", None) or ""
    message = str(getattr(cause, "message", "") or cause)
    if sqlstate == UNIQUE_VIOLATION:
        columns = key_columns(table, constraint)
        return Conflict(
            f"A {noun(table)} with this {key_phrase(columns)} already exists.",
            reason="ALREADY_EXISTS",
            constraint=constraint,
            fields=[field_name(column) for column in columns],
        )
    if sqlstate == FOREIGN_KEY_VIOLATION:
        if message.startswith("update or delete"):
            return Conflict(
                f"Other rows still refer to this one ({noun(table)} rows); remove them first.",
                reason="HAS_DEPENDENTS",
                constraint=constraint,
            )
        return NotFound(
            f"The {key_phrase(key_columns(table, constraint))} given for the {noun(table)} does "
            "not exist."
        )
    if sqlstate == CHECK_VIOLATION:
        return BadUserInput(
            f"The values break the rule '{rule(constraint, table)}' of {noun(table)}.",
            constraint=constraint,
        )
    if sqlstate == NOT_NULL_VIOLATION:
        column = getattr(cause, "column_name", None) or "a field"
        return BadUserInput(f"{column} of {noun(table)} is required.")
    if sqlstate in BAD_VALUES:
        return BadUserInput(f"Invalid input: {BAD_VALUES[sqlstate]} ({message}).")
    return None


def is_statement_timeout(exc: DBAPIError) -> bool:
    """Whether PostgreSQL cancelled the statement for running past `statement_timeout`
    (and not, say, because the client cancelled it)."""
    cause: Any = getattr(exc.orig, "__cause__", None)
    message = str(getattr(cause, "message", "") or "")
    return getattr(cause, "sqlstate", None) == QUERY_CANCELED and "statement timeout" in message


def is_aborted_transaction(exc: DBAPIError) -> bool:
    """Whether the statement was refused because an earlier one of its transaction failed:
    that earlier error is the one to report."""
    cause: Any = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "sqlstate", None) == IN_FAILED_TRANSACTION


def noun(table: str) -> str:
    """The entity name of a table, as the schema calls it."""
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == table:
            return mapper.class_.__name__
    return table or "row"


def rule(constraint: str, table: str) -> str:
    """`ck_calculations_gap_non_negative` -> `gap non negative`."""
    name = constraint.removeprefix("ck_").removeprefix(f"{table}_")
    return name.replace("_", " ")


def key_columns(table: str, constraint: str) -> list[str]:
    """The columns of the table's unique index, unique constraint or foreign key called
    `constraint`, as the models declare them (empty if it is not one of theirs).

    The columns come from the models and not from PostgreSQL's detail of the error, which
    also gives the row's values: internal ids and other rows' data that are not the
    caller's to see."""
    found = Base.metadata.tables.get(table)
    if found is None:
        return []
    for candidate in (*found.indexes, *found.constraints):
        if getattr(candidate, "name", None) == constraint:
            return [column.name for column in getattr(candidate, "columns", [])]
    return []


def field_name(column: str) -> str:
    """The name a client gives a column's value in: `checksum_algorithm` ->
    `checksumAlgorithm`, `project_id` -> `projectId`."""
    first, *rest = column.split("_")
    return first + "".join(word.capitalize() for word in rest)


def key_phrase(columns: list[str]) -> str:
    """`["project_id", "checksum_algorithm", "checksum"]` -> `project, checksum algorithm
    and checksum`."""
    words = [column.removesuffix("_id").replace("_", " ") for column in columns] or ["key"]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
