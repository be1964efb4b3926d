"""The recordings of a participant's visit: per maneuver and knee, the four-channel audio,
the motion-capture biomechanics, their synchronisation and the extracted movement cycles."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scimeta.demo.context import DemoLoad
from scimeta.demo.files import file_row
from scimeta.demo.processing import movement_cycles, synchronization_fields
from scimeta.models import (
    File,
    Knee,
    Maneuver,
    MovementCycle,
    Recording,
    RecordingChannel,
    RecordingKind,
    Synchronization,
)

MICROPHONES = ("IPM", "IPL", "SPM", "SPL")
_WALK_PASSES = ((1, "slow"), (2, "medium"), (3, "fast"))
_MANEUVER_FOLDERS = {
    Maneuver.WALK: "Walking",
    Maneuver.SIT_TO_STAND: "Sit-Stand",
    Maneuver.FLEXION_EXTENSION: "Flexion-Extension",
}
_AUDIO_SECONDS = {
    Maneuver.WALK: (18.0, 40.0),
    Maneuver.SIT_TO_STAND: (30.0, 60.0),
    Maneuver.FLEXION_EXTENSION: (30.0, 60.0),
}
_DEVICES = ("AE-2291", "AE-2304", "AE-2317")
_ARTIFACTS: tuple[list[str], ...] = (
    [],
    ["intermittent"],
    ["continuous"],
    ["intermittent", "continuous"],
)


@dataclass(frozen=True)
class ParticipantVisit:
    participant_id: int
    study_name: str
    number: int
    visited_at: datetime
    rng: random.Random


@dataclass(frozen=True)
class _Session:
    """One maneuver on one knee (one pass, for walking) and how far processing got."""

    maneuver: Maneuver
    knee: Knee
    pass_number: int | None
    speed: str | None
    recorded_at: datetime
    synchronized: bool
    sync_qc_passed: bool

    @property
    def recording_count(self) -> int:
        """Audio and biomechanics always; then the synchronisation, and the cycles when
        the synchronisation passed quality control."""
        return 2 + int(self.synchronized) + int(self.synchronized and self.sync_qc_passed)

    @property
    def tag(self) -> str:
        maneuver = self.maneuver.value.lower()
        if self.pass_number is None:
            return f"{self.knee.value[0]}_{maneuver}"
        return f"{self.knee.value[0]}_{maneuver}_pass{self.pass_number}_{self.speed}"


def _sessions(visit: ParticipantVisit) -> list[_Session]:
    """Three of the protocol's maneuvers, on one knee or both, in protocol order."""
    rng = visit.rng
    knees = [Knee.LEFT, Knee.RIGHT] if rng.random() < 0.4 else [rng.choice(list(Knee))]
    candidates = [
        (maneuver, knee, pass_number, speed)
        for knee in knees
        for maneuver, pass_number, speed in (
            *((Maneuver.WALK, number, speed) for number, speed in _WALK_PASSES),
            (Maneuver.SIT_TO_STAND, None, None),
            (Maneuver.FLEXION_EXTENSION, None, None),
        )
    ]
    chosen = sorted(rng.sample(range(len(candidates)), 3))
    return [
        _Session(
            *candidates[index],
            recorded_at=visit.visited_at + timedelta(minutes=20 * order),
            synchronized=rng.random() < 0.9,
            sync_qc_passed=rng.random() < 0.85,
        )
        for order, index in enumerate(chosen)
    ]


@dataclass
class _Rows:
    """The rows of all visits of one load, built with ids drawn in advance."""

    recording_ids: list[int]
    file_ids: list[int]
    files: list[dict[str, object]] = field(default_factory=list)
    recordings: list[dict[str, object]] = field(default_factory=list)
    channels: list[dict[str, object]] = field(default_factory=list)
    synchronizations: list[dict[str, object]] = field(default_factory=list)
    cycles: list[dict[str, object]] = field(default_factory=list)

    def add_recording(
        self, visit: ParticipantVisit, session: _Session, kind: RecordingKind, **fields: object
    ) -> tuple[int, int]:
        """A recording and its data file; returns both ids."""
        recording_id, file_id = self.recording_ids.pop(), self.file_ids.pop()
        suffix = kind.value.lower()
        folder = f"{session.knee.value.title()} Knee/{_MANEUVER_FOLDERS[session.maneuver]}"
        path = (
            f"/data/acoustic-emissions/{visit.study_name}/{visit.number}/{folder}/"
            f"{visit.number}_{session.tag}_{suffix}.pkl"
        )
        size = visit.rng.randint(2_000_000, 400_000_000)
        modified = session.recorded_at + timedelta(days=1, minutes=visit.rng.randint(0, 600))
        self.files.append(file_row(file_id, path, size_bytes=size, modified_at=modified))
        self.recordings.append(
            {
                "id": recording_id,
                "participant_id": visit.participant_id,
                "kind": kind,
                "maneuver": session.maneuver,
                "knee": session.knee,
                "pass_number": session.pass_number,
                "speed": session.speed,
                "recorded_at": session.recorded_at,
                "device_serial": None,
                "firmware_version": None,
                "num_channels": None,
                "qc_passed": True,
                "qc_fail_segments": [],
                "file_id": file_id,
                "attributes": {},
            }
            | fields
        )
        return recording_id, file_id


