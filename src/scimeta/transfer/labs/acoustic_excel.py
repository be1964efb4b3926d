"""`scimeta import acoustic-excel LOCATION`: the acoustic-emission processing logs (the
workbooks of `ManeuverProcessingLog.save_to_excel`, seed 003) onto studies, participants,
recordings with their channels and movement cycles, synchronizations and data files.

Every workbook is read and checked first (`acoustic_workbooks`, `acoustic_plan`); then
studies, participants, recordings and synchronizations are written, each kind in
transactions of bulk statements on one connection, committed as they go, so a run that
stops finishes when run again. A row is matched by its natural key (a study by name, a
participant by number, a recording by participant, kind, maneuver, knee and pass, a
synchronization by its pair): one that is there is left as it is and counted present.
The participants a transaction writes recordings of are locked first, as a save of a
recording locks its participant, so an import and the mutations queue.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scimeta import models
from scimeta.demo.bulk import RowWriter, table_of
from scimeta.models import Event, RecordingKind
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs.acoustic_plan import Plan, describe, plan
from scimeta.transfer.labs.acoustic_workbooks import (
    DataFile,
    Reader,
    RecordingKey,
    RecordingRow,
    SyncRow,
    workbook_paths,
)
from scimeta.transfer.labs.steps import import_step
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal, Source
from scimeta.writes.transaction import Writer, json_value

NAME = "acoustic-excel"
ACTOR = f"import:{NAME}"
# recordings (with their channels, cycles and files) written per transaction
RECORDING_BATCH = 2_000
_CHUNK_BYTES = 1 << 20
# the kinds of row, in the order the report lists them
_ENTITIES = (
    "Workbook",
    "Study",
    "Participant",
    "Recording",
    "RecordingChannel",
    "MovementCycle",
    "Synchronization",
    "File",
)

# (participant id, kind, maneuver, knee, pass number)
StoredKey = tuple[int, RecordingKind, models.Maneuver, models.Knee, int | None]


async def import_acoustic_excel(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the workbook or the directory of workbooks at `location` (see the module's
    docstring)."""
    if options.project is not None:
        raise TransferError("the processing logs hold studies, not projects: leave out --project")
    root = Path(location)
    if not root.exists():
        raise TransferError(f"{root}: no such workbook or directory")
    paths = workbook_paths(root)
    if not paths:
        raise TransferError(f"{root}: no .xlsx workbook there")
    for entity in _ENTITIES:
        report.of(entity)
    reader = Reader(report, options.study, root)
    progress.begin("workbooks", len(paths))
    for path in paths:
        report.of("Workbook").read += 1
        try:
            reader.read(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            report.refuse(
                Refusal(
                    "Workbook",
                    reader.name_of(path),
                    None,
                    f"not a workbook openpyxl can read ({exc}); save it again from Excel",
                )
            )
        progress.advance(1)
    progress.end()
    planned = plan(reader.found, report)
    async with engine.connect() as connection:
        run = _Run(connection, planned, options, progress, report)
        await run.studies()
        await run.participants()
        await run.recordings()
        await run.synchronizations()
        if connection.in_transaction():
            await connection.rollback()
    return report


class _Run:
    def __init__(
        self,
        connection: AsyncConnection,
        planned: Plan,
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
    ) -> None:
        self.connection = connection
        self.plan = planned
        self.options = options
        self.progress = progress
        self.report = report
        self.study_ids: dict[str, int] = {}
        self.participant_ids: dict[tuple[str, int], int] = {}

    def step(self) -> AbstractAsyncContextManager[Writer]:
        """One transaction of the import (see `import_step`)."""
        return import_step(self.connection, ACTOR, self.options.dry_run)

    # -- studies and participants

    async def studies(self) -> None:
        names = self.plan.studies
        counts = self.report.of("Study")
        counts.read += len(names)
        self.progress.begin("Study", len(names))
        async with self.step() as writer:
            table = table_of(models.Study)
            created = await _insert_many(
                writer,
                insert(table)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(table.c.id, table.c.name),
                [{"name": name} for name in names],
            )
            for study_id, name in created:
                _created(writer, "Study", study_id, {"id": study_id, "name": name})
                counts.created += 1
            found = await writer.session.execute(
                select(table.c.name, table.c.id).where(table.c.name.in_(names))
            )
            self.study_ids = {name: study_id for name, study_id in found}
        counts.present += len(names) - counts.created
        self.progress.advance(len(names))
        self.progress.end()

    async def participants(self) -> None:
        wanted = self.plan.participants
        counts = self.report.of("Participant")
        counts.read += len(wanted)
        self.progress.begin("Participant", len(wanted))
        async with self.step() as writer:
            table = table_of(models.Participant)
            rows = [
                {"study_id": self.study_ids[study], "number": number} for study, number in wanted
            ]
            created = await _insert_many(
                writer,
                insert(table)
                .on_conflict_do_nothing(index_elements=["study_id", "number"])
                .returning(table.c.id, table.c.study_id, table.c.number),
                rows,
            )
            for participant_id, study_id, number in created:
                payload = {"id": participant_id, "study_id": study_id, "number": number}
                _created(writer, "Participant", participant_id, payload)
                counts.created += 1
            names = {study_id: name for name, study_id in self.study_ids.items()}
            found = await writer.session.execute(
                select(table.c.study_id, table.c.number, table.c.id).where(
                    table.c.study_id.in_(list(names))
                )
            )
            self.participant_ids = {
                (names[study_id], number): participant_id
                for study_id, number, participant_id in found
            }
        counts.present += len(wanted) - counts.created
        self.progress.advance(len(wanted))
        self.progress.end()

    # -- recordings

    async def recordings(self) -> None:
        rows = list(self.plan.recordings.values())
        self.progress.begin("Recording", len(rows))
        for batch in self._batches(rows):
            async with self.step() as writer:
                participants = sorted({self.participant_ids[row.participant] for row in batch})
                stored = await self._stored(writer, participants)
                new = [row for row in batch if self._stored_key(row.key) not in stored]
                self._count_present(row for row in batch if row not in new)
                await self._insert_recordings(writer, new)
            self.progress.advance(len(batch))
        self.progress.end()

    def _batches(self, rows: Sequence[RecordingRow]) -> list[list[RecordingRow]]:
        """Rows in batches of about RECORDING_BATCH, a participant's all in one."""
        by_participant: dict[tuple[str, int], list[RecordingRow]] = {}
        for row in rows:
            by_participant.setdefault(row.participant, []).append(row)
        batches: list[list[RecordingRow]] = []
        batch: list[RecordingRow] = []
        for participant in sorted(by_participant):
            batch.extend(by_participant[participant])
            if len(batch) >= RECORDING_BATCH:
                batches.append(batch)
                batch = []
        if batch:
            batches.append(batch)
        return batches

    def _stored_key(self, key: RecordingKey) -> StoredKey:
        study, number, kind, maneuver, knee, pass_number = key
        return (self.participant_ids[(study, number)], kind, maneuver, knee, pass_number)

    async def _stored(
        self, writer: Writer, participants: list[int]
    ) -> dict[StoredKey, tuple[int, int | None]]:
        """The participants locked (as a save of a recording locks its participant), and
        the id and file id of each of their recordings, by key."""
        await writer.session.execute(
            text(
                "SELECT id FROM participants WHERE id = ANY(:ids) ORDER BY id FOR NO KEY UPDATE"
            ).bindparams(bindparam("ids", type_=ARRAY(BigInteger))),
            {"ids": participants},
        )
        table = table_of(models.Recording)
        found = await writer.session.execute(
            select(
                table.c.participant_id,
                table.c.kind,
                table.c.maneuver,
                table.c.knee,
                table.c.pass_number,
                table.c.id,
                table.c.file_id,
            ).where(table.c.participant_id.in_(participants))
        )
        return {(p, kind, m, k, n): (i, f) for p, kind, m, k, n, i, f in found}

    def _count_present(self, rows: Any) -> None:
        """Rows whose recording is there: so are its file, channels and cycles."""
        for row in rows:
            self.report.of("Recording").present += 1
            parts = (
                ("File", int(row.file is not None)),
                ("RecordingChannel", len(row.channels or ())),
                ("MovementCycle", len(row.cycles)),
            )
            for entity, count in parts:
                self.report.of(entity).present += count
                if entity != "MovementCycle":
                    # cycles are counted read as their rows are read
                    self.report.of(entity).read += count

    async def _insert_recordings(
        self, writer: Writer, rows: Sequence[RecordingRow]
    ) -> dict[RecordingKey, tuple[int, int | None]]:
        """Insert the rows' files, the recordings, their channels and cycles; the new
        recordings' ids and file ids, by key."""
        if not rows:
            return {}
        with_files = [row for row in rows if row.file is not None]
        file_values = [_file_values(row.file) for row in with_files if row.file is not None]
        file_ids: dict[RecordingKey, int] = {}
        if file_values:
            table = table_of(models.File)
            inserted = await writer.session.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), file_values
            )
            for row, file_row, (file_id,) in zip(with_files, file_values, inserted, strict=True):
                file_ids[row.key] = file_id
                _created(writer, "File", file_id, {"id": file_id, **file_row})
            self.report.of("File").read += len(file_values)
            self.report.of("File").created += len(file_values)
        table = table_of(models.Recording)
        values = [self._recording_values(row, file_ids.get(row.key)) for row in rows]
        inserted = await writer.session.execute(
            insert(table)
            .on_conflict_do_nothing()
            .returning(table.c.id, sort_by_parameter_order=True),
            values,
        )
        ids = [recording_id for (recording_id,) in inserted]
        if len(ids) != len(rows):
            raise TransferError(
                "recordings of these participants were saved while this import ran; run it again"
            )
        channels: list[dict[str, Any]] = []
        cycles: list[dict[str, Any]] = []
        made: dict[RecordingKey, tuple[int, int | None]] = {}
        for row, recording_id, row_values in zip(rows, ids, values, strict=True):
            made[row.key] = (recording_id, row_values["file_id"])
            channels.extend(
                {"recording_id": recording_id, **vars(channel)} for channel in row.channels or ()
            )
            cycles.extend(
                {
                    "recording_id": recording_id,
                    "index": cycle.index,
                    "start_seconds": cycle.start_seconds,
                    "end_seconds": cycle.end_seconds,
                    "qc_passed": cycle.qc_passed,
                    "attributes": cycle.attributes,
                }
                for cycle in row.cycles
            )
            payload = {"id": recording_id, **row_values}
            payload.pop("attributes")
            _created(
                writer,
                "Recording",
                recording_id,
                payload,
                channels=len(row.channels or ()),
                cycles=len(row.cycles),
            )
        bulk = RowWriter(await writer.session.connection())
        await bulk.copy(models.RecordingChannel, channels)
        await bulk.copy(models.MovementCycle, cycles)
        self.report.of("Recording").created += len(rows)
        self.report.of("RecordingChannel").read += len(channels)
        self.report.of("RecordingChannel").created += len(channels)
        self.report.of("MovementCycle").created += len(cycles)
        return made

    def _recording_values(self, row: RecordingRow, file_id: int | None) -> dict[str, Any]:
        _, _, kind, maneuver, knee, pass_number = row.key
        fields = row.fields
        return {
            "participant_id": self.participant_ids[row.participant],
            "kind": kind,
            "maneuver": maneuver,
            "knee": knee,
            "pass_number": pass_number,
            "speed": fields.get("speed"),
            "recorded_at": fields.get("recorded_at"),
            "device_serial": fields.get("device_serial"),
            "firmware_version": fields.get("firmware_version"),
            "num_channels": fields.get("num_channels"),
            "qc_passed": fields.get("qc_passed"),
            "qc_fail_segments": fields.get("qc_fail_segments") or [],
            "file_id": file_id,
            "attributes": fields.get("attributes") or {},
        }

    # -- synchronizations

    async def synchronizations(self) -> None:
        syncs = list(self.plan.syncs.values())
        counts = self.report.of("Synchronization")
        self.progress.begin("Synchronization", len(syncs))
        by_recording = {id(sync.recording): sync for sync in syncs}
        for batch in self._batches([sync.recording for sync in syncs]):
            async with self.step() as writer:
                participants = sorted({self.participant_ids[row.participant] for row in batch})
                stored = await self._stored(writer, participants)
                pairs = await self._stored_pairs(writer, participants)
                new_recordings: list[RecordingRow] = []
                new_pairs: list[tuple[SyncRow, int, int]] = []
                claimed: dict[tuple[int, int], SyncRow] = {}
                for row in batch:
                    sync = by_recording[id(row)]
                    pair = self._pair(sync, stored)
                    if pair is None:
                        continue
                    own = stored.get(self._stored_key(row.key))
                    holder = claimed.get(pair)
                    if holder is not None or (pair in pairs and own is None):
                        self._refuse_taken_pair(sync, holder)
                        continue
                    claimed[pair] = sync
                    self.report.of("Recording").read += 1
                    if own is None:
                        new_recordings.append(row)
                    else:
                        self._count_present([row])
                    if pair in pairs:
                        counts.present += 1
                    else:
                        new_pairs.append((sync, *pair))
                made = await self._insert_recordings(writer, new_recordings)
                for key, value in made.items():
                    stored[self._stored_key(key)] = value
                await self._insert_pairs(writer, new_pairs, stored)
            self.progress.advance(len(batch))
        self.progress.end()

    async def _stored_pairs(self, writer: Writer, participants: list[int]) -> set[tuple[int, int]]:
        table = table_of(models.Synchronization)
        recordings = table_of(models.Recording)
        found = await writer.session.execute(
            select(table.c.audio_recording_id, table.c.biomechanics_recording_id)
            .join(recordings, recordings.c.id == table.c.audio_recording_id)
            .where(recordings.c.participant_id.in_(participants))
        )
        return {(audio, biomechanics) for audio, biomechanics in found}

    def _pair(
        self, sync: SyncRow, stored: dict[StoredKey, tuple[int, int | None]]
    ) -> tuple[int, int] | None:
        """The audio and biomechanics recordings the row synchronizes: those of its
        maneuver, knee and pass, or (a walk's whole recording) of no pass."""
        participant, _, maneuver, knee, pass_number = self._stored_key(sync.recording.key)
        found = []
        for kind in (RecordingKind.AUDIO, RecordingKind.BIOMECHANICS):
            ids = [
                stored.get((participant, kind, maneuver, knee, number))
                for number in dict.fromkeys([pass_number, None])
            ]
            match = next((value for value in ids if value is not None), None)
            if match is None:
                self.report.refuse(
                    Refusal(
                        "Synchronization",
                        sync.recording.location,
                        sync.recording.source_id,
                        f"there is no {kind.value} recording of this maneuver, knee and pass "
                        f"to synchronize (wanted for the {describe(sync.recording.key)}); add "
                        f"its {kind.value.lower()} row to the log, or import that log first.",
                    )
                )
                return None
            found.append(match[0])
        return found[0], found[1]

    def _refuse_taken_pair(self, sync: SyncRow, holder: SyncRow | None) -> None:
        by = f"the row at {holder.recording.location}" if holder else "an earlier import"
        self.report.refuse(
            Refusal(
                "Synchronization",
                sync.recording.location,
                sync.recording.source_id,
                f"{by} already synchronizes the same audio and biomechanics recordings; "
                "scimeta keeps one synchronization per pair, so each pass of a walk needs "
                "its own audio or biomechanics row (with its pass_number).",
            )
        )

    async def _insert_pairs(
        self,
        writer: Writer,
        pairs: list[tuple[SyncRow, int, int]],
        stored: dict[StoredKey, tuple[int, int | None]],
    ) -> None:
        if not pairs:
            return
        table = table_of(models.Synchronization)
        values = [
            {
                "audio_recording_id": audio,
                "biomechanics_recording_id": biomechanics,
                "file_id": stored[self._stored_key(sync.recording.key)][1],
                "audio_sync_seconds": None,
                "biomechanics_sync_seconds": None,
                "offset_seconds": None,
                "method": None,
                "qc_passed": None,
                **sync.values,
            }
            for sync, audio, biomechanics in pairs
        ]
        inserted = await writer.session.execute(
            insert(table)
            .on_conflict_do_nothing()
            .returning(table.c.id, sort_by_parameter_order=True),
            values,
        )
        ids = [sync_id for (sync_id,) in inserted]
        if len(ids) != len(values):
            raise TransferError(
                "synchronizations of these participants were saved while this import ran; "
                "run it again"
            )
        for sync_id, row_values in zip(ids, values, strict=True):
            _created(writer, "Synchronization", sync_id, {"id": sync_id, **row_values})
        self.report.of("Synchronization").created += len(ids)


