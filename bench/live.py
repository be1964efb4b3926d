"""Live benchmark: subscription latency with 1 to 1000 subscribers, and claims per second,
each against its raw PostgreSQL floor.

Migrates a fresh database (a new one on the server in --database-url or $DATABASE_URL, or
an embedded PostgreSQL in a temporary directory), starts `scimeta serve --workers 2` on a
free port, and measures

- how long a change takes from its mutation to every subscriber of `runChanged`, with N
  WebSocket subscribers spread over client processes, against a raw LISTEN/NOTIFY round
  trip with asyncpg;
- how many runs 8 concurrent workers claim per second through `claimRun`, each run once,
  against the same claim in raw SQL over 8 asyncpg connections, and against that claim
  plus what the server's event log adds to every write (its lock and NOTIFY).

With each figure it reports where the CPU went (server workers, the PostgreSQL backends of
the database, the client processes, this process; from /proc) and, for claims, what the
database's backends were doing (pg_stat_activity samples): a slow figure should come with
its reason. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import math
import multiprocessing
import os
import queue
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from read import (
    admin_sql,
    asyncpg_dsn,
    free_port,
    migrate,
    print_report,
    scratch_server,
    start_server,
    stop_server,
    wait_ready,
)
from strawberry.relay import GlobalID
from websockets.asyncio.client import ClientConnection, connect

from scimeta.live.shared import SHARING_VARIABLE
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL

DATABASE = "scimeta_bench_live"
SERVER_WORKERS = 2
SHARED = "shared"
UNSHARED = "unshared"
SUBSCRIPTION = """subscription Follow($run: ID!, $now: Long) {
  runChanged(id: $run, afterSequence: $now) {
    sequence event { type } run { id name status phase study { name } }
  }
}"""
# The scenarios with several documents: each selects a field of its own besides the same
# ones, so that every document is a group of its own on the server.
EXTRA_FIELDS = ("attempt", "claimedBy", "attributes", "startedAt", "endedAt", "error")


def document(number: int, of: int) -> str:
    """The `number`th of `of` distinct subscription documents (the first is SUBSCRIPTION)."""
    if of == 1 or number == 0:
        return SUBSCRIPTION
    field = EXTRA_FIELDS[number % len(EXTRA_FIELDS)]
    return SUBSCRIPTION.replace("Follow(", f"Follow{number}(").replace(
        "study { name } }", f"study {{ name }} d{number}: {field} }}"
    )


CREATE_STUDY = """mutation Study($name: String!) {
  createStudy(input: {name: $name}) { study { id } }
}"""
CREATE_RUN = """mutation Run($name: String!, $study: ID!) {
  createRun(input: {name: $name, studyId: $study}) { run { id } }
}"""
UPDATE_RUN = """mutation Touch($run: ID!, $attributes: JSON!) {
  updateRun(input: {id: $run, attributes: $attributes}) { run { id } }
}"""
CLAIM_RUN = """mutation Claim($worker: String!) {
  claimRun(input: {worker: $worker, leaseSeconds: 600}) {
    lease { token expiresAt run { id attempt } }
  }
}"""
MUTATION_FIELDS = '{ __type(name: "Mutation") { fields { name } } }'

# The floor's claim: the oldest queued run, skipping rows other claimers hold, changed as
# the server changes it (lease, attempt, start, version). The server also looks for a run
# whose lease expired (an index probe that finds none here); the floor does not.
RAW_CLAIM = """
UPDATE runs SET status = 'RUNNING', claimed_by = $1, lease_token = gen_random_uuid(),
       lease_expires_at = now() + interval '600 seconds', attempt = attempt + 1,
       started_at = now(), ended_at = NULL, updated_at = now(), version = version + 1
WHERE id = (SELECT id FROM runs WHERE status = 'PENDING' AND lease_token IS NULL
            ORDER BY created_at, id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)
RETURNING id, attempt, lease_expires_at
"""
RAW_EVENT = """
INSERT INTO events (subject_type, subject_id, type, actor, payload)
VALUES ('Run', $1, 'claimed', $2::text, jsonb_build_object('worker', $2::text, 'attempt', $3::int))
"""
# What the server's event log adds to every write (scimeta.writes.transaction.publish):
# the lock that orders event commits, and the notification the hubs listen for; with the
# two events a claim writes, as the server writes them.
EVENT_LOG_LOCK_SQL = f"SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK})"
NOTIFY_SQL = f"SELECT pg_notify('{EVENTS_CHANNEL}', $1::bigint::text)"
RAW_EVENTS_SEQUENCE = """
INSERT INTO events (subject_type, subject_id, type, actor, payload)
VALUES ('Run', $1, 'status_changed', $2::text, '{"from": "PENDING", "to": "RUNNING"}'),
       ('Run', $1, 'claimed', $2::text, jsonb_build_object('worker', $2::text,
        'attempt', $3::int, 'leaseExpiresAt', $4::timestamptz))
