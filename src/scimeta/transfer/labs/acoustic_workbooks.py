"""Processing-log workbooks read into the rows the import writes: recordings (audio,
biomechanics, movement cycles), their cycles, and synchronizations, each checked as the
write functions check a save; a row they would refuse is refused here, with its reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import load_workbook  # type: ignore[import-untyped]

from scimeta.errors import BadUserInput
from scimeta.models import Knee, Maneuver, RecordingKind
from scimeta.transfer.labs import acoustic_fields as cells
from scimeta.transfer.labs.acoustic_fields import (
    AUDIO_FIELDS,
    MICROPHONES,
    SYNC_FIELDS,
    RowError,
    field_of,
    normalized,
    snake,
)
from scimeta.transfer.sources import ImportReport, Refusal
from scimeta.writes.studies.recording_specs import ChannelSpec, RecordingSpec

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
MAX_STUDY_NAME = 255

AUDIO, BIOMECHANICS, SYNCHRONIZATION, CYCLES, DETAILS, SUMMARY = (
    "audio",
    "biomechanics",
    "synchronization",
    "cycles",
    "details",
    "summary",
)
_SHEETS = {
    AUDIO: {"audio", "audioprocessing", "audioprocessingrecord"},
    BIOMECHANICS: {"biomechanics", "biomech", "biomechanicsimport", "biomechanicsimportrecord"},
    SYNCHRONIZATION: {"synchronization", "synchronizations", "sync", "synchronizationrecord"},
    CYCLES: {"movementcycles", "movementcycle", "cycles", "movementcyclesrecord"},
    DETAILS: {"cycledetails", "movementcycledetails", "movementcycledetail", "percycledetails"},
    SUMMARY: {"summary"},
}
# processing_log_{study_id}_{knee_side}_{maneuver}.xlsx, as save_to_excel names it
_LOG_NAME = re.compile(
    r"processing_log_(?P<study_id>.+?)_(?P<knee>left|right)_(?P<maneuver>.+)", re.IGNORECASE
)
# what names the row's recording: its place in the model's key
_KEY_FIELDS = frozenset({"study", "study_id", "knee", "maneuver", "pass_number", "record_type"})

# (study, participant number, kind, maneuver, knee, pass number)
RecordingKey = tuple[str, int, RecordingKind, Maneuver, Knee, int | None]


def sheet_kind(name: str) -> str | None:
    wanted = normalized(name)
    return next((kind for kind, names in _SHEETS.items() if wanted in names), None)


@dataclass
class DataFile:
    """A file a row names (`named`, as its cell has it): where it is, and whether it is
    there (checksummed when its recording is created)."""

    named: str
    path: Path

    @property
    def exists(self) -> bool:
        return self.path.is_file()


@dataclass
class Cycle:
    location: str
    index: int | None
    start_seconds: float
    end_seconds: float
    qc_passed: bool | None
    attributes: dict[str, Any]
    source_id: str | None


@dataclass
class RecordingRow:
    location: str
    source_id: str | None
    key: RecordingKey
    fields: dict[str, Any]
    file: DataFile | None = None
    channels: list[ChannelSpec] | None = None
    cycles: list[Cycle] = field(default_factory=list)

    @property
    def study(self) -> str:
        return self.key[0]

    @property
    def participant(self) -> tuple[str, int]:
        return self.key[0], self.key[1]

    def same_as(self, other: RecordingRow) -> bool:
        """Whether two rows of one key say the same (as a log copied into two workbooks
        does)."""
        mine = [c.values() for c in self.channels or ()]
        theirs = [c.values() for c in other.channels or ()]
        named = self.file.named if self.file else None
        other_named = other.file.named if other.file else None
        return (self.fields, mine, named) == (other.fields, theirs, other_named)


@dataclass
class SyncRow:
    """A synchronization row: its SYNCHRONIZATION recording, and the values of the
    Synchronization that pairs the audio and biomechanics recordings of its maneuver."""

    recording: RecordingRow
    values: dict[str, Any]


@dataclass
class Context:
    """What a workbook says of all its rows: its Summary sheet, its file name."""

    study: Any = None
    study_id: Any = None
    knee: Any = None
    maneuver: Any = None


@dataclass
class Row:
    location: str
    values: dict[str, Any]
    extra: dict[str, Any]

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def attributes(self, *, leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The row's cells that no column takes, by field name, for `attributes`."""
        kept = {
            name: cells.json_cell(value)
            for name, value in (*self.values.items(), *self.extra.items())
            if name not in leave_out and name not in _KEY_FIELDS
        }
        return {name: value for name, value in kept.items() if value is not None}


