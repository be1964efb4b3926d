"""A Quantum Forge store built as its lab has it: the tables of its `schema.sql` on
PostgreSQL (JSON columns named `metadata`), or those its SQLAlchemy models create on
SQLite (`mol_metadata`, `calc_metadata`, ...), filled with given rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

# The Supabase schema, without its references to auth.users and its row-level security.
POSTGRES_SCHEMA = """
CREATE TABLE molecules (
    id SERIAL PRIMARY KEY,
    user_id UUID,
    name VARCHAR(255) NOT NULL,
    smiles TEXT UNIQUE NOT NULL,
    formula VARCHAR(255) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    metadata JSONB DEFAULT '{}'::jsonb,
    CONSTRAINT smiles_not_empty CHECK (LENGTH(TRIM(smiles)) > 0),
    CONSTRAINT name_not_empty CHECK (LENGTH(TRIM(name)) > 0)
);
CREATE TABLE calculations (
    id SERIAL PRIMARY KEY,
    user_id UUID,
    molecule_id INTEGER NOT NULL REFERENCES molecules(id) ON DELETE CASCADE,
    energy DOUBLE PRECISION NOT NULL,
    homo DOUBLE PRECISION,
    lumo DOUBLE PRECISION,
    gap DOUBLE PRECISION,
    dipole DOUBLE PRECISION,
    total_charge DOUBLE PRECISION DEFAULT 0.0,
    execution_time_seconds DOUBLE PRECISION NOT NULL,
    xtb_version VARCHAR(50),
    solvation VARCHAR(50),
    method VARCHAR(50) DEFAULT 'GFN2-xTB',
    convergence_status VARCHAR(50) DEFAULT 'converged',
    xyz_file_hash VARCHAR(64),
    output_json_path TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    metadata JSONB DEFAULT '{}'::jsonb
);
CREATE TABLE atomic_properties (
    id SERIAL PRIMARY KEY,
    user_id UUID,
    calculation_id INTEGER NOT NULL REFERENCES calculations(id) ON DELETE CASCADE,
    atom_index INTEGER NOT NULL,
    element VARCHAR(3) NOT NULL,
    atomic_number INTEGER NOT NULL,
    partial_charge DOUBLE PRECISION,
    position_x DOUBLE PRECISION NOT NULL,
    position_y DOUBLE PRECISION NOT NULL,
    position_z DOUBLE PRECISION NOT NULL,
    force_x DOUBLE PRECISION,
    force_y DOUBLE PRECISION,
    force_z DOUBLE PRECISION,
    orbital_energy DOUBLE PRECISION,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    metadata JSONB DEFAULT '{}'::jsonb
);
CREATE TABLE batch_jobs (
    id SERIAL PRIMARY KEY,
    user_id UUID,
    batch_name VARCHAR(255) NOT NULL,
    description TEXT,
    status VARCHAR(50) DEFAULT 'pending',
    total_molecules INTEGER DEFAULT 0,
    successful_count INTEGER DEFAULT 0,
    failed_count INTEGER DEFAULT 0,
    parameters JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    metadata JSONB DEFAULT '{}'::jsonb
);
CREATE TABLE batch_items (
    id SERIAL PRIMARY KEY,
    user_id UUID,
    batch_id INTEGER NOT NULL REFERENCES batch_jobs(id) ON DELETE CASCADE,
    molecule_id INTEGER NOT NULL REFERENCES molecules(id) ON DELETE CASCADE,
    status VARCHAR(50) DEFAULT 'pending',
    calculation_id INTEGER REFERENCES calculations(id) ON DELETE SET NULL,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    metadata JSONB DEFAULT '{}'::jsonb,
    CONSTRAINT unique_batch_molecule UNIQUE (batch_id, molecule_id)
);
CREATE TABLE event_logs (
    id BIGSERIAL PRIMARY KEY,
    user_id UUID,
    event_type VARCHAR(50) NOT NULL,
    entity_type VARCHAR(50) NOT NULL,
    entity_id INTEGER,
    status VARCHAR(50) DEFAULT 'success',
    error_message TEXT,
    error_code VARCHAR(50),
    context JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    service VARCHAR(50) DEFAULT 'api'
);
CREATE INDEX idx_atomic_properties_calculation_id ON atomic_properties(calculation_id);
"""

# What SQLAlchemy's create_all makes of the models on SQLite: JSON columns named after
# their attributes, times as text, no foreign keys enforced.
SQLITE_SCHEMA = """
CREATE TABLE molecules (
    id INTEGER PRIMARY KEY, user_id CHAR(32), name VARCHAR(255) NOT NULL,
    smiles TEXT NOT NULL UNIQUE, formula VARCHAR(255) NOT NULL, created_at DATETIME,
    updated_at DATETIME, mol_metadata JSON);
