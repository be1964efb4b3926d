"""The bulk statements that write a run service export's rows into scimeta, one array per
field each (bound by asyncpg), so that a step is one statement per kind of row."""

from __future__ import annotations

# Each statement inserts the rows whose natural key is free and answers, in input order,
# (the row's id, whether it inserted it).
INSERT_STUDIES = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::timestamptz[]) WITH ORDINALITY AS s(name, title, spec, spec_hash, attributes,
            created_at, n)
),
inserted AS (
    INSERT INTO studies (name, title, spec, spec_hash, attributes, created_at, updated_at)
    SELECT name, title, spec::jsonb, spec_hash, attributes::jsonb, coalesce(created_at, now()),
        coalesce(created_at, now())
    FROM src
    ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING id, spec_hash
)
SELECT coalesce(i.id, (SELECT st.id FROM studies st WHERE st.spec_hash = src.spec_hash)),
    i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (spec_hash)
ORDER BY src.n
"""

INSERT_RUNS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
        $6::uuid[], $7::timestamptz[], $8::int[], $9::timestamptz[], $10::timestamptz[],
        $11::text[], $12::text[], $13::timestamptz[])
        WITH ORDINALITY AS s(name, study_id, status, phase, claimed_by, lease_token,
            lease_expires_at, attempt, started_at, ended_at, error, attributes, created_at, n)
),
inserted AS (
    INSERT INTO runs (name, study_id, status, phase, claimed_by, lease_token,
        lease_expires_at, attempt, started_at, ended_at, error, attributes, created_at)
    SELECT name, study_id, status, phase, claimed_by, lease_token, lease_expires_at, attempt,
        started_at, ended_at, error::jsonb, attributes::jsonb, coalesce(created_at, now())
    FROM src
    ORDER BY n
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name
)
SELECT coalesce(i.id, (SELECT r.id FROM runs r WHERE r.name = src.name)), i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (name)
ORDER BY src.n
"""

# A file per artifact that the run does not have yet (by role and path); the files'
# identities are taken in the order they are inserted, which pairs each with its artifact.
# Answers (run id, role) of the artifacts inserted.
INSERT_ARTIFACTS = """
WITH todo AS MATERIALIZED (
    SELECT s.*, row_number() OVER (ORDER BY s.n) AS k
    FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
        WITH ORDINALITY AS s(run_id, role, path, name, n)
    WHERE NOT EXISTS (
        SELECT FROM run_artifacts a JOIN files f ON f.id = a.file_id
        WHERE a.run_id = s.run_id AND a.role = s.role AND f.path = s.path)
),
made AS (
    INSERT INTO files (path, name, checksum_algorithm, imported_from, imported_at)
    SELECT path, name, NULL, path, now() FROM todo ORDER BY n
    RETURNING id
),
paired AS (
    SELECT todo.run_id, todo.role, f.id AS file_id
    FROM todo JOIN (SELECT id, row_number() OVER (ORDER BY id) AS k FROM made) f USING (k)
),
added AS (
    INSERT INTO run_artifacts (run_id, file_id, role)
    SELECT run_id, file_id, role FROM paired
    RETURNING run_id, role
)
SELECT run_id, role FROM added
"""

INSERT_METRICS = """
INSERT INTO metrics (run_id, key_id, value, text, unit, created_at, updated_at)
SELECT run_id, key_id, value, text, unit, coalesce(at, now()), coalesce(at, now())
FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[], $5::text[],
    $6::timestamptz[]) WITH ORDINALITY AS s(run_id, key_id, value, text, unit, at, n)
ORDER BY n
ON CONFLICT (run_id, key_id) WHERE run_id IS NOT NULL DO NOTHING
RETURNING run_id, key_id, value, text
"""

INSERT_OUTPUTS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::timestamptz[]) WITH ORDINALITY AS s(run_id, agent, kind, data, schema_version,
            created_at, n)
),
inserted AS (
    INSERT INTO agent_outputs (run_id, agent, kind, data, schema_version, created_at,
        updated_at)
    SELECT run_id, agent, kind, data::jsonb, schema_version, created_at, created_at
    FROM src
    WHERE NOT EXISTS (
        SELECT FROM agent_outputs o WHERE o.run_id = src.run_id AND o.agent = src.agent
            AND o.kind = src.kind AND o.created_at = src.created_at)
    ORDER BY n
    RETURNING id, run_id, agent, kind, created_at
)
SELECT coalesce(i.id, (
        SELECT min(o.id) FROM agent_outputs o WHERE o.run_id = src.run_id
            AND o.agent = src.agent AND o.kind = src.kind AND o.created_at = src.created_at)),
    i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (run_id, agent, kind, created_at)
ORDER BY src.n
"""

# The log's lock is taken before the first sequence number, as every writer of events
# does, and the events are inserted in time order, so that `sequence` follows `at` among
# them; answers how many it inserted.
INSERT_EVENTS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::bigint[], $7::text[],
        $8::text[], $9::text[], $10::text[]) WITH ORDINALITY
        AS s(source_id, at, subject_type, subject_id, level, type, actor, payload, n)
    WHERE NOT EXISTS (
        SELECT FROM events e WHERE e.at = s.at AND e.type = s.type
            AND e.payload->>'imported_from' = 'aonp-mongo'
            AND e.payload->>'source_id' = s.source_id)
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
