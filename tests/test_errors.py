"""Every error a client sees has an `extensions.code` and a message it can act on."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import GraphQLClient

CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    (
        "page above the maximum",
        "{ runs(first: 501) { totalCount } }",
        {},
        "BAD_USER_INPUT",
        "first must be between 0 and 500",
    ),
    (
        "last above the maximum",
        "{ runs(last: 1000) { totalCount } }",
        {},
        "BAD_USER_INPUT",
        "last must be between 0 and 500",
    ),
    (
        "first and last together",
        "{ runs(first: 1, last: 1) { totalCount } }",
        {},
        "BAD_USER_INPUT",
        "either first or last",
    ),
    (
        "unknown cursor",
        '{ runs(after: "bm90LWEtY3Vyc29y") { totalCount } }',
        {},
        "BAD_USER_INPUT",
        "Invalid cursor",
    ),
    (
        "cursor that is not base64",
        '{ runs(before: "%%%") { totalCount } }',
        {},
        "BAD_USER_INPUT",
        "Invalid cursor",
    ),
    (
        "unknown filter field",
        "{ runs(where: {colour: {eq: 1}}) { totalCount } }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "colour",
    ),
    (
        "unknown filter operator",
        "{ runs(where: {name: {startsWith: 1}}) { totalCount } }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "startsWith",
    ),
    (
        "invalid enum literal",
        "{ runs(where: {status: {eq: DONE}}) { totalCount } }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "DONE",
    ),
    (
        "invalid enum in a variable",
        "query($s: Status!) { runs(where: {status: {eq: $s}}) { totalCount } }",
        {"s": "DONE"},
        "BAD_USER_INPUT",
        "DONE",
    ),
    (
        "wrong type in a variable",
        "query($n: Int) { runs(first: $n) { totalCount } }",
        {"n": "ten"},
        "BAD_USER_INPUT",
        "ten",
    ),
    (
        "unknown orderBy field",
        "{ runs(orderBy: [{field: COLOUR}]) { totalCount } }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "COLOUR",
    ),
    (
        "syntax error",
        "{ runs(first: 5 { totalCount } }",
        {},
        "GRAPHQL_PARSE_FAILED",
        "Syntax Error",
    ),
    (
        "unknown field",
        "{ runs { colour } }",
        {},
        "GRAPHQL_VALIDATION_FAILED",
        "colour",
    ),
    (
        "node id that is not a global id",
        'query { node(id: "xyz") { id } }',
        {},
        "BAD_USER_INPUT",
        "",
    ),
    (
        "node id of an unknown type",
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": base64.b64encode(b"Spaceship:1").decode()},
        "BAD_USER_INPUT",
        "",
    ),
    (
        "id filter with the id of another type",
        "query($id: ID!) { runs(where: {id: {eq: $id}}) { totalCount } }",
        {"id": base64.b64encode(b"Study:1").decode()},
        "BAD_USER_INPUT",
        "Expected the id of a Run",
    ),
    (
        "too many values for in",
        "query($names: [String!]) { runs(where: {name: {in: $names}}) { totalCount } }",
        {"names": [f"run-{i}" for i in range(1001)]},
        "BAD_USER_INPUT",
        "at most 1000",
    ),
]


@pytest.mark.parametrize(
    ("query", "variables", "code", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_bad_input_gets_a_clear_error_with_a_code(
    graphql: GraphQLClient, query: str, variables: dict[str, Any], code: str, message: str
) -> None:
    body = await graphql.execute(query, **variables)
    assert body.get("data") in (None, {"node": None}) or "runs" not in (body.get("data") or {})
    errors = body["errors"]
    assert errors, body
    for error in errors:
        assert error["extensions"]["code"] == code, error
    assert message in errors[0]["message"]
