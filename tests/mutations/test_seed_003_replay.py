"""Seed 003 (acoustic emissions), replayed as mutations and read back.

Study AOA, participant 1011: the example's audio processing record of a left-knee walk
(device SN123, firmware 1, four microphones IPM, IPL, SPM, SPL, .pkl left on disk) is
saved, then the biomechanics import, their synchronization and the movement cycles with a
row per cycle; the audio record is saved again after re-processing and updates its row.
Then the seed's query "all walk maneuvers for participant 1011" runs through the read API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models
from tests.conftest import GraphQLClient
from tests.studies.test_studies import (
    MICROPHONES,
    create_study,
    save_participant,
    save_recording,
    save_synchronization,
)

FOLDER = "/data/acoustic-emissions/AOA/1011/Left Knee/Walking"
WALK_PASS_1 = {"maneuver": "WALK", "knee": "LEFT", "passNumber": 1, "speed": "medium"}
AUDIO_RECORD: dict[str, Any] = {
    "kind": "AUDIO",
    **WALK_PASS_1,
    "recordedAt": "2024-01-01T10:00:00Z",
    "deviceSerial": "SN123",
    "firmwareVersion": "1",
    "numChannels": 4,
    "qcPassed": True,
    "qcFailSegments": [],
    "attributes": {
        "audio_file_name": "test.bin",
        "file_time": "2024-01-01T10:00:00",
        "file_size_mb": 100.0,
        "linked_biomechanics": False,
    },
    "file": {
        "path": f"{FOLDER}/1011_walk_pass1_medium_audio.pkl",
        "checksum": "9f2c",
        "sizeBytes": 104_857_600,
        "modifiedAt": "2024-01-02T09:00:00Z",
    },
    "channels": [
        {"index": index, "microphonePosition": position, "qcPassed": True, "signalDropout": 0.0}
        for index, position in enumerate(MICROPHONES)
    ],
}
CYCLES = [
    {
        "index": index,
        "startSeconds": 1.0 + 1.1 * index,
        "endSeconds": 2.05 + 1.1 * index,
        "qcPassed": index != 3,
        "attributes": {"acoustic_energy": 10.0 + index},
    }
    for index in range(5)
]
RECORD_METRICS = """
mutation($id: ID!, $metrics: [MetricInput!]!) {
  recordMetrics(subjectId: $id, metrics: $metrics) { subject { id } }
}"""
RECORDING_FIELDS = """
  kind passNumber speed deviceSerial firmwareVersion numChannels qcPassed qcFailSegments
  version attributes file { path checksum }
  channels { nodes { index microphonePosition qcPassed artifactTypes signalDropout } }
  cycles { totalCount nodes { index startSeconds endSeconds qcPassed } }
  synchronizations {
    nodes { offsetSeconds method qcPassed consensus biomechanics { kind } }
  }
  metrics { nodes { name value } }
