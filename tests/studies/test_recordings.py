"""Recordings and synchronizations: saved by their key, parts replaced when given, the
file updated in place, one row under concurrent saves, and the events every change writes."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models
from tests.conftest import GraphQLClient, StatementCounter
from tests.studies.test_studies import (
    AUDIO,
    MICROPHONES,
    create_study,
    events,
    participant_of,
    save_participant,
    save_recording,
    save_synchronization,
)


async def test_saving_a_recording_key_again_updates_the_one_row(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    participant_id = await participant_of(graphql)
    first = await save_recording(graphql, participantId=participant_id, **AUDIO)
    second = await save_recording(
        graphql, participantId=participant_id, **(AUDIO | {"firmwareVersion": "2"})
    )

    assert (first["created"], second["created"]) == (True, False)
    recording = second["recording"]
    assert recording["id"] == first["recording"]["id"]
    assert (recording["firmwareVersion"], recording["version"]) == ("2", 2)
    assert recording["numChannels"] == 4
    assert recording["qcFailSegments"] == [[1.5, 2.0]]
    count = select(func.count()).select_from(models.Recording)
    assert (await session.execute(count)).scalar_one() == 1
    history = await events(graphql, recording["id"])
    assert [e["type"] for e in history] == ["created", "updated"]
    assert history[0]["payload"]["channels"] == 4
    assert history[0]["payload"]["device_serial"] == "SN123"
    assert history[1]["payload"] == {"fields": ["firmware_version"], "channels": 4}


async def test_saving_the_same_result_again_writes_nothing(graphql: GraphQLClient) -> None:
    participant_id = await participant_of(graphql)
    cycles = [{"index": 0, "startSeconds": 0.0, "endSeconds": 1.1, "attributes": {"e": 2}}]
    input = AUDIO | {"participantId": participant_id, "cycles": cycles}
    first = (await save_recording(graphql, **input))["recording"]
    again = (await save_recording(graphql, **input))["recording"]

    assert again == first
    assert [e["type"] for e in await events(graphql, first["id"])] == ["created"]
    assert [e["type"] for e in await events(graphql, first["file"]["id"])] == ["created"]


async def test_channels_and_cycles_are_replaced_when_given_and_kept_when_left_out(
    graphql: GraphQLClient,
) -> None:
    participant_id = await participant_of(graphql)
    key = {k: AUDIO[k] for k in ("kind", "maneuver", "knee", "passNumber")}
    cycles = [{"index": n, "startSeconds": n, "endSeconds": n + 0.9} for n in range(3)]
    await save_recording(graphql, participantId=participant_id, **AUDIO, cycles=cycles)

    kept = (await save_recording(graphql, participantId=participant_id, **key, qcPassed=False))[
        "recording"
    ]
    assert [c["microphonePosition"] for c in kept["channels"]["nodes"]] == list(MICROPHONES)
    assert kept["cycles"]["totalCount"] == 3
    assert (kept["deviceSerial"], kept["qcPassed"], kept["version"]) == ("SN123", False, 2)

    replaced = (
        await save_recording(
            graphql,
            participantId=participant_id,
            **key,
            numChannels=2,
            channels=[{"index": 1, "microphonePosition": "IPL", "artifactTypes": ["continuous"]}],
            cycles=[{"index": 0, "startSeconds": 0.5, "endSeconds": 0.5, "qcPassed": True}],
        )
    )["recording"]
    assert replaced["numChannels"] == 2
    assert replaced["channels"]["nodes"] == [
        {
            "index": 1,
            "microphonePosition": "IPL",
            "qcPassed": None,
            "artifactTypes": ["continuous"],
            "signalDropout": None,
        }
    ]
    assert replaced["cycles"]["nodes"] == [
        {"index": 0, "startSeconds": 0.5, "endSeconds": 0.5, "qcPassed": True, "attributes": {}}
    ]
    assert replaced["version"] == 3
    last = (await events(graphql, replaced["id"]))[-1]
    assert last["payload"]["fields"] == ["channels", "cycles", "num_channels"]
    assert (last["payload"]["channels"], last["payload"]["cycles"]) == (1, 1)


async def test_the_file_is_updated_in_place(graphql: GraphQLClient) -> None:
    participant_id = await participant_of(graphql)
    first = (await save_recording(graphql, participantId=participant_id, **AUDIO))["recording"]
    moved = AUDIO | {
        "file": {
            "path": "/archive/1011_walk_pass1.pkl",
            "checksum": "b2",
            "sizeBytes": 7,
            "modifiedAt": "2024-01-02T08:00:00",
        }
    }
    second = (await save_recording(graphql, participantId=participant_id, **moved))["recording"]

    assert first["file"]["id"] == second["file"]["id"]
    assert second["file"] | {"id": "-"} == {
        "id": "-",
        "path": "/archive/1011_walk_pass1.pkl",
        "name": "1011_walk_pass1.pkl",
        "checksum": "b2",
        "checksumAlgorithm": "sha256",
        "sizeBytes": 7,
        "modifiedAt": "2024-01-02T08:00:00+00:00",
        "version": 2,
    }
    assert second["version"] == first["version"] + 1
    assert second["updatedAt"] >= first["updatedAt"]
    assert (await events(graphql, second["file"]["id"]))[-1]["payload"] == {
        "fields": ["checksum", "modified_at", "path", "size_bytes"]
    }
    assert (await events(graphql, second["id"]))[-1]["payload"] == {
        "fields": ["file"],
        "channels": 4,
    }


async def test_a_recording_without_pass_number_is_found_by_its_key(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    participant_id = await participant_of(graphql)
    key = {"kind": "BIOMECHANICS", "maneuver": "SIT_TO_STAND", "knee": "RIGHT"}
    first = await save_recording(graphql, participantId=participant_id, **key, qcPassed=True)
    second = await save_recording(graphql, participantId=participant_id, **key, qcPassed=False)
    other_knee = await save_recording(
        graphql, participantId=participant_id, **key | {"knee": "LEFT"}
    )

    assert [p["created"] for p in (first, second, other_knee)] == [True, False, True]
    assert second["recording"]["id"] == first["recording"]["id"]
    assert (second["recording"]["passNumber"], second["recording"]["qcPassed"]) == (None, False)
    count = select(func.count()).select_from(models.Recording)
    assert (await session.execute(count)).scalar_one() == 2


async def test_num_channels_defaults_to_the_channels_given(graphql: GraphQLClient) -> None:
    participant_id = await participant_of(graphql)
    input = {k: v for k, v in AUDIO.items() if k != "file"}
    recording = (await save_recording(graphql, participantId=participant_id, **input))["recording"]
    assert recording["numChannels"] == 4
    assert recording["file"] is None
    assert recording["recordedAt"] == "2024-01-01T10:00:00+00:00"


async def test_a_synchronization_is_saved_by_its_pair_with_its_recording(
    graphql: GraphQLClient,
) -> None:
    participant_id = await participant_of(graphql)
    audio = (await save_recording(graphql, participantId=participant_id, **AUDIO))["recording"]
    key = {k: AUDIO[k] for k in ("maneuver", "knee", "passNumber")}
    biomechanics = (
        await save_recording(graphql, participantId=participant_id, kind="BIOMECHANICS", **key)
    )["recording"]
    pair = {"audioRecordingId": audio["id"], "biomechanicsRecordingId": biomechanics["id"]}
    file = {"path": "/data/AOA/1011/Left Knee/Walking/1011_walk_pass1_sync.pkl"}

    first = await save_synchronization(
        graphql,
        **pair,
        offsetSeconds=0.25,
        method="consensus",
        consensus={"rms": 0.2},
        qcPassed=True,
        file=file,
    )
    second = await save_synchronization(graphql, **pair, qcPassed=False, qcNotes="drift")

    assert (first["created"], second["created"]) == (True, False)
    synchronization = second["synchronization"]
    assert synchronization | {"id": "-"} == {
        "id": "-",
        "audioSyncSeconds": None,
        "biomechanicsSyncSeconds": None,
        "offsetSeconds": 0.25,
        "method": "consensus",
        "consensus": {"rms": 0.2},
        "qcPassed": False,
        "qcNotes": "drift",
        "version": 2,
        "audio": {"id": audio["id"]},
        "biomechanics": {"id": biomechanics["id"]},
    }
    recording = second["recording"]
    assert recording["id"] == first["recording"]["id"]
    assert recording | {"id": "-", "file": None} == {
        "id": "-",
        "kind": "SYNCHRONIZATION",
        "maneuver": "WALK",
        "knee": "LEFT",
        "passNumber": 1,
        "speed": "slow",
        "qcPassed": False,
        "version": 2,
        "file": None,
    }
    assert recording["file"]["path"] == file["path"]
    assert [e["payload"].get("fields") for e in await events(graphql, synchronization["id"])] == [
        None,
        ["qc_notes", "qc_passed"],
    ]


async def test_many_cycles_are_written_in_a_few_statements(
    graphql: GraphQLClient, statements: StatementCounter
) -> None:
    participant_id = await participant_of(graphql)
    cycles = [{"index": n, "startSeconds": n, "endSeconds": n + 0.8} for n in range(2_000)]
    input = {"kind": "MOVEMENT_CYCLES", "maneuver": "FLEXION_EXTENSION", "knee": "LEFT"}
    statements.reset()
    created = await save_recording(graphql, participantId=participant_id, **input, cycles=cycles)
    # lock the participant, find the key, insert the recording and its cycles; insert
    # the event (with the event log's lock and the notification); then the payload's
    # three reads
    assert statements.count == 8, statements.statements
    statements.reset()
    replaced = await save_recording(
        graphql, participantId=participant_id, **input, cycles=cycles[:1_500]
    )
    # ... compare the stored cycles, delete and insert them, update the recording
    assert statements.count == 10, statements.statements

    assert created["recording"]["cycles"]["totalCount"] == 2_000
    assert replaced["recording"]["cycles"]["totalCount"] == 1_500


async def test_deleting_a_recording_takes_its_parts_and_a_participant_keeps_its_recordings(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    participant_id = await participant_of(graphql)
    cycles = [{"index": 0, "startSeconds": 0, "endSeconds": 1}]
    recording = (
        await save_recording(graphql, participantId=participant_id, **AUDIO, cycles=cycles)
    )["recording"]
    delete = "mutation($id: ID!) { deleteNode(id: $id) { deletedId } }"

    refused = await graphql.execute(delete, id=participant_id)
    assert refused["errors"][0]["extensions"]["reason"] == "HAS_DEPENDENTS"
    await graphql.data(delete, id=recording["id"])

    for model in (models.Recording, models.RecordingChannel, models.MovementCycle):
        count = select(func.count()).select_from(model)
        assert (await session.execute(count)).scalar_one() == 0


async def test_concurrent_saves_of_one_recording_key_leave_one_row(
    committed_graphql: GraphQLClient,
) -> None:
    study = await create_study(committed_graphql, f"concurrent-{uuid.uuid4()}")
    participant = await save_participant(committed_graphql, studyId=study["id"], number=7)
    participant_id = participant["participant"]["id"]

    saves = await asyncio.gather(
        *(
            save_recording(
                committed_graphql, participantId=participant_id, **AUDIO | {"speed": f"s{n}"}
            )
            for n in range(10)
        )
    )

    assert [s["created"] for s in saves].count(True) == 1
    assert len({s["recording"]["id"] for s in saves}) == 1
    recordings = await committed_graphql.data(
        "query($id: ID!) { node(id: $id) { ... on Participant { recordings { totalCount "
        "nodes { version } } } } }",
        id=participant_id,
    )
    assert recordings["node"]["recordings"]["totalCount"] == 1
    # each save after the first changed the speed: one version each
    assert recordings["node"]["recordings"]["nodes"][0]["version"] == 10