def _add_audio(rows: _Rows, demo: DemoLoad, visit: ParticipantVisit, session: _Session) -> int:
    rng = visit.rng
    duration = round(rng.uniform(*_AUDIO_SECONDS[session.maneuver]), 2)
    channels = []
    # Intermittent artifacts are what mark stretches of a recording as failed.
    intermittent = False
    for index, position in enumerate(MICROPHONES):
        artifacts = list(rng.choices(_ARTIFACTS, weights=(85, 10, 4, 1))[0])
        intermittent |= "intermittent" in artifacts
        draw = rng.random()
        dropout = 0.0 if draw < 0.9 else rng.uniform(0.001, 0.04 if draw < 0.98 else 0.3)
        channels.append(
            {
                "index": index,
                "microphone_position": position,
                "qc_passed": dropout < 0.05 and "continuous" not in artifacts,
                "artifact_types": artifacts,
                "signal_dropout": round(dropout, 4),
            }
        )
    starts = sorted(rng.uniform(0.0, duration - 2.0) for _ in range(rng.randint(1, 3)))
    segments = [[round(s, 2), round(s + rng.uniform(0.2, 1.5), 2)] for s in starts]
    audio_id, _ = rows.add_recording(
        visit,
        session,
        RecordingKind.AUDIO,
        device_serial=_DEVICES[visit.number % len(_DEVICES)],
        firmware_version=str(rng.choice((1, 1, 2))),
        num_channels=len(MICROPHONES),
        qc_passed=all(channel["qc_passed"] for channel in channels),
        qc_fail_segments=segments if intermittent else [],
        attributes={
            "audio_file_name": f"{visit.number}_{session.tag}.bin",
            "sample_rate_hz": 46_875,
            "linked_biomechanics": session.synchronized,
        },
    )
    rows.channels.extend(channel | {"recording_id": audio_id} for channel in channels)
    demo.metrics.add("recording_id", audio_id, "audio_duration", duration)
    return audio_id


def _add_session(rows: _Rows, demo: DemoLoad, visit: ParticipantVisit, session: _Session) -> None:
    rng = visit.rng
    audio_id = _add_audio(rows, demo, visit, session)
    biomechanics_id, _ = rows.add_recording(
        visit,
        session,
        RecordingKind.BIOMECHANICS,
        qc_passed=rng.random() < 0.95,
        attributes={
            "source_file": f"{visit.study_name}{visit.number}_Biomechanics_Full_Set.xlsx",
            "sample_rate_hz": 100,
        },
    )
    if not session.synchronized:
        return
    sync = synchronization_fields(rng, session.sync_qc_passed)
    _, sync_file_id = rows.add_recording(
        visit, session, RecordingKind.SYNCHRONIZATION, qc_passed=session.sync_qc_passed
    )
    rows.synchronizations.append(
        {
            "audio_recording_id": audio_id,
            "biomechanics_recording_id": biomechanics_id,
            "file_id": sync_file_id,
        }
        | sync
    )
    if not session.sync_qc_passed:
        return
    cycles = movement_cycles(rng, session.maneuver)
    passed = sum(cycle.qc_passed for cycle in cycles)
    cycles_id, _ = rows.add_recording(
        visit,
        session,
        RecordingKind.MOVEMENT_CYCLES,
        qc_passed=passed >= 0.8 * len(cycles),
        attributes={"cycles_passed_qc": passed},
    )
    rows.cycles.extend(
        {
            "recording_id": cycles_id,
            "index": index,
            "start_seconds": cycle.start_seconds,
            "end_seconds": cycle.end_seconds,
            "qc_passed": cycle.qc_passed,
            "attributes": {"acoustic_energy": cycle.acoustic_energy},
        }
        for index, cycle in enumerate(cycles)
    )
    mean_duration = sum(cycle.duration for cycle in cycles) / len(cycles)
    demo.metrics.add("recording_id", cycles_id, "cycle_count", len(cycles))
    demo.metrics.add("recording_id", cycles_id, "mean_cycle_duration", round(mean_duration, 3))


async def load_recordings(demo: DemoLoad, visits: list[ParticipantVisit]) -> None:
    """All recordings of the visits, with their channels, synchronisations and cycles."""
    planned = [(visit, _sessions(visit)) for visit in visits]
    count = sum(session.recording_count for _, sessions in planned for session in sessions)
    rows = _Rows(
        # Popped from the end, so reversed to hand ids out in ascending order.
        recording_ids=(await demo.writer.allocate_ids(Recording, count))[::-1],
        file_ids=(await demo.writer.allocate_ids(File, count))[::-1],
    )
    for visit, sessions in planned:
        for session in sessions:
            _add_session(rows, demo, visit, session)
    await demo.writer.copy(File, rows.files)
    await demo.writer.copy(Recording, rows.recordings)
    await demo.writer.copy(RecordingChannel, rows.channels)
    await demo.writer.copy(Synchronization, rows.synchronizations)
    await demo.writer.copy(MovementCycle, rows.cycles)
