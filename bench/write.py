"""Write benchmark: one `createCalculation` carrying N atomic properties, over HTTP to the
real `scimeta serve`, against a plain asyncpg `executemany` of the same rows.

Migrates a fresh database (a new one on the server in --database-url or $DATABASE_URL, or
an embedded PostgreSQL in a temporary directory), starts `scimeta serve` on a free port,
and times, for each N, --repetitions writes of each way in turn, one at a time:

- the mutation over HTTP with the atoms as a list of objects (`atomicProperties`), which
  parses and checks the GraphQL input, inserts the calculation, its created event and its
  atoms in one transaction, and answers;
- the same mutation with the atoms as one list per column (`atomicPropertyColumns`);
- the floor: with asyncpg in one transaction, the molecule's look-up, the calculation,
  `executemany` of its atoms, and its created event as the server writes it (under the
  event log's lock, with its NOTIFY);
- the write function the mutation calls, in this process: the write layer alone, which
  shows what GraphQL and HTTP add.

With --chunks, times `addChunkAttempts` with 1,000 attempts (its cap), each with a
frames file, as a list of objects (`chunks`) and as columns (`chunkColumns`), each way
on its own trajectory.

Exits non-zero unless every write stored N atoms and one created event, and the atoms of
every write are the same (with --chunks: every write stored its attempts, their files
and a created event each, the same both ways).

See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from read import asyncpg_dsn, migrate, print_report, scratch_server
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.relay import GlobalID

from scimeta.server.database import create_engine, create_sessionmaker
from scimeta.writes.chemistry import AtomColumns, Results, create_calculation
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL, transaction

DATABASE = "scimeta_bench_write"
CREATE_MOLECULE = """mutation {
  createMolecule(input: {smiles: "CCO", name: "ethanol"}) { molecule { id } }
}"""
CREATE_CALCULATION = """mutation Store($input: CreateCalculationInput!) {
  createCalculation(input: $input) { calculation { id } }
}"""
FLOOR_MOLECULE = "SELECT id FROM molecules WHERE id = $1"
FLOOR_CALCULATION = "INSERT INTO calculations (molecule_id, energy) VALUES ($1, $2) RETURNING id"
FLOOR_ATOMS = (
    "INSERT INTO atomic_properties (calculation_id, atom_index, element, charge, values) "
    "VALUES ($1, $2, $3, $4, $5)"
)
# The created event as `Writer.publish` writes it: under the event log's lock, announced.
FLOOR_EVENT = f"""
    WITH inserted AS (
        INSERT INTO events (subject_type, subject_id, type, actor, payload)
        SELECT 'Calculation', $1, 'created', 'bench', $2::jsonb
        FROM (SELECT pg_advisory_xact_lock({EVENT_LOG_LOCK})) AS locked
        RETURNING sequence
    )
    SELECT pg_notify('{EVENTS_CHANNEL}', sequence::text) FROM inserted
"""
# Per calculation: its atoms, a digest of their values, and its created events.
STORED = """
    SELECT c.id,
           (SELECT count(*) FROM atomic_properties a WHERE a.calculation_id = c.id),
           (SELECT md5(string_agg(
                       concat_ws('|', a.atom_index, a.element, a.charge, a.values),
                       ',' ORDER BY a.atom_index))
            FROM atomic_properties a WHERE a.calculation_id = c.id),
           (SELECT count(*) FROM events e
            WHERE e.subject_type = 'Calculation' AND e.subject_id = c.id AND e.type = 'created')
    FROM calculations c WHERE c.id = ANY($1::bigint[])
"""
CREATE_RUN = """mutation Start($name: String!) {
  createRun(input: {name: $name}) { run { id } }
}"""
INITIALIZE_TRAJECTORY = """mutation Init($run: ID!) {
  initializeTrajectory(input: {runId: $run, index: 0, targetLength: 1000}) { trajectory { id } }
}"""
ADD_CHUNKS = """mutation Add($input: AddChunkAttemptsInput!) {
  addChunkAttempts(input: $input) { chunks { id } }
}"""
# Per trajectory: its attempts, those with a file, their created events, and a digest.
CHUNKS_STORED = """
    SELECT count(*), count(c.file_id),
           (SELECT count(*) FROM events e
            WHERE e.subject_type = 'Chunk' AND e.type = 'created'
              AND e.subject_id IN (SELECT id FROM chunks WHERE trajectory_id = $1)),
           md5(string_agg(concat_ws('|', c.index, c.attempt, c.model_version, c.frame_count,
                                    f.path, f.size_bytes, f.checksum), ',' ORDER BY c.id))
    FROM chunks c LEFT JOIN files f ON f.id = c.file_id WHERE c.trajectory_id = $1
