"""Studies, participants, recordings and what hangs off recordings."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.schema.core import File, Metric
from scimeta.schema.enums import Knee, Maneuver, RecordingKind
from scimeta.schema.node import Entity, LoaderInfo
from scimeta.schema.relations import many, one

if TYPE_CHECKING:
    from scimeta.schema.runs import Run

RunType = Annotated["Run", strawberry.lazy("scimeta.schema.runs")]


@strawberry.type(description="A study: participants and their recordings, or a run spec.")
class Study(Entity):
    __model__ = models.Study

    name: str = strawberry.field(description="Unique short name, e.g. AOA.")
    title: str | None = strawberry.field(description="Human-readable title.")
    description: str | None = strawberry.field(description="What the study is about.")
    spec: JSON | None = strawberry.field(description="The canonical study specification.")
    spec_hash: str | None = strawberry.field(description="SHA-256 of the canonical spec.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    @strawberry.field(description="The study's participants, by number.")
    async def participants(
        self, root: strawberry.Parent[models.Study], info: LoaderInfo
    ) -> list[Participant]:
        return await many(
            info,
            models.Participant,
            models.Participant.study_id,
            root.id,
            models.Participant.number,
        )

    @strawberry.field(description="Runs of this study, oldest first.")
    async def runs(self, root: strawberry.Parent[models.Study], info: LoaderInfo) -> list[RunType]:
        return await many(info, models.Run, models.Run.study_id, root.id, models.Run.id)


@strawberry.type(description="A participant of a study.")
class Participant(Entity):
    __model__ = models.Participant

    number: int = strawberry.field(description="Participant number, unique in the study.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    @strawberry.field(description="The study.")
    async def study(self, root: strawberry.Parent[models.Participant], info: LoaderInfo) -> Study:
        return await one(info, models.Study, root.study_id)

    @strawberry.field(description="The participant's recordings.")
    async def recordings(
        self, root: strawberry.Parent[models.Participant], info: LoaderInfo
    ) -> list[Recording]:
        return await many(
            info, models.Recording, models.Recording.participant_id, root.id, models.Recording.id
        )


@strawberry.type(description="One channel of a recording: microphone and quality control.")
class RecordingChannel(Entity):
    __model__ = models.RecordingChannel

    index: int = strawberry.field(description="Channel index, from 0.")
    microphone_position: str | None = strawberry.field(description="e.g. IPM, IPL, SPM, SPL.")
    qc_passed: bool | None = strawberry.field(description="Whether the channel passed QC.")
    artifact_types: list[str] = strawberry.field(description="Artifacts QC found.")
    signal_dropout: float | None = strawberry.field(description="Fraction of samples lost.")


@strawberry.type(description="One movement cycle extracted from a recording.")
class MovementCycle(Entity):
    __model__ = models.MovementCycle

    index: int = strawberry.field(description="Cycle index, from 0.")
    start_seconds: float = strawberry.field(description="Start, in seconds.")
    end_seconds: float = strawberry.field(description="End, in seconds.")
    qc_passed: bool | None = strawberry.field(description="Whether the cycle passed QC.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")


@strawberry.type(description="Alignment of an audio recording with a biomechanics recording.")
class Synchronization(Entity):
    __model__ = models.Synchronization

    audio_sync_seconds: float | None = strawberry.field(description="Sync point in the audio.")
    biomechanics_sync_seconds: float | None = strawberry.field(
        description="Sync point in the biomechanics data."
    )
    offset_seconds: float | None = strawberry.field(description="Offset between the two.")
    method: str | None = strawberry.field(description="Synchronization method.")
    consensus: JSON = strawberry.field(description="Consensus details across methods.")
    qc_passed: bool | None = strawberry.field(description="Whether the alignment passed QC.")
    qc_notes: str | None = strawberry.field(description="QC notes.")

    @strawberry.field(description="The audio recording.")
    async def audio(
        self, root: strawberry.Parent[models.Synchronization], info: LoaderInfo
    ) -> Recording:
        return await one(info, models.Recording, root.audio_recording_id)

    @strawberry.field(description="The biomechanics recording.")
    async def biomechanics(
        self, root: strawberry.Parent[models.Synchronization], info: LoaderInfo
    ) -> Recording:
        return await one(info, models.Recording, root.biomechanics_recording_id)


@strawberry.type(description="A processed recording of one maneuver on one knee.")
class Recording(Entity):
    __model__ = models.Recording

    kind: RecordingKind = strawberry.field(description="What the recording holds.")
    maneuver: Maneuver = strawberry.field(description="The movement performed.")
    knee: Knee = strawberry.field(description="Which knee.")
    pass_number: int | None = strawberry.field(description="Walk pass number (walks only).")
    speed: str | None = strawberry.field(description="Walk speed (walks only).")
    recorded_at: datetime | None = strawberry.field(description="When it was recorded.")
    device_serial: str | None = strawberry.field(description="Recording device serial.")
    firmware_version: str | None = strawberry.field(description="Device firmware version.")
    num_channels: int | None = strawberry.field(description="Number of channels.")
    qc_passed: bool | None = strawberry.field(description="Whether the recording passed QC.")
    qc_fail_segments: JSON = strawberry.field(description="[start, end] seconds that failed QC.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    @strawberry.field(description="The participant.")
    async def participant(
        self, root: strawberry.Parent[models.Recording], info: LoaderInfo
    ) -> Participant:
        return await one(info, models.Participant, root.participant_id)

    @strawberry.field(description="The data file.")
    async def file(
        self, root: strawberry.Parent[models.Recording], info: LoaderInfo
    ) -> File | None:
        return await one(info, models.File, root.file_id)

    @strawberry.field(description="Per-channel data, by index.")
    async def channels(
        self, root: strawberry.Parent[models.Recording], info: LoaderInfo
    ) -> list[RecordingChannel]:
        return await many(
            info,
            models.RecordingChannel,
            models.RecordingChannel.recording_id,
            root.id,
            models.RecordingChannel.index,
        )

    @strawberry.field(description="Movement cycles, by index.")
    async def cycles(
        self, root: strawberry.Parent[models.Recording], info: LoaderInfo
    ) -> list[MovementCycle]:
        return await many(
            info,
            models.MovementCycle,
            models.MovementCycle.recording_id,
            root.id,
            models.MovementCycle.index,
        )

    @strawberry.field(description="Synchronizations of this audio recording.")
    async def synchronizations(
        self, root: strawberry.Parent[models.Recording], info: LoaderInfo
    ) -> list[Synchronization]:
        return await many(
            info,
            models.Synchronization,
            models.Synchronization.audio_recording_id,
            root.id,
            models.Synchronization.id,
        )

    @strawberry.field(description="Metrics of this recording.")
    async def metrics(
        self, root: strawberry.Parent[models.Recording], info: LoaderInfo
    ) -> list[Metric]:
        return await many(info, models.Metric, models.Metric.recording_id, root.id)
