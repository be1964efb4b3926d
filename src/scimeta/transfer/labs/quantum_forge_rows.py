"""Reading the columns of a Quantum Forge row: each reader answers the value scimeta
takes, or raises `Refused` saying why the row cannot be taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scimeta.models import Status
from scimeta.transfer.labs.quantum_forge_store import json_object, timestamp

NAME_LENGTH = 255


class Refused(Exception):
    """A row that cannot be taken; the message says why."""


def status_of(row: dict[str, Any], words: dict[str, Status]) -> Status:
    word = row.get("status")
    status = words.get(str(word).strip().lower()) if word is not None else None
    if status is None:
        raise Refused(f"its status {word!r} is not one of {', '.join(words)}")
    return status


def number_of(row: dict[str, Any], column: str) -> float | None:
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"its {column} {value!r} is not a number")
    return float(value)


def time_of(row: dict[str, Any], column: str) -> datetime | None:
    try:
        return timestamp(row.get(column))
    except ValueError as exc:
        raise Refused(f"its {column} {row.get(column)!r} is not a time") from exc


def json_of(row: dict[str, Any], column: str) -> Any:
    try:
        return json_object(row.get(column))
    except ValueError as exc:
        raise Refused(f"its {column} is not JSON: {exc}") from exc


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def text_of(value: Any) -> str | None:
    return None if value is None else str(value)


def present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
