"""Acoustic-emission processing logs (a workbook per participant, knee and maneuver as the
pipeline writes it, a per-study workbook, one that names no study) imported: read back
through GraphQL; a second run adds nothing; a dry run writes nothing; rows the logs hold
but the unified model refuses are refused with their reasons while the rest go in; an
interrupted run finishes when run again."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs import acoustic_excel
from scimeta.transfer.labs.acoustic_excel import import_acoustic_excel
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, source
from tests.conftest import DatabaseFactory, started
from tests.transfer.acoustic_store import (
    AUDIO_PICKLE,
    SYNC_PICKLE,
    maneuver_log,
    study_log,
    unnamed_log,
    write_workbook,
)
from tests.transfer.conftest import snapshot

CREATED = {
    "Study": 3,
    "Participant": 5,
    "Recording": 14,
    "RecordingChannel": 9,
    "MovementCycle": 5,
    "Synchronization": 3,
    "File": 7,
}
# (entity, sheet and row) -> what the reason says
REFUSED = {
    ("Workbook", "preOA/broken.xlsx"): "not a workbook openpyxl can read",
    ("Recording", "aoa_study_log.xlsx sheet audio_processing row 4"): "'both' is neither left",
    ("Recording", "aoa_study_log.xlsx sheet audio_processing row 5"): "maneuver 'jog'",
    ("Recording", "aoa_study_log.xlsx sheet audio_processing row 6"): "'abc' is not a participant",
    ("Recording", "aoa_study_log.xlsx sheet audio_processing row 7"): "a segment must start before",
    ("Recording", "aoa_study_log.xlsx sheet audio_processing row 8"): "passNumber is only for WALK",
    (
        "Synchronization",
        "AOA1011/Left Knee/Walking/processing_log_1011_Left_walk.xlsx sheet Synchronization row 4",
    ): "there is no BIOMECHANICS recording",
    (
        "MovementCycle",
        "AOA1011/Left Knee/Walking/processing_log_1011_Left_walk.xlsx sheet Movement Cycles row 4",
    ): "ends (2.0 s) before it starts (3.0 s)",
}


class Recorded(Progress):
    def __init__(self) -> None:
        self.tables: list[tuple[str, int | None, int]] = []
        self.ended = 0

    def begin(self, name: str, total: int | None) -> None:
        self.tables.append((name, total, 0))

    def advance(self, rows: int) -> None:
        name, total, done = self.tables[-1]
        self.tables[-1] = (name, total, done + rows)

    def end(self) -> None:
        self.ended += 1


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    maneuver_log(root / "AOA1011" / "Left Knee" / "Walking")
    study_log(root / "aoa_study_log.xlsx")
    unnamed_log(root / "preOA")
    (root / "preOA" / "broken.xlsx").write_bytes(b"not a zip archive")
    return root


@pytest.fixture
async def target(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


async def run(
    engine: AsyncEngine,
    location: Path,
    *,
    dry_run: bool = False,
    study: str | None = "preOA",
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport("acoustic-excel", dry_run)
    options = ImportOptions(dry_run=dry_run, study=study)
    return await import_acoustic_excel(
        engine, str(location), options, progress or Recorded(), report
    )


def created(report: ImportReport) -> dict[str, int]:
    return {name: counts.created for name, counts in report.counts.items() if counts.created}


def refused(report: ImportReport) -> dict[tuple[str, str], str]:
    return {(r.entity, r.location): r.reason for r in report.refusals}


async def graphql(engine: AsyncEngine, query: str) -> dict[str, Any]:
    app = await started(create_app(sessionmaker=create_sessionmaker(engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


READ_BACK = """{
  studies(first: 10) { nodes { name
    participants(first: 10) { nodes { number
      recordings(first: 20) { nodes { kind maneuver knee passNumber speed recordedAt
        deviceSerial firmwareVersion numChannels qcPassed qcFailSegments attributes
        file { path name sizeBytes checksum checksumAlgorithm modifiedAt }
        channels(first: 10) { nodes { index microphonePosition qcPassed artifactTypes
          signalDropout } }
        cycles(first: 10) { nodes { index startSeconds endSeconds qcPassed attributes } }
        synchronizations(first: 5) { nodes { audioSyncSeconds biomechanicsSyncSeconds
          offsetSeconds method consensus qcPassed
          audio { kind passNumber } biomechanics { kind passNumber speed } } } } } } } } }
  events(first: 100) { nodes { type actor subjectType } }
}"""


def _recordings(participant: dict[str, Any]) -> dict[tuple[str, int | None], dict[str, Any]]:
    return {(r["kind"], r["passNumber"]): r for r in participant["recordings"]["nodes"]}


async def test_the_registry_names_the_importer() -> None:
    assert source("acoustic-excel").run is import_acoustic_excel


async def test_logs_are_imported_and_read_back(logs: Path, target: AsyncEngine) -> None:
    progress = Recorded()
    report = await run(target, logs, progress=progress)

    assert created(report) == CREATED
    found = refused(report)
    assert set(found) == set(REFUSED), found
    for key, reason in REFUSED.items():
        assert reason in found[key], (key, found[key])
    assert report.of("Workbook").read == 4
    assert report.of("Recording").read == 19
    assert report.of("RecordingChannel").read == 9
    assert report.of("File").read == 7
    assert [name for name, _, _ in progress.tables] == [
        "workbooks",
        "Study",
        "Participant",
        "Recording",
        "Synchronization",
    ]
    assert all(total == done for _, total, done in progress.tables), progress.tables
    assert progress.ended == len(progress.tables)

    data = await graphql(target, READ_BACK)
    studies = {s["name"]: s for s in data["studies"]["nodes"]}
    assert set(studies) == {"AOA", "preOA", "SMoCK"}
    participants = {p["number"]: p for p in studies["AOA"]["participants"]["nodes"]}
    assert set(participants) == {1011, 1012, 1013}

    walk = _recordings(participants[1011])
    assert set(walk) == {
        ("AUDIO", None),
        ("BIOMECHANICS", 1),
        ("BIOMECHANICS", 2),
        ("SYNCHRONIZATION", 1),
        ("SYNCHRONIZATION", 2),
        ("MOVEMENT_CYCLES", 1),
        ("MOVEMENT_CYCLES", 2),
    }
    audio = walk[("AUDIO", None)]
    assert (audio["maneuver"], audio["knee"], audio["speed"]) == ("WALK", "LEFT", None)
    assert datetime.fromisoformat(audio["recordedAt"]) == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert (audio["deviceSerial"], audio["firmwareVersion"], audio["numChannels"]) == (
        "SN123",
        "1",
        4,
    )
    assert audio["qcPassed"] is False
    assert audio["qcFailSegments"] == [[1.0, 2.0]]
    assert audio["attributes"]["audio_file_name"] == "AE01_20240101_100000.bin"
    assert audio["attributes"]["sample_rate"] == 46875.0
    assert audio["attributes"]["processing_date"] == "2024-01-02T09:00:00"
    directory = logs / "AOA1011" / "Left Knee" / "Walking"
    assert audio["file"]["path"] == str(directory / "audio.pkl")
    assert audio["file"]["name"] == "audio.pkl"
    assert audio["file"]["sizeBytes"] == len(AUDIO_PICKLE)
    assert audio["file"]["checksum"] == hashlib.sha256(AUDIO_PICKLE).hexdigest()
    assert audio["file"]["checksumAlgorithm"] == "sha256"
    assert audio["file"]["modifiedAt"] is not None
    channels = [
        (c["index"], c["microphonePosition"], c["qcPassed"], c["artifactTypes"], c["signalDropout"])
        for c in audio["channels"]["nodes"]
    ]
    assert channels == [
        (0, "IPM", False, [], 0.05),
        (1, "IPL", True, ["intermittent"], 0.0),
        (2, "SPM", True, [], None),
        (3, "SPL", True, [], None),
    ]
    [pass1, pass2] = sorted(
        audio["synchronizations"]["nodes"], key=lambda s: s["biomechanics"]["passNumber"]
    )
    assert (pass1["audioSyncSeconds"], pass1["biomechanicsSyncSeconds"]) == (6.0, 3.75)
    assert (pass1["offsetSeconds"], pass1["method"], pass1["qcPassed"]) == (
        1.25,
        "consensus",
        True,
    )
    assert pass1["consensus"] == {
        "methods": ["rms", "onset"],
        "consensus_time": 5.5,
        "rms_time": 5.4,
    }
    assert pass1["audio"] == {"kind": "AUDIO", "passNumber": None}
    assert pass1["biomechanics"] == {"kind": "BIOMECHANICS", "passNumber": 1, "speed": "slow"}
    assert (pass2["offsetSeconds"], pass2["qcPassed"]) == (2.5, False)
    sync1 = walk[("SYNCHRONIZATION", 1)]
    assert (sync1["speed"], sync1["qcPassed"]) == ("slow", True)
    assert sync1["file"]["path"] == str(directory / "Left_walk_Pass0001_slow.pkl")
    assert sync1["file"]["checksum"] == hashlib.sha256(SYNC_PICKLE).hexdigest()
    assert "mic_1_position" not in sync1["attributes"]
    assert sync1["attributes"]["total_cycles_extracted"] == 2
    sync2 = walk[("SYNCHRONIZATION", 2)]
    assert sync2["file"]["path"] == str(directory / "Left_walk_Pass0002_fast")
    assert (sync2["file"]["sizeBytes"], sync2["file"]["checksum"]) == (None, None)
    biomechanics = walk[("BIOMECHANICS", 2)]
    assert (biomechanics["knee"], biomechanics["speed"]) == ("LEFT", "fast")
    assert biomechanics["file"]["name"] == "AOA1011_Biomechanics_Full_Set.xlsx"
    assert biomechanics["attributes"]["sheet_name"] == "Walk0001"
    cycles1 = walk[("MOVEMENT_CYCLES", 1)]
    assert cycles1["speed"] == "slow"
    assert [
        (c["index"], c["startSeconds"], c["endSeconds"], c["qcPassed"])
        for c in cycles1["cycles"]["nodes"]
    ] == [(0, 0.5, 1.6, True), (1, 1.6, 2.9, False)]
    cycle = cycles1["cycles"]["nodes"][0]["attributes"]
    assert cycle["cycle_file"] == str(directory / "cycles" / "pass1_cycle0.pkl")
    assert cycle["is_outlier"] is False
    assert "mic_1_position" not in cycle
    assert [c["index"] for c in walk[("MOVEMENT_CYCLES", 2)]["cycles"]["nodes"]] == [1]

    sts = _recordings(participants[1012])
    assert set(sts) == {
        ("AUDIO", None),
        ("BIOMECHANICS", None),
        ("SYNCHRONIZATION", None),
        ("MOVEMENT_CYCLES", None),
    }
    assert sts[("AUDIO", None)]["maneuver"] == "SIT_TO_STAND"
    assert sts[("AUDIO", None)]["knee"] == "RIGHT"
    assert sts[("AUDIO", None)]["qcPassed"] is True
    assert [c["microphonePosition"] for c in sts[("AUDIO", None)]["channels"]["nodes"]] == [
        "IPM",
        "SPL",
    ]
    [sync] = sts[("AUDIO", None)]["synchronizations"]["nodes"]
    assert (sync["biomechanicsSyncSeconds"], sync["method"]) == (2.5, "biomechanics")
    assert sts[("SYNCHRONIZATION", None)]["file"]["path"] == str(logs / "1012_sts.pkl")
    cycles = sts[("MOVEMENT_CYCLES", None)]
    assert cycles["attributes"]["clean_cycles"] == 2
    assert [
        (c["index"], c["startSeconds"], c["attributes"]["acoustic_auc"])
        for c in cycles["cycles"]["nodes"]
    ] == [(0, 1.0, 0.25), (1, 3.5, 0.5)]
    assert set(_recordings(participants[1013])) == {("AUDIO", None)}
    assert _recordings(participants[1013])[("AUDIO", None)]["maneuver"] == "FLEXION_EXTENSION"

    [unnamed] = studies["preOA"]["participants"]["nodes"]
    assert unnamed["number"] == 2001
    [recording] = unnamed["recordings"]["nodes"]
    assert (recording["kind"], recording["maneuver"], recording["knee"]) == (
        "AUDIO",
        "FLEXION_EXTENSION",
        "RIGHT",
    )
    [named] = studies["SMoCK"]["participants"]["nodes"]
    assert named["number"] == 3001
    assert named["recordings"]["nodes"][0]["attributes"]["audio_file_name"] == "AE10.bin"

    mine = sorted(
        e["subjectType"]
        for e in data["events"]["nodes"]
        if e["actor"] == "import:acoustic-excel" and e["type"] == "created"
    )
    expected = ["Study"] * 3 + ["Participant"] * 5 + ["Recording"] * 14
    expected += ["Synchronization"] * 3 + ["File"] * 7
    assert mine == sorted(expected)


async def test_a_second_run_adds_nothing(logs: Path, target: AsyncEngine) -> None:
    await run(target, logs)
    before = await snapshot(target)

    again = await run(target, logs)

    assert created(again) == {}
    present = {name: c.present for name, c in again.counts.items() if c.present}
    assert present == CREATED
    assert set(refused(again)) == set(REFUSED)
    assert await snapshot(target) == before


async def test_a_dry_run_writes_nothing(logs: Path, target: AsyncEngine) -> None:
    before = await snapshot(target)

    report = await run(target, logs, dry_run=True)

    assert created(report) == CREATED
    assert set(refused(report)) == set(REFUSED)
    assert await snapshot(target) == before


async def test_an_interrupted_run_finishes_when_run_again(
    logs: Path, target: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one participant per transaction; the second fails
    monkeypatch.setattr(acoustic_excel, "RECORDING_BATCH", 1)
    inserted = acoustic_excel._Run._insert_recordings
    calls = 0

    async def failing(self: Any, writer: Any, rows: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("the network went away")
        return await inserted(self, writer, rows)

    monkeypatch.setattr(acoustic_excel._Run, "_insert_recordings", failing)
    with pytest.raises(ConnectionError):
        await run(target, logs)
    async with target.connect() as connection:
        kept = await connection.scalar(text("SELECT count(*) FROM recordings"))
    assert kept == 5  # participant 1011's audio, biomechanics and cycles

    report = await run(target, logs)

    assert report.of("Recording").present == 5
    assert report.of("Recording").created == CREATED["Recording"] - 5
    async with target.connect() as connection:
        counts = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM recordings),"
                    " (SELECT count(*) FROM recording_channels),"
                    " (SELECT count(*) FROM movement_cycles),"
                    " (SELECT count(*) FROM synchronizations),"
                    " (SELECT count(*) FROM events WHERE type = 'created'"
                    "  AND subject_type = 'Recording')"
                )
            )
        ).one()
    assert tuple(counts) == (14, 9, 5, 3, 14)


async def test_a_log_kept_twice_is_one_recording(tmp_path: Path, target: AsyncEngine) -> None:
    first = maneuver_log(tmp_path / "a")
    copy = tmp_path / "b" / first.name
    copy.parent.mkdir()
    shutil.copy(first, copy)

    report = await run(target, tmp_path)

    assert report.of("Recording").created == 7
    # the copy's audio and biomechanics rows; its cycles and synchronizations
    assert report.of("Recording").present == 3
    assert report.of("MovementCycle").present == 3
    assert report.of("Synchronization").present == 3
    assert sorted(r.entity for r in report.refusals) == [
        "MovementCycle",
        "MovementCycle",
        "Synchronization",
    ]


async def test_rows_without_a_study_ask_for_one(tmp_path: Path, target: AsyncEngine) -> None:
    unnamed_log(tmp_path)

    report = await run(target, tmp_path, study=None)

    assert created(report) == {"Study": 1, "Participant": 1, "Recording": 1}
    [refusal] = report.refusals
    assert refusal.location == "processing_log_2001_Right_fe.xlsx sheet Audio row 2"
    assert "--study NAME" in refusal.reason


async def test_a_location_without_workbooks_is_an_error(
    tmp_path: Path, target: AsyncEngine
) -> None:
    with pytest.raises(TransferError, match=r"no \.xlsx workbook"):
        await run(target, tmp_path)


async def test_a_key_given_twice_with_other_values_is_refused(
    tmp_path: Path, target: AsyncEngine
) -> None:
    maneuver_log(tmp_path / "a")
    write_workbook(
        tmp_path / "b.xlsx",
        {
            "audio_processing": [
                {
                    "study": "AOA",
                    "study_id": 1011,
                    "knee": "left",
                    "maneuver": "walk",
                    "device_serial": "SN999",
                }
            ]
        },
    )

    report = await run(target, tmp_path)

    [refusal] = [r for r in report.refusals if r.entity == "Recording"]
    assert refusal.location == "b.xlsx sheet audio_processing row 2"
    assert "already gives the AUDIO WALK LEFT of AOA 1011 with other values" in refusal.reason
    async with target.connect() as connection:
        serial = await connection.scalar(
            text("SELECT device_serial FROM recordings WHERE kind = 'AUDIO'")
        )
    assert serial == "SN123"


async def test_a_project_is_refused(logs: Path, target: AsyncEngine) -> None:
    report = ImportReport("acoustic-excel", False)
    with pytest.raises(TransferError, match="leave out --project"):
        await import_acoustic_excel(
            target, str(logs), ImportOptions(project="P"), Recorded(), report
        )


async def test_passes_that_share_their_recordings_keep_one_synchronization(
    tmp_path: Path, target: AsyncEngine
) -> None:
    key = {"study": "AOA", "study_id": 1011, "knee": "left", "maneuver": "walk"}
    write_workbook(
        tmp_path / "walk.xlsx",
        {
            "audio_processing": [{**key, "num_channels": 1}],
            "biomechanics_import": [{**key, "biomechanics_file": "b.xlsx"}],
            "synchronization": [
                {**key, "pass_number": 1, "speed": "slow", "sync_offset": 1.0},
                {**key, "pass_number": 2, "speed": "fast", "sync_offset": 2.0},
            ],
        },
    )

    report = await run(target, tmp_path)

    assert report.of("Synchronization").created == 1
    [refusal] = report.refusals
    assert refusal.location == "walk.xlsx sheet synchronization row 3"
    assert "one synchronization per pair" in refusal.reason
    async with target.connect() as connection:
        offsets = await connection.scalars(text("SELECT offset_seconds FROM synchronizations"))
        passes = await connection.scalars(
            text("SELECT pass_number FROM recordings WHERE kind = 'SYNCHRONIZATION'")
        )
        assert (list(offsets), list(passes)) == ([1.0], [1])

    again = await run(target, tmp_path)

    assert created(again) == {}
    assert [r.location for r in again.refusals] == [refusal.location]