RETURNING sequence
"""
# The server's claims in steps (the reference path), for the figures before the claim
# was one statement.
STEPS_VARIABLE = "SCIMETA_CLAIMS_IN_STEPS"
CREATE_RUNS = """
INSERT INTO runs (name, study_id)
SELECT $1 || '-' || i, $2 FROM generate_series(1, $3) AS i
RETURNING id
"""
CLAIMED_ONCE = """
SELECT count(*) FROM runs
WHERE id = ANY($1::bigint[]) AND status = 'RUNNING' AND attempt = 1 AND claimed_by IS NOT NULL
"""
BACKENDS = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""
WAITS = """
SELECT CASE
         WHEN state = 'active' AND wait_event_type IS NULL THEN 'running'
         WHEN state = 'active' THEN wait_event_type || ':' || wait_event
         ELSE state
       END AS what,
       count(*) AS count
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND backend_type = 'client backend' AND application_name <> 'scimeta listener'
GROUP BY 1
"""
DB_STATS = """
SELECT xact_commit + xact_rollback AS transactions, sessions, tup_returned, tup_fetched
FROM pg_stat_database WHERE datname = current_database()
"""

# Bounds, not pauses: how long to wait for subscribers to connect, for every subscriber
# to get one change, and for a raw notification.
CONNECT_TIMEOUT = 120.0
CHANGE_TIMEOUT = 120.0
NOTIFY_TIMEOUT = 10.0
# WebSocket handshakes in flight at once per client process: a burst of 1000 would only
# queue in the server's accept backlog.
CONNECT_CONCURRENCY = 50
NOTIFY_WARMUP = 20
SAMPLE_SECONDS = 0.025
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def now() -> float:
    """CLOCK_MONOTONIC: one clock for every process on the machine, so that a client
    process's read time and the parent's mutation times can be subtracted."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of unsorted values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
    }


def row_id(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


# --- where the CPU goes: /proc, read by the parent ------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children), None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14 to 17
    ticks = sum(int(value) for value in fields[11:15])
    return int(fields[1]), ticks / CLOCK_TICKS


async def backend_pids(dsn: str) -> list[int]:
    """The PostgreSQL processes serving the benchmark's database (the server's pools and
    listeners, the benchmark's own connections): the other databases of a shared server
    are not this benchmark's load."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(BACKENDS)
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


def cpu_snapshot(server_pid: int, backends: list[int]) -> dict[str, Any]:
    """CPU seconds so far of the server's supervisor and each worker, of the given
    PostgreSQL backends, and of the whole machine (busy and total, from /proc/stat)."""
    server = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and (int(entry) == server_pid or stat[0] == server_pid):
                server[int(entry)] = stat[1]
    postgres = {pid: stat[1] for pid in backends if (stat := _stat(pid)) is not None}
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return {
        "server": server,
        "postgres": postgres,
        "machine_busy": (sum(ticks) - idle) / CLOCK_TICKS,
        "machine_total": sum(ticks) / CLOCK_TICKS,
    }


def cpu_used(before: dict[str, Any], after: dict[str, Any], server_pid: int) -> dict[str, Any]:
    """CPU seconds between two snapshots: the server in all and per worker (busiest
    first: the kernel need not spread connections evenly), PostgreSQL (a backend that
    appeared meanwhile counts whole), and the machine's busy share."""
    # the supervisor's children are its workers and multiprocessing's resource tracker,
    # which does next to nothing
    workers = sorted(
        (
            seconds - before["server"].get(pid, 0.0)
            for pid, seconds in after["server"].items()
            if pid != server_pid
        ),
        reverse=True,
    )[:SERVER_WORKERS]
    server = sum(after["server"].values()) - sum(before["server"].values())
    postgres = sum(
        seconds - before["postgres"].get(pid, 0.0) for pid, seconds in after["postgres"].items()
    )
    total = after["machine_total"] - before["machine_total"]
    busy = after["machine_busy"] - before["machine_busy"]
    return {
        "server": server,
        "workers": workers,
        "postgres": postgres,
        "machine_busy": busy / total if total else 0.0,
    }


async def db_stats(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        return dict(await connection.fetchrow(DB_STATS))
    finally:
        await connection.close()


# --- GraphQL over HTTP ---------------------------------------------------------------


def graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL request failed: {response.text[:500]}")
    data: dict[str, Any] = body["data"]
    return data


# --- the raw floor of a subscription: LISTEN/NOTIFY ----------------------------------


async def notify_baseline(dsn: str, rounds: int) -> dict[str, Any]:
    """One connection NOTIFYs in a committed transaction, another LISTENs; the time from
    the commit's return (lower bound) and from sending COMMIT (upper bound) to the
    notification's arrival. One notification in flight at a time."""
    channel = "scimeta_bench_live"
    arrivals: asyncio.Queue[float] = asyncio.Queue()
    listener = await asyncpg.connect(dsn)
    notifier = await asyncpg.connect(dsn)
    try:
        await listener.add_listener(channel, lambda *_: arrivals.put_nowait(now()))
        from_commit: list[float] = []
        from_send: list[float] = []
        for index in range(NOTIFY_WARMUP + rounds):
            transaction = notifier.transaction()
            await transaction.start()
            await notifier.execute("SELECT pg_notify($1, $2)", channel, str(index))
            sent = now()
            await transaction.commit()
            committed = now()
            arrived = await asyncio.wait_for(arrivals.get(), NOTIFY_TIMEOUT)
            if index >= NOTIFY_WARMUP:
                from_commit.append(arrived - committed)
                from_send.append(arrived - sent)
    finally:
        await listener.close()
        await notifier.close()
    return {
        "rounds": rounds,
        "from_commit": summary_ms(from_commit),
        "from_commit_sent": summary_ms(from_send),
    }


# --- subscribers: one client process each holds `count` WebSockets --------------------


def client_process(
    ws_url: str,
    variables: dict[str, Any],
    queries: list[str],
    index: int,
    results: multiprocessing.Queue[tuple[Any, ...]],
    control: multiprocessing.Queue[str],
    deflate: bool = True,
) -> None:
    """Entry point of a client process (spawned: it shares no event loop or socket with
    the parent). uvloop when present, as the server has it: the client's own overhead
    is part of every latency measured."""
    main = _subscribers(ws_url, variables, queries, index, results, control, deflate)
    try:
        import uvloop

        uvloop.run(main)
    except ImportError:
        asyncio.run(main)


async def _subscribers(
    ws_url: str,
    variables: dict[str, Any],
    queries: list[str],
    index: int,
    results: multiprocessing.Queue[tuple[Any, ...]],
    control: multiprocessing.Queue[str],
    deflate: bool = True,
) -> None:
    """Opens a graphql-transport-ws connection per query, with that `runChanged` as
    operation "1", and records when each message was read, and its sequence and the
    digest of its text. Tells the parent ("reached", index, m, cpu) as soon as every one
    of its subscribers has read m messages, so that the parent can make the next change;
    on "stop" closes them and sends what each read."""
    count = len(queries)
    received: list[list[float]] = [[] for _ in range(count)]
    # per subscriber, (sequence, digest of the message's text) of each message
    messages: list[list[tuple[int, str]]] = [[] for _ in range(count)]
    complete: Counter[int] = Counter()
    errors: list[str] = []
    init = json.dumps({"type": "connection_init", "payload": {}})
    subscribes = {
        query: json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        for query in set(queries)
    }
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    def fail(message: str) -> None:
        errors.append(message)
        results.put(("error", index, message))

    async def open_one(query: str) -> ClientConnection:
        async with gate:
            # the server pings; a client process busy reading 1000 sockets should not
            # also time its own pings out
            websocket = await connect(
                ws_url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                open_timeout=CONNECT_TIMEOUT,
                ping_interval=None,
                max_queue=None,
                # as browsers do, the client offers permessage-deflate unless told not to
                compression="deflate" if deflate else None,
            )
            await websocket.send(init)
            ack = json.loads(await asyncio.wait_for(websocket.recv(), CONNECT_TIMEOUT))
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            await websocket.send(subscribes[query])
            return websocket

    async def read(subscriber: int, websocket: ClientConnection) -> None:
        try:
            await read_messages(subscriber, websocket)
        except Exception as exc:
            fail(f"subscriber {index}/{subscriber}: {exc!r}")

    async def read_messages(subscriber: int, websocket: ClientConnection) -> None:
        times = received[subscriber]
        seen = messages[subscriber]
        last = 0
        async for raw in websocket:
            at = now()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await websocket.send(json.dumps({"type": "pong"}))
                continue
            if kind != "next":
                fail(f"subscriber {index}/{subscriber}: {str(raw)[:300]}")
                return
            payload = message["payload"]
            change = (payload.get("data") or {}).get("runChanged")
            if payload.get("errors") or change is None:
                fail(f"subscriber {index}/{subscriber}: {str(raw)[:300]}")
                return
            sequence = int(change["sequence"])
            if sequence <= last or change["event"]["type"] != "updated" or not change["run"]:
                fail(f"subscriber {index}/{subscriber}: unexpected change {change}")
                return
            last = sequence
            times.append(at)
            text = raw if isinstance(raw, bytes) else raw.encode()
            seen.append((sequence, hashlib.blake2b(text, digest_size=16).hexdigest()))
            complete[len(times)] += 1
            if complete[len(times)] == count:
                results.put(("reached", index, len(times), time.process_time()))

    try:
        websockets = await asyncio.gather(*(open_one(query) for query in queries))
    except Exception as exc:
        fail(f"client process {index} could not subscribe: {exc!r}")
        websockets = []
    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(websockets)]
    # The client is the instrument: a collection of its 250 connections' objects pauses
    # its reads for up to a quarter of a second, which would be counted as the server's
    # latency. Its garbage is freed by reference counting, and what cycles it leaves in
    # a few minutes fit in memory.
    gc.collect()
    gc.freeze()
    gc.disable()
    results.put(("ready", index))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, control.get)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(ws.close() for ws in websockets), return_exceptions=True)
    results.put(("done", index, received, messages, errors))


