"""SQL expressions that write a value as the executor serialises it, so that the JSON
PostgreSQL builds is the JSON strawberry would have sent: global ids, DateTime text,
keyset cursors.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Enum,
    Float,
    Integer,
    String,
    Text,
    case,
    cast,
    extract,
    func,
    literal_column,
    null,
)
from sqlalchemy.dialects.postgresql import JSON

# A value the compiled statement writes where it cannot give the executor's answer (a
# node that is missing or hidden, where the executor raises an error). PostgreSQL text
# cannot hold NUL, so no real string serialises as `"\u0000...`: finding this text in
# the response's JSON is proof that the executor must answer instead.
FALLBACK_MARK = '"\\u0000scimeta:fallback"'
FALLBACK_BYTES = FALLBACK_MARK.encode()


def sql_literal(text: str) -> ColumnElement[Any]:
    """A string constant written into the statement (names of the schema only, never
    client input), so that it costs no parameter."""
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def fallback() -> ColumnElement[Any]:
    return literal_column("'" + FALLBACK_MARK + "'::json", JSON)


def json_object(pairs: list[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
    arguments: list[Any] = []
    for key, value in pairs:
        arguments += [sql_literal(key), value]
    return func.json_build_object(*arguments, type_=JSON)


def iso_datetime(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`datetime.isoformat()` of a UTC datetime: microseconds only when there are some."""
    utc = func.timezone(sql_literal("UTC"), column)
    microseconds = cast(extract("microseconds", column), BigInteger) % 1_000_000
    fraction = case(
        (microseconds == 0, sql_literal("")), else_=func.to_char(utc, sql_literal(".US"))
    )
    text = (
        func.to_char(utc, sql_literal('YYYY-MM-DD"T"HH24:MI:SS')) + fraction + sql_literal("+00:00")
    )
    return case((column.is_(None), null()), else_=text)


def _base64(text: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.encode(func.convert_to(text, sql_literal("UTF8")), sql_literal("base64"))


def global_id(type_name: str, row_id: ColumnElement[Any]) -> ColumnElement[Any]:
    """`relay.GlobalID(type_name, str(row_id))`: base64 of "Type:id" (short enough that
    PostgreSQL's base64 never breaks the line)."""
    return _base64(sql_literal(type_name + ":") + cast(row_id, Text))


def global_id_of(type_column: ColumnElement[Any], row_id: ColumnElement[Any]) -> ColumnElement[Any]:
    return _base64(type_column + sql_literal(":") + cast(row_id, Text))


def output_value(column: Any) -> ColumnElement[Any]:
    """A column as its GraphQL value: DateTime as ISO text, the rest as PostgreSQL's JSON
    of the value (enums are stored by name, which is their GraphQL value)."""
    if isinstance(column.type, DateTime):
        return iso_datetime(column)
    value: ColumnElement[Any] = column
    return value


def _json_number_text(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """`json.dumps` of a float: Python's shortest repr, which writes integral values
    below 1e16 with `.0` and PostgreSQL without."""
    integral = (column == func.trunc(column)) & (func.abs(column) < literal_column("1e16"))
    return case(
        (integral, cast(cast(column, BigInteger), Text) + sql_literal(".0")),
        else_=cast(column, Text),
    )


def cursor_value(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The JSON text `scimeta.schema.ordering.encode_cursor` writes for a sort value."""
    type_ = column.type
    text: ColumnElement[Any]
    if isinstance(type_, DateTime):
        text = sql_literal('"') + iso_datetime(column) + sql_literal('"')
    elif isinstance(type_, Float):
        text = _json_number_text(column)
    elif isinstance(type_, Integer | BigInteger):
        text = cast(column, Text)
    elif isinstance(type_, Boolean):
        text = case((column, sql_literal("true")), else_=sql_literal("false"))
    elif isinstance(type_, String | Enum):
        text = cast(func.to_json(cast(column, Text)), Text)
    else:
        raise TypeError(f"no cursor text for {type_!r}")
    return func.coalesce(text, sql_literal("null"))


def cursor(ordering: str, columns: list[ColumnElement[Any]]) -> ColumnElement[Any]:
    """`encode_cursor`: URL-safe base64 of `["<ordering>",[v1,...]]` (PostgreSQL breaks
    base64 lines every 76 characters: the breaks are dropped)."""
    payload: Any = sql_literal(f'["{ordering}",[')
    for position, column in enumerate(columns):
        if position:
            payload = payload + sql_literal(",")
        payload = payload + cursor_value(column)
    payload = payload + sql_literal("]]")
    return func.translate(_base64(payload), literal_column("E'+/\\n'"), sql_literal("-_"))
