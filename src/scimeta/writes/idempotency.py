"""Idempotency keys: a worker that retries a create after a timeout gets the row its
first call made, and nothing is written twice.

The key is claimed with INSERT ... ON CONFLICT DO NOTHING inside the call's transaction.
A second call with the same key waits for the first to commit or roll back (the unique
index makes it), then either finds the first call's result or, if the first rolled back,
proceeds as the first.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from scimeta.errors import BadUserInput, Conflict
from scimeta.models import Entity, IdempotencyKey
from scimeta.writes.transaction import Writer, json_value, type_name

MAX_KEY_LENGTH = 255


def request_hash(operation: str, arguments: Any) -> str:
    canonical = json.dumps(
        [operation, arguments], sort_keys=True, separators=(",", ":"), default=_jsonable
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    converted = json_value(value)
    return str(converted) if converted is value else converted


class Idempotency:
    """One call's use of a key: `begin` finds an earlier result, `finish` records this
    call's."""

    def __init__(self, writer: Writer, key: str | None, operation: str, arguments: Any) -> None:
        if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
            raise BadUserInput(f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters long.")
        self._writer = writer
        self._key = key
        self._operation = operation
        self._hash = request_hash(operation, arguments) if key is not None else ""

    async def begin(self) -> tuple[str, int] | None:
        """The (type, id) an earlier call with this key made, or None if this call is
        the first (or carries no key)."""
        if self._key is None:
            return None
        session = self._writer.session
        claimed = await session.execute(
            insert(IdempotencyKey)
            .values(
                actor=self._writer.actor,
                key=self._key,
                operation=self._operation,
                request_hash=self._hash,
            )
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if claimed.first() is not None:
            return None
        earlier = (
            await session.execute(
                select(IdempotencyKey).where(
                    IdempotencyKey.actor == self._writer.actor, IdempotencyKey.key == self._key
                )
            )
        ).scalar_one()
        if earlier.operation != self._operation or earlier.request_hash != self._hash:
            raise Conflict(
                f"The idempotency key {self._key!r} was used for a different call "
                f"({earlier.operation} with other input); use a new key for a new call.",
                reason="IDEMPOTENCY_KEY_REUSED",
            )
        if earlier.subject_type is None or earlier.subject_id is None:
            raise Conflict(
                f"The idempotency key {self._key!r} belongs to a call that made nothing.",
                reason="IDEMPOTENCY_KEY_REUSED",
            )
        return earlier.subject_type, earlier.subject_id

    async def finish(self, result: Entity) -> None:
        if self._key is None:
            return
        await self._writer.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.actor == self._writer.actor, IdempotencyKey.key == self._key)
            .values(subject_type=type_name(result), subject_id=result.id)
        )
