"""POST and GET /graphql as the "GraphQL over HTTP" specification has them: the response's
media type and the status codes that go with it, GET for queries only, the refusals of
requests that are malformed, too large, of an unsupported type or forgeable cross-site,
and batching."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import started

from scimeta.operation_limits import Limits
from scimeta.server.app import create_app
from scimeta.server.http_batches import MAX_BATCH_OPERATIONS
from scimeta.server.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json; charset=utf-8"
JSON = "application/json; charset=utf-8"
CREATE_STUDY = """
mutation($name: String!) { createStudy(input: {name: $name}) { study { id name } } }"""
COUNT_STUDIES = """
query($name: String!) { studies(where: {name: {eq: $name}}) { totalCount } }"""


@contextlib.asynccontextmanager
async def serving(
    sessionmaker: async_sessionmaker[AsyncSession], **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = await started(create_app(Settings(limits=Limits(**limits)), sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


def assert_refused(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    assert message in error["message"], error
    assert "data" not in response.json()


async def studies_named(client: httpx.AsyncClient, name: str) -> int:
    response = await client.post(
        "/graphql", json={"query": COUNT_STUDIES, "variables": {"name": name}}
    )
    count: int = response.json()["data"]["studies"]["totalCount"]
    return count


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# the response's media type


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("*/*", GRAPHQL_RESPONSE),
        (None, GRAPHQL_RESPONSE),
        ("application/graphql-response+json", GRAPHQL_RESPONSE),
        ("application/json", JSON),
        ("application/*", GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json", JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
        ("application/graphql-response+json;q=0.5, application/json", JSON),
        ("application/json, */*", JSON),
        ("application/json;q=0.9, */*", GRAPHQL_RESPONSE),
        ("text/html, application/graphql-response+json;q=0, */*;q=0.1", JSON),
    ],
)
async def test_the_response_has_the_media_type_the_client_prefers(
    client: httpx.AsyncClient, accept: str | None, content_type: str
) -> None:
    request = client.build_request("POST", "/graphql", json={"query": "{ __typename }"})
    if accept is None:
        del request.headers["accept"]
    else:
        request.headers["accept"] = accept
    response = await client.send(request)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["vary"] == "Accept"
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    "accept", ["text/html", "application/xml, text/*", "application/json;q=0, */*;q=0"]
)
async def test_an_accept_header_admitting_neither_media_type_gets_406(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Accept": accept}
    )
    assert_refused(response, 406, "NOT_ACCEPTABLE", "application/graphql-response+json")
    assert response.headers["content-type"] == JSON


REQUEST_ERRORS = [
    ("{ runs(first: 5 { totalCount } }", {}, None, "GRAPHQL_PARSE_FAILED", "Syntax Error"),
    ("", {}, None, "GRAPHQL_PARSE_FAILED", "the document is empty"),
    ("{ runs { colour } }", {}, None, "GRAPHQL_VALIDATION_FAILED", "colour"),
    ("query($n: Int) { runs(first: $n) { totalCount } }", {"n": "x"}, None, "BAD_USER_INPUT", "x"),
    ("query A { __typename } query B { id }", {}, "C", "BAD_REQUEST", 'operation named "C"'),
    ("query A { __typename } query B { __typename }", {}, None, "BAD_REQUEST", "`operationName`"),
    ("subscription { eventAdded { sequence } }", {}, None, "BAD_REQUEST", "WebSocket"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "variables", "operation", "code", "message"),
    REQUEST_ERRORS,
    ids=[
        "parse",
        "empty",
        "validation",
        "variables",
        "unknown operation",
        "no operation named",
        "subscription",
    ],
)
@pytest.mark.parametrize(
    ("accept", "status"), [("application/graphql-response+json", 400), ("application/json", 200)]
)
async def test_a_request_that_never_executes_is_400_or_legacy_200_and_has_no_data(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    operation: str | None,
    code: str,
    message: str,
    accept: str,
    status: int,
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables, "operationName": operation},
        headers={"Accept": accept},
    )
    assert_refused(response, status, code, message)
    assert response.headers["content-type"].startswith(accept)


@pytest.mark.parametrize("accept", ["application/graphql-response+json", "application/json"])
async def test_an_error_during_execution_is_200_with_the_data_entry(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ __typename runs(first: 501) { totalCount } }"},
        headers={"Accept": accept},
    )
    assert response.status_code == 200
    body = response.json()
    assert "data" in body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["runs"]


# GET


async def test_a_query_runs_over_get_with_its_variables(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query Q($n: Int) { runs(first: $n) { totalCount } } query R { __typename }",
            "variables": '{"n": 1}',
            "operationName": "Q",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["data"] == {"runs": {"totalCount": 0}}


async def test_a_mutation_over_get_is_405_and_changes_nothing(client: httpx.AsyncClient) -> None:
    name = unique("get-study")
    response = await client.get(
        "/graphql", params={"query": CREATE_STUDY, "variables": f'{{"name": "{name}"}}'}
    )
    assert_refused(response, 405, "METHOD_NOT_ALLOWED", "POST it")
    assert response.headers["allow"] == "POST"
    assert await studies_named(client, name) == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
async def test_a_method_other_than_get_and_post_is_405(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    if method != "HEAD":
        assert_refused(response, 405, "METHOD_NOT_ALLOWED", f"{method} is not served here")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "the request has no `query`"),
        ({"query": "{ __typename }", "variables": "{nope"}, "`variables` is not valid JSON"),
        ({"query": "{ __typename }", "variables": "[1]"}, "`variables` must be a JSON object"),
        ({"query": "{ __typename }", "extensions": "3"}, "`extensions` must be a JSON object"),
        ([("query", "{ a }"), ("query", "{ b }")], "`query` is given more than once"),
    ],
)
async def test_a_malformed_get_is_400(client: httpx.AsyncClient, params: Any, message: str) -> None:
    response = await client.get("/graphql", params=params)
    assert_refused(response, 400, "BAD_REQUEST", message)


async def test_a_browser_gets_graphiql_and_other_clients_json(client: httpx.AsyncClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = await client.get("/graphql", headers={"Accept": browser})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "graphiql" in page.text.lower()
    # a query in the address bar is run, not answered with the IDE
    result = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Accept": browser}
    )
    assert result.headers["content-type"] == GRAPHQL_RESPONSE
    assert result.json()["data"] == {"__typename": "Query"}
    assert_refused(await client.get("/graphql"), 400, "BAD_REQUEST", "no `query`")


# POST: Content-Type, cross-site request forgery, malformed bodies


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("text/plain", ", not text/plain"),
        ("Text/Plain; charset=UTF-8", ", not text/plain"),
        ("application/x-www-form-urlencoded", ", not application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=x", ", not multipart/form-data"),
        (None, "has no Content-Type"),
    ],
)
async def test_a_post_a_browser_could_forge_cross_site_is_refused_unread(
    client: httpx.AsyncClient, content_type: str | None, named: str
) -> None:
    name = unique("forged-study")
    body = httpx.Request("POST", "/", json={"query": CREATE_STUDY, "variables": {"name": name}})
    request = client.build_request("POST", "/graphql", content=body.content)
    if content_type is None:
        request.headers.pop("content-type", None)
    else:
        request.headers["content-type"] = content_type
    response = await client.send(request)
    assert_refused(response, 403, "CSRF_REFUSED", "cross-site request forgery")
    assert named in response.json()["errors"][0]["message"]
    assert await studies_named(client, name) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/graphql-response+json",
        "application/graphql",
        "application/xml",
        "application/json; charset=latin-1",
    ],
)
async def test_a_post_body_that_is_not_utf8_json_is_415(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={"Content-Type": content_type}
    )
    assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE", "application/json` in UTF-8")


async def test_json_with_a_utf8_charset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body is not valid JSON"),
        (b'{"query":', "the request body is not valid JSON"),
        (b"\xff\xfe{}", "the request body is not valid JSON"),
        (b"[" * 100_000, "the request body is not valid JSON"),
        (b'"{ __typename }"', "must be a JSON object with `query`"),
        (b"null", "must be a JSON object with `query`"),
        (b"{}", "the request has no `query`"),
        (b'{"qeury": "{ __typename }"}', "the request has no `query`"),
        (b'{"query": {"kind": "Document"}}', "`query` must be a string"),
        (b'{"query": "{ __typename }", "variables": [7]}', "`variables` must be a JSON object"),
        (b'{"query": "{ __typename }", "extensions": "x"}', "`extensions` must be a JSON object"),
        (b'{"query": "{ __typename }", "operationName": 1}', "`operationName` must be a string"),
    ],
)
async def test_a_malformed_post_is_400(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert_refused(response, 400, "BAD_REQUEST", message)
    assert response.headers["content-type"] == GRAPHQL_RESPONSE


async def test_null_optional_parameters_count_as_absent(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": "{ __typename }",
            "variables": None,
            "operationName": None,
            "extensions": None,
        },
    )
    assert response.json()["data"] == {"__typename": "Query"}


# body size


async def body_of(chunks: list[bytes], read: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        read.append(chunk)
        yield chunk


async def test_a_body_declared_over_the_limit_is_413_before_any_of_it_is_read(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    chunks = [b" " * 1000] * 3
    read: list[bytes] = []
    async with serving(sessionmaker, max_body_bytes=2048) as client:
        response = await client.post(
            "/graphql",
            content=body_of(chunks, read),
            headers={"Content-Type": "application/json", "Content-Length": "3000"},
        )
    assert_refused(response, 413, "REQUEST_TOO_LARGE", "larger than 2048 bytes")
    assert "SCIMETA_MAX_BODY_BYTES" in response.json()["errors"][0]["message"]
    assert read == []


async def test_a_streamed_body_is_413_once_it_passes_the_limit(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    chunks = [b" " * 1000] * 10
    read: list[bytes] = []
    async with serving(sessionmaker, max_body_bytes=2048) as client:
        # no Content-Length: the body comes in chunks of unknown total
        response = await client.post(
            "/graphql", content=body_of(chunks, read), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in response.request.headers
    assert_refused(response, 413, "REQUEST_TOO_LARGE", "larger than 2048 bytes")
    assert len(read) == 3


async def test_a_body_of_exactly_the_limit_is_served(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    body = b'{"query": "{ __typename }"}'
    async with serving(sessionmaker, max_body_bytes=len(body)) as client:
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.json()["data"] == {"__typename": "Query"}


# batching


async def test_a_batch_is_refused_while_batching_is_off(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=[{"query": "{ __typename }"}])
    assert_refused(response, 400, "BATCHING_DISABLED", "SCIMETA_BATCHING")


async def test_a_batch_answers_each_request_in_order(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    name = unique("batched-study")
    batch = [
        {"query": "{ __typename }"},
        {"query": CREATE_STUDY, "variables": {"name": name}},
        {"query": "{ runs { colour } }"},
        {"qeury": "{ __typename }"},
        {"query": "subscription { eventAdded { sequence } }"},
    ]
    async with serving(sessionmaker, batching=True) as client:
        response = await client.post("/graphql", json=batch)
        assert await studies_named(client, name) == 1
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    typename, created, invalid, malformed, subscription = response.json()
    assert typename["data"] == {"__typename": "Query"}
    assert created["data"]["createStudy"]["study"]["name"] == name
    assert "data" not in invalid
    assert invalid["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert malformed["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "no `query`" in malformed["errors"][0]["message"]
    assert subscription["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("batch", "status", "code", "message"),
    [
        ([], 400, "BAD_REQUEST", "the batch is empty"),
        ([{"query": "{ __typename }"}, "{ __typename }"], 400, "BAD_REQUEST", "request object"),
        (
            [{"query": "{ __typename }"}] * (MAX_BATCH_OPERATIONS + 1),
            400,
            "BATCH_TOO_LARGE",
            f"at most {MAX_BATCH_OPERATIONS} requests",
        ),
    ],
    ids=["empty", "not objects", "too many"],
)
async def test_a_batch_that_is_not_well_formed_is_refused_whole(
    sessionmaker: async_sessionmaker[AsyncSession],
    batch: list[Any],
    status: int,
    code: str,
    message: str,
) -> None:
    async with serving(sessionmaker, batching=True) as client:
        response = await client.post("/graphql", json=batch)
    assert_refused(response, status, code, message)
