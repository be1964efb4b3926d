"""Recordings of a participant, saved by their key with their channels, movement cycles
and data file (seed 003 save_audio_processing, save_biomechanics_import, save_movement_cycles).

Saving a key again updates the recording: the pipeline that processes a maneuver re-runs
and saves its result again, and the database keeps one row per result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Integer,
    Text,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.writes.core import FileSpec
from scimeta.writes.studies.recording_specs import (
    CHANNEL_COLUMNS,
    CYCLE_COLUMNS,
    RecordingSpec,
)
from scimeta.writes.transaction import Writer

FILE_FIELDS = (
    "path",
    "name",
    "mimetype",
    "size_bytes",
    "checksum",
    "checksum_algorithm",
    "modified_at",
    "annotation",
    "content_flag",
    "sub_type",
)
# The rows that are parts of a recording, replaced together.
Part = type[models.RecordingChannel] | type[models.MovementCycle]


async def save_recording(writer: Writer, spec: RecordingSpec) -> tuple[models.Recording, bool]:
    """The recording of `spec`'s key, created or updated, and whether it was created.

    Two saves of one key at once must leave one row. Each save locks the participant and
    only then looks the key up, so saves under one participant queue and the later finds
    the earlier's row. INSERT ... ON CONFLICT DO UPDATE would also leave one row, but would
    not give the old values that tell what changed, nor the row before its channels, cycles
    and file are replaced; and one pipeline saves a participant's recordings, so the queue
    costs nothing. Synchronizations take the same lock first, so the order is one.
    """
    await writer.lock(models.Participant, spec.participant_id)
    recording = await _find(writer, spec)
    if recording is None:
        return await _create(writer, spec), True
    await _update(writer, recording, spec)
    return recording, False


async def _find(writer: Writer, spec: RecordingSpec) -> models.Recording | None:
    table = models.Recording
    found = await writer.session.scalars(
        select(table)
        .where(
            table.participant_id == spec.participant_id,
            table.kind == spec.kind,
            table.maneuver == spec.maneuver,
            table.knee == spec.knee,
            # The key treats a missing pass number as a value (NULLS NOT DISTINCT).
            table.pass_number.is_not_distinct_from(spec.pass_number),
        )
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return found.one_or_none()


async def _create(writer: Writer, spec: RecordingSpec) -> models.Recording:
    file = await writer.create(spec.file.row()) if spec.file is not None else None
    recording = models.Recording(
        participant_id=spec.participant_id,
        kind=spec.kind,
        maneuver=spec.maneuver,
        knee=spec.knee,
        pass_number=spec.pass_number,
        file_id=file.id if file is not None else None,
        **spec.fields,
    )
    cycles = spec.cycle_columns
    await writer.create(recording, channels=len(spec.channels or ()), cycles=len(cycles or ()))
    if spec.channels:
        await _insert_parts(writer, models.RecordingChannel, recording.id, _channel_rows(spec))
    if cycles:
        await _insert_parts(writer, models.MovementCycle, recording.id, cycles.rows())
    return recording


async def _update(writer: Writer, recording: models.Recording, spec: RecordingSpec) -> None:
    """Save the parts first and set the recording's columns last, so that the recording
    is written once (one UPDATE, one version) however much changed."""
    changed: list[str] = []
    values = dict(spec.fields)
    if spec.file is not None:
        values["file_id"], file_changed = await _save_file(writer, recording.file_id, spec.file)
        if file_changed:
            changed.append("file")
    counts: dict[str, int] = {}
    if spec.channels is not None:
        counts["channels"] = len(spec.channels)
        if await _replace_parts(writer, models.RecordingChannel, recording.id, _channel_rows(spec)):
            changed.append("channels")
    elif values.get("num_channels") not in (None, recording.num_channels):
        await _check_stored_channels_fit(writer, recording.id, values["num_channels"])
    if spec.cycle_columns is not None:
        counts["cycles"] = len(spec.cycle_columns)
        if await _replace_parts(
            writer, models.MovementCycle, recording.id, spec.cycle_columns.rows()
        ):
            changed.append("cycles")
    changed += (name for name in assign_changes(recording, values) if name != "file_id")
    if not changed:
        return
    # Also when only its parts changed: the recording's version and time move with them.
    recording.updated_at = func.now()
    await writer.flush()
    writer.event(recording, "updated", {"fields": sorted(changed), **counts})


def assign_changes(row: Any, values: Mapping[str, Any]) -> list[str]:
    """Set the values that differ from the row's; returns their names."""
    changed = sorted(name for name, value in values.items() if getattr(row, name) != value)
    for name in changed:
        setattr(row, name, values[name])
    return changed


