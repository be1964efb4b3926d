"""Studies and their participants (seed 003).

The studies domain's other writes are its modules: `recordings` (saved by their key with
their parts), `recording_specs` (what a save carries, checked first) and
`synchronizations` (an audio recording with a biomechanics one).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from scimeta import models
from scimeta.errors import BadUserInput, Conflict, NotFound
from scimeta.writes.transaction import Writer, global_id, snapshot
from scimeta.writes.unique import create_unique


async def create_study(
    writer: Writer,
    *,
    name: str,
    title: str | None = None,
    description: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> models.Study:
    """A new study; its name must be free. A name taken before this call and one taken by
    a concurrent call are refused alike, naming the study that has it."""
    if not name.strip():
        raise BadUserInput("A study needs a name, e.g. AOA.", field="name")

    async def taken() -> Conflict | None:
        namesake = (
            await writer.session.execute(select(models.Study).where(models.Study.name == name))
        ).scalar_one_or_none()
        if namesake is None:
            return None
        return Conflict(
            f"A study named {name!r} already exists ({global_id(namesake)}); pick another "
            "name or update that study.",
            reason="ALREADY_EXISTS",
            existingId=global_id(namesake),
        )

    values = {
        "name": name,
        "title": title,
        "description": description,
        "attributes": attributes or {},
    }
    return await create_unique(writer, models.Study, values, key=["name"], taken=taken)


async def save_participant(
    writer: Writer, *, study_id: int, number: int, attributes: dict[str, Any] | None
) -> tuple[models.Participant, bool]:
    """The participant `number` of the study, created if new, and whether it was created.
    `attributes`, when given, replace the existing participant's.

    INSERT ... ON CONFLICT DO NOTHING lets a concurrent save of the same number wait for
    the first to commit and then find its row, so the number is never taken twice and
    neither call fails.
    """
    if number < 0:
        raise BadUserInput(f"number must be 0 or more, not {number}.", field="number")
    study = await writer.get(models.Study, study_id)
    table = models.Participant
    inserted = await writer.session.scalars(
        insert(table)
        .values(study_id=study.id, number=number, attributes=attributes or {})
        .on_conflict_do_nothing(index_elements=[table.study_id, table.number])
        .returning(table)
        .execution_options(populate_existing=True)
    )
    participant = inserted.one_or_none()
    if participant is not None:
        writer.event(participant, "created", snapshot(participant))
        return participant, True
    existing = await writer.session.scalars(
        select(table)
        .where(table.study_id == study.id, table.number == number)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    participant = existing.one_or_none()
    if participant is None:
        raise NotFound(
            f"Participant {number} of study {study.name} was deleted while this call saved "
            "it; save it again."
        )
    if attributes is not None and participant.attributes != attributes:
        participant.attributes = attributes
        await writer.flush()
        writer.event(participant, "updated", {"fields": ["attributes"]})
    return participant, False