async def _insert_many(
    writer: Writer, statement: Any, rows: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """The rows the statement inserted (an empty list would insert one of defaults)."""
    if not rows:
        return []
    return [tuple(row) for row in await writer.session.execute(statement, rows)]


def _created(
    writer: Writer, subject: str, subject_id: int, values: dict[str, Any], **more: Any
) -> None:
    """The `created` event a write function records: the row's set values."""
    payload = {name: json_value(value) for name, value in values.items() if value is not None}
    writer.record(
        Event(
            subject_type=subject,
            subject_id=subject_id,
            type="created",
            actor=ACTOR,
            payload={**payload, **more},
        )
    )


def _file_values(file: DataFile | None) -> dict[str, Any]:
    """A data file's row: checksummed and sized when it is on disk."""
    assert file is not None
    path = file.path
    values: dict[str, Any] = {
        "path": str(path),
        "name": path.name,
        "size_bytes": None,
        "checksum": None,
        "checksum_algorithm": None,
        "modified_at": None,
    }
    if file.exists:
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK_BYTES):
                digest.update(chunk)
        status = path.stat()
        values |= {
            "size_bytes": status.st_size,
            "checksum": digest.hexdigest(),
            "checksum_algorithm": "sha256",
            "modified_at": datetime.fromtimestamp(status.st_mtime, UTC),
        }
    return values


SOURCE = Source(
    name=NAME,
    location="FILE|DIR",
    summary="acoustic-emission processing logs (.xlsx), one workbook or a directory of them",
    run=import_acoustic_excel,
)