async def _save_file(writer: Writer, file_id: int | None, spec: FileSpec) -> tuple[int, bool]:
    """The id of the recording's file row, updated in place to what `spec` describes (or
    created), and whether anything changed."""
    given = spec.row()
    if file_id is None:
        await writer.create(given)
        return given.id, True
    file = await writer.lock(models.File, file_id)
    changed = assign_changes(file, {name: getattr(given, name) for name in FILE_FIELDS})
    if changed:
        await writer.flush()
        writer.event(file, "updated", {"fields": changed})
    return file.id, bool(changed)


async def _check_stored_channels_fit(writer: Writer, recording_id: int, limit: int) -> None:
    table = models.RecordingChannel
    highest = (
        await writer.session.execute(
            select(func.max(table.index)).where(table.recording_id == recording_id)
        )
    ).scalar_one()
    if highest is not None and highest >= limit:
        raise BadUserInput(
            f"The recording has a channel {highest}, which numChannels {limit} leaves out; "
            "give its channels with the new numChannels.",
            field="numChannels",
        )


def _channel_rows(spec: RecordingSpec) -> list[tuple[Any, ...]]:
    return [channel.values() for channel in spec.channels or ()]


async def _insert_parts(
    writer: Writer, model: Part, recording_id: int, rows: Sequence[tuple[Any, ...]]
) -> None:
    """All parts in one INSERT: cycles (up to 10,000) as one array per column unnested,
    one statement whatever their number; channels (up to 64, each with an array of
    artifact types, which unnest cannot take) as a multi-row INSERT."""
    if model is models.MovementCycle:
        index, start, end, qc_passed, attributes = (
            list(column) for column in zip(*rows, strict=True)
        )
        cycles = (
            func.unnest(
                literal(index, ARRAY(Integer)),
                literal(start, ARRAY(Float)),
                literal(end, ARRAY(Float)),
                literal(qc_passed, ARRAY(Boolean)),
                literal([json.dumps(values) for values in attributes], ARRAY(Text)),
            )
            .table_valued(*CYCLE_COLUMNS)
            .render_derived()
        )
        await writer.session.execute(
            insert(models.MovementCycle).from_select(
                ["recording_id", *CYCLE_COLUMNS],
                select(
                    literal(recording_id, BigInteger),
                    cycles.c["index"],
                    cycles.c.start_seconds,
                    cycles.c.end_seconds,
                    cycles.c.qc_passed,
                    cast(cycles.c.attributes, JSONB),
                ),
            )
        )
        return
    columns = _columns(model)
    await writer.session.execute(
        insert(model),
        [{"recording_id": recording_id, **dict(zip(columns, row, strict=True))} for row in rows],
    )


async def _replace_parts(
    writer: Writer, model: Part, recording_id: int, rows: Sequence[tuple[Any, ...]]
) -> bool:
    """Replace the recording's parts with `rows` (their values in column order); False (and
    nothing written) if they are the same already, so that saving a result again writes
    nothing."""
    columns = _columns(model)
    stored = await writer.session.execute(
        select(*(getattr(model, name) for name in columns))
        .where(model.recording_id == recording_id)
        .order_by(model.index)
    )
    wanted = sorted(rows, key=itemgetter(0))
    if [tuple(row) for row in stored] == wanted:
        return False
    await writer.session.execute(delete(model).where(model.recording_id == recording_id))
    if rows:
        await _insert_parts(writer, model, recording_id, rows)
    return True


def _columns(model: Part) -> tuple[str, ...]:
    return CHANNEL_COLUMNS if model is models.RecordingChannel else CYCLE_COLUMNS