CREATE TABLE calculations (
    id INTEGER PRIMARY KEY, user_id CHAR(32), molecule_id INTEGER NOT NULL
        REFERENCES molecules (id) ON DELETE CASCADE,
    energy FLOAT NOT NULL, homo FLOAT, lumo FLOAT, gap FLOAT, dipole FLOAT,
    total_charge FLOAT, execution_time_seconds FLOAT NOT NULL, xtb_version VARCHAR(50),
    solvation VARCHAR(50), method VARCHAR(50), convergence_status VARCHAR(50),
    xyz_file_hash VARCHAR(64), output_json_path TEXT, created_at DATETIME,
    updated_at DATETIME, calc_metadata JSON);
CREATE TABLE atomic_properties (
    id INTEGER PRIMARY KEY, user_id CHAR(32), calculation_id INTEGER NOT NULL
        REFERENCES calculations (id) ON DELETE CASCADE,
    atom_index INTEGER NOT NULL, element VARCHAR(3) NOT NULL, atomic_number INTEGER NOT NULL,
    partial_charge FLOAT, position_x FLOAT NOT NULL, position_y FLOAT NOT NULL,
    position_z FLOAT NOT NULL, force_x FLOAT, force_y FLOAT, force_z FLOAT,
    orbital_energy FLOAT, created_at DATETIME, atom_metadata JSON);
CREATE TABLE batch_jobs (
    id INTEGER PRIMARY KEY, user_id CHAR(32), batch_name VARCHAR(255) NOT NULL,
    description TEXT, status VARCHAR(50), total_molecules INTEGER, successful_count INTEGER,
    failed_count INTEGER, parameters JSON, created_at DATETIME, started_at DATETIME,
    completed_at DATETIME, updated_at DATETIME, batch_metadata JSON);
CREATE TABLE batch_items (
    id INTEGER PRIMARY KEY, user_id CHAR(32), batch_id INTEGER NOT NULL
        REFERENCES batch_jobs (id) ON DELETE CASCADE,
    molecule_id INTEGER NOT NULL REFERENCES molecules (id) ON DELETE CASCADE,
    status VARCHAR(50), calculation_id INTEGER REFERENCES calculations (id) ON DELETE SET NULL,
    error_message TEXT, retry_count INTEGER, created_at DATETIME, started_at DATETIME,
    completed_at DATETIME, updated_at DATETIME, item_metadata JSON,
    CONSTRAINT unique_batch_molecule UNIQUE (batch_id, molecule_id));
CREATE TABLE event_logs (
    id INTEGER PRIMARY KEY, user_id CHAR(32), event_type VARCHAR(50) NOT NULL,
    entity_type VARCHAR(50) NOT NULL, entity_id INTEGER, status VARCHAR(50),
    error_message TEXT, error_code VARCHAR(50), context JSON, created_at DATETIME,
    service VARCHAR(50));
"""

Rows = Mapping[str, Sequence[Mapping[str, Any]]]
_JSON_COLUMNS = {"metadata", "context", "parameters"}
_SQLITE_METADATA = {
    "molecules": "mol_metadata",
    "calculations": "calc_metadata",
    "atomic_properties": "atom_metadata",
    "batch_jobs": "batch_metadata",
    "batch_items": "item_metadata",
}
TABLE_ORDER = (
    "molecules",
    "calculations",
    "atomic_properties",
    "batch_jobs",
    "batch_items",
    "event_logs",
)


async def write_postgres(dsn: str, rows: Rows) -> None:
    """The store's tables in the empty database at `dsn`, with `rows` (JSON as objects)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(POSTGRES_SCHEMA)
        for table in TABLE_ORDER:
            for row in rows.get(table, ()):
                columns = list(row)
                values = [json.dumps(row[c]) if c in _JSON_COLUMNS else row[c] for c in columns]
                placeholders = ", ".join(
                    f"${n}::jsonb" if c in _JSON_COLUMNS else f"${n}"
                    for n, c in enumerate(columns, start=1)
                )
                await connection.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                    *values,
                )
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
    finally:
        await connection.close()


def write_sqlite(path: Path, rows: Rows) -> None:
    """The store as a SQLite file at `path`, with `rows`: times as SQLAlchemy writes them
    (naive UTC text), JSON as text."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SQLITE_SCHEMA)
        for table in TABLE_ORDER:
            for row in rows.get(table, ()):
                columns = [_SQLITE_METADATA.get(table, c) if c == "metadata" else c for c in row]
                values = [_sqlite_value(name, value) for name, value in row.items()]
                connection.execute(
                    f"INSERT INTO {table} ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' for _ in columns)})",
                    values,
                )
        connection.commit()
    finally:
        connection.close()


def _sqlite_value(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS and value is not None:
        return json.dumps(value)
    if hasattr(value, "isoformat"):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value
