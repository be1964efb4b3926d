"""Studies, participants, recordings and what hangs off recordings."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.models.ownership import relation
from scimeta.schema.connections import list_field
from scimeta.schema.core import File, metric_list
from scimeta.schema.enums import Knee, Maneuver, RecordingKind
from scimeta.schema.generated.lists import (
    movement_cycle_list,
    participant_list,
    recording_channel_list,
    recording_list,
    run_list,
    synchronization_list,
)
from scimeta.schema.node import Entity
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.relations import related

if TYPE_CHECKING:
    from scimeta.schema.runs import Run

RunType = Annotated["Run", strawberry.lazy("scimeta.schema.runs")]
_MODULE = "scimeta.schema.studies"


@strawberry.type(description="A study: participants and their recordings, or a run spec.")
class Study(Entity):
    __model__ = models.Study

    name: str = strawberry.field(description="Unique short name, e.g. AOA.")
    title: str | None = strawberry.field(description="Human-readable title.")
    description: str | None = strawberry.field(description="What the study is about.")
    spec: JSON | None = strawberry.field(description="The canonical study specification.")
    spec_hash: str | None = strawberry.field(description="SHA-256 of the canonical spec.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    participants = list_field(
        Annotated["Participant", strawberry.lazy(_MODULE)],
        relation(models.Study, "participants"),
        resolver=participant_list,
        default_order=[OrderTerm(models.Participant.number)],
        description="The study's participants, by number.",
    )
    runs = list_field(
        RunType,
        relation(models.Study, "runs"),
        resolver=run_list,
        description="Runs of this study, oldest first.",
    )


@strawberry.type(description="A participant of a study.")
class Participant(Entity):
    __model__ = models.Participant

    number: int = strawberry.field(description="Participant number, unique in the study.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    study: Study = related(models.Participant, "study", description="The study.")

    recordings = list_field(
        Annotated["Recording", strawberry.lazy(_MODULE)],
        relation(models.Participant, "recordings"),
        resolver=recording_list,
        description="The participant's recordings, oldest first.",
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

    audio: Recording = related(models.Synchronization, "audio", description="The audio recording.")

    biomechanics: Recording = related(
        models.Synchronization, "biomechanics", description="The biomechanics recording."
    )


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

    participant: Participant = related(
        models.Recording, "participant", description="The participant."
    )

    file: File | None = related(models.Recording, "file", description="The data file.")

    channels = list_field(
        RecordingChannel,
        relation(models.Recording, "channels"),
        resolver=recording_channel_list,
        default_order=[OrderTerm(models.RecordingChannel.index)],
        description="Per-channel data, by index.",
    )
    cycles = list_field(
        MovementCycle,
        relation(models.Recording, "cycles"),
        resolver=movement_cycle_list,
        default_order=[OrderTerm(models.MovementCycle.index)],
        description="Movement cycles, by index.",
    )
    synchronizations = list_field(
        Synchronization,
        relation(models.Recording, "synchronizations"),
        resolver=synchronization_list,
        description="Synchronizations of this audio recording with biomechanics recordings.",
    )
    metrics = metric_list(relation(models.Recording, "metrics"), "Metrics of this recording.")