"""
CHUNK_ATTEMPTS = 1_000
ELEMENTS = ("C", "H", "H", "H", "O", "N")
ROWS = "mutation (rows)"
COLUMNS = "mutation (columns)"
EXECUTEMANY = "executemany"
FUNCTION = "write function"


class WrongRows(Exception):
    """A write stored other rows than it was given."""


# One write: returns the row id of the calculation it made.
Write = Callable[[], Awaitable[int]]


@dataclass
class Result:
    atoms: int
    repetitions: int
    # median milliseconds of one write, per way of writing
    milliseconds: dict[str, float]

    def rows_per_second(self, way: str) -> int:
        return round(self.atoms / self.milliseconds[way] * 1000)


def atom(index: int) -> dict[str, Any]:
    """One atom as xTB reports it: element, partial charge, coordination number and
    polarisability."""
    return {
        "atomIndex": index,
        "element": ELEMENTS[index % len(ELEMENTS)],
        "charge": round(-0.4 + (index % 17) * 0.05, 4),
        "values": {"cn": round(1 + (index % 4) * 0.99, 3), "alpha": float(3 + index % 7)},
    }


async def post(client: httpx.AsyncClient, body: bytes) -> dict[str, Any]:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    if response.status_code != 200 or b'"errors"' in response.content:
        raise RuntimeError(f"GraphQL request failed: {response.text[:500]}")
    data: dict[str, Any] = response.json()["data"]
    return data


def row_id(global_id: str) -> int:
    return int(GlobalID.from_id(global_id).node_id)


def columns(atoms: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The atoms as `atomicPropertyColumns`: one list per field."""
    return {name: [atom[name] for atom in atoms] for name in atoms[0]} if atoms else {}


def mutation_write(
    client: httpx.AsyncClient, molecule: str, atoms: list[dict[str, Any]], *, columnar: bool
) -> Write:
    """createCalculation with the atoms as a list of objects or as columns; the request
    body is encoded once, untimed, as a client would have it ready."""
    given = {"atomicPropertyColumns": columns(atoms)} if columnar else {"atomicProperties": atoms}
    variables = {"input": {"moleculeId": molecule, "energy": -5.105, **given}}
    body = json.dumps({"query": CREATE_CALCULATION, "variables": variables}).encode()

    async def write() -> int:
        data = await post(client, body)
        return row_id(data["createCalculation"]["calculation"]["id"])

    return write


def floor_write(
    connection: asyncpg.Connection, molecule: int, atoms: list[dict[str, Any]]
) -> Write:
    """The same rows with asyncpg, in one transaction: the molecule's look-up, the
    calculation, one executemany of its atoms and the calculation's created event. Each
    atom's values are encoded as JSON inside the timing, as the server has to."""

    async def write() -> int:
        async with connection.transaction():
            await connection.fetchval(FLOOR_MOLECULE, molecule)
            calculation: int = await connection.fetchval(FLOOR_CALCULATION, molecule, -5.105)
            await connection.executemany(
                FLOOR_ATOMS,
                [
                    (
                        calculation,
                        a["atomIndex"],
                        a["element"],
                        a["charge"],
                        json.dumps(a["values"]),
                    )
                    for a in atoms
                ],
            )
            payload = {
                "id": calculation,
                "molecule_id": molecule,
                "method": "GFN2-xTB",
                "status": "PENDING",
                "energy": -5.105,
                "atomic_properties": len(atoms),
            }
            await connection.execute(FLOOR_EVENT, calculation, json.dumps(payload))
        return calculation

    return write


def function_write(
    sessionmaker: async_sessionmaker[AsyncSession], molecule: int, atoms: list[dict[str, Any]]
) -> Write:
    """The write function the mutation calls, in this process without GraphQL or HTTP:
    what the write layer costs by itself."""

    given = columns(atoms)

    async def write() -> int:
        specs = AtomColumns(
            index=given["atomIndex"],
            element=given["element"],
            charge=given["charge"],
            values=given["values"],
        )
        async with sessionmaker() as session, transaction(session, "bench") as writer:
            calculation = await create_calculation(
                writer, molecule_id=molecule, results=Results(energy=-5.105), atoms=specs
            )
        return calculation.id

    return write


