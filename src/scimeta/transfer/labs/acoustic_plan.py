"""The rows read from all workbooks, made into one row per recording key: a key given
twice with the same values is one recording (a log copied into a per-study workbook and
kept beside it), with other values it is refused; the cycle rows of a maneuver and pass
become the cycles of its MOVEMENT_CYCLES recording."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scimeta.models import RecordingKind
from scimeta.transfer.labs.acoustic_workbooks import (
    Cycle,
    RecordingKey,
    RecordingRow,
    SyncRow,
    Workbooks,
)
from scimeta.transfer.sources import ImportReport, Refusal


@dataclass
class Plan:
    # AUDIO, BIOMECHANICS and MOVEMENT_CYCLES recordings, by key
    recordings: dict[RecordingKey, RecordingRow] = field(default_factory=dict)
    # synchronizations, by the key of their SYNCHRONIZATION recording
    syncs: dict[RecordingKey, SyncRow] = field(default_factory=dict)

    @property
    def studies(self) -> list[str]:
        rows = [*self.recordings.values(), *(sync.recording for sync in self.syncs.values())]
        return sorted({row.study for row in rows})

    @property
    def participants(self) -> list[tuple[str, int]]:
        rows = [*self.recordings.values(), *(sync.recording for sync in self.syncs.values())]
        return sorted({row.participant for row in rows})


def describe(key: RecordingKey) -> str:
    study, number, kind, maneuver, knee, pass_number = key
    passed = "" if pass_number is None else f" pass {pass_number}"
    return f"{kind.value} {maneuver.value} {knee.value}{passed} of {study} {number}"


def plan(found: Workbooks, report: ImportReport) -> Plan:
    made = Plan()
    for row in found.recordings:
        _add(made.recordings, row, row, "Recording", report)
    for key, row in _cycle_recordings(found, report).items():
        made.recordings[key] = row
    for sync in found.syncs:
        _add(made.syncs, sync.recording, sync, "Synchronization", report)
    return made


def _add(
    rows: dict[RecordingKey, Any],
    recording: RecordingRow,
    value: Any,
    entity: str,
    report: ImportReport,
) -> None:
    earlier = rows.get(recording.key)
    if earlier is None:
        rows[recording.key] = value
        return
    first = earlier if isinstance(earlier, RecordingRow) else earlier.recording
    same = recording.same_as(first)
    if isinstance(value, SyncRow):
        same = same and value.values == earlier.values
    if same:
        report.of(entity).present += 1
        return
    report.refuse(
        Refusal(
            entity,
            recording.location,
            recording.source_id,
            f"{first.location} already gives the {describe(recording.key)} with other "
            "values; a recording is kept once per participant, kind, maneuver, knee and "
            "pass: remove one of the two rows.",
        )
    )


def _cycle_recordings(found: Workbooks, report: ImportReport) -> dict[RecordingKey, RecordingRow]:
    """The MOVEMENT_CYCLES recordings: a summary row's attributes and the cycle rows of
    the same key. Cycles without an index (the older log's Cycle Details) are numbered
    after the highest index given, in the order of the rows."""
    recordings: dict[RecordingKey, RecordingRow] = {}
    for summary in found.cycle_summaries:
        _add(recordings, summary, summary, "Recording", report)
    grouped: dict[RecordingKey, list[tuple[Cycle, dict[str, Any]]]] = defaultdict(list)
    for key, cycle, fields in found.cycles:
        grouped[key].append((cycle, fields))
    for key, rows in grouped.items():
        recording = recordings.get(key)
        if recording is None:
            first, fields = rows[0]
            recording = recordings[key] = RecordingRow(
                first.location, None, key=key, fields=dict(fields)
            )
            report.of("Recording").read += 1
        else:
            for name, value in rows[0][1].items():
                recording.fields.setdefault(name, value)
        next_index = max((c.index for c, _ in rows if c.index is not None), default=-1) + 1
        taken: dict[int, Cycle] = {}
        for cycle, _ in rows:
            if cycle.index is None:
                cycle.index, next_index = next_index, next_index + 1
            earlier = taken.get(cycle.index)
            if earlier is None:
                taken[cycle.index] = cycle
            elif _cycle_values(earlier) == _cycle_values(cycle):
                report.of("MovementCycle").present += 1
            else:
                report.refuse(
                    Refusal(
                        "MovementCycle",
                        cycle.location,
                        cycle.source_id,
                        f"{earlier.location} already gives cycle {cycle.index} of the "
                        f"{describe(key)} with other values; each cycle index once.",
                    )
                )
        recording.cycles = [taken[index] for index in sorted(taken)]
    assert all(key[2] == RecordingKind.MOVEMENT_CYCLES for key in recordings)
    return recordings


def _cycle_values(cycle: Cycle) -> tuple[Any, ...]:
    """What two rows of one cycle must agree on: its file as named, not where a copy of
    the log puts it."""
    attributes = {k: v for k, v in cycle.attributes.items() if k != "cycle_file"}
    return (cycle.start_seconds, cycle.end_seconds, cycle.qc_passed, cycle.source_id, attributes)
