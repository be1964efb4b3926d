"""Write benchmark: one `createCalculation` carrying N atomic properties, over HTTP to the
real `scimeta serve`, against a plain asyncpg `executemany` of the same rows.

Migrates a fresh database (a new one on the server in --database-url or $DATABASE_URL, or
an embedded PostgreSQL in a temporary directory), starts `scimeta serve` on a free port,
and times, for each N, --repetitions writes of each way in turn, one at a time:

- the mutation over HTTP, which parses and checks the GraphQL input, inserts the
  calculation, its created event and its atoms in one transaction, and answers;
- the floor: the calculation and its atoms with asyncpg, `executemany` for the atoms, in
  one transaction;
- the write function the mutation calls, in this process: the write layer alone, which
  shows what GraphQL and HTTP add.

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
from scimeta.writes.chemistry import Atom, Results, create_calculation
from scimeta.writes.transaction import transaction

DATABASE = "scimeta_bench_write"
CREATE_MOLECULE = """mutation {
  createMolecule(input: {smiles: "CCO", name: "ethanol"}) { molecule { id } }
}"""
CREATE_CALCULATION = """mutation Store($input: CreateCalculationInput!) {
  createCalculation(input: $input) { calculation { id } }
}"""
FLOOR_CALCULATION = "INSERT INTO calculations (molecule_id, energy) VALUES ($1, $2) RETURNING id"
FLOOR_ATOMS = (
    "INSERT INTO atomic_properties (calculation_id, atom_index, element, charge, values) "
    "VALUES ($1, $2, $3, $4, $5)"
)
COUNT_ATOMS = (
    "SELECT calculation_id, count(*) FROM atomic_properties "
    "WHERE calculation_id = ANY($1::bigint[]) GROUP BY calculation_id"
)
ELEMENTS = ("C", "H", "H", "H", "O", "N")
MUTATION = "mutation"
EXECUTEMANY = "executemany"
FUNCTION = "write function"

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


def mutation_write(client: httpx.AsyncClient, molecule: str, atoms: list[dict[str, Any]]) -> Write:
    """createCalculation with the atoms; the request body is encoded once, untimed, as a
    client would have it ready."""
    variables = {"input": {"moleculeId": molecule, "energy": -5.105, "atomicProperties": atoms}}
    body = json.dumps({"query": CREATE_CALCULATION, "variables": variables}).encode()

    async def write() -> int:
        data = await post(client, body)
        return row_id(data["createCalculation"]["calculation"]["id"])

    return write


def floor_write(
    connection: asyncpg.Connection, molecule: int, atoms: list[dict[str, Any]]
) -> Write:
    """The same rows with asyncpg: the calculation, then one executemany of its atoms, in
    one transaction. Each atom's values are encoded as JSON inside the timing, as the
    server has to."""

    async def write() -> int:
        async with connection.transaction():
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
        return calculation

    return write


def function_write(
    sessionmaker: async_sessionmaker[AsyncSession], molecule: int, atoms: list[dict[str, Any]]
) -> Write:
    """The write function the mutation calls, in this process without GraphQL or HTTP:
    what the write layer costs by itself."""

    async def write() -> int:
        specs = [
            Atom(index=a["atomIndex"], element=a["element"], charge=a["charge"], values=a["values"])
            for a in atoms
        ]
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
    every write stored all its atoms."""
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
    counts = dict(await connection.fetch(COUNT_ATOMS, calculations))
    if sorted(counts.values()) != [size] * len(calculations):
        raise RuntimeError(f"expected {size} atoms per calculation, found {counts}")
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
                    MUTATION: mutation_write(client, molecule, atoms),
                    EXECUTEMANY: floor_write(connection, row_id(molecule), atoms),
                    FUNCTION: function_write(create_sessionmaker(engine), row_id(molecule), atoms),
                }
                results.append(await measure(size, args.repetitions, ways, connection))
    finally:
        await connection.close()
        await engine.dispose()
    return results


def markdown(results: list[Result]) -> str:
    lines = [
        "| atoms (N) | mutation rows/s | executemany rows/s | ratio | mutation ms "
        "| executemany ms | write function rows/s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = r.milliseconds[EXECUTEMANY] / r.milliseconds[MUTATION]
        lines.append(
            f"| {r.atoms} | {r.rows_per_second(MUTATION)} | {r.rows_per_second(EXECUTEMANY)} "
            f"| {ratio:.2f} | {r.milliseconds[MUTATION]} | {r.milliseconds[EXECUTEMANY]} "
            f"| {r.rows_per_second(FUNCTION)} |"
        )
    repetitions = results[0].repetitions if results else 0
    lines += [
        "",
        f"medians of {repetitions} writes per way after one warm-up; ratio = mutation rows/s "
        "/ executemany rows/s",
    ]
    return "\n".join(lines)


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
    args = parser.parse_args()

    with scratch_server(args.database_url, DATABASE, 1, migrate) as (url, base_url, _):
        results = asyncio.run(benchmark(url, base_url, args))
    print_report(markdown(results), [asdict(result) for result in results], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
