"""Inputs at the edges of what PostgreSQL stores, each refused as the client's error with
a code (found by tests/test_fuzz.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.conftest import GraphQLClient

STUDIES_NAMED = "query($n: String) { studies(where: {name: {eq: $n}}) { totalCount } }"


def cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(["id:asc", values]).encode()).decode()


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            'mutation { createStudy(input: {name: "a\\u0000b"}) { study { id } } }',
            {},
            "NUL character",
        ),
        (STUDIES_NAMED, {"n": "a\x00b"}, "NUL character"),
        (
            'mutation { upsertStudyBySpec(input: {spec: {a: "\\u0000"}}) { created } }',
            {},
            "NUL character",
        ),
        (
            '{ runs(where: {createdAt: {gt: "0001-01-01T00:00:00+05:00"}}) { totalCount } }',
            {},
            "outside years 1 to 9999",
        ),
        (
            "query($c: String) { studies(after: $c) { nodes { id } } }",
            {"c": cursor([2**63])},
            "Invalid cursor",
        ),
        ('{ node(id: "UnVuOjkyMjMzNzIwMzY4NTQ3NzU4MDg=") { id } }', {}, "Invalid Run id"),
    ],
)
async def test_an_input_the_database_cannot_take_is_the_clients_error(
    graphql: GraphQLClient, query: str, variables: dict[str, Any], message: str
) -> None:
    body = await graphql.execute(query, **variables)

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert message in error["message"]


async def test_half_a_surrogate_pair_is_the_clients_error(graphql: GraphQLClient) -> None:
    # JSON may escape half a pair, as in "\\udc80"; it cannot be stored as text
    content = json.dumps({"query": STUDIES_NAMED, "variables": {"n": "\udc80"}})
    response = await graphql.http.post(
        "/graphql", content=content.encode(), headers={"content-type": "application/json"}
    )

    [error] = response.json()["errors"]
    assert response.status_code == 400
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "surrogate pair" in error["message"]