class Clients:
    """The parent's side of the client processes: start, wait for their reports, stop."""

    def __init__(
        self,
        variables: dict[str, Any],
        processes: list[tuple[str, list[str]]],
        deflate: bool = True,
    ):
        """`processes`: per client process, the WebSocket URL and one query per
        subscriber."""
        context = multiprocessing.get_context("spawn")
        self.results: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
        self.controls = [context.Queue() for _ in processes]
        self.processes = [
            context.Process(
                target=client_process,
                args=(url, variables, queries, i, self.results, self.controls[i], deflate),
                daemon=True,
            )
            for i, (url, queries) in enumerate(processes)
        ]
        self.ready: set[int] = set()
        self.reached = [0] * len(processes)
        self.cpu: dict[int, list[float]] = {i: [] for i in range(len(processes))}
        self.done: dict[int, tuple[Any, ...]] = {}

    def __len__(self) -> int:
        return len(self.processes)

    def start(self) -> None:
        for process in self.processes:
            process.start()

    def _take(self, timeout: float) -> None:
        try:
            message = self.results.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        kind, index = message[0], message[1]
        if kind == "error":
            raise RuntimeError(message[2])
        if kind == "ready":
            self.ready.add(index)
        elif kind == "reached":
            self.reached[index] = max(self.reached[index], message[2])
            self.cpu[index].append(message[3])
        elif kind == "done":
            self.done[index] = message[2:]

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = now() + timeout
        while not condition():
            left = deadline - now()
            if left <= 0:
                raise TimeoutError(f"timed out waiting for {what}")
            try:
                self._take(left)
            except TimeoutError:
                raise TimeoutError(f"timed out waiting for {what}") from None

    def wait_reached(self, messages: int) -> None:
        self.wait(
            lambda: min(self.reached) >= messages,
            CHANGE_TIMEOUT,
            f"every subscriber to read {messages} messages",
        )

    def stop(
        self,
    ) -> tuple[list[list[list[float]]], list[list[list[tuple[int, str]]]], list[str], float]:
        """Closes the connections; per client process, each subscriber's read times and
        messages (sequence, digest); the errors; and the client processes' CPU seconds
        from the first to the last change they reported."""
        for control in self.controls:
            control.put("stop")
        self.wait(lambda: len(self.done) == len(self), CONNECT_TIMEOUT, "the clients to stop")
        for process in self.processes:
            process.join(timeout=30)
        received = [self.done[i][0] for i in range(len(self))]
        messages = [self.done[i][1] for i in range(len(self))]
        errors = [error for i in sorted(self.done) for error in self.done[i][2]]
        cpu = sum(marks[-1] - marks[0] for marks in self.cpu.values() if marks)
        return received, messages, errors, cpu

    def kill(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join()


@dataclass
class Latency:
    # the server measured: "shared" (subscribers with the same messages share their
    # execution) or "unshared" (SCIMETA_SHARED_SUBSCRIPTIONS=0: each executes its own)
    way: str
    subscribers: int
    # distinct subscription documents, the subscribers spread evenly over them
    documents: int
    client_processes: int
    changes: int
    messages: int
    # from the mutation's HTTP response (lower bound of commit -> client) and from the
    # mutation's request (upper bound)
    from_response: dict[str, float]
    from_request: dict[str, float]
    # per change, when its last subscriber read it (from the response): the fan-out's
    # length, and the slowest changes (1-based change number, milliseconds)
    fan_out: dict[str, float]
    slowest_changes: list[tuple[int, float]]
    seconds_per_change: float
    # CPU milliseconds per change (server, its workers, PostgreSQL, client processes, this
    # process), and the machine's busy share meanwhile
    cpu_ms_per_change: dict[str, Any]
    machine_busy: float
    # every subscriber read each change once, in order
    exactly_once: bool
    # every message was byte for byte the one a subscriber of the same document on the
    # unshared server read
    same_as_unshared: bool
    check_failures: list[str] = field(default_factory=list)
    db_per_change: dict[str, float] | None = None
    ratios: dict[str, float] = field(default_factory=dict)


@dataclass
class Way:
    """A server measured, and the unshared server whose subscribers are the reference."""

    name: str
    base_url: str
    pid: int
    reference_ws_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/graphql"


def subscription_latency(
    dsn: str,
    way: Way,
    run: str,
    subscribers: int,
    documents: int,
    args: argparse.Namespace,
) -> Latency:
    """N subscribers of one run, spread evenly over `documents` distinct documents, plus
    one reference subscriber per document on the unshared server; `args.changes` updates
    of the run, one at a time, each once every subscriber has read the one before."""
    newest = asyncio.run(_newest_sequence(dsn))
    queries = [document(i % documents, documents) for i in range(subscribers)]
    chunks = [
        (way.ws_url, queries[i : i + args.per_process])
        for i in range(0, subscribers, args.per_process)
    ]
    references = [document(i, documents) for i in range(documents)]
    clients = Clients(
        {"run": run, "now": newest}, [*chunks, (way.reference_ws_url, references)], args.deflate
    )
    print(
        f"subscriptions ({way.name}): {subscribers} subscribers of {documents} documents in "
        f"{len(chunks)} client processes ...",
        file=sys.stderr,
        flush=True,
    )
    requested: list[float] = []
    responded: list[float] = []
    server_pid = way.pid
    try:
        clients.start()
        clients.wait(lambda: len(clients.ready) == len(clients), CONNECT_TIMEOUT, "subscribers")
        with httpx.Client(base_url=way.base_url, timeout=CHANGE_TIMEOUT) as http:
            # the warm-up change: a subscription that registered late replays it from the
            # table, so once every subscriber has it, every subscription is live
            graphql(http, UPDATE_RUN, run=run, attributes={"change": 0})
            clients.wait_reached(1)
            stats_before = _settled_db_stats(dsn, args.db_stats)
            cpu_before = cpu_snapshot(server_pid, asyncio.run(backend_pids(dsn)))
            own_before = time.process_time()
            started = now()
            for change in range(1, args.changes + 1):
                requested.append(now())
                graphql(http, UPDATE_RUN, run=run, attributes={"change": change})
                responded.append(now())
                clients.wait_reached(change + 1)
            elapsed = now() - started
            own_cpu = time.process_time() - own_before
            cpu_after = cpu_snapshot(server_pid, asyncio.run(backend_pids(dsn)))
            stats_after = _settled_db_stats(dsn, args.db_stats)
        received_by_process, messages_by_process, errors, client_cpu = clients.stop()
    finally:
        clients.kill()
    if errors:
        raise RuntimeError(f"{len(errors)} subscriber errors, first: {errors[0]}")
    # the reference process is the last: it is not measured
    received = [times for process in received_by_process[:-1] for times in process]
    messages = [seen for process in messages_by_process[:-1] for seen in process]
    reference = messages_by_process[-1]
    failures = check_messages(messages, queries, reference, references, args.changes + 1)
    for failure in failures:
        print(f"CHECK FAILED ({way.name}, {subscribers}x{documents}): {failure}", file=sys.stderr)
    from_response = [t[k] - responded[k - 1] for t in received for k in range(1, len(t))]
    from_request = [t[k] - requested[k - 1] for t in received for k in range(1, len(t))]
    last_read = [
        max(times[k] for times in received if len(times) > k) - responded[k - 1]
        for k in range(1, args.changes + 1)
    ]
    slowest = sorted(enumerate(last_read, start=1), key=lambda item: -item[1])[:3]
    cpu = cpu_used(cpu_before, cpu_after, server_pid)
    per_change = {
        "server": round(cpu["server"] / args.changes * 1000, 1),
        "workers": [round(seconds / args.changes * 1000, 1) for seconds in cpu["workers"]],
        "postgres": round(cpu["postgres"] / args.changes * 1000, 1),
        "clients": round(client_cpu / args.changes * 1000, 1),
        "bench": round(own_cpu / args.changes * 1000, 1),
    }
    result = Latency(
        way=way.name,
        subscribers=subscribers,
        documents=documents,
        client_processes=len(chunks),
        changes=args.changes,
        messages=len(from_response),
        from_response=summary_ms(from_response),
        from_request=summary_ms(from_request),
        fan_out=summary_ms(last_read),
        slowest_changes=[(change, round(seconds * 1000, 1)) for change, seconds in slowest],
        seconds_per_change=round(elapsed / args.changes, 4),
        cpu_ms_per_change=per_change,
        machine_busy=round(cpu["machine_busy"], 3),
        exactly_once=not any(f.startswith("delivery") for f in failures),
        same_as_unshared=not any(f.startswith("message") for f in failures),
        check_failures=failures[:10],
    )
    if stats_before is not None and stats_after is not None:
        result.db_per_change = {
            key: round((stats_after[key] - stats_before[key]) / args.changes, 1)
            for key in stats_before
        }
    return result


def check_messages(
    messages: list[list[tuple[int, str]]],
    queries: list[str],
    reference: list[list[tuple[int, str]]],
    references: list[str],
    expected: int,
) -> list[str]:
    """What went wrong, if anything: a subscriber that did not read each change exactly
    once ("delivery ..."), or whose message differs from the reference subscriber's of
    the same document, which the unshared server executed for itself ("message ...")."""
    failures: list[str] = []
    by_document = {query: dict(seen) for query, seen in zip(references, reference, strict=True)}
    sequences = [sequence for sequence, _ in reference[0]]
    if len(sequences) != expected or len(set(sequences)) != expected:
        failures.append(f"delivery: the reference read {len(sequences)} messages, not {expected}")
    for subscriber, (query, seen) in enumerate(zip(queries, messages, strict=True)):
        if [sequence for sequence, _ in seen] != sequences:
            failures.append(
                f"delivery: subscriber {subscriber} read sequences "
                f"{[sequence for sequence, _ in seen][:5]}..., not {sequences[:5]}..."
            )
            continue
        expected_digests = by_document[query]
        for sequence, digest in seen:
            if expected_digests.get(sequence) != digest:
                failures.append(
                    f"message: subscriber {subscriber}'s message of event {sequence} is not "
                    "the unshared server's"
                )
                break
    return failures


async def _newest_sequence(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        newest: int = await connection.fetchval("SELECT coalesce(max(sequence), 0) FROM events")
        return newest
    finally:
        await connection.close()


def _settled_db_stats(dsn: str, settle: float) -> dict[str, int] | None:
    """pg_stat_database's counters once every backend has reported: an idle backend
    flushes its counts within 10 s (PostgreSQL 15's PGSTAT_IDLE_INTERVAL), hence the
    wait; None when not asked for (--db-stats 0)."""
    if settle <= 0:
        return None
    time.sleep(settle)
    return asyncio.run(db_stats(dsn))


# --- claims ----------------------------------------------------------------------------


@dataclass
class Claims:
    way: str
    claimers: int
    runs: int
    claims: int
    seconds: float
    claims_per_second: float
    p50_ms: float
    p99_ms: float
    exactly_once: bool
    # CPU milliseconds per claim (server, PostgreSQL, this process) and the machine's busy
    # share meanwhile
    cpu_ms_per_claim: dict[str, float]
    machine_busy: float
    # how many of the database's client backends were, on average, running, waiting for
    # their client inside a transaction, or waiting for a lock (pg_stat_activity samples)
    backends: dict[str, float]


class WaitSampler:
    """Samples pg_stat_activity every few milliseconds while claims run: a backend
    "idle in transaction" waits for its client (the server's Python) with the claim's
    row locks held, one waiting on "Lock:advisory" waits for the event log's lock."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.samples = 0
        self.counts: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WaitSampler:
        connection = await asyncpg.connect(self._dsn)
        self._task = asyncio.create_task(self._sample(connection))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self, connection: asyncpg.Connection) -> None:
        try:
            while True:
                for row in await connection.fetch(WAITS):
                    self.counts[row["what"]] += row["count"]
                self.samples += 1
                await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            await connection.close()

    def means(self) -> dict[str, float]:
        samples = max(self.samples, 1)
        means = {what: round(n / samples, 2) for what, n in self.counts.most_common()}
        means.pop("idle", None)
        return means


Claimer = Callable[[int], Coroutine[Any, Any, tuple[list[int], list[float]]]]
CLAIM_RUN_WAY = "claimRun (GraphQL, one statement)"
STEPS_WAY = "claimRun (GraphQL, steps: before)"
RAW_WAY = "raw SQL"
FLOOR_WAY = "raw SQL + event lock + events + NOTIFY (floor)"


async def run_claimers(
    way: str, ids: list[int], claimer: Claimer, dsn: str, server_pid: int, claimers: int
) -> Claims:
    """`claimers` workers claiming until none is left; checks that the runs claimed are
    exactly the batch's, each once (the caller checks that the database agrees)."""
    print(f"claims: {way} ...", file=sys.stderr, flush=True)
    cpu_before = cpu_snapshot(server_pid, await backend_pids(dsn))
    own_before = time.process_time()
    async with WaitSampler(dsn) as sampler:
        started = now()
        done = await asyncio.gather(*(claimer(worker) for worker in range(claimers)))
        elapsed = now() - started
    own_cpu = time.process_time() - own_before
    cpu = cpu_used(cpu_before, cpu_snapshot(server_pid, await backend_pids(dsn)), server_pid)
    claimed = [run for runs, _ in done for run in runs]
    latencies = [seconds for _, times in done for seconds in times]
    counts = Counter(claimed)
    once = set(counts) == set(ids) and all(n == 1 for n in counts.values())
    return Claims(
        way=way,
        claimers=claimers,
        runs=len(ids),
        claims=len(claimed),
        seconds=round(elapsed, 2),
        claims_per_second=round(len(claimed) / elapsed, 1),
        p50_ms=round(percentile(latencies, 50) * 1000, 2),
        p99_ms=round(percentile(latencies, 99) * 1000, 2),
        exactly_once=once,
        cpu_ms_per_claim={
            "server": round(cpu["server"] / len(claimed) * 1000, 2),
            "postgres": round(cpu["postgres"] / len(claimed) * 1000, 2),
            "bench": round(own_cpu / len(claimed) * 1000, 2),
        },
        machine_busy=round(cpu["machine_busy"], 3),
        backends=sampler.means(),
    )


class LeanHTTP:
    """A keep-alive HTTP/1.1 connection that POSTs JSON and reads the answer: the
    claimers' client. The claimers share this 2-core machine with the server, and a
    general client (httpx) spends about a millisecond of CPU per call, which the floor's
    asyncpg claimers do not; this one spends a tenth of that, so the figures compare the
    servers more than the clients."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def connect(cls, base_url: str) -> LeanHTTP:
        address = httpx.URL(base_url)
        host, port = address.host, address.port or 80
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def post_json(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = None
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            return status, b"".join(parts)
        if length is None:
            raise RuntimeError(f"an answer without a length: {status_line!r}")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def graphql_claimer(base_url: str) -> Claimer:
    """One keep-alive connection per worker, calling claimRun until the lease is null."""

    async def claimer(worker: int) -> tuple[list[int], list[float]]:
        runs: list[int] = []
        times: list[float] = []
        body = json.dumps({"query": CLAIM_RUN, "variables": {"worker": f"bench-{worker}"}}).encode()
        http = await LeanHTTP.connect(base_url)
        try:
            while True:
                started = now()
                status, answer = await http.post_json("/graphql", body)
                times.append(now() - started)
                result = json.loads(answer)
                if status != 200 or result.get("errors"):
                    raise RuntimeError(f"claimRun failed: {answer[:500]!r}")
                lease = result["data"]["claimRun"]["lease"]
                if lease is None:
                    return runs, times[:-1] or times
                if lease["run"]["attempt"] != 1 or not lease["token"]:
                    raise RuntimeError(f"unexpected lease: {lease}")
                runs.append(row_id(lease["run"]["id"]))
        finally:
            await http.close()

    return claimer


def raw_claimer(pool: asyncpg.Pool, event_log: bool) -> Claimer:
    """The floor: the claim and one event row in one transaction on a connection of its
    own. With `event_log`, also what the server's event log adds to each write: the
    advisory lock that orders event commits, and the NOTIFY."""

    async def claimer(worker: int) -> tuple[list[int], list[float]]:
        runs: list[int] = []
        times: list[float] = []
        name = f"raw-{worker}"
        async with pool.acquire() as connection:
            while True:
                started = now()
                async with connection.transaction():
                    row = await connection.fetchrow(RAW_CLAIM, name)
                    if row is not None:
                        if event_log:
                            await connection.execute(EVENT_LOG_LOCK_SQL)
                            sequences = await connection.fetch(
                                RAW_EVENTS_SEQUENCE,
                                row["id"],
                                name,
                                row["attempt"],
                                row["lease_expires_at"],
                            )
                            await connection.execute(
                                NOTIFY_SQL, max(r["sequence"] for r in sequences)
                            )
                        else:
                            await connection.execute(RAW_EVENT, row["id"], name, row["attempt"])
                if row is None:
                    return runs, times or [now() - started]
                times.append(now() - started)
                runs.append(row["id"])

    return claimer


async def claims(
    dsn: str, base_url: str, args: argparse.Namespace, server_pid: int
) -> dict[str, Any]:
    """A fresh batch of `args.runs` queued runs for each way, claimed to the last: the
    server's claims (one statement each), the same server code with claims in steps (a
    second server, started here with SCIMETA_CLAIMS_IN_STEPS=1: the figures before),
    and the raw floors."""
    results: list[Claims] = []
    pool = await asyncpg.create_pool(dsn, min_size=args.claimers, max_size=args.claimers)
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as log_file:
        log = Path(log_file.name)
    steps_server = start_server(dsn, port, SERVER_WORKERS, log, {STEPS_VARIABLE: "1"})
    steps_url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(steps_url, steps_server, log)
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.post("/graphql", json={"query": MUTATION_FIELDS})
            fields = {f["name"] for f in response.json()["data"]["__type"]["fields"]}
        has_claim_run = "claimRun" in fields
        ways: list[tuple[str, Claimer, int]] = []
        if has_claim_run:
            ways.append((CLAIM_RUN_WAY, graphql_claimer(base_url), server_pid))
            ways.append((STEPS_WAY, graphql_claimer(steps_url), steps_server.pid))
        ways.append((RAW_WAY, raw_claimer(pool, event_log=False), server_pid))
        ways.append((FLOOR_WAY, raw_claimer(pool, event_log=True), server_pid))
        for batch, (way, claimer, pid) in enumerate(ways):
            async with pool.acquire() as connection:
                ids = [
                    row["id"]
                    for row in await connection.fetch(
                        CREATE_RUNS, f"claim-{batch}", None, args.runs
                    )
                ]
            result = await run_claimers(way, ids, claimer, dsn, pid, args.claimers)
            async with pool.acquire() as connection:
                stored = await connection.fetchval(CLAIMED_ONCE, ids)
            result.exactly_once = result.exactly_once and stored == len(ids)
            results.append(result)
    finally:
        await pool.close()
        stop_server(steps_server)
        log.unlink(missing_ok=True)
    by_way = {result.way: result for result in results}
    report: dict[str, Any] = {
        "claim_run_in_schema": has_claim_run,
        "results": [asdict(result) for result in results],
        "exactly_once": all(result.exactly_once for result in results),
    }
    if has_claim_run:
        floor = by_way[FLOOR_WAY].claims_per_second
        report["graphql_over_raw"] = round(
            by_way[CLAIM_RUN_WAY].claims_per_second / by_way[RAW_WAY].claims_per_second, 3
        )
        report["graphql_over_floor"] = round(by_way[CLAIM_RUN_WAY].claims_per_second / floor, 3)
        report["steps_over_floor"] = round(by_way[STEPS_WAY].claims_per_second / floor, 3)
    return report


# --- the whole run ------------------------------------------------------------------


def benchmark(url: str, ways: dict[str, Way], args: argparse.Namespace) -> dict[str, Any]:
    """The floor first, on an idle machine; then each scenario (subscriber count and
    documents), smallest first, on each way in turn, each with client processes of its
    own; then the claims, on the shared server without subscriptions."""
    dsn = asyncpg_dsn(url)
    print("LISTEN/NOTIFY baseline ...", file=sys.stderr, flush=True)
    baseline = asyncio.run(notify_baseline(dsn, args.notify_rounds))
    main_way = ways[SHARED]
    with httpx.Client(base_url=main_way.base_url, timeout=CHANGE_TIMEOUT) as http:
        study = graphql(http, CREATE_STUDY, name="bench-live")["createStudy"]["study"]["id"]
        run = graphql(http, CREATE_RUN, name="bench-live-run", study=study)
    run_id = run["createRun"]["run"]["id"]
    scenarios = [(n, 1) for n in args.subscribers] + args.spread
    latencies = []
    for subscribers, documents in scenarios:
        for name in args.ways:
            result = subscription_latency(dsn, ways[name], run_id, subscribers, documents, args)
            # the commit-return baseline is about zero (the notification and the commit's
            # reply leave together): both bounds are compared with a whole round trip
            floor = max(baseline["from_commit_sent"]["p50_ms"], 0.001)
            for bound in ("response", "request"):
                figures = getattr(result, f"from_{bound}")
                result.ratios[f"p50_from_{bound}/floor_p50"] = round(figures["p50_ms"] / floor)
            latencies.append(result)
            # let the servers end the closed subscriptions before the next round
            time.sleep(1)
    # the subscribed run is queued too: take it off the queue before the claims
    asyncio.run(admin_sql(url, f"UPDATE runs SET status = 'CANCELLED' WHERE id = {row_id(run_id)}"))
    return {
        "commit": git_commit(),
        "server_workers": SERVER_WORKERS,
        "permessage_deflate": args.deflate,
        "notify_baseline": baseline,
        "subscriptions": [asdict(result) for result in latencies],
        "checks_passed": all(r.exactly_once and r.same_as_unshared for r in latencies),
        "claims": asyncio.run(claims(dsn, main_way.base_url, args, main_way.pid))
        if args.claims
        else None,
    }


def markdown(report: dict[str, Any]) -> str:
    base = report["notify_baseline"]
    floor = base["from_commit_sent"]["p50_ms"]
    lines = [
        f"server workers {report['server_workers']}, commit {report['commit']}, "
        f"permessage-deflate {'offered' if report['permessage_deflate'] else 'off'}",
        "",
        f"raw LISTEN/NOTIFY, {base['rounds']} rounds: commit return -> notification p50 "
        f"{base['from_commit']['p50_ms']} ms, p99 {base['from_commit']['p99_ms']} ms; "
        f"COMMIT sent -> notification (the floor) p50 {floor} ms, "
        f"p99 {base['from_commit_sent']['p99_ms']} ms",
        "",
        "| way | subscribers | documents | client procs | messages | p50 ms | p99 ms | max ms "
        "| from request: p50 ms | p99 ms | max ms | p50 / floor | p50 from request / floor "
        "| last subscriber: p50 ms | max ms | s per change | each once | same as unshared |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in report["subscriptions"]:
        low, high, ratios = r["from_response"], r["from_request"], r["ratios"]
        lines.append(
            f"| {r['way']} | {r['subscribers']} | {r['documents']} | {r['client_processes']} "
            f"| {r['messages']} "
            f"| {low['p50_ms']} | {low['p99_ms']} | {low['max_ms']} "
            f"| {high['p50_ms']} | {high['p99_ms']} | {high['max_ms']} "
            f"| {ratios['p50_from_response/floor_p50']} | {ratios['p50_from_request/floor_p50']} "
            f"| {r['fan_out']['p50_ms']} | {r['fan_out']['max_ms']} | {r['seconds_per_change']} "
            f"| {r['exactly_once']} | {r['same_as_unshared']} |"
        )
    lines += [
        "",
        "latency: client read time - mutation response time (a lower bound of commit -> "
        "client); from request: - mutation request time (an upper bound); floor: the raw "
        "COMMIT -> notification p50; last subscriber: per change, when its last subscriber "
        "read it (from the response)",
        "",
        "| way | subscribers | documents | server CPU ms/change (per worker) "
        "| PostgreSQL CPU ms/change | client CPU ms/change | bench CPU ms/change | machine busy "
        "| DB transactions/change | DB sessions/change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["subscriptions"]:
        cpu, db = r["cpu_ms_per_change"], r["db_per_change"] or {}
        workers = " / ".join(str(ms) for ms in cpu["workers"])
        lines.append(
            f"| {r['way']} | {r['subscribers']} | {r['documents']} | {cpu['server']} ({workers}) "
            f"| {cpu['postgres']} "
            f"| {cpu['clients']} | {cpu['bench']} | {r['machine_busy']:.0%} "
            f"| {db.get('transactions', '-')} | {db.get('sessions', '-')} |"
        )
    failures = [
        f"{r['way']} {r['subscribers']}x{r['documents']}: {failure}"
        for r in report["subscriptions"]
        for failure in r["check_failures"]
    ]
    if failures:
        lines += ["", "CHECKS FAILED:", *(f"- {failure}" for failure in failures)]
    claim = report["claims"]
    if claim is None:
        return "\n".join(lines)
    lines += [
        "",
        "| claims | runs claimed | seconds | claims/s | p50 ms | p99 ms | each run once "
        "| server CPU ms/claim | PostgreSQL CPU ms/claim | bench CPU ms/claim | machine busy "
        "| DB backends (mean) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in claim["results"]:
        cpu = r["cpu_ms_per_claim"]
        backends = ", ".join(f"{what} {n}" for what, n in r["backends"].items()) or "-"
        lines.append(
            f"| {r['way']} | {r['claims']} | {r['seconds']} | {r['claims_per_second']} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {r['exactly_once']} | {cpu['server']} "
            f"| {cpu['postgres']} | {cpu['bench']} | {r['machine_busy']:.0%} | {backends} |"
        )
    lines.append("")
    claimers = claim["results"][0]["claimers"] if claim["results"] else 0
    if claim["claim_run_in_schema"]:
        lines.append(
            f"{claimers} claimers; claims/s over the floor: claimRun {claim['graphql_over_floor']}"
            f", claimRun in steps {claim['steps_over_floor']}; claimRun / raw SQL: "
            f"{claim['graphql_over_raw']}"
        )
    else:
        lines.append("claimRun is not in the schema yet: only the raw floor was measured")
    if not claim["exactly_once"]:
        lines.append("CLAIMS FAILED: a way did not claim every run of its batch exactly once")
    return "\n".join(lines)


def git_commit() -> str:
    """The commit measured, marked "+changes" when the work tree differs from it: the
    server code moves, and a figure is only worth its commit."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+changes" if dirty else commit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="server to create the scratch database on (default $DATABASE_URL; without "
        "either, an embedded PostgreSQL)",
    )
    parser.add_argument(
        "--subscribers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 100, 1000],
        help="subscriber counts, comma-separated (default 1,100,1000)",
    )
    parser.add_argument(
        "--spread",
        type=lambda text: [
            tuple(int(n) for n in item.split("x")) for item in text.split(",") if item
        ],
        default=[(1000, 10)],
        metavar="NxD,...",
        help="also N subscribers spread over D distinct documents (default 1000x10)",
    )
    parser.add_argument(
        "--ways",
        type=lambda text: text.split(","),
        default=[UNSHARED, SHARED],
        help="the servers to measure, in turn: unshared (each subscriber executes its "
        "messages), shared (subscribers with the same messages share them); default both",
    )
    parser.add_argument(
        "--no-claims", dest="claims", action="store_false", help="skip the claim measurements"
    )
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="subscribers do not offer permessage-deflate (which browsers and the websockets "
        "client do by default): messages go uncompressed",
    )
    parser.add_argument("--changes", type=int, default=50, help="changes per count (default 50)")
    parser.add_argument("--runs", type=int, default=2000, help="runs per claim batch (2000)")
    parser.add_argument("--claimers", type=int, default=8, help="concurrent claimers (8)")
    parser.add_argument(
        "--per-process",
        type=int,
        default=250,
        help="subscribers per client process (default 250)",
    )
    parser.add_argument(
        "--notify-rounds", type=int, default=200, help="raw LISTEN/NOTIFY round trips (200)"
    )
    parser.add_argument(
        "--db-stats",
        type=float,
        default=0,
        metavar="SECONDS",
        help="also count PostgreSQL transactions and sessions per change, waiting this long "
        "(11 is enough) for the backends to report before and after each count; off by default",
    )
    parser.add_argument("--json", type=Path, help="write the JSON report here, not stdout")
    args = parser.parse_args()

    with (
        scratch_server(args.database_url, DATABASE, SERVER_WORKERS, migrate) as (
            url,
            base_url,
            server,
        ),
        ExitStack() as stack,
    ):
        # the reference: a server on the same database whose subscribers each execute
        # their messages (started after the first, which migrated the database)
        port = free_port()
        with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as log_file:
            log = Path(log_file.name)
        stack.callback(log.unlink, missing_ok=True)
        reference = start_server(url, port, SERVER_WORKERS, log, {SHARING_VARIABLE: "0"})
        stack.callback(stop_server, reference)
        reference_url = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(reference_url, reference, log))
        reference_ws = reference_url.replace("http://", "ws://") + "/graphql"
        ways = {
            SHARED: Way(SHARED, base_url, server.pid, reference_ws),
            UNSHARED: Way(UNSHARED, reference_url, reference.pid, reference_ws),
        }
        report = benchmark(url, ways, args)
    print_report(markdown(report), report, args.json)
    if not report["checks_passed"]:
        print("a subscriber missed or repeated an event, or got another message", file=sys.stderr)
        return 1
    if report["claims"] is not None and not report["claims"]["exactly_once"]:
        print("a claim way did not claim every run exactly once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
