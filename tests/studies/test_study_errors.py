"""Bad input to the studies mutations: each is refused with a code (and reason) and a
message a user can act on, and leaves the database as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.relay import GlobalID

from tests.conftest import GraphQLClient
from tests.studies.test_studies import (
    AUDIO,
    CREATE_STUDY,
    SAVE_PARTICIPANT,
    SAVE_RECORDING,
    SAVE_SYNCHRONIZATION,
    UPDATE_STUDY,
    create_study,
    save_participant,
    save_recording,
)
from tests.support.snapshots import database_state


@dataclass
class Existing:
    """Rows the bad calls refer to."""

    study: dict[str, Any]
    participant: str
    audio: str
    other_audio: str


@pytest.fixture
async def existing(graphql: GraphQLClient) -> Existing:
    study = await create_study(graphql, "AOA", title="Acoustic emissions")
    participant = (await save_participant(graphql, studyId=study["id"], number=1011))[
        "participant"
    ]["id"]
    audio = await save_recording(graphql, participantId=participant, **AUDIO)
    other_audio = await save_recording(
        graphql, participantId=participant, **AUDIO | {"knee": "RIGHT"}
    )
    return Existing(
        study=study,
        participant=participant,
        audio=audio["recording"]["id"],
        other_audio=other_audio["recording"]["id"],
    )


def recording(existing: Existing, **changes: Any) -> tuple[str, dict[str, Any]]:
    return SAVE_RECORDING, {"input": AUDIO | {"participantId": existing.participant} | changes}


def channels(count: int, **changes: Any) -> list[dict[str, Any]]:
    return [{"index": index, **changes} for index in range(count)]


@dataclass
class Case:
    call: Any
    code: str
    reason: str | None
    message: str


CASES = {
    "duplicate study name": Case(
        lambda e: (CREATE_STUDY, {"input": {"name": "AOA"}}),
        "CONFLICT",
        "ALREADY_EXISTS",
        "A study named 'AOA' already exists",
    ),
    "unknown participant id": Case(
        lambda e: recording(e, participantId=str(GlobalID("Participant", "999999"))),
        "NOT_FOUND",
        None,
        "No Participant has the id",
    ),
    "id of the wrong type": Case(
        lambda e: recording(e, participantId=e.study["id"]),
        "BAD_USER_INPUT",
        None,
        "participantId must be the id of a Participant, not of a Study",
    ),
    "passNumber on a non-walk maneuver": Case(
        lambda e: recording(e, maneuver="SIT_TO_STAND", speed=None),
        "BAD_USER_INPUT",
        None,
        "passNumber is only for WALK recordings; leave it out for a SIT_TO_STAND recording",
    ),
    "speed on a non-walk maneuver": Case(
        lambda e: recording(e, maneuver="FLEXION_EXTENSION", passNumber=None),
        "BAD_USER_INPUT",
        None,
        "speed is only for WALK recordings",
    ),
    "signalDropout above 1": Case(
        lambda e: recording(e, channels=channels(4, signalDropout=1.5)),
        "BAD_USER_INPUT",
        None,
        "channels[0].signalDropout is the fraction of samples lost, from 0 to 1, not 1.5",
    ),
    "cycle that ends before it starts": Case(
        lambda e: recording(e, cycles=[{"index": 0, "startSeconds": 2.0, "endSeconds": 1.0}]),
        "BAD_USER_INPUT",
        None,
        "cycles[0] ends (1.0 s) before it starts (2.0 s)",
    ),
    "duplicate channel index": Case(
        lambda e: recording(e, channels=[{"index": 0}, {"index": 1}, {"index": 0}]),
        "BAD_USER_INPUT",
        None,
        "channels[2].index 0 is given twice",
    ),
    "channel index beyond numChannels": Case(
        lambda e: recording(e, numChannels=2, channels=[{"index": 2}]),
        "BAD_USER_INPUT",
        None,
        "numbers them 0 to 1",
    ),
    "too many channels": Case(
        lambda e: recording(e, numChannels=None, channels=channels(65)),
        "BAD_USER_INPUT",
        None,
        "channels has 65 entries; one call takes at most 64",
    ),
    "numChannels of zero": Case(
        lambda e: recording(e, numChannels=0),
        "BAD_USER_INPUT",
        None,
        "numChannels must be 1 or more, not 0",
    ),
    "numChannels that leaves out stored channels": Case(
        # the new file is written before the channels are checked: the rollback undoes it
        lambda e: recording(
            e, numChannels=2, channels=None, file={"path": "/elsewhere.pkl", "checksum": "c3"}
        ),
        "BAD_USER_INPUT",
        None,
        "The recording has a channel 3, which numChannels 2 leaves out",
    ),
    "qcFailSegments pair backwards": Case(
        lambda e: recording(e, qcFailSegments=[[1.0, 2.0], [5.0, 4.0]]),
        "BAD_USER_INPUT",
        None,
        "qcFailSegments[1] must be a pair [start, end] with start <= end",
    ),
    "attributes not an object": Case(
        lambda e: recording(e, attributes=[1, 2]),
        "BAD_USER_INPUT",
        None,
        "attributes must be a JSON object ({...}), not list",
    ),
    "cycle attributes not an object": Case(
        lambda e: recording(
            e, cycles=[{"index": 0, "startSeconds": 0, "endSeconds": 1, "attributes": "x"}]
        ),
        "BAD_USER_INPUT",
        None,
        "cycles[0].attributes must be a JSON object",
    ),
    "negative participant number": Case(
        lambda e: (SAVE_PARTICIPANT, {"input": {"studyId": e.study["id"], "number": -1}}),
        "BAD_USER_INPUT",
        None,
        "number must be 0 or more, not -1",
    ),
    "participant of an unknown study": Case(
        lambda e: (
            SAVE_PARTICIPANT,
            {"input": {"studyId": str(GlobalID("Study", "999999")), "number": 1}},
        ),
        "NOT_FOUND",
        None,
        "No Study has the id",
    ),
    "synchronization of two audio recordings": Case(
        lambda e: (
            SAVE_SYNCHRONIZATION,
            {"input": {"audioRecordingId": e.audio, "biomechanicsRecordingId": e.other_audio}},
        ),
        "BAD_USER_INPUT",
        None,
        "biomechanicsRecordingId must be a recording of kind BIOMECHANICS",
    ),
    "consensus not an object": Case(
        lambda e: (
            SAVE_SYNCHRONIZATION,
            {
                "input": {
                    "audioRecordingId": e.audio,
                    "biomechanicsRecordingId": e.other_audio,
                    "consensus": 3,
                }
            },
        ),
        "BAD_USER_INPUT",
        None,
        "consensus must be a JSON object",
    ),
    "stale expectedVersion": Case(
        lambda e: (
            UPDATE_STUDY,
            {"input": {"id": e.study["id"], "title": "New", "expectedVersion": 0}},
        ),
        "CONFLICT",
        "STALE_VERSION",
        "changed since you read it: it is at version 1, you passed 0",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_bad_input_is_refused_and_changes_nothing(
    graphql: GraphQLClient, session: AsyncSession, existing: Existing, case: Case
) -> None:
    before = await database_state(session)
    document, variables = case.call(existing)

    body = await graphql.execute(document, **variables)

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == case.code
    assert error["extensions"].get("reason") == case.reason
    assert case.message in error["message"]
    assert await database_state(session) == before


async def test_synchronization_of_two_participants_is_refused(
    graphql: GraphQLClient, session: AsyncSession, existing: Existing
) -> None:
    other = (await save_participant(graphql, studyId=existing.study["id"], number=1012))[
        "participant"
    ]["id"]
    biomechanics = await save_recording(
        graphql, participantId=other, kind="BIOMECHANICS", maneuver="WALK", knee="LEFT"
    )
    before = await database_state(session)

    body = await graphql.execute(
        SAVE_SYNCHRONIZATION,
        input={
            "audioRecordingId": existing.audio,
            "biomechanicsRecordingId": biomechanics["recording"]["id"],
        },
    )

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "are of different participants" in error["message"]
    assert await database_state(session) == before
