"""The bulk statements that write a Quantum Forge store's rows into scimeta, one array
per column each (bound by asyncpg), so that a step is one statement per kind of row."""

from __future__ import annotations

# Each statement inserts the rows whose natural key is free and answers, in input order,
# (the row's id, whether it inserted it). A finished calculation was written when it
# finished: its created_at is also its finished_at.
INSERT_CALCULATIONS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::float8[],
        $6::float8[], $7::float8[], $8::text[], $9::text[], $10::timestamptz[])
        WITH ORDINALITY AS s(molecule_id, method, status, energy, gap, dipole,
            execution_seconds, error, attributes, created_at, n)
),
inserted AS (
    INSERT INTO calculations (molecule_id, method, status, energy, gap, dipole,
        execution_seconds, finished_at, error, attributes, created_at)
    SELECT molecule_id, method, status, energy, gap, dipole, execution_seconds,
        CASE WHEN status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') THEN created_at END,
        error, attributes::jsonb, created_at
    FROM src
    WHERE NOT EXISTS (
        SELECT FROM calculations c WHERE c.molecule_id = src.molecule_id
            AND c.created_at = src.created_at AND c.method = src.method)
    ORDER BY n
    RETURNING id, molecule_id, method, created_at
)
SELECT coalesce(i.id, (
        SELECT min(c.id) FROM calculations c WHERE c.molecule_id = src.molecule_id
            AND c.created_at = src.created_at AND c.method = src.method)),
    i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (molecule_id, method, created_at)
ORDER BY src.n
"""

INSERT_FILES = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[],
        $6::text[]) WITH ORDINALITY AS s(path, name, size_bytes, checksum, modified_at,
            imported_from, n)
),
inserted AS (
    INSERT INTO files (path, name, size_bytes, checksum, checksum_algorithm, modified_at,
        imported_from, imported_at)
    SELECT path, name, size_bytes, checksum, 'sha256', modified_at, imported_from, now()
    FROM src
    WHERE NOT EXISTS (
        SELECT FROM files f WHERE f.checksum = src.checksum AND f.path = src.path
            AND f.imported_from IS NOT NULL)
    ORDER BY n
    RETURNING id, path, checksum
)
SELECT coalesce(i.id, (
        SELECT min(f.id) FROM files f WHERE f.checksum = src.checksum AND f.path = src.path
            AND f.imported_from IS NOT NULL)),
    i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (path, checksum)
ORDER BY src.n
"""

INSERT_BATCHES = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
        $6::timestamptz[], $7::text[], $8::timestamptz[])
        WITH ORDINALITY AS s(name, description, method, status, started_at, finished_at,
            attributes, created_at, n)
),
inserted AS (
    INSERT INTO batches (name, description, method, status, started_at, finished_at,
        attributes, created_at)
    SELECT name, description, method, status, started_at, finished_at, attributes::jsonb,
        created_at
    FROM src
    WHERE NOT EXISTS (
        SELECT FROM batches b WHERE b.name = src.name AND b.created_at = src.created_at)
    ORDER BY n
    RETURNING id, name, created_at
)
SELECT coalesce(i.id, (
        SELECT min(b.id) FROM batches b WHERE b.name = src.name
            AND b.created_at = src.created_at)),
    i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (name, created_at)
ORDER BY src.n
"""

INSERT_ITEMS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[],
        $5::timestamptz[]) WITH ORDINALITY AS s(batch_id, molecule_id, status, calculation_id,
            created_at, n)
),
inserted AS (
    INSERT INTO batch_items (batch_id, molecule_id, status, calculation_id, created_at)
    SELECT batch_id, molecule_id, status, calculation_id, coalesce(created_at, now())
    FROM src
    ORDER BY n
    ON CONFLICT (batch_id, molecule_id) DO NOTHING
    RETURNING id, batch_id, molecule_id
)
SELECT coalesce(i.id, (
        SELECT b.id FROM batch_items b WHERE b.batch_id = src.batch_id
            AND b.molecule_id = src.molecule_id)),
    i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (batch_id, molecule_id)
ORDER BY src.n
"""

# The log's lock is taken before the first sequence number, as every writer of events
# does, and the events are inserted in time order, so that `sequence` follows `at` among
# them; answers how many it inserted.
INSERT_EVENTS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($3::bigint[], $4::timestamptz[], $5::text[], $6::bigint[], $7::text[],
        $8::text[], $9::text[], $10::text[]) WITH ORDINALITY
        AS s(source_id, at, subject_type, subject_id, level, type, actor, payload, n)
    WHERE NOT EXISTS (
        SELECT FROM events e WHERE e.at = s.at AND e.type = s.type
            AND e.payload->>'imported_from' = 'quantum-forge'
            AND e.payload->'source_id' = to_jsonb(s.source_id))
),
inserted AS (
    INSERT INTO events (at, subject_type, subject_id, level, type, actor, payload)
    SELECT src.at, src.subject_type, src.subject_id, src.level, src.type, src.actor,
        src.payload::jsonb
    FROM (SELECT pg_advisory_xact_lock($1)) AS locked, src
    ORDER BY src.at, src.n
    RETURNING sequence
),
notified AS (SELECT pg_notify($2, max(sequence)::text) FROM inserted HAVING count(*) > 0)
SELECT (SELECT count(*) FROM inserted) + 0 * (SELECT count(*) FROM notified)
"""