async def measure(
    size: int, repetitions: int, ways: dict[str, Write], connection: asyncpg.Connection
) -> Result:
    """Each way once to warm up, then `repetitions` rounds of each way in turn; checks that
    every write stored all its atoms, the same atoms, and one created event."""
    print(f"measuring {size} atoms ...", file=sys.stderr, flush=True)
    for write in ways.values():
        await write()
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    calculations: list[int] = []
    for _ in range(repetitions):
        for way, write in ways.items():
            started = time.perf_counter()
            calculations.append(await write())
            seconds[way].append(time.perf_counter() - started)
    stored = await connection.fetch(STORED, calculations)
    if len(stored) != len(calculations):
        raise WrongRows(f"{len(calculations)} calculations written, {len(stored)} stored")
    for calculation, atoms, digest, created in stored:
        if atoms != size or created != 1 or digest != stored[0][2]:
            raise WrongRows(
                f"calculation {calculation} has {atoms} atoms (expected {size}), {created} "
                f"created events (expected 1), and atoms digest {digest} (the first "
                f"calculation's: {stored[0][2]})"
            )
    return Result(
        atoms=size,
        repetitions=repetitions,
        milliseconds={
            way: round(statistics.median(times) * 1000, 1) for way, times in seconds.items()
        },
    )


async def benchmark(url: str, base_url: str, args: argparse.Namespace) -> list[Result]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    engine = create_engine(url)
    results = []
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
            created = await post(client, json.dumps({"query": CREATE_MOLECULE}).encode())
            molecule = created["createMolecule"]["molecule"]["id"]
            for size in args.sizes:
                atoms = [atom(index) for index in range(size)]
                ways = {
                    ROWS: mutation_write(client, molecule, atoms, columnar=False),
                    COLUMNS: mutation_write(client, molecule, atoms, columnar=True),
                    EXECUTEMANY: floor_write(connection, row_id(molecule), atoms),
                    FUNCTION: function_write(create_sessionmaker(engine), row_id(molecule), atoms),
                }
                results.append(await measure(size, args.repetitions, ways, connection))
    finally:
        await connection.close()
        await engine.dispose()
    return results


def chunk(index: int) -> dict[str, Any]:
    """One attempt as an engine reports it: chunk index, model, frames and their file."""
    return {
        "index": index % 100,
        "modelVersion": "mace-mp-0",
        "frameCount": 100,
        "file": {"path": f"/runs/r1/traj0/chunk{index}.xyz", "sizeBytes": 81_920 + index},
    }