@dataclass
class Workbooks:
    """Everything read, before it is matched with the database."""

    recordings: list[RecordingRow] = field(default_factory=list)
    cycle_summaries: list[RecordingRow] = field(default_factory=list)
    cycles: list[tuple[RecordingKey, Cycle, dict[str, Any]]] = field(default_factory=list)
    syncs: list[SyncRow] = field(default_factory=list)

    def extend(self, other: Workbooks) -> None:
        self.recordings += other.recordings
        self.cycle_summaries += other.cycle_summaries
        self.cycles += other.cycles
        self.syncs += other.syncs


def workbook_paths(location: Path) -> list[Path]:
    if location.is_file():
        return [location]
    return sorted(
        path
        for path in location.rglob("*")
        if path.suffix.lower() in WORKBOOK_SUFFIXES
        and not path.name.startswith("~$")
        and path.is_file()
    )


class Reader:
    """Reads workbooks into `found`, refusing (through `report`) the rows the model
    would not take."""

    def __init__(self, report: ImportReport, study: str | None, root: Path) -> None:
        self.report = report
        self.study = study
        self.root = root
        self.found = Workbooks()

    def refuse(self, entity: str, location: str, source_id: str | None, reason: str) -> None:
        self.report.refuse(Refusal(entity, location, source_id, reason))

    def read(self, path: Path) -> None:
        """Read one workbook; its rows are kept only if all of it can be read."""
        kept, self.found = self.found, Workbooks()
        try:
            self._read(path)
            kept.extend(self.found)
        finally:
            self.found = kept

    def name_of(self, path: Path) -> str:
        """How locations name a workbook: its path below LOCATION."""
        return path.relative_to(self.root).as_posix() if path != self.root else path.name

    def _read(self, path: Path) -> None:
        name = self.name_of(path)
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            sheets = {
                kind: sheet
                for sheet in workbook.worksheets
                if (kind := sheet_kind(sheet.title)) is not None
            }
            context = self._context(path, sheets.get(SUMMARY), name)
            for kind in (AUDIO, BIOMECHANICS, SYNCHRONIZATION, CYCLES, DETAILS):
                sheet = sheets.get(kind)
                if sheet is None:
                    continue
                for row in _rows(sheet, f"{name} sheet {sheet.title}"):
                    self._row(kind, row, context, path.parent)
        finally:
            workbook.close()

    def _row(self, kind: str, row: Row, context: Context, directory: Path) -> None:
        if kind == AUDIO:
            self._audio(row, context, directory)
        elif kind == BIOMECHANICS:
            self._biomechanics(row, context, directory)
        elif kind == SYNCHRONIZATION:
            self._synchronization(row, context, directory)
        elif kind == DETAILS or _is_detail(row):
            # the newer log keeps one row per cycle in its Movement Cycles sheet
            self._cycle_detail(row, context, directory)
        else:
            self._cycles(row, context)

    def _context(self, path: Path, summary: Any, name: str) -> Context:
        context = Context()
        match = _LOG_NAME.fullmatch(path.stem)
        if match is not None:
            context.study_id = match["study_id"]
            context.knee = match["knee"]
            context.maneuver = match["maneuver"]
        if summary is not None:
            for row in _rows(summary, f"{name} sheet {summary.title}"):
                for attribute in ("study", "study_id", "knee", "maneuver"):
                    value = row.get(attribute)
                    if not cells.is_empty(value):
                        setattr(context, attribute, value)
                break
        return context

    # -- one reader per sheet kind

    def _audio(self, row: Row, context: Context, directory: Path) -> None:
        entity = "Recording"
        self.report.of(entity).read += 1
        source_id = cells.text(row.get("audio_file_name"), "audio_file_name")
        try:
            key = self._key(row, context, RecordingKind.AUDIO)
            fields, channels = _audio_fields(row)
            recording = _checked(
                RecordingRow(
                    location=row.location,
                    source_id=source_id,
                    key=key,
                    fields=fields,
                    file=_data_file(directory, row.get("audio_pkl_file")),
                    channels=channels,
                )
            )
        except RowError as error:
            self.refuse(entity, row.location, source_id, str(error))
            return
        self.found.recordings.append(recording)

    def _biomechanics(self, row: Row, context: Context, directory: Path) -> None:
        entity = "Recording"
        self.report.of(entity).read += 1
        source_id = cells.text(row.get("biomechanics_file"), "biomechanics_file")
        try:
            key = self._key(row, context, RecordingKind.BIOMECHANICS)
            fields = {
                "speed": cells.text(row.get("speed"), "speed", 32),
                "attributes": row.attributes(),
            }
            recording = _checked(
                RecordingRow(
                    location=row.location,
                    source_id=source_id,
                    key=key,
                    fields=_given(fields),
                    file=_data_file(directory, row.get("biomechanics_file")),
                )
            )
        except RowError as error:
            self.refuse(entity, row.location, source_id, str(error))
            return
        self.found.recordings.append(recording)

    def _synchronization(self, row: Row, context: Context, directory: Path) -> None:
        if normalized(str(row.get("record_type") or "")) == "cyclesonly":
            # a movement-cycles summary merged into the synchronization sheet
            self._cycles(row, context)
            return
        entity = "Synchronization"
        self.report.of(entity).read += 1
        source_id = cells.text(row.get("sync_file_name"), "sync_file_name")
        try:
            key = self._key(row, context, RecordingKind.SYNCHRONIZATION)
            sync_qc_passed = _passed(row, "sync_qc_passed", "sync_qc_fail")
            fields = {
                "speed": cells.text(row.get("speed"), "speed", 32),
                "recorded_at": _recorded_at(row),
                "qc_passed": sync_qc_passed,
                "attributes": row.attributes(leave_out=AUDIO_FIELDS | _SYNC_COLUMNS),
            }
            recording = _checked(
                RecordingRow(
                    location=row.location,
                    source_id=source_id,
                    key=key,
                    fields=_given(fields),
                    file=_data_file(directory, cells.first([row.get("sync_file_path"), source_id])),
                )
            )
            values = _sync_values(row, key[4], sync_qc_passed)
        except RowError as error:
            self.refuse(entity, row.location, source_id, str(error))
            return
        self.found.syncs.append(SyncRow(recording, values))

    def _cycles(self, row: Row, context: Context) -> None:
        """A movement-cycles summary row (the older log's sheet): the attributes of the
        MOVEMENT_CYCLES recording of its maneuver and pass."""
        entity = "Recording"
        self.report.of(entity).read += 1
        source_id = cells.text(row.get("sync_file_name"), "sync_file_name")
        try:
            key = self._key(row, context, RecordingKind.MOVEMENT_CYCLES)
            fields = {
                "speed": cells.text(row.get("speed"), "speed", 32),
                "attributes": row.attributes(leave_out=AUDIO_FIELDS | SYNC_FIELDS),
            }
            recording = _checked(
                RecordingRow(row.location, source_id, key=key, fields=_given(fields))
            )
        except RowError as error:
            self.refuse(entity, row.location, source_id, str(error))
            return
        self.found.cycle_summaries.append(recording)

    def _cycle_detail(self, row: Row, context: Context, directory: Path) -> None:
        entity = "MovementCycle"
        self.report.of(entity).read += 1
        source_id = cells.text(row.get("cycle_file"), "cycle_file")
        try:
            key = self._key(row, context, RecordingKind.MOVEMENT_CYCLES)
            start = cells.number(row.get("start_time_s"), "start_time_s")
            end = cells.number(row.get("end_time_s"), "end_time_s")
            if start is None or end is None:
                raise RowError("The cycle has no start or no end (start_time_s, end_time_s).")
            if end < start:
                raise RowError(f"The cycle ends ({end} s) before it starts ({start} s).")
            index = cells.integer(row.get("cycle_index"), "cycle_index")
            if index is not None and index < 0:
                raise RowError(f"cycle_index must be 0 or more, not {index}.")
            failed = [
                cells.boolean(row.get(name), name)
                for name in ("is_outlier", "biomechanics_qc_fail", "sync_qc_fail")
            ]
            known = [flag for flag in failed if flag is not None]
            attributes = row.attributes(
                leave_out=AUDIO_FIELDS | SYNC_FIELDS | {"cycle_index", "start_time_s", "end_time_s"}
            )
            if source_id is not None:
                attributes["cycle_file"] = str(_resolved(directory, source_id))
            cycle = Cycle(
                location=row.location,
                index=index,
                start_seconds=start,
                end_seconds=end,
                qc_passed=(not any(known)) if known else None,
                attributes=attributes,
                source_id=source_id,
            )
            recording_fields = _given(
                {
                    "speed": cells.text(row.get("speed"), "speed", 32),
                    "recorded_at": _recorded_at(row),
                }
            )
            _checked(RecordingRow(row.location, source_id, key=key, fields=recording_fields))
        except RowError as error:
            self.refuse(entity, row.location, source_id, str(error))
            return
        self.found.cycles.append((key, cycle, recording_fields))

    # -- shared

    def _key(self, row: Row, context: Context, kind: RecordingKind) -> RecordingKey:
        study = cells.text(cells.first([row.get("study"), context.study]), "study")
        study, number = cells.participant(
            cells.first([row.get("study_id"), context.study_id]), study
        )
        study = study or self.study
        if study is None:
            raise RowError(
                "The row names no study (no study column, none in the Summary sheet); "
                "name it with --study NAME."
            )
        if len(study) > MAX_STUDY_NAME:
            raise RowError(f"study name is longer than {MAX_STUDY_NAME} characters.")
        knee = cells.knee(cells.first([row.get("knee"), context.knee]))
        maneuver = cells.maneuver(cells.first([row.get("maneuver"), context.maneuver]))
        pass_number = cells.integer(row.get("pass_number"), "pass_number")
        return (study, number, kind, maneuver, knee, pass_number)