"""
WALKS_OF_1011 = f"""
{{
  recordings(
    where: {{maneuver: {{eq: WALK}}, participant: {{number: {{eq: 1011}},
      study: {{name: {{eq: "AOA"}}}}}}}}
    orderBy: [{{field: KIND}}]
  ) {{ totalCount nodes {{ {RECORDING_FIELDS} }} }}
}}"""
WALKS_THROUGH_THE_STUDY = """
{
  studies(where: {name: {eq: "AOA"}}) {
    nodes {
      name
      participants(where: {number: {eq: 1011}}) {
        nodes {
          number attributes
          recordings(where: {maneuver: {eq: WALK}, kind: {eq: AUDIO}}) {
            nodes { deviceSerial firmwareVersion qcPassed channels { totalCount } }
          }
        }
      }
    }
  }
}"""


async def test_seed_003_workflow_replays_and_reads_back(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    study = await create_study(graphql, "AOA", title="Acoustic emissions of osteoarthritic knees")
    participant = await save_participant(
        graphql, studyId=study["id"], number=1011, attributes={"age": 61, "sex": "F"}
    )
    participant_id = participant["participant"]["id"]

    audio = await save_recording(graphql, participantId=participant_id, **AUDIO_RECORD)
    biomechanics = await save_recording(
        graphql,
        participantId=participant_id,
        kind="BIOMECHANICS",
        **WALK_PASS_1,
        recordedAt="2024-01-01T10:00:00Z",
        qcPassed=True,
        attributes={"source_file": "AOA1011_Biomechanics_Full_Set.xlsx", "sample_rate_hz": 100},
        file={"path": f"{FOLDER}/1011_walk_pass1_medium_biomechanics.pkl"},
    )
    synchronization = await save_synchronization(
        graphql,
        audioRecordingId=audio["recording"]["id"],
        biomechanicsRecordingId=biomechanics["recording"]["id"],
        audioSyncSeconds=4.21,
        biomechanicsSyncSeconds=2.05,
        offsetSeconds=2.16,
        method="consensus",
        consensus={"methods": ["rms", "onset"], "spread_seconds": 0.01},
        qcPassed=True,
        file={"path": f"{FOLDER}/1011_walk_pass1_medium_synchronization.pkl"},
    )
    cycles = await save_recording(
        graphql,
        participantId=participant_id,
        kind="MOVEMENT_CYCLES",
        **WALK_PASS_1,
        qcPassed=True,
        attributes={"cycles_passed_qc": 4},
        file={"path": f"{FOLDER}/1011_walk_pass1_medium_movement_cycles.pkl"},
        cycles=CYCLES,
    )
    await graphql.data(
        RECORD_METRICS,
        id=cycles["recording"]["id"],
        metrics=[{"key": "cycle_count", "value": 5}, {"key": "mean_cycle_duration", "value": 1.05}],
    )
    created = (participant, audio, biomechanics, synchronization, cycles)
    assert all(payload["created"] for payload in created)
    assert synchronization["recording"]["kind"] == "SYNCHRONIZATION"

    # re-processing found a noisy stretch: the same record, saved again
    again = await save_recording(
        graphql,
        participantId=participant_id,
        **AUDIO_RECORD | {"qcPassed": False, "qcFailSegments": [[12.5, 13.25]]},
    )
    assert again["created"] is False
    assert again["recording"]["id"] == audio["recording"]["id"]
    assert (again["recording"]["qcPassed"], again["recording"]["qcFailSegments"]) == (
        False,
        [[12.5, 13.25]],
    )
    assert again["recording"]["version"] == audio["recording"]["version"] + 1
    audio_rows = (
        select(func.count())
        .select_from(models.Recording)
        .where(models.Recording.kind == models.RecordingKind.AUDIO)
    )
    assert (await session.execute(audio_rows)).scalar_one() == 1

    walks = (await graphql.data(WALKS_OF_1011))["recordings"]
    assert walks["totalCount"] == 4
    by_kind = {node["kind"]: node for node in walks["nodes"]}
    assert list(by_kind) == ["AUDIO", "BIOMECHANICS", "MOVEMENT_CYCLES", "SYNCHRONIZATION"]
    assert by_kind["AUDIO"] | {"channels": None, "synchronizations": None} == {
        "kind": "AUDIO",
        "passNumber": 1,
        "speed": "medium",
        "deviceSerial": "SN123",
        "firmwareVersion": "1",
        "numChannels": 4,
        "qcPassed": False,
        "qcFailSegments": [[12.5, 13.25]],
        "version": 2,
        "attributes": AUDIO_RECORD["attributes"],
        "file": {"path": AUDIO_RECORD["file"]["path"], "checksum": "9f2c"},
        "channels": None,
        "cycles": {"totalCount": 0, "nodes": []},
        "synchronizations": None,
        "metrics": {"nodes": []},
    }
    assert by_kind["AUDIO"]["channels"]["nodes"] == [
        {
            "index": index,
            "microphonePosition": position,
            "qcPassed": True,
            "artifactTypes": [],
            "signalDropout": 0.0,
        }
        for index, position in enumerate(MICROPHONES)
    ]
    assert by_kind["AUDIO"]["synchronizations"]["nodes"] == [
        {
            "offsetSeconds": 2.16,
            "method": "consensus",
            "qcPassed": True,
            "consensus": {"methods": ["rms", "onset"], "spread_seconds": 0.01},
            "biomechanics": {"kind": "BIOMECHANICS"},
        }
    ]
    assert by_kind["SYNCHRONIZATION"]["file"]["path"].endswith("_synchronization.pkl")
    assert by_kind["SYNCHRONIZATION"]["qcPassed"] is True
    movement_cycles = by_kind["MOVEMENT_CYCLES"]
    assert movement_cycles["cycles"]["totalCount"] == 5
    assert [c["qcPassed"] for c in movement_cycles["cycles"]["nodes"]] == [
        True,
        True,
        True,
        False,
        True,
    ]
    assert movement_cycles["cycles"]["nodes"][0] == {
        "index": 0,
        "startSeconds": 1.0,
        "endSeconds": 2.05,
        "qcPassed": True,
    }
    assert movement_cycles["metrics"]["nodes"] == [
        {"name": "cycle_count", "value": 5.0},
        {"name": "mean_cycle_duration", "value": 1.05},
    ]

    tree = (await graphql.data(WALKS_THROUGH_THE_STUDY))["studies"]["nodes"]
    assert tree == [
        {
            "name": "AOA",
            "participants": {
                "nodes": [
                    {
                        "number": 1011,
                        "attributes": {"age": 61, "sex": "F"},
                        "recordings": {
                            "nodes": [
                                {
                                    "deviceSerial": "SN123",
                                    "firmwareVersion": "1",
                                    "qcPassed": False,
                                    "channels": {"totalCount": 4},
                                }
                            ]
                        },
                    }
                ]
            },
        }
    ]
