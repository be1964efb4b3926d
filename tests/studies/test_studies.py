"""Studies and participants: partial updates, upserts by number, row versions and the
events every change writes. The documents and helpers here serve the recording tests too."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.conftest import GraphQLClient

CREATE_STUDY = """
mutation($input: CreateStudyInput!) {
  createStudy(input: $input) { study { id name title description attributes version } }
}"""
UPDATE_STUDY = """
mutation($input: UpdateStudyInput!) {
  updateStudy(input: $input) { study { id name title description attributes version } }
}"""
SAVE_PARTICIPANT = """
mutation($input: SaveParticipantInput!) {
  saveParticipant(input: $input) { created participant { id number attributes version } }
}"""
SAVE_RECORDING = """
mutation($input: SaveRecordingInput!) {
  saveRecording(input: $input) {
    created
    recording {
      id kind maneuver knee passNumber speed recordedAt deviceSerial firmwareVersion
      numChannels qcPassed qcFailSegments attributes version updatedAt
      file { id path name checksum checksumAlgorithm sizeBytes modifiedAt version }
      channels { nodes { index microphonePosition qcPassed artifactTypes signalDropout } }
      cycles { totalCount nodes { index startSeconds endSeconds qcPassed attributes } }
    }
  }
}"""
SAVE_SYNCHRONIZATION = """
mutation($input: SaveSynchronizationInput!) {
  saveSynchronization(input: $input) {
    created
    synchronization {
      id audioSyncSeconds biomechanicsSyncSeconds offsetSeconds method consensus qcPassed
      qcNotes version audio { id } biomechanics { id }
    }
    recording { id kind maneuver knee passNumber speed qcPassed version file { id path } }
  }
}"""
EVENTS = """
query($id: ID!) { events(where: {subject: {eq: $id}}) { nodes { type actor payload } } }"""

MICROPHONES = ("IPM", "IPL", "SPM", "SPL")
AUDIO: dict[str, Any] = {
    "kind": "AUDIO",
    "maneuver": "WALK",
    "knee": "LEFT",
    "passNumber": 1,
    "speed": "slow",
    "deviceSerial": "SN123",
    "firmwareVersion": "1",
    "recordedAt": "2024-01-01T10:00:00+00:00",
    "qcPassed": True,
    "qcFailSegments": [[1.5, 2.0]],
    "file": {"path": "/data/AOA/1011/Left Knee/Walking/1011_walk_pass1.pkl", "checksum": "a1"},
    "channels": [
        {"index": index, "microphonePosition": position, "signalDropout": 0.0}
        for index, position in enumerate(MICROPHONES)
    ],
}


async def create_study(graphql: GraphQLClient, name: str = "AOA", **input: Any) -> dict[str, Any]:
    data = await graphql.data(CREATE_STUDY, input={"name": name, **input})
    study: dict[str, Any] = data["createStudy"]["study"]
    return study


async def save_participant(graphql: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await graphql.data(SAVE_PARTICIPANT, input=input)
    payload: dict[str, Any] = data["saveParticipant"]
    return payload


async def save_recording(graphql: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await graphql.data(SAVE_RECORDING, input=input)
    payload: dict[str, Any] = data["saveRecording"]
    return payload


async def save_synchronization(graphql: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await graphql.data(SAVE_SYNCHRONIZATION, input=input)
    payload: dict[str, Any] = data["saveSynchronization"]
    return payload


async def events(graphql: GraphQLClient, node_id: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = (await graphql.data(EVENTS, id=node_id))["events"]["nodes"]
    return nodes


async def participant_of(graphql: GraphQLClient, study: str = "AOA") -> str:
    study_id = (await create_study(graphql, study))["id"]
    payload = await save_participant(graphql, studyId=study_id, number=1011)
    participant_id: str = payload["participant"]["id"]
    return participant_id


async def test_update_study_keeps_left_out_fields_and_checks_the_version(
    graphql: GraphQLClient,
) -> None:
    study = await create_study(graphql, title="Old", description="Knees", attributes={"a": 1})
    assert study["version"] == 1

    updated = (
        await graphql.data(
            UPDATE_STUDY, input={"id": study["id"], "title": "New", "expectedVersion": 1}
        )
    )["updateStudy"]["study"]
    assert updated | {"title": "Old", "version": 1} == study
    assert (updated["title"], updated["version"]) == ("New", 2)

    stale = await graphql.execute(
        UPDATE_STUDY, input={"id": study["id"], "description": "x", "expectedVersion": 1}
    )
    assert stale["errors"][0]["extensions"]["reason"] == "STALE_VERSION"
    assert stale["errors"][0]["extensions"]["version"] == 2
    assert [
        (e["type"], e["payload"].get("fields")) for e in await events(graphql, study["id"])
    ] == [
        ("created", None),
        ("updated", ["title"]),
    ]


async def test_save_participant_creates_once_then_updates_only_what_changed(
    graphql: GraphQLClient,
) -> None:
    study = await create_study(graphql)
    first = await save_participant(graphql, studyId=study["id"], number=1011, attributes={"a": 1})
    again = await save_participant(graphql, studyId=study["id"], number=1011, attributes={"a": 1})
    kept = await save_participant(graphql, studyId=study["id"], number=1011)
    changed = await save_participant(graphql, studyId=study["id"], number=1011, attributes={})

    assert first["created"] is True
    assert [p["created"] for p in (again, kept, changed)] == [False, False, False]
    assert {p["participant"]["id"] for p in (first, again, kept, changed)} == {
        first["participant"]["id"]
    }
    assert [p["participant"]["version"] for p in (first, again, kept, changed)] == [1, 1, 1, 2]
    assert kept["participant"]["attributes"] == {"a": 1}
    assert changed["participant"]["attributes"] == {}
    assert [e["type"] for e in await events(graphql, first["participant"]["id"])] == [
        "created",
        "updated",
    ]


async def test_concurrent_saves_of_one_participant_number_make_one_participant(
    committed_graphql: GraphQLClient,
) -> None:
    study = await create_study(committed_graphql, f"concurrent-{uuid.uuid4()}")
    participants = await asyncio.gather(
        *(
            save_participant(committed_graphql, studyId=study["id"], number=7, attributes={"n": n})
            for n in range(10)
        )
    )
    assert [p["created"] for p in participants].count(True) == 1
    assert len({p["participant"]["id"] for p in participants}) == 1