_SYNC_COLUMNS = frozenset(
    {
        "audio_sync_time",
        "sync_offset",
        "sync_method",
        "consensus_methods",
        "consensus_time",
        "rms_time",
        "onset_time",
        "freq_time",
        "method_agreement_span",
        "sync_qc_fail",
        "sync_qc_passed",
        "sync_file_path",
    }
)


def _rows(sheet: Any, where: str) -> Iterator[Row]:
    """The sheet's data rows, by field: its first row names the columns. A sheet that
    only holds a `Note` (save_to_excel's "No ... recorded") has none."""
    lines = sheet.iter_rows(values_only=True)
    header = next(lines, None)
    if header is None:
        return
    names = [None if cells.is_empty(h) else str(h).strip() for h in header]
    fields = [None if name is None else field_of(name) for name in names]
    if [name for name in names if name] == ["Note"]:
        return
    for number, line in enumerate(lines, start=2):
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, known, value in zip(names, fields, line, strict=False):
            if name is None or cells.is_empty(value):
                continue
            if known is not None:
                values.setdefault(known, value)
            else:
                extra.setdefault(snake(name), value)
        if values or extra:
            yield Row(f"{where} row {number}", values, extra)


def _is_detail(row: Row) -> bool:
    return any(row.get(name) is not None for name in ("cycle_index", "start_time_s"))


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _resolved(directory: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else directory / path


def _data_file(directory: Path, value: Any) -> DataFile | None:
    """The file a cell names, relative to the workbook's directory; a name without a
    suffix (as sync_file_name is written) is the `.pkl` of that name when there is one."""
    name = cells.text(value, "file")
    if name is None:
        return None
    path = _resolved(directory, name)
    if not path.suffix and not path.is_file() and path.with_suffix(".pkl").is_file():
        path = path.with_suffix(".pkl")
    return DataFile(name, path)


def _recorded_at(row: Row) -> Any:
    return cells.first(
        cells.moment(row.get(name), name)
        for name in ("recording_time", "file_time", "recording_date")
    )


def _passed(row: Row, passed: str, failed: str) -> bool | None:
    found = cells.boolean(row.get(passed), passed)
    if found is not None:
        return found
    fail = cells.boolean(row.get(failed), failed)
    return None if fail is None else not fail


def _audio_fields(row: Row) -> tuple[dict[str, Any], list[ChannelSpec] | None]:
    segments = cells.segments(row.get("qc_fail_segments"), "qc_fail_segments")
    not_passed = cells.boolean(row.get("qc_not_passed"), "qc_not_passed")
    qc_passed = (not not_passed) if not_passed is not None else None
    if qc_passed is None and segments is not None:
        qc_passed = not segments
    num_channels = cells.integer(row.get("num_channels"), "num_channels")
    duration = cells.number(row.get("duration_seconds"), "duration_seconds")
    fields = {
        "speed": cells.text(row.get("speed"), "speed", 32),
        "recorded_at": _recorded_at(row),
        "device_serial": cells.text(row.get("device_serial"), "device_serial", 128),
        "firmware_version": cells.text(row.get("firmware_version"), "firmware_version", 64),
        "num_channels": num_channels,
        "qc_passed": qc_passed,
        "qc_fail_segments": segments,
        "attributes": row.attributes(
            leave_out=frozenset(
                {
                    "device_serial",
                    "firmware_version",
                    "num_channels",
                    "qc_fail_segments",
                    *(f"mic_{n}_position" for n in range(1, MICROPHONES + 1)),
                }
            )
        ),
    }
    listed = [n for n in range(1, MICROPHONES + 1) if row.get(f"mic_{n}_position") is not None]
    count = num_channels if num_channels is not None else (max(listed) if listed else 0)
    if count <= 0:
        return _given(fields), None
    channels = [_channel(row, n, duration) for n in range(1, min(count, MICROPHONES) + 1)]
    return _given(fields), channels


def _channel(row: Row, n: int, duration: float | None) -> ChannelSpec:
    """Microphone n (1 to 4) of the log as channel n - 1. The log flags dropout per
    channel with the segments it lost; the model keeps the fraction of the recording
    lost, known when the recording's duration is."""
    segments = cells.segments(row.get(f"qc_fail_segments_ch{n}"), f"qc_fail_segments_ch{n}")
    not_passed = cells.boolean(row.get(f"qc_not_passed_mic_{n}"), f"qc_not_passed_mic_{n}")
    qc_passed = (not not_passed) if not_passed is not None else None
    if qc_passed is None and segments is not None:
        qc_passed = not segments
    dropout_name = f"qc_signal_dropout_segments_ch{n}"
    dropout_segments = cells.segments(row.get(dropout_name), dropout_name)
    dropout_flag = cells.boolean(row.get(f"qc_signal_dropout_ch{n}"), f"qc_signal_dropout_ch{n}")
    dropout: float | None = None
    if dropout_segments is not None and duration:
        lost = sum(end - start for start, end in dropout_segments)
        dropout = round(min(1.0, lost / duration), 6)
    elif dropout_flag is False or dropout_segments == []:
        dropout = 0.0
    artifacts = cells.words(row.get(f"qc_artifact_type_ch{n}"))
    return ChannelSpec(
        index=n - 1,
        microphone_position=cells.text(row.get(f"mic_{n}_position"), f"mic_{n}_position", 32),
        qc_passed=qc_passed,
        artifact_types=artifacts,
        signal_dropout=dropout,
    )


def _sync_values(row: Row, knee: Knee, qc_passed: bool | None) -> dict[str, Any]:
    side = "bio_left_sync_time" if knee == Knee.LEFT else "bio_right_sync_time"
    consensus: dict[str, Any] = {}
    methods = cells.words(row.get("consensus_methods"))
    if methods:
        consensus["methods"] = methods
    for name in ("consensus_time", "rms_time", "onset_time", "freq_time", "method_agreement_span"):
        value = cells.number(row.get(name), name)
        if value is not None:
            consensus[name] = value
    values = {
        "audio_sync_seconds": cells.number(row.get("audio_sync_time"), "audio_sync_time"),
        "biomechanics_sync_seconds": cells.number(
            cells.first([row.get(side), row.get("aligned_biomechanics_sync_time")]), side
        ),
        "offset_seconds": cells.number(row.get("sync_offset"), "sync_offset"),
        "method": cells.text(row.get("sync_method"), "sync_method", 64),
        "qc_passed": qc_passed,
    }
    return {**_given(values), "consensus": consensus}


def _checked(recording: RecordingRow) -> RecordingRow:
    """The row, once the model's own checks of a recording take it (walk-only pass and
    speed, channels, segments)."""
    _, _, kind, maneuver, knee, pass_number = recording.key
    try:
        spec = RecordingSpec(
            participant_id=0,
            kind=kind,
            maneuver=maneuver,
            knee=knee,
            pass_number=pass_number,
            fields=recording.fields,
            channels=recording.channels,
        )
    except BadUserInput as error:
        raise RowError(error.message) from None
    # numChannels defaults to the channels given, as a save has it
    recording.fields = spec.fields
    return recording
