"""The first read API: node ids, root lists with keyset pages, nested relations in a
fixed number of statements."""

from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models as m
from tests.conftest import GraphQLClient, StatementCounter, read_statements


async def _study_tree(
    session: AsyncSession, studies: int, participants: int, recordings: int
) -> None:
    study_ids = (
        (
            await session.execute(
                insert(m.Study).returning(m.Study.id), [{"name": f"S{i}"} for i in range(studies)]
            )
        )
        .scalars()
        .all()
    )
    participant_ids = (
        (
            await session.execute(
                insert(m.Participant).returning(m.Participant.id),
                [
                    {"study_id": s, "number": 1000 + p}
                    for s in study_ids
                    for p in range(participants)
                ],
            )
        )
        .scalars()
        .all()
    )
    await session.execute(
        insert(m.Recording),
        [
            {
                "participant_id": p,
                "kind": m.RecordingKind.AUDIO,
                "maneuver": m.Maneuver.WALK,
                "knee": m.Knee.LEFT,
                "pass_number": r,
            }
            for p in participant_ids
            for r in range(recordings)
        ],
    )


NESTED = """
query {
  studies(first: 50) {
    totalCount
    edges { node { id name participants { nodes {
      number recordings { nodes { kind maneuver passNumber } } } } } }
  }
}
"""


@pytest.mark.parametrize(("studies", "participants", "recordings"), [(1, 1, 1), (4, 5, 6)])
async def test_nested_hierarchy_costs_one_statement_per_level(
    session: AsyncSession,
    graphql: GraphQLClient,
    statements: StatementCounter,
    studies: int,
    participants: int,
    recordings: int,
) -> None:
    await _study_tree(session, studies, participants, recordings)
    statements.reset()
    data = await graphql.data(NESTED)
    page = data["studies"]
    assert page["totalCount"] == studies
    assert len(page["edges"]) == studies
    for edge in page["edges"]:
        nodes = edge["node"]["participants"]["nodes"]
        assert [p["number"] for p in nodes] == [1000 + i for i in range(participants)]
        for participant in nodes:
            assert [r["passNumber"] for r in participant["recordings"]["nodes"]] == list(
                range(recordings)
            )
    # studies page, their count, participants, recordings
    assert statements.count == read_statements(4), statements.statements


async def test_node_resolves_a_global_id_and_pages_follow_cursors(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    await _study_tree(session, 3, 1, 1)
    first = await graphql.data(
        "{ studies(first: 2) { edges { cursor node { id name } } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    names = [e["node"]["name"] for e in first["studies"]["edges"]]
    assert names == ["S0", "S1"]
    assert first["studies"]["pageInfo"]["hasNextPage"] is True

    rest = await graphql.data(
        "query($after: String) { studies(first: 2, after: $after) { edges { node { name } } "
        "pageInfo { hasNextPage } } }",
        after=first["studies"]["pageInfo"]["endCursor"],
    )
    assert [e["node"]["name"] for e in rest["studies"]["edges"]] == ["S2"]
    assert rest["studies"]["pageInfo"]["hasNextPage"] is False

    node_id = first["studies"]["edges"][1]["node"]["id"]
    node = await graphql.data(
        "query($id: ID!) { node(id: $id) { __typename id ... on Study { name } } }", id=node_id
    )
    assert node["node"] == {"__typename": "Study", "id": node_id, "name": "S1"}


async def test_every_root_list_answers(graphql: GraphQLClient) -> None:
    data = await graphql.data(
        "{ studies { totalCount } projects { totalCount } runs { totalCount } "
        "molecules { totalCount } batches { totalCount } events { totalCount } }"
    )
    assert set(data) == {"studies", "projects", "runs", "molecules", "batches", "events"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ studies(first: 501) { totalCount } }", "first must be between 0 and 500"),
        ('{ studies(after: "bm90LWEtY3Vyc29y") { totalCount } }', "Invalid cursor"),
        ('{ studies(after: "%%%") { totalCount } }', "Invalid cursor"),
    ],
)
async def test_bad_page_arguments_get_a_clear_error(
    graphql: GraphQLClient, query: str, message: str
) -> None:
    body = await graphql.execute(query)
    (error,) = body["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("raw_id", "code", "message"),
    [
        (base64.b64encode(b"Study:999999999").decode(), "NOT_FOUND", "No Study has this id"),
        (base64.b64encode(b"Study:abc").decode(), "BAD_USER_INPUT", "Invalid Study id"),
    ],
)
async def test_bad_node_ids_get_a_clear_error(
    graphql: GraphQLClient, raw_id: str, code: str, message: str
) -> None:
    body = await graphql.execute("query($id: ID!) { node(id: $id) { id } }", id=raw_id)
    (error,) = body["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == code


async def test_typename_answers(graphql: GraphQLClient) -> None:
    assert await graphql.data("{ __typename }") == {"__typename": "Query"}


async def test_a_page_reads_json_columns_only_when_selected(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    study = m.Study(name="json", attributes={"site": "lab"})
    session.add(study)
    await session.flush()
    session.add(m.Participant(study_id=study.id, number=7, attributes={"age": 61}))
    await session.flush()
    session.expunge_all()

    statements.reset()
    lean = await graphql.data(
        '{ studies(where: {name: {eq: "json"}}) { nodes { name participants '
        "{ nodes { number } } } } }"
    )
    assert lean["studies"]["nodes"] == [
        {"name": "json", "participants": {"nodes": [{"number": 7}]}}
    ]
    # the columns each statement returns (a LATERAL page's inner query reads the table)
    returned = [re.split(r"\sFROM\s", sql)[0] for sql in statements.statements]
    assert not any("attributes" in columns for columns in returned), returned

    # The same rows are read twice in one request, once without and once with the JSON.
    both = await graphql.data(
        "{ lean: participants(where: {number: {eq: 7}}) { nodes { number } } "
        "full: participants(where: {number: {eq: 7}}) { edges { node { ... on Participant "
        "{ attributes study { attributes } } } } } }"
    )
    assert both["lean"]["nodes"] == [{"number": 7}]
    assert both["full"]["edges"][0]["node"] == {
        "attributes": {"age": 61},
        "study": {"attributes": {"site": "lab"}},
    }
