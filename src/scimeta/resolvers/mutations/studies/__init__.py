"""Mutations of studies and their participants (seed 003).

Its module `recordings` holds the mutations of recordings and synchronizations.
"""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.resolvers.mutations.base import (
    WriteInfo,
    given,
    json_object,
    row_id,
    update_node,
    write,
)
from scimeta.schema.studies import Participant, Study
from scimeta.writes import studies as writes


@strawberry.input(description="A new study.")
class CreateStudyInput:
    name: str = strawberry.field(description="Unique short name, e.g. AOA.")
    title: str | None = strawberry.field(default=None, description="Human-readable title.")
    description: str | None = strawberry.field(default=None, description="What the study is about.")
    attributes: JSON | None = strawberry.field(
        default=None, description="Lab-specific fields: a JSON object."
    )


@strawberry.input(description="Changes to a study; fields left out keep their value.")
class UpdateStudyInput:
    id: relay.GlobalID = strawberry.field(description="The study.")
    title: str | None = strawberry.field(
        default=strawberry.UNSET, description="Human-readable title."
    )
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="What the study is about."
    )
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Lab-specific fields; replace the study's."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the study changed."
    )


@strawberry.type(description="The study.")
class StudyPayload:
    study: Study = strawberry.field(description="The study as it is now.")


@strawberry.input(description="A participant of a study, found by its number.")
class SaveParticipantInput:
    study_id: relay.GlobalID = strawberry.field(description="The study.")
    number: int = strawberry.field(description="Participant number in the study, e.g. 1011.")
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Lab-specific fields (age, sex, ...): a JSON object. Given, they replace "
        "an existing participant's; left out, it keeps its own.",
    )


@strawberry.type(description="The participant, and whether this call created it.")
class SaveParticipantPayload:
    participant: Participant = strawberry.field(description="The participant as it is now.")
    created: bool = strawberry.field(
        description="True if the participant is new; false if it existed (and was updated)."
    )


@strawberry.type
class StudyMutations:
    @strawberry.mutation(
        description="Create a study (seed 003 StudyRecord). A name already taken is refused "
        "(CONFLICT, ALREADY_EXISTS, with existingId)."
    )
    async def create_study(self, info: WriteInfo, input: CreateStudyInput) -> StudyPayload:
        attributes = json_object(input.attributes, "attributes")
        async with write(info, server="studies") as writer:
            study = await writes.create_study(
                writer,
                name=input.name,
                title=input.title,
                description=input.description,
                attributes=attributes,
            )
        return StudyPayload(study=study)  # type: ignore[arg-type]

    @strawberry.mutation(description="Change a study's title, description or attributes.")
    async def update_study(self, info: WriteInfo, input: UpdateStudyInput) -> StudyPayload:
        study = await update_node(info, models.Study, input)
        return StudyPayload(study=study)

    @strawberry.mutation(
        description="Create a participant of a study (seed 003 ParticipantRecord), or update "
        "the one with that number: saving a number again never makes a second participant, "
        "also when several clients save it at once."
    )
    async def save_participant(
        self, info: WriteInfo, input: SaveParticipantInput
    ) -> SaveParticipantPayload:
        study_id = row_id(input.study_id, models.Study, "studyId")
        attributes = (
            json_object(input.attributes, "attributes") if given(input.attributes) else None
        )
        async with write(info) as writer:
            participant, created = await writes.save_participant(
                writer, study_id=study_id, number=input.number, attributes=attributes
            )
        return SaveParticipantPayload(
            participant=participant,  # type: ignore[arg-type]
            created=created,
        )
