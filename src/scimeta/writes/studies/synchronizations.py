"""Synchronizations of an audio recording with a biomechanics recording (seed 003
SynchronizationRecord), saved by the pair."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.models import RecordingKind
from scimeta.writes.core import FileSpec
from scimeta.writes.studies.recording_specs import RecordingSpec
from scimeta.writes.studies.recordings import assign_changes, save_recording
from scimeta.writes.transaction import Writer, global_id

# The columns a save sets when they are given.
SYNCHRONIZATION_FIELDS = frozenset(
    {
        "audio_sync_seconds",
        "biomechanics_sync_seconds",
        "offset_seconds",
        "method",
        "consensus",
        "qc_passed",
        "qc_notes",
    }
)


@dataclass
class SynchronizationSpec:
    """A synchronization as a writer saves it; `fields` holds the columns given (of
    SYNCHRONIZATION_FIELDS), the others keep their value on an existing one."""

    audio_recording_id: int
    biomechanics_recording_id: int
    fields: dict[str, Any] = field(default_factory=dict)
    file: FileSpec | None = None

    def __post_init__(self) -> None:
        unknown = set(self.fields) - SYNCHRONIZATION_FIELDS
        if unknown:
            raise ValueError(f"Not fields of a synchronization: {sorted(unknown)}")


async def save_synchronization(
    writer: Writer, spec: SynchronizationSpec
) -> tuple[models.Synchronization, models.Recording, bool]:
    """The synchronization of the pair, created or updated; the SYNCHRONIZATION recording
    of the same maneuver, knee and pass that holds its file and QC result; and whether the
    synchronization was created.

    The lab keeps a synchronization as one record beside the audio and biomechanics
    records of a maneuver, so it is saved as a recording too; the Synchronization row
    shares that recording's file. Saving the recording locks the participant first, which
    also queues concurrent saves of one pair.
    """
    audio = await writer.get(models.Recording, spec.audio_recording_id)
    biomechanics = await writer.get(models.Recording, spec.biomechanics_recording_id)
    _check_pair(audio, biomechanics)
    recording_fields: dict[str, Any] = {"speed": audio.speed, "recorded_at": audio.recorded_at}
    if "qc_passed" in spec.fields:
        recording_fields["qc_passed"] = spec.fields["qc_passed"]
    recording, _ = await save_recording(
        writer,
        RecordingSpec(
            participant_id=audio.participant_id,
            kind=RecordingKind.SYNCHRONIZATION,
            maneuver=audio.maneuver,
            knee=audio.knee,
            pass_number=audio.pass_number,
            fields=recording_fields,
            file=spec.file,
        ),
    )
    table = models.Synchronization
    existing = await writer.session.scalars(
        select(table)
        .where(
            table.audio_recording_id == audio.id,
            table.biomechanics_recording_id == biomechanics.id,
        )
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    synchronization = existing.one_or_none()
    if synchronization is None:
        synchronization = models.Synchronization(
            audio_recording_id=audio.id,
            biomechanics_recording_id=biomechanics.id,
            file_id=recording.file_id,
            **spec.fields,
        )
        await writer.create(synchronization)
        return synchronization, recording, True
    changed = assign_changes(synchronization, {**spec.fields, "file_id": recording.file_id})
    if changed:
        await writer.flush()
        writer.event(synchronization, "updated", {"fields": changed})
    return synchronization, recording, False


def _check_pair(audio: models.Recording, biomechanics: models.Recording) -> None:
    for recording, kind, name in (
        (audio, RecordingKind.AUDIO, "audioRecordingId"),
        (biomechanics, RecordingKind.BIOMECHANICS, "biomechanicsRecordingId"),
    ):
        if recording.kind != kind:
            raise BadUserInput(
                f"{name} must be a recording of kind {kind.value}; {global_id(recording)} "
                f"is of kind {recording.kind.value}.",
                field=name,
            )
    if audio.participant_id != biomechanics.participant_id:
        raise BadUserInput(
            f"The audio recording {global_id(audio)} and the biomechanics recording "
            f"{global_id(biomechanics)} are of different participants; a synchronization "
            "aligns two recordings of one participant.",
            field="biomechanicsRecordingId",
        )
