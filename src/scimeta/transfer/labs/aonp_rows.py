"""Reading the fields of a run service document: each reader answers the value scimeta
takes, or raises `Refused` saying why the document cannot be taken. Values scimeta keeps as
JSON are turned into plain JSON values."""

from __future__ import annotations

import base64
import json
import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.objectid import ObjectId


class Refused(Exception):
    """A document that cannot be taken; the message says why."""


def plain(value: Any, field: str) -> Any:
    """`value` as a JSON value PostgreSQL keeps: ids and times as text, 64-bit and decimal
    numbers as numbers, binary as base64, NaN and infinities as their names."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value).replace("inf", "Infinity")
    if isinstance(value, str):
        if "\x00" in value:
            raise Refused(f"its {field} holds a NUL character, which PostgreSQL text cannot")
        return value
    if isinstance(value, dict):
        return {str(key): plain(item, f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item, f"{field}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ObjectId | uuid.UUID):
        return str(value)
    if isinstance(value, Decimal128):
        return plain(float(value.to_decimal()), field)
    if isinstance(value, Decimal):
        return plain(float(value), field)
    if isinstance(value, Binary | bytes):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def number(value: Any, field: str) -> float | None:
    """A number of a document (a double, an int, a $numberLong, a $numberDecimal)."""
    if value is None:
        return None
    if isinstance(value, Decimal128):
        return float(value.to_decimal())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"its {field} {plain(value, field)!r} is not a number")
    return float(value)


def timestamp(value: Any, field: str) -> datetime | None:
    """A time of a document: a BSON date, or ISO 8601 text (UTC when it has no zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str):
        try:
            found = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise Refused(f"its {field} {value!r} is not a time") from exc
    else:
        raise Refused(f"its {field} {plain(value, field)!r} is not a time")
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def source_id(document: dict[str, Any]) -> str | None:
    """The document's `_id` as text: an ObjectId's 24 hex digits."""
    value = document.get("_id")
    if value is None:
        return None
    return (
        str(value) if isinstance(value, ObjectId | str | int) else json.dumps(plain(value, "_id"))
    )


def id_time(document: dict[str, Any]) -> datetime | None:
    """When the document was inserted, as its ObjectId says (to the second)."""
    value = document.get("_id")
    return value.generation_time if isinstance(value, ObjectId) else None


def name_of(document: dict[str, Any], key: str, maximum: int) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"it has no {key}")
    if len(value) > maximum:
        raise Refused(f"its {key} is {len(value)} characters long; at most {maximum} fit")
    if "\x00" in value:
        raise Refused(f"its {key} holds a NUL character, which PostgreSQL text cannot")
    return value


def word_of(document: dict[str, Any], key: str, words: dict[str, Any], *, required: bool) -> Any:
    word = document.get(key)
    if word is None and not required:
        return None
    found = words.get(word.strip().lower()) if isinstance(word, str) else None
    if found is None:
        raise Refused(f"its {key} {plain(word, key)!r} is not one of {'|'.join(words)}")
    return found


def extras_of(document: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Fields scimeta has no column for, kept in `attributes`."""
    return {key: plain(value, key) for key, value in document.items() if key not in known}


def source_attribute(document: dict[str, Any]) -> dict[str, Any]:
    identity = source_id(document)
    return {} if identity is None else {"source_id": identity}
