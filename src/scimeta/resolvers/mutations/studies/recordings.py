"""Mutations of recordings and synchronizations (seed 003): saved by their key, so that a
pipeline that runs again updates its results instead of duplicating them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.resolvers.mutations.base import (
    MAX_BULK_ROWS,
    WriteInfo,
    capped,
    given,
    json_object,
    row_id,
    write,
)
from scimeta.resolvers.mutations.core import FileInput
from scimeta.schema.enums import Knee, Maneuver, RecordingKind
from scimeta.schema.studies import Recording, Synchronization
from scimeta.writes.columns import Names, check_columns, nulls
from scimeta.writes.studies.recording_specs import (
    MAX_CHANNELS,
    RECORDING_FIELDS,
    ChannelSpec,
    CycleColumns,
    RecordingSpec,
)
from scimeta.writes.studies.recordings import save_recording
from scimeta.writes.studies.synchronizations import (
    SYNCHRONIZATION_FIELDS,
    SynchronizationSpec,
    save_synchronization,
)

_KEEPS = "Left out, an existing recording keeps its value."


@strawberry.input(description="One channel of an audio recording.")
class RecordingChannelInput:
    index: int = strawberry.field(description="Channel index, from 0 to numChannels - 1.")
    microphone_position: str | None = strawberry.field(
        default=None, description="Microphone position, e.g. IPM, IPL, SPM, SPL."
    )
    qc_passed: bool | None = strawberry.field(
        default=None, description="Whether the channel passed QC."
    )
    artifact_types: list[str] = strawberry.field(
        default_factory=list, description="Artifacts QC found, e.g. intermittent, continuous."
    )
    signal_dropout: float | None = strawberry.field(
        default=None, description="Fraction of the samples lost, from 0 to 1."
    )

    def spec(self) -> ChannelSpec:
        return ChannelSpec(
            index=self.index,
            microphone_position=self.microphone_position,
            qc_passed=self.qc_passed,
            artifact_types=list(self.artifact_types),
            signal_dropout=self.signal_dropout,
        )


@strawberry.input(description="One movement cycle extracted from a recording.")
class MovementCycleInput:
    index: int = strawberry.field(description="Cycle index, from 0; unique in the recording.")
    start_seconds: float = strawberry.field(description="Start, in seconds.")
    end_seconds: float = strawberry.field(description="End, in seconds; not before the start.")
    qc_passed: bool | None = strawberry.field(
        default=None, description="Whether the cycle passed QC."
    )
    attributes: JSON | None = strawberry.field(
        default=None, description="Per-cycle values, e.g. acoustic energy: a JSON object."
    )


@strawberry.input(
    description="Movement cycles as one list per column, entry n of each being cycle n's: "
    "the same rows as a list of MovementCycleInput, checked by the same rules, for less "
    "work per cycle on the server and a smaller request. Errors name a value by its column "
    "and position, as cycleColumns.endSeconds[3]."
)
class MovementCycleColumnsInput:
    index: list[int] = strawberry.field(
        description="Cycle indexes, from 0; unique in the recording. Its length is the number "
        f"of cycles (at most {MAX_BULK_ROWS})."
    )
    start_seconds: list[float] = strawberry.field(description="Starts, in seconds.")
    end_seconds: list[float] = strawberry.field(
        description="Ends, in seconds; none before its start."
    )
    qc_passed: list[bool | None] | None = strawberry.field(
        default=None, description="Whether each cycle passed QC; left out, null for all."
    )
    attributes: list[JSON | None] | None = strawberry.field(
        default=None, description="Per-cycle values, each a JSON object or null; left out, none."
    )


@strawberry.input(
    description="A processed recording of one maneuver on one knee, found by its key "
    "(participant, kind, maneuver, knee, passNumber). Fields left out keep their value on an "
    "existing recording; on a new one they are empty."
)
class SaveRecordingInput:
    participant_id: relay.GlobalID = strawberry.field(description="The participant.")
    kind: RecordingKind = strawberry.field(description="What the recording holds.")
    maneuver: Maneuver = strawberry.field(description="The movement performed.")
    knee: Knee = strawberry.field(description="Which knee.")
    pass_number: int | None = strawberry.field(
        default=None, description="Walk pass number, WALK only; part of the key."
    )
    speed: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"Walk speed, WALK only. {_KEEPS}"
    )
    recorded_at: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"When it was recorded; a time without a zone is UTC. {_KEEPS}",
    )
    device_serial: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"Recording device serial. {_KEEPS}"
    )
    firmware_version: str | None = strawberry.field(
        default=strawberry.UNSET, description=f"Device firmware version. {_KEEPS}"
    )
    num_channels: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Number of channels, 1 or more; when channels are given without it, "
        f"their count. {_KEEPS}",
    )
    qc_passed: bool | None = strawberry.field(
        default=strawberry.UNSET, description=f"Whether the recording passed QC. {_KEEPS}"
    )
    qc_fail_segments: list[list[float]] | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"[start, end] seconds that failed QC, start <= end; at most "
        f"{MAX_BULK_ROWS}. {_KEEPS}",
    )
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET, description=f"Lab-specific fields: a JSON object. {_KEEPS}"
    )
    file: FileInput | None = strawberry.field(
        default=None,
        description="The data file (it stays where it is). Given, it updates the recording's "
        "file in place; left out, the recording keeps its file.",
    )
    channels: list[RecordingChannelInput] | None = strawberry.field(
        default=None,
        description=f"Per-channel data, indexes unique; at most {MAX_CHANNELS}. Given, they "
        "replace the recording's channels; left out, it keeps them.",
    )
    cycles: list[MovementCycleInput] | None = strawberry.field(
        default=None,
        description=f"Movement cycles, indexes unique; at most {MAX_BULK_ROWS}. Given, they "
        "replace the recording's cycles; left out, it keeps them.",
    )
    cycle_columns: MovementCycleColumnsInput | None = strawberry.field(
        default=None, description="The same movement cycles as columns, instead of cycles."
    )

    def spec(self) -> RecordingSpec:
        capped(self.channels or [], "channels", MAX_CHANNELS)
        capped(self.cycles or [], "cycles")
        if given(self.qc_fail_segments):
            capped(self.qc_fail_segments or [], "qcFailSegments")
        fields = _given_fields(self, RECORDING_FIELDS)
        if "attributes" in fields:
            fields["attributes"] = json_object(fields["attributes"], "attributes")
        return RecordingSpec(
            participant_id=row_id(self.participant_id, models.Participant, "participantId"),
            kind=models.RecordingKind(self.kind.value),
            maneuver=models.Maneuver(self.maneuver.value),
            knee=models.Knee(self.knee.value),
            pass_number=self.pass_number,
            fields=fields,
            file=self.file.spec() if self.file is not None else None,
            channels=[channel.spec() for channel in self.channels]
            if self.channels is not None
            else None,
            cycles=self._cycles(),
        )

    def _cycles(self) -> CycleColumns | None:
        """The cycles of either form as columns, checked, as columns, for their lengths;
        the spec checks their values."""
        columns = self.cycle_columns
        if columns is None:
            if self.cycles is None:
                return None
            return CycleColumns(
                index=[cycle.index for cycle in self.cycles],
                start_seconds=[cycle.start_seconds for cycle in self.cycles],
                end_seconds=[cycle.end_seconds for cycle in self.cycles],
                qc_passed=[cycle.qc_passed for cycle in self.cycles],
                attributes=[cycle.attributes for cycle in self.cycles],
            )
        if self.cycles is not None:
            raise BadUserInput(
                "Give the cycles as cycles or as cycleColumns, not both.", field="cycles"
            )
        names = Names("cycleColumns", columnar=True)
        rows = check_columns(
            names,
            MAX_BULK_ROWS,
            "index",
            {
                "index": columns.index,
                "startSeconds": columns.start_seconds,
                "endSeconds": columns.end_seconds,
                "qcPassed": columns.qc_passed,
                "attributes": columns.attributes,
            },
        )
        return CycleColumns(
            index=columns.index,
            start_seconds=columns.start_seconds,
            end_seconds=columns.end_seconds,
            qc_passed=nulls(columns.qc_passed, rows),
            attributes=nulls(columns.attributes, rows),
            names=names,
        )


@strawberry.type(description="The recording, and whether this call created it.")
class SaveRecordingPayload:
    recording: Recording = strawberry.field(description="The recording as it is now.")
    created: bool = strawberry.field(
        description="True if the key was new; false if an existing recording was updated."
    )


@strawberry.input(
    description="The alignment of an audio recording with a biomechanics recording of the "
    "same participant, found by the pair. Fields left out keep their value on an existing "
    "synchronization."
)
class SaveSynchronizationInput:
    audio_recording_id: relay.GlobalID = strawberry.field(description="The AUDIO recording.")
    biomechanics_recording_id: relay.GlobalID = strawberry.field(
        description="The BIOMECHANICS recording."
    )
    audio_sync_seconds: float | None = strawberry.field(
        default=strawberry.UNSET, description="Sync point in the audio, in seconds."
    )
    biomechanics_sync_seconds: float | None = strawberry.field(
        default=strawberry.UNSET, description="Sync point in the biomechanics data, in seconds."
    )
    offset_seconds: float | None = strawberry.field(
        default=strawberry.UNSET, description="Offset between the two, in seconds."
    )
    method: str | None = strawberry.field(
        default=strawberry.UNSET, description="Synchronization method."
    )
    consensus: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Consensus details across methods: a JSON object."
    )
    qc_passed: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether the alignment passed QC."
    )
    qc_notes: str | None = strawberry.field(default=strawberry.UNSET, description="QC notes.")
    file: FileInput | None = strawberry.field(
        default=None, description="The synchronized data file (it stays where it is)."
    )

    def spec(self) -> SynchronizationSpec:
        fields = _given_fields(self, SYNCHRONIZATION_FIELDS)
        if "consensus" in fields:
            fields["consensus"] = json_object(fields["consensus"], "consensus")
        return SynchronizationSpec(
            audio_recording_id=row_id(
                self.audio_recording_id, models.Recording, "audioRecordingId"
            ),
            biomechanics_recording_id=row_id(
                self.biomechanics_recording_id, models.Recording, "biomechanicsRecordingId"
            ),
            fields=fields,
            file=self.file.spec() if self.file is not None else None,
        )


@strawberry.type(description="The synchronization and the recording that holds its result.")
class SaveSynchronizationPayload:
    synchronization: Synchronization = strawberry.field(
        description="The synchronization as it is now."
    )
    recording: Recording = strawberry.field(
        description="The SYNCHRONIZATION recording of the same maneuver, knee and pass: it "
        "holds the synchronized file and the QC result beside the audio and biomechanics."
    )
    created: bool = strawberry.field(
        description="True if the pair was new; false if its synchronization was updated."
    )


def _given_fields(input: object, names: frozenset[str]) -> dict[str, Any]:
    return {name: getattr(input, name) for name in names if given(getattr(input, name))}


@strawberry.type
class RecordingMutations:
    @strawberry.mutation(
        description="Save a recording with its channels, movement cycles and data file (seed "
        "003 save_audio_processing, save_biomechanics_import, save_movement_cycles). Saving "
        "the same key again updates the recording, also when several clients save it at "
        "once. passNumber and speed are for WALK only."
    )
    async def save_recording(
        self, info: WriteInfo, input: SaveRecordingInput
    ) -> SaveRecordingPayload:
        spec = input.spec()
        async with write(info) as writer:
            recording, created = await save_recording(writer, spec)
        return SaveRecordingPayload(recording=recording, created=created)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Save the synchronization of an AUDIO recording with a BIOMECHANICS "
        "recording of the same participant (seed 003 SynchronizationRecord); saving the pair "
        "again updates it. The SYNCHRONIZATION recording of the same maneuver is saved with "
        "it, holding the file and the QC result."
    )
    async def save_synchronization(
        self, info: WriteInfo, input: SaveSynchronizationInput
    ) -> SaveSynchronizationPayload:
        spec = input.spec()
        async with write(info) as writer:
            synchronization, recording, created = await save_synchronization(writer, spec)
        return SaveSynchronizationPayload(
            synchronization=synchronization,  # type: ignore[arg-type]
            recording=recording,  # type: ignore[arg-type]
            created=created,
        )
