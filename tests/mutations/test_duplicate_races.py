"""Creates whose key is taken by a concurrent call refuse exactly as a sequential
duplicate is refused: CONFLICT, ALREADY_EXISTS, the winner's `existingId`, the same
message, and nothing written.

The calls of a round are sent together, each on its own connection and transaction.
Most rounds make them meet at the unique index, where the loser's check found no row
because the winner had not committed yet; every loser must still get the same answer.
The held-key tests make that meeting certain: an uncommitted insert of the key holds
the index while the calls arrive, and the test lets go only once every call waits on it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from strawberry.relay import GlobalID

from scimeta import models
from scimeta.writes.database_errors import client_error
from tests.conftest import GraphQLClient
from tests.jobs.test_jobs import create_project

ROUNDS = 10
# A message that quotes PostgreSQL's key detail shows row values such as "(1, sha256, ..."
# or "Key (name)=(...)"; the messages name rows by their global ids only.
RAW_DETAIL = re.compile(r"Key \(|\(\d+[,)]|\)=\(")

CREATE_PROJECT = """
mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }"""
CREATE_STUDY = """
mutation($input: CreateStudyInput!) { createStudy(input: $input) { study { id } } }"""
CREATE_RUN = """
mutation($input: CreateRunInput!) { createRun(input: $input) { replayed run { id } } }"""
IMPORT_FILE = """
mutation($input: ImportFileInput!) { importFile(input: $input) { replayed file { id } } }"""


@dataclass
class Create:
    """One create mutation keyed by a unique value: how to call it with a fresh key, and
    where its rows and their key are."""

    document: str
    field: str
    node: str
    model: type[models.Entity]
    # (project row id, key, n) -> the input of the n-th caller
    input: Callable[[Any, str, int], dict[str, Any]]
    # (project row id, key) -> the columns of a row holding `key` (for the held-key
    # tests and the row count)
    row: Callable[[Any, str], dict[str, Any]]


def _checksum(key: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, key).hex * 2


CREATES = {
    "createProject": Create(
        CREATE_PROJECT,
        "createProject",
        "project",
        models.Project,
        lambda _, key, n: {"name": key},
        lambda _, key: {"name": key},
    ),
    "createStudy": Create(
        CREATE_STUDY,
        "createStudy",
        "study",
        models.Study,
        lambda _, key, n: {"name": key},
        lambda _, key: {"name": key},
    ),
    "createRun": Create(
        CREATE_RUN,
        "createRun",
        "run",
        models.Run,
        # each caller its own idempotency key: they are different calls for one name
        lambda _, key, n: {"name": key, "idempotencyKey": f"{key}-{n}"},
        lambda _, key: {"name": key, "status": models.Status.PENDING},
    ),
    "importFile": Create(
        IMPORT_FILE,
        "importFile",
        "file",
        models.File,
        lambda project, key, n: {
            "projectId": str(GlobalID("Project", str(project))),
            "importedFrom": "/archive/in.mtz",
            "file": {"path": "/data/in.mtz", "checksum": _checksum(key)},
            "idempotencyKey": f"{key}-{n}",
        },
        lambda project, key: {
            "project_id": project,
            "path": "/data/in.mtz",
            "name": "in.mtz",
            "checksum": _checksum(key),
            "checksum_algorithm": "sha256",
            "imported_from": "/archive/in.mtz",
        },
    ),
}


@pytest.fixture
async def project(committed_graphql: GraphQLClient) -> int:
    """The row id of a project that imports go into."""
    created = await create_project(committed_graphql, f"races-{uuid.uuid4()}")
    return int(GlobalID.from_id(created["id"]).node_id)


async def _last_sequence(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        last = await connection.scalar(select(func.coalesce(func.max(models.Event.sequence), 0)))
    return int(last)


async def _rows(engine: AsyncEngine, create: Create, project: int, key: str) -> list[int]:
    """The ids of the rows that hold `key`."""
    model: Any = create.model
    columns = create.row(project, key)
    where = [getattr(model, name) == value for name, value in columns.items() if name != "status"]
    async with engine.connect() as connection:
        return list((await connection.scalars(select(model.id).where(*where))).all())


async def _events_after(engine: AsyncEngine, sequence: int) -> list[tuple[str, int, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(models.Event.subject_type, models.Event.subject_id, models.Event.type)
            .where(models.Event.sequence > sequence)
            .order_by(models.Event.sequence)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _idempotency_subjects(engine: AsyncEngine, key: str) -> list[int | None]:
    """The rows the stored idempotency keys of the callers of `key` made."""
    async with engine.connect() as connection:
        found = await connection.scalars(
            select(models.IdempotencyKey.subject_id).where(
                models.IdempotencyKey.key.like(f"{key}-%")
            )
        )
        return list(found.all())


def _node_id(body: dict[str, Any], create: Create) -> str:
    node_id: str = body["data"][create.field][create.node]["id"]
    return node_id


def _problems(bodies: list[dict[str, Any]], winner: str, sequential: dict[str, Any]) -> list[str]:
    """What is wrong with the losers' answers: each must be the sequential duplicate's
    error, naming the winner."""
    problems = []
    for body in bodies:
        errors = body.get("errors")
        if not errors:
            continue
        error = errors[0]
        extensions = error.get("extensions", {})
        if extensions.get("existingId") != winner:
            problems.append(f"existingId {extensions.get('existingId')!r}: {error['message']}")
        elif RAW_DETAIL.search(error["message"]):
            problems.append(f"raw key detail: {error['message']}")
        elif error != sequential:
            problems.append(f"{error} is not the sequential duplicate's {sequential}")
    return problems


@pytest.mark.parametrize("name", list(CREATES))
async def test_simultaneous_identical_creates_refuse_the_losers_as_a_duplicate(
    committed_graphql: GraphQLClient, committed_engine: AsyncEngine, project: int, name: str
) -> None:
    """Rounds of 2 to 4 identical calls at once: one creates, each other one gets the
    error a call made after it gets, with the winner's id; one row and the winner's
    events are all that is written."""
    create = CREATES[name]
    problems: list[str] = []
    losers = 0
    for number in range(ROUNDS):
        callers = 2 + number % 3
        key = f"race-{name}-{uuid.uuid4()}"
        before = await _last_sequence(committed_engine)

        bodies = await asyncio.gather(
            *(
                committed_graphql.execute(create.document, input=create.input(project, key, n))
                for n in range(callers)
            )
        )

        winners = [body for body in bodies if not body.get("errors")]
        assert len(winners) == 1, bodies
        winner = _node_id(winners[0], create)
        winner_row = int(GlobalID.from_id(winner).node_id)
        assert await _rows(committed_engine, create, project, key) == [winner_row]
        assert await _events_after(committed_engine, before) == [
            (create.model.__name__, winner_row, "created")
        ]
        if "idempotencyKey" in create.input(project, key, 0):
            # the losers' keys went with their rollback
            assert await _idempotency_subjects(committed_engine, key) == [winner_row]
        # what a call after the race is told, which every loser must have been told
        sequential = await committed_graphql.execute(
            create.document, input=create.input(project, key, callers)
        )
        assert sequential.get("errors"), sequential
        assert sequential["errors"][0]["extensions"]["existingId"] == winner
        assert not RAW_DETAIL.search(sequential["errors"][0]["message"])
        losers += callers - 1
        problems += _problems(bodies, winner, sequential["errors"][0])
    assert not problems, f"{len(problems)} of {losers} losers: {problems}"


async def _waiting_on_locks(connection: AsyncConnection) -> int:
    """How many other sessions of the database wait for a transaction to end."""
    waiting = await connection.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' "
            "AND wait_event = 'transactionid'"
        )
    )
    return int(waiting or 0)


async def _until_waiting(
    engine: AsyncEngine, count: int, calls: list[asyncio.Task[dict[str, Any]]]
) -> None:
    """Return once `count` calls wait on the held key; fail if any call ended instead, or
    if they are not all waiting within a minute."""
    async with asyncio.timeout(60), engine.connect() as connection:
        while await _waiting_on_locks(connection) < count:
            finished = [call.result() for call in calls if call.done()]
            assert not finished, f"a call ended before the key was let go: {finished}"
            # pg_stat_activity is read once per transaction: a new one sees the change
            await connection.commit()


@asynccontextmanager
async def _held_key(
    engine: AsyncEngine, create: Create, project: int, key: str
) -> AsyncIterator[tuple[AsyncConnection, int]]:
    """An uncommitted row holding `key`, and its connection to commit or roll back."""
    async with engine.connect() as connection:
        model: Any = create.model
        row = await connection.scalar(
            insert(model).values(create.row(project, key)).returning(model.id)
        )
        yield connection, int(row)


@pytest.mark.parametrize("ending", ["commit", "rollback"])
@pytest.mark.parametrize("name", list(CREATES))
async def test_calls_that_meet_at_a_held_key_refuse_as_a_duplicate(
    committed_graphql: GraphQLClient,
    committed_engine: AsyncEngine,
    project: int,
    name: str,
    ending: str,
) -> None:
    """Three calls find no row (the holder has not committed) and wait on the unique
    index. If the holder commits, all three are refused with its id; if it rolls back,
    one of them creates and the two others are refused with that one's id."""
    create = CREATES[name]
    key = f"held-{name}-{uuid.uuid4()}"
    callers = 3
    before = await _last_sequence(committed_engine)
    async with _held_key(committed_engine, create, project, key) as (holder, held_row):
        calls = [
            asyncio.create_task(
                committed_graphql.execute(create.document, input=create.input(project, key, n))
            )
            for n in range(callers)
        ]
        await _until_waiting(committed_engine, callers, calls)
        await (holder.commit() if ending == "commit" else holder.rollback())
        bodies = await asyncio.gather(*calls)

    winners = [body for body in bodies if not body.get("errors")]
    if ending == "commit":
        assert winners == []
        winner_row = held_row
        expected_events: list[tuple[str, int, str]] = []
    else:
        assert len(winners) == 1, bodies
        winner_row = int(GlobalID.from_id(_node_id(winners[0], create)).node_id)
        expected_events = [(create.model.__name__, winner_row, "created")]
    winner = str(GlobalID(create.model.__name__, str(winner_row)))
    assert await _rows(committed_engine, create, project, key) == [winner_row]
    assert await _events_after(committed_engine, before) == expected_events
    sequential = await committed_graphql.execute(
        create.document, input=create.input(project, key, callers)
    )
    assert sequential["errors"][0]["extensions"]["existingId"] == winner
    problems = _problems(bodies, winner, sequential["errors"][0])
    assert not problems, f"{len(problems)} of {len(bodies) - len(winners)} losers: {problems}"


async def test_a_unique_violation_names_the_field_not_the_values(
    committed_engine: AsyncEngine,
) -> None:
    """A unique violation that reaches the generic mapping (no write looks for the row
    first) says which field is taken, without PostgreSQL's detail of the row's values."""
    name = f"mapped-{uuid.uuid4()}"
    async with committed_engine.connect() as connection:
        await connection.execute(insert(models.Project).values(name=name))
        with pytest.raises(DBAPIError) as raised:
            await connection.execute(insert(models.Project).values(name=name))
        await connection.rollback()
    # the detail PostgreSQL gives has the row's values
    assert name in raised.value.orig.__cause__.detail  # type: ignore[union-attr]
    error = client_error(raised.value)
    assert error is not None
    assert error.message == "A Project with this name already exists."
    assert error.extensions == {
        "code": "CONFLICT",
        "reason": "ALREADY_EXISTS",
        "constraint": "uq_projects_name",
        "fields": ["name"],
    }