def chunk_columns(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The attempts as `chunkColumns`, their files as columns too."""
    columns: dict[str, Any] = {
        name: [c[name] for c in chunks] for name in ("index", "modelVersion", "frameCount")
    }
    columns["file"] = {name: [c["file"][name] for c in chunks] for name in ("path", "sizeBytes")}
    return columns


async def chunk_benchmark(
    client: httpx.AsyncClient, connection: asyncpg.Connection, repetitions: int
) -> dict[str, Any]:
    """addChunkAttempts with 1,000 attempts both ways, each on its own trajectory; the
    median milliseconds per way, after one warm-up, checked as the module says."""
    print(f"measuring {CHUNK_ATTEMPTS} chunk attempts ...", file=sys.stderr, flush=True)
    chunks = [chunk(index) for index in range(CHUNK_ATTEMPTS)]
    given: dict[str, dict[str, Any]] = {
        ROWS: {"chunks": chunks},
        COLUMNS: {"chunkColumns": chunk_columns(chunks)},
    }
    bodies, trajectories = {}, {}
    for way in given:
        run = await post(
            client,
            json.dumps(
                {"query": CREATE_RUN, "variables": {"name": f"bench-chunks-{way}"}}
            ).encode(),
        )
        started = await post(
            client,
            json.dumps(
                {
                    "query": INITIALIZE_TRAJECTORY,
                    "variables": {"run": run["createRun"]["run"]["id"]},
                }
            ).encode(),
        )
        trajectories[way] = started["initializeTrajectory"]["trajectory"]["id"]
        variables = {"input": {"trajectoryId": trajectories[way], **given[way]}}
        bodies[way] = json.dumps({"query": ADD_CHUNKS, "variables": variables}).encode()
    seconds: dict[str, list[float]] = {way: [] for way in given}
    for round_ in range(repetitions + 1):
        for way, body in bodies.items():
            started_at = time.perf_counter()
            await post(client, body)
            if round_:
                seconds[way].append(time.perf_counter() - started_at)
    digests = set()
    for way, trajectory in trajectories.items():
        count, files, created, digest = await connection.fetchrow(CHUNKS_STORED, row_id(trajectory))
        expected = CHUNK_ATTEMPTS * (repetitions + 1)
        if not count == files == created == expected:
            raise WrongRows(
                f"{way}: {count} attempts, {files} with files, {created} created events; "
                f"expected {expected} of each"
            )
        digests.add(digest)
    if len(digests) != 1:
        raise WrongRows("the attempts stored differ between the two ways")
    return {way: round(statistics.median(times) * 1000, 1) for way, times in seconds.items()}


def markdown(results: list[Result]) -> str:
    lines = [
        "| atoms (N) | rows: rows/s | columns: rows/s | executemany rows/s | rows ratio "
        "| columns ratio | rows ms | columns ms | executemany ms | write function rows/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ms = r.milliseconds
        lines.append(
            f"| {r.atoms} | {r.rows_per_second(ROWS)} | {r.rows_per_second(COLUMNS)} "
            f"| {r.rows_per_second(EXECUTEMANY)} | {ms[EXECUTEMANY] / ms[ROWS]:.2f} "
            f"| {ms[EXECUTEMANY] / ms[COLUMNS]:.2f} | {ms[ROWS]} | {ms[COLUMNS]} "
            f"| {ms[EXECUTEMANY]} | {r.rows_per_second(FUNCTION)} |"
        )
    repetitions = results[0].repetitions if results else 0
    lines += [
        "",
        f"medians of {repetitions} writes per way after one warm-up; rows = createCalculation "
        "with atomicProperties, columns = with atomicPropertyColumns; ratio = the mutation's "
        "rows/s / executemany's",
    ]
    return "\n".join(lines)


async def chunks_main(url: str, base_url: str, repetitions: int) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=300) as client:
            return await chunk_benchmark(client, connection, repetitions)
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="server to create the scratch database on (default $DATABASE_URL; without "
        "either, an embedded PostgreSQL)",
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(size) for size in text.split(",")],
        default=[1_000, 10_000],
        help="atoms per calculation, comma-separated (default 1000,10000)",
    )
    parser.add_argument("--repetitions", type=int, default=7, help="timed writes per size")
    parser.add_argument("--json", type=Path, help="write the JSON report here, not stdout")
    parser.add_argument(
        "--chunks",
        action="store_true",
        help=f"time addChunkAttempts with {CHUNK_ATTEMPTS} attempts instead, both ways",
    )
    args = parser.parse_args()

    if args.chunks:
        with scratch_server(args.database_url, DATABASE, 1, migrate) as (url, base_url, _):
            try:
                milliseconds = asyncio.run(chunks_main(url, base_url, args.repetitions))
            except WrongRows as error:
                print(f"wrong rows stored: {error}", file=sys.stderr)
                return 1
        table = "\n".join(
            [
                "| attempts | rows ms | columns ms | rows: rows/s | columns: rows/s |",
                "|---:|---:|---:|---:|---:|",
                f"| {CHUNK_ATTEMPTS} | {milliseconds[ROWS]} | {milliseconds[COLUMNS]} "
                f"| {round(CHUNK_ATTEMPTS / milliseconds[ROWS] * 1000)} "
                f"| {round(CHUNK_ATTEMPTS / milliseconds[COLUMNS] * 1000)} |",
                "",
                f"medians of {args.repetitions} addChunkAttempts per way after one warm-up, "
                "each attempt with a frames file",
            ]
        )
        print_report(table, {"attempts": CHUNK_ATTEMPTS, "milliseconds": milliseconds}, args.json)
        return 0

    with scratch_server(args.database_url, DATABASE, 1, migrate) as (url, base_url, _):
        try:
            results = asyncio.run(benchmark(url, base_url, args))
        except WrongRows as error:
            print(f"wrong rows stored: {error}", file=sys.stderr)
            return 1
    print_report(markdown(results), [asdict(result) for result in results], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
