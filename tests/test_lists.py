"""Lists: keyset pages forwards and backwards, orderings over nullable columns, nested
pages per parent in a fixed number of statements, and every filter operator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from scimeta import models as m
from tests.conftest import GraphQLClient, StatementCounter, read_statements

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


def gid(type_name: str, row_id: int) -> str:
    return str(relay.GlobalID(type_name, str(row_id)))


def at(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


async def _studies(session: AsyncSession, names: list[str]) -> list[int]:
    result = await session.execute(
        insert(m.Study).returning(m.Study.id), [{"name": name} for name in names]
    )
    return list(result.scalars().all())


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _page_query(field: str, order: str, node: str) -> str:
    return (
        f"query($first: Int, $after: String, $last: Int, $before: String, "
        f"$orderBy: [{order}!]) {{ {field}(first: $first, after: $after, last: $last, "
        f"before: $before, orderBy: $orderBy) {{ edges {{ cursor node {{ {node} }} }} "
        f"{PAGE_INFO} }} }}"
    )


async def _walk(
    graphql: GraphQLClient,
    query: str,
    field: str,
    label: str,
    size: int,
    *,
    backward: bool = False,
    order_by: list[dict[str, str]] | None = None,
    limit: int = 20,
    nested: str | None = None,
) -> list[tuple[list[str], dict[str, Any]]]:
    """Every page of a list, in the order fetched: (labels of the page, its pageInfo).
    `nested` names a list under the single node of `field`."""
    pages: list[tuple[list[str], dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(limit):
        if backward:
            data = await graphql.data(query, last=size, before=cursor, orderBy=order_by)
        else:
            data = await graphql.data(query, first=size, after=cursor, orderBy=order_by)
        connection = data[field]
        if nested is not None:
            (node,) = connection["nodes"]
            connection = node[nested]
        edges = connection["edges"]
        info = connection["pageInfo"]
        assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
        assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
        pages.append(([edge["node"][label] for edge in edges], info))
        if backward:
            if not info["hasPreviousPage"]:
                return pages
            cursor = info["startCursor"]
        else:
            if not info["hasNextPage"]:
                return pages
            cursor = info["endCursor"]
    raise AssertionError(f"paging did not end after {limit} pages: {pages}")


SEVEN = [f"S{i}" for i in range(7)]
STUDY_PAGES = _page_query("studies", "StudyOrder", "name")


@pytest.mark.parametrize("size", [1, 2, 3, 6, 7, 8])
async def test_forward_pages_visit_every_row_once_in_order(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter, size: int
) -> None:
    await _studies(session, SEVEN)
    statements.reset()
    pages = await _walk(graphql, STUDY_PAGES, "studies", "name", size)
    assert [names for names, _ in pages] == _chunks(SEVEN, size)
    for number, (_, info) in enumerate(pages):
        assert info["hasPreviousPage"] is (number > 0)
        assert info["hasNextPage"] is (number < len(pages) - 1)
    # one statement per page: no count is selected
    assert statements.count == len(pages), statements.statements


async def test_forward_pages_of_three_through_seven_rows(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    await _studies(session, SEVEN)
    pages = await _walk(graphql, STUDY_PAGES, "studies", "name", 3)
    assert [(names, info["hasNextPage"], info["hasPreviousPage"]) for names, info in pages] == [
        (["S0", "S1", "S2"], True, False),
        (["S3", "S4", "S5"], True, True),
        (["S6"], False, True),
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 6, 7, 8])
async def test_backward_pages_visit_every_row_once_in_order(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter, size: int
) -> None:
    await _studies(session, SEVEN)
    statements.reset()
    pages = await _walk(graphql, STUDY_PAGES, "studies", "name", size, backward=True)
    # each page is in list order; the pages come from the end of the list
    expected = [SEVEN[max(0, end - size) : end] for end in range(len(SEVEN), 0, -size)]
    assert [names for names, _ in pages] == expected
    for number, (_, info) in enumerate(pages):
        assert info["hasNextPage"] is (number > 0)
        assert info["hasPreviousPage"] is (number < len(pages) - 1)
    assert statements.count == len(pages), statements.statements


async def test_backward_pages_of_three_through_seven_rows(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    await _studies(session, SEVEN)
    pages = await _walk(graphql, STUDY_PAGES, "studies", "name", 3, backward=True)
    assert [(names, info["hasNextPage"], info["hasPreviousPage"]) for names, info in pages] == [
        (["S4", "S5", "S6"], False, True),
        (["S1", "S2", "S3"], True, True),
        (["S0"], True, False),
    ]


BY_NAME = [{"field": "NAME", "direction": "ASC"}]


async def test_a_cursor_survives_rows_inserted_before_it(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    await _studies(session, ["b", "d", "f", "h", "j"])
    first = await graphql.data(STUDY_PAGES, first=2, orderBy=BY_NAME)
    assert [e["node"]["name"] for e in first["studies"]["edges"]] == ["b", "d"]
    cursor = first["studies"]["pageInfo"]["endCursor"]

    # three rows that sort before the cursor; an offset of 2 would now start at "c"
    await _studies(session, ["a", "c", "cc"])
    after = await graphql.data(STUDY_PAGES, first=2, after=cursor, orderBy=BY_NAME)
    assert [e["node"]["name"] for e in after["studies"]["edges"]] == ["f", "h"]
    assert after["studies"]["pageInfo"]["hasNextPage"] is True

    # the list itself did change
    whole = await graphql.data(STUDY_PAGES, first=50, orderBy=BY_NAME)
    names = [e["node"]["name"] for e in whole["studies"]["edges"]]
    assert names == ["a", "b", "c", "cc", "d", "f", "h", "j"]


async def test_a_cursor_survives_its_own_row_being_deleted(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    ids = await _studies(session, ["b", "d", "f", "h"])
    first = await graphql.data(STUDY_PAGES, first=2, orderBy=BY_NAME)
    cursor = first["studies"]["pageInfo"]["endCursor"]
    await session.delete(await session.get(m.Study, ids[1]))  # "d", the cursor's row
    await session.flush()
    after = await graphql.data(STUDY_PAGES, first=2, after=cursor, orderBy=BY_NAME)
    assert [e["node"]["name"] for e in after["studies"]["edges"]] == ["f", "h"]


async def test_a_backward_cursor_survives_rows_inserted_after_it(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    await _studies(session, ["b", "d", "f", "h", "j"])
    last = await graphql.data(STUDY_PAGES, last=2, orderBy=BY_NAME)
    assert [e["node"]["name"] for e in last["studies"]["edges"]] == ["h", "j"]
    cursor = last["studies"]["pageInfo"]["startCursor"]
    await _studies(session, ["i", "k", "z"])
    before = await graphql.data(STUDY_PAGES, last=2, before=cursor, orderBy=BY_NAME)
    assert [e["node"]["name"] for e in before["studies"]["edges"]] == ["d", "f"]
    assert before["studies"]["pageInfo"]["hasPreviousPage"] is True


# Calculations labelled by `method`, inserted in this order (ids ascending).
ENERGIES = {"c0": -1.0, "c1": None, "c2": -3.0, "c3": -1.0, "c4": None, "c5": -2.0, "c6": -1.0}
# Runs labelled by name: (status, started_at day), inserted in this order.
RUNS = {
    "r0": (m.Status.PENDING, 2),
    "r1": (m.Status.RUNNING, None),
    "r2": (m.Status.PENDING, 1),
    "r3": (m.Status.PENDING, 2),
    "r4": (m.Status.PENDING, None),
    "r5": (m.Status.RUNNING, 3),
    "r6": (m.Status.RUNNING, 1),
}

ORDERINGS = {
    # ascending: nulls last, ties (the three -1.0, the two nulls) by id ascending
    "energy asc": (
        "calculations",
        [{"field": "ENERGY", "direction": "ASC"}],
        ["c2", "c5", "c0", "c3", "c6", "c1", "c4"],
    ),
    # descending: nulls first, ties by id descending (the key follows the last direction)
    "energy desc": (
        "calculations",
        [{"field": "ENERGY", "direction": "DESC"}],
        ["c4", "c1", "c6", "c3", "c0", "c5", "c2"],
    ),
    "startedAt asc": (
        "runs",
        [{"field": "STARTED_AT", "direction": "ASC"}],
        ["r2", "r6", "r0", "r3", "r5", "r1", "r4"],
    ),
    "startedAt desc": (
        "runs",
        [{"field": "STARTED_AT", "direction": "DESC"}],
        ["r4", "r1", "r5", "r3", "r0", "r6", "r2"],
    ),
    "status asc, startedAt desc": (
        "runs",
        [{"field": "STATUS", "direction": "ASC"}, {"field": "STARTED_AT", "direction": "DESC"}],
        ["r4", "r3", "r0", "r2", "r1", "r5", "r6"],
    ),
}


async def _ordering_rows(session: AsyncSession) -> None:
    molecule = m.Molecule(smiles="CCO")
    session.add(molecule)
    await session.flush()
    await session.execute(
        insert(m.Calculation),
        [
            {"molecule_id": molecule.id, "method": label, "energy": energy}
            for label, energy in ENERGIES.items()
        ],
    )
    await session.execute(
        insert(m.Run),
        [
            {"name": name, "status": status, "started_at": None if day is None else at(day)}
            for name, (status, day) in RUNS.items()
        ],
    )


@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("ordering", list(ORDERINGS))
async def test_orderings_over_nullable_columns_page_across_nulls_and_ties(
    session: AsyncSession, graphql: GraphQLClient, ordering: str, backward: bool, size: int
) -> None:
    await _ordering_rows(session)
    field, order_by, expected = ORDERINGS[ordering]
    order, label = (
        ("CalculationOrder", "method") if field == "calculations" else ("RunOrder", "name")
    )
    query = _page_query(field, order, label)

    whole = await graphql.data(query, first=50, orderBy=order_by)
    assert [e["node"][label] for e in whole[field]["edges"]] == expected

    pages = await _walk(graphql, query, field, label, size, backward=backward, order_by=order_by)
    if backward:
        pages.reverse()
    assert [item for names, _ in pages for item in names] == expected
    # only the page at the far end of the walk may be short
    full = pages[1:] if backward else pages[:-1]
    assert all(len(names) == size for names, _ in full)


NESTED_PAGES = (
    "query($first: Int, $after: String, $last: Int, $before: String, "
    '$orderBy: [ParticipantOrder!]) { studies(where: {name: {eq: "S1"}}) { nodes { '
    "participants(first: $first, after: $after, last: $last, before: $before, "
    "orderBy: $orderBy) { edges { cursor node { number } } " + PAGE_INFO + " } } } }"
)


@pytest.mark.parametrize("size", [1, 2, 5, 6])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
async def test_nested_pages_follow_their_cursors(
    session: AsyncSession,
    graphql: GraphQLClient,
    statements: StatementCounter,
    size: int,
    backward: bool,
    descending: bool,
) -> None:
    study_ids = await _studies(session, ["S0", "S1", "S2"])
    # interleaved, so that the participants of S1 are not contiguous in id order
    await session.execute(
        insert(m.Participant),
        [{"study_id": s, "number": n} for n in (30, 10, 50, 20, 40) for s in study_ids],
    )
    expected = [50, 40, 30, 20, 10] if descending else [10, 20, 30, 40, 50]
    order_by = [{"field": "NUMBER", "direction": "DESC" if descending else "ASC"}]
    statements.reset()
    pages = await _walk(
        graphql,
        NESTED_PAGES,
        "studies",
        "number",
        size,
        backward=backward,
        order_by=order_by,
        nested="participants",
    )
    if backward:
        pages.reverse()
    assert [number for numbers, _ in pages for number in numbers] == expected
    full = pages[1:] if backward else pages[:-1]
    assert all(len(numbers) == size for numbers, _ in full)
    # per page: studies page, participants page
    assert statements.count == read_statements(2) * len(pages), statements.statements


def _nested_participants(page: str) -> str:
    return (
        "{ studies(first: 50) { nodes { name participants(" + page + ") { totalCount "
        "pageInfo { hasNextPage hasPreviousPage } nodes { number } } } } }"
    )


@pytest.mark.parametrize("studies", [3, 6])
async def test_a_nested_page_is_per_parent_in_a_fixed_number_of_statements(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter, studies: int
) -> None:
    study_ids = await _studies(session, [f"S{i}" for i in range(studies)])
    await session.execute(
        insert(m.Participant),
        [{"study_id": s, "number": 1000 + p} for s in study_ids for p in range(4)],
    )
    statements.reset()
    data = await graphql.data(_nested_participants("first: 2"))
    nodes = data["studies"]["nodes"]
    assert [study["name"] for study in nodes] == [f"S{i}" for i in range(studies)]
    for study in nodes:
        participants = study["participants"]
        assert [p["number"] for p in participants["nodes"]] == [1000, 1001]
        assert participants["totalCount"] == 4
        assert participants["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False}
    # studies page, participants pages (one LATERAL for all studies), participants counts
    assert statements.count == read_statements(3), statements.statements

    statements.reset()
    data = await graphql.data(_nested_participants("last: 1, where: {number: {lt: 1003}}"))
    for study in data["studies"]["nodes"]:
        participants = study["participants"]
        assert [p["number"] for p in participants["nodes"]] == [1002]
        assert participants["totalCount"] == 3
        assert participants["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}
    assert statements.count == read_statements(3), statements.statements


@pytest.mark.parametrize(
    ("query", "without_count"),
    [
        ("{ studies(first: 2) { %s nodes { name } } }", 1),
        ("{ studies { nodes { name participants { %s nodes { number } } } } }", 2),
    ],
    ids=["root", "nested"],
)
async def test_total_count_costs_a_statement_only_when_selected(
    session: AsyncSession,
    graphql: GraphQLClient,
    statements: StatementCounter,
    query: str,
    without_count: int,
) -> None:
    study_ids = await _studies(session, ["S0", "S1", "S2"])
    await session.execute(
        insert(m.Participant), [{"study_id": s, "number": n} for s in study_ids for n in (1, 2)]
    )
    statements.reset()
    plain = await graphql.data(query % "")
    assert statements.count == read_statements(without_count), statements.statements
    assert not any("count(" in statement for statement in statements.statements)

    statements.reset()
    counted = await graphql.data(query % "totalCount")
    assert statements.count == read_statements(without_count + 1), statements.statements
    if "participants" in query:
        assert [s["participants"]["totalCount"] for s in counted["studies"]["nodes"]] == [2, 2, 2]
    else:
        assert counted["studies"]["totalCount"] == 3
        assert counted["studies"]["nodes"] == plain["studies"]["nodes"]


async def _filter_rows(session: AsyncSession) -> dict[str, int]:
    """Runs and calculations to filter; returns their ids by label."""
    aoa, bob = await _studies(session, ["AOA", "BOB"])
    session.add(m.Participant(study_id=bob, number=7))
    runs = [
        {"name": "alpha", "attempt": 0, "status": m.Status.PENDING, "study_id": aoa},
        {
            "name": "Beta",
            "attempt": 1,
            "status": m.Status.RUNNING,
            "phase": m.RunPhase.EXECUTE,
            "started_at": at(2),
            "study_id": aoa,
        },
        {
            "name": "gamma",
            "attempt": 2,
            "status": m.Status.SUCCEEDED,
            "phase": m.RunPhase.DONE,
            "started_at": at(3),
        },
        {
            "name": "delta",
            "attempt": 3,
            "status": m.Status.FAILED,
            "phase": m.RunPhase.EXTRACT,
            "started_at": at(4),
            "study_id": bob,
        },
        {"name": "load_50%", "attempt": 1, "status": m.Status.PENDING},
        {"name": "load_500", "attempt": 1, "status": m.Status.PENDING},
    ]
    columns = ["name", "attempt", "status", "phase", "started_at", "study_id"]
    run_ids = (
        await session.execute(
            insert(m.Run).returning(m.Run.id), [{c: r.get(c) for c in columns} for r in runs]
        )
    ).scalars()
    ids = dict(zip([r["name"] for r in runs], run_ids, strict=True))
    molecule = m.Molecule(smiles="C")
    session.add(molecule)
    await session.flush()
    energies = {"k0": -5.0, "k1": -1.5, "k2": 0.0, "k3": None, "k4": 2.5}
    calculation_ids = (
        await session.execute(
            insert(m.Calculation).returning(m.Calculation.id),
            [
                {"molecule_id": molecule.id, "method": label, "energy": energy}
                for label, energy in energies.items()
            ],
        )
    ).scalars()
    ids.update(zip(energies, calculation_ids, strict=True))
    return ids


RUN_FILTERS = {
    "name eq": ('{name: {eq: "gamma"}}', ["gamma"]),
    "name in": ('{name: {in: ["alpha", "delta", "nope"]}}', ["alpha", "delta"]),
    "name lt gt": ('{name: {gt: "f", lt: "h"}}', ["gamma"]),
    "contains is case-sensitive": ('{name: {contains: "eta"}}', ["Beta"]),
    "contains matches no other case": ('{name: {contains: "bet"}}', []),
    "contains takes % literally": ('{name: {contains: "50%"}}', ["load_50%"]),
    "contains takes _ literally": ('{name: {contains: "d_5"}}', ["load_50%", "load_500"]),
    "ilike ignores case": ('{name: {ilike: "BETA"}}', ["Beta"]),
    "ilike pattern": ('{name: {ilike: "%A"}}', ["alpha", "Beta", "gamma", "delta"]),
    "int eq": ("{attempt: {eq: 2}}", ["gamma"]),
    "int in": ("{attempt: {in: [0, 3]}}", ["alpha", "delta"]),
    "int lt": ("{attempt: {lt: 1}}", ["alpha"]),
    "int lte": ("{attempt: {lte: 1}}", ["alpha", "Beta", "load_50%", "load_500"]),
    "int gt": ("{attempt: {gt: 1}}", ["gamma", "delta"]),
    "int gte": ("{attempt: {gte: 3}}", ["delta"]),
    "int range": ("{attempt: {gt: 0, lte: 2}}", ["Beta", "gamma", "load_50%", "load_500"]),
    "enum eq": ("{status: {eq: PENDING}}", ["alpha", "load_50%", "load_500"]),
    "enum in": ("{status: {in: [RUNNING, FAILED]}}", ["Beta", "delta"]),
    "isNull true": ("{phase: {isNull: true}}", ["alpha", "load_50%", "load_500"]),
    "isNull false": ("{phase: {isNull: false}}", ["Beta", "gamma", "delta"]),
    "time gte": ('{startedAt: {gte: "2024-01-03T00:00:00+00:00"}}', ["gamma", "delta"]),
    "time lt": ('{startedAt: {lt: "2024-01-03T00:00:00+00:00"}}', ["Beta"]),
    "time eq": ('{startedAt: {eq: "2024-01-04T00:00:00+00:00"}}', ["delta"]),
    "fields are and-ed": (
        '{status: {eq: PENDING}, name: {contains: "load"}}',
        ["load_50%", "load_500"],
    ),
    "and": (
        '{and: [{status: {eq: PENDING}}, {attempt: {eq: 1}}, {name: {ilike: "%0"}}]}',
        ["load_500"],
    ),
    "or": ("{or: [{attempt: {eq: 0}}, {status: {eq: FAILED}}]}", ["alpha", "delta"]),
    "empty or": ("{or: []}", []),
    "not": ("{not: {status: {eq: PENDING}}}", ["Beta", "gamma", "delta"]),
    "not or": ("{not: {or: [{attempt: {eq: 1}}, {status: {eq: FAILED}}]}}", ["alpha", "gamma"]),
    "relation": ('{study: {name: {eq: "AOA"}}}', ["alpha", "Beta"]),
    "relation and field": ('{study: {name: {eq: "AOA"}}, attempt: {gte: 1}}', ["Beta"]),
    "relation of relation": (
        "{study: {participants: {number: {eq: 7}}}}",
        ["delta"],
    ),
    "relation in or": (
        '{or: [{study: {name: {eq: "BOB"}}}, {name: {eq: "gamma"}}]}',
        ["gamma", "delta"],
    ),
}


@pytest.mark.parametrize("case", list(RUN_FILTERS))
async def test_run_filters(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter, case: str
) -> None:
    await _filter_rows(session)
    where, expected = RUN_FILTERS[case]
    statements.reset()
    data = await graphql.data("{ runs(where: " + where + ") { nodes { name } } }")
    assert [run["name"] for run in data["runs"]["nodes"]] == expected
    assert statements.count == 1, statements.statements


CALCULATION_FILTERS = {
    "float eq": ("{energy: {eq: -1.5}}", ["k1"]),
    "float lt": ("{energy: {lt: 0}}", ["k0", "k1"]),
    "float lte": ("{energy: {lte: 0}}", ["k0", "k1", "k2"]),
    "float gt": ("{energy: {gt: 0}}", ["k4"]),
    "float gte": ("{energy: {gte: -1.5}}", ["k1", "k2", "k4"]),
    "float isNull true": ("{energy: {isNull: true}}", ["k3"]),
    "float isNull false": ("{energy: {isNull: false}}", ["k0", "k1", "k2", "k4"]),
    "float range": ("{energy: {gt: -5, lt: 2.5}}", ["k1", "k2"]),
    "relation": ('{molecule: {smiles: {eq: "C"}}, energy: {lt: -2}}', ["k0"]),
    "relation matches none": ('{molecule: {smiles: {eq: "CC"}}}', []),
}


@pytest.mark.parametrize("case", list(CALCULATION_FILTERS))
async def test_calculation_filters(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter, case: str
) -> None:
    await _filter_rows(session)
    where, expected = CALCULATION_FILTERS[case]
    statements.reset()
    data = await graphql.data("{ calculations(where: " + where + ") { nodes { method } } }")
    assert [c["method"] for c in data["calculations"]["nodes"]] == expected
    assert statements.count == 1, statements.statements


async def test_id_filters_take_global_ids(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    ids = await _filter_rows(session)
    query = "query($where: RunWhere) { runs(where: $where) { nodes { id name } } }"
    statements.reset()
    data = await graphql.data(query, where={"id": {"eq": gid("Run", ids["delta"])}})
    assert data["runs"]["nodes"] == [{"id": gid("Run", ids["delta"]), "name": "delta"}]
    assert statements.count == 1, statements.statements

    data = await graphql.data(
        query, where={"id": {"in": [gid("Run", ids["gamma"]), gid("Run", ids["alpha"])]}}
    )
    assert [run["name"] for run in data["runs"]["nodes"]] == ["alpha", "gamma"]

    # a nested id filter
    data = await graphql.data(
        "query($id: ID) { calculations(where: {id: {eq: $id}}) { nodes { method } } }",
        id=gid("Calculation", ids["k2"]),
    )
    assert data["calculations"]["nodes"] == [{"method": "k2"}]


async def test_an_id_of_another_type_is_refused(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    ids = await _filter_rows(session)
    body = await graphql.execute(
        "query($id: ID) { runs(where: {id: {eq: $id}}) { nodes { name } } }",
        id=gid("Calculation", ids["k0"]),
    )
    (error,) = body["errors"]
    assert "Expected the id of a Run" in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_not_of_a_relation_filter_keeps_rows_without_the_relation(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    """`study: {...}` holds when some related study matches; for a run with no study it
    does not hold, so `not` of it must hold."""
    await _filter_rows(session)
    data = await graphql.data(
        '{ runs(where: {not: {study: {name: {eq: "AOA"}}}}) { nodes { name } } }'
    )
    assert [run["name"] for run in data["runs"]["nodes"]] == [
        "gamma",
        "delta",
        "load_50%",
        "load_500",
    ]


async def test_filters_apply_to_nested_lists_and_their_counts(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    await _filter_rows(session)
    statements.reset()
    data = await graphql.data(
        "{ studies { nodes { name runs(where: {attempt: {gte: 1}}) { totalCount "
        "nodes { name } } } } }"
    )
    assert [
        (s["name"], [r["name"] for r in s["runs"]["nodes"]], s["runs"]["totalCount"])
        for s in data["studies"]["nodes"]
    ] == [("AOA", ["Beta"], 1), ("BOB", ["delta"], 1)]
    assert statements.count == read_statements(3), statements.statements


@pytest.mark.parametrize(
    ("first_order", "second_order"),
    [
        ([{"field": "NAME", "direction": "ASC"}], [{"field": "CREATED_AT", "direction": "ASC"}]),
        ([{"field": "NAME", "direction": "ASC"}], [{"field": "NAME", "direction": "DESC"}]),
        (None, [{"field": "NAME", "direction": "ASC"}]),
        (
            [{"field": "STATUS", "direction": "ASC"}],
            [{"field": "STATUS", "direction": "ASC"}, {"field": "NAME", "direction": "ASC"}],
        ),
    ],
    ids=["other field", "other direction", "default then orderBy", "extra key"],
)
@pytest.mark.parametrize("argument", ["after", "before"])
async def test_a_cursor_from_another_ordering_is_refused(
    session: AsyncSession,
    graphql: GraphQLClient,
    first_order: list[dict[str, str]] | None,
    second_order: list[dict[str, str]],
    argument: str,
) -> None:
    await _filter_rows(session)
    query = _page_query("runs", "RunOrder", "name")
    page = await graphql.data(query, first=2, orderBy=first_order)
    cursor = page["runs"]["pageInfo"]["endCursor"]
    # the cursor is good with its own ordering
    again = await graphql.data(query, first=2, orderBy=first_order, **{argument: cursor})
    assert again["runs"]["edges"]

    body = await graphql.execute(query, first=2, orderBy=second_order, **{argument: cursor})
    (error,) = body["errors"]
    assert "another ordering" in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["data"] is None


async def test_lists_with_different_fixed_conditions_do_not_share_pages(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    """`Project.jobs` (top-level only) and `Project.allJobs` page the same column with
    the same arguments; each must still answer its own list."""
    project = m.Project(name="P")
    session.add(project)
    await session.flush()
    one = m.Job(project_id=project.id, number="1", task_name="a")
    two = m.Job(project_id=project.id, number="2", task_name="b")
    session.add_all([one, two])
    await session.flush()
    session.add(m.Job(project_id=project.id, parent_id=one.id, number="1.1", task_name="c"))
    await session.flush()

    data = await graphql.data(
        "{ projects { nodes { jobs { totalCount nodes { number } } "
        "allJobs { totalCount nodes { number } } } } }"
    )
    (node,) = data["projects"]["nodes"]
    assert [j["number"] for j in node["jobs"]["nodes"]] == ["1", "2"]
    assert [j["number"] for j in node["allJobs"]["nodes"]] == ["1", "1.1", "2"]
    assert (node["jobs"]["totalCount"], node["allJobs"]["totalCount"]) == (2, 3)


async def test_events_of_different_subject_types_do_not_share_pages(
    session: AsyncSession, graphql: GraphQLClient
) -> None:
    """`Batch.events` and `Calculation.events` both page events by subject id; a batch's
    events are not a calculation's, even when the two rows have the same id."""
    molecule = m.Molecule(smiles="C")
    batch = m.Batch(name="B")
    session.add_all([molecule, batch])
    await session.flush()
    calculation = m.Calculation(molecule_id=molecule.id)
    session.add(calculation)
    await session.flush()
    session.add_all(
        [
            m.Event(subject_type="Batch", subject_id=batch.id, type="batch_started", payload={}),
            m.Event(
                subject_type="Calculation",
                subject_id=calculation.id,
                type="calculation_completed",
                payload={},
            ),
        ]
    )
    await session.flush()
    data = await graphql.data(
        "{ batches { nodes { events { totalCount nodes { type } } } } "
        "calculations { nodes { events { totalCount nodes { type } } } } }"
    )
    assert data["batches"]["nodes"] == [
        {"events": {"totalCount": 1, "nodes": [{"type": "batch_started"}]}}
    ]
    assert data["calculations"]["nodes"] == [
        {"events": {"totalCount": 1, "nodes": [{"type": "calculation_completed"}]}}
    ]


async def test_one_list_in_two_orders_is_counted_once(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    (study_id,) = await _studies(session, ["two-orders"])
    session.add_all(m.Participant(study_id=study_id, number=n) for n in (5, 3, 9))
    await session.flush()
    statements.reset()
    data = await graphql.data(
        '{ studies(where: {name: {eq: "two-orders"}}) { nodes {'
        " up: participants(first: 2) { totalCount nodes { number } }"
        " down: participants(first: 2, orderBy: [{field: NUMBER, direction: DESC}])"
        " { totalCount nodes { number } } } } }"
    )
    (study,) = data["studies"]["nodes"]
    assert study["up"] == {"totalCount": 3, "nodes": [{"number": 3}, {"number": 5}]}
    assert study["down"] == {"totalCount": 3, "nodes": [{"number": 9}, {"number": 5}]}
    # studies, one page per ordering, and one count shared by both
    assert statements.count == read_statements(4), statements.statements
