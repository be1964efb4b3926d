"""`scimeta import aonp-mongo LOCATION`: the AONP OpenMC run service's MongoDB collections
(seed 004), exported by `mongoexport`, onto studies, runs with their artifacts, summary
metrics, agent outputs and events.

LOCATION is a directory of `studies.json`, `runs.json`, `summaries.json`, `events.json`
and `agent_outputs.json` (any may be missing), or one of those files (see
docs/import/aonp-mongo.md).

Rows are matched by natural keys, so a second run creates nothing and an interrupted one
finishes what it left: a study by the hash of its spec, a run by its run_id (its name), an
artifact by (run, role, path), a summary's metric by (run, key), an agent output by (run,
agent, kind, ts), an event by (ts, type, its Mongo _id kept in the payload). Each step is
one transaction of at most ROWS_PER_STEP documents (EVENTS_PER_STEP events); a dry run
does them all in one transaction and rolls it back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from scimeta import models
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs.aonp_export import (
    Document,
    Refused,
    collection_files,
    read_documents,
)
from scimeta.transfer.labs.aonp_rows import (
    EventRow,
    OutputRow,
    RunRow,
    StudyRow,
    SummaryRow,
    event_row,
    output_row,
    run_row,
    study_row,
    summary_row,
)
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal, Source
from scimeta.writes.core import metric_keys
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL, Writer

NAME = "aonp-mongo"
ACTOR = f"import:{NAME}"
ROWS_PER_STEP = 5_000
EVENTS_PER_STEP = 20_000
# Serialises imports of run service exports: agent outputs and events have no unique
# constraint, so two imports checking their natural keys at once would both insert.
IMPORT_LOCK = 0x51F0_26E0_0004

RowT = TypeVar("RowT")


async def import_aonp_mongo(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the export at `location` (see the module's docstring)."""
    if options.project is not None or options.study is not None:
        raise TransferError(
            "the run service's runs name their own studies and it has no projects: import "
            "it without --project and --study"
        )
    documents = {
        collection: read_documents(path) for collection, path in collection_files(location).items()
    }
    async with engine.connect() as connection:
        run = _Import(connection, documents, options, progress, report)
        await run.studies()
        await run.runs()
        await run.summaries()
        await run.agent_outputs()
        await run.events()
        if options.dry_run:
            await connection.rollback()
    return report


class _Import:
    def __init__(
        self,
        connection: AsyncConnection,
        documents: dict[str, list[Document]],
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
    ) -> None:
        self.connection = connection
        self.documents = documents
        self.options = options
        self.progress = progress
        self.report = report
        # the spec_hash a document names -> the study's id
        self.study_ids: dict[str, int] = {}
        self.refused_studies: set[str] = set()
        # run_id -> the run's id
        self.run_ids: dict[str, int] = {}
        self.refused_runs: set[str] = set()

    # -- plumbing

    @asynccontextmanager
    async def step(self) -> AsyncIterator[Writer]:
        """One transaction (committed unless this is a dry run) with a writer whose events
        are published at its end."""
        if not self.connection.in_transaction():
            await self.connection.begin()
        await self.connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK}
        )
        async with AsyncSession(bind=self.connection, expire_on_commit=False) as session:
            writer = Writer(session, ACTOR)
            yield writer
            await writer.publish()
        if not self.options.dry_run:
            await self.connection.commit()

    async def driver(self) -> Any:
        raw = await self.connection.get_raw_connection()
        return raw.driver_connection

    def refuse(self, entity: str, location: str, source_id: str | None, reason: str) -> None:
        self.report.refuse(Refusal(entity, location, source_id, reason))

    def rows(
        self,
        collection: str,
        entity: str,
        make: Callable[[str, dict[str, Any]], RowT],
        identity: str,
    ) -> list[RowT]:
        """The collection's documents that map onto rows; the others refused."""
        counts = self.report.of(entity)
        taken = []
        for document in self.documents.get(collection, []):
            counts.read += 1
            if document.value is None:
                self.refuse(entity, document.location, None, str(document.unreadable))
                continue
            try:
                taken.append(make(document.location, document.value))
            except Refused as exc:
                found = document.value.get(identity)
                self.refuse(entity, document.location, _text(found), str(exc))
        return taken

    def total(self, collection: str) -> int:
        return len(self.documents.get(collection, []))

    async def known_runs(self, names: Sequence[str]) -> None:
        """Look up the runs named that this export does not hold, in scimeta."""
        wanted = sorted({n for n in names if n not in self.run_ids and n not in self.refused_runs})
        if not wanted:
            return
        driver = await self.driver()
        for name, run_id in await driver.fetch(
            "SELECT name, id FROM runs WHERE name = ANY($1::text[])", wanted
        ):
            self.run_ids[name] = run_id

    def run_of(self, name: str) -> int:
        """The id of the run `name`, or Refused saying why there is none."""
        found = self.run_ids.get(name)
        if found is not None:
            return found
        if name in self.refused_runs:
            raise Refused(f"its run {name!r} was refused (see that refusal)")
        raise Refused(
            f"its run {name!r} is neither in the export's runs nor a run in scimeta; import "
            "that run first"
        )

    # -- studies

    async def studies(self) -> None:
        counts = self.report.of("Study")
        self.progress.begin("Study", self.total("studies"))
        documents = self.documents.get("studies", [])
        duplicated = _given_twice(documents, "spec_hash")
        rows: list[StudyRow] = []
        for row in self.rows("studies", "Study", study_row, "_id"):
            if row.stored_hash in duplicated:
                self.refuse(
                    "Study",
                    row.location,
                    row.source_id,
                    f"another study document has the spec_hash {row.stored_hash}; the run "
                    "service keeps one study per spec_hash, and which spec is right is unknown",
                )
                continue
            rows.append(row)
        # runs of a study refused are refused too, rather than taken as runs of no study
        self.refused_studies = _values(documents, "spec_hash") - {r.stored_hash for r in rows}
        # one scimeta study per spec: the first document of a spec makes it
        first: dict[str, StudyRow] = {}
        for row in rows:
            first.setdefault(row.digest, row)
        new = list(first.values())
        async with self.step() as writer:
            driver = await self.driver()
            existing = dict(
                await driver.fetch(
                    "SELECT spec_hash, id FROM studies WHERE spec_hash = ANY($1::text[])",
                    [row.digest for row in new],
                )
            )
            new = [row for row in new if row.digest not in existing]
            names = _study_names(
                new,
                {
                    name
                    for (name,) in await driver.fetch(
                        "SELECT name FROM studies WHERE name = ANY($1::text[])",
                        [row.spec_name for row in new if row.spec_name],
                    )
                },
            )
            inserted = await driver.fetch(
                _INSERT_STUDIES,
                [names[row.digest][0] for row in new],
                [names[row.digest][1] for row in new],
                [json.dumps(row.spec) for row in new],
                [row.digest for row in new],
                [json.dumps(row.attributes) for row in new],
                [row.created_at for row in new],
            )
            made: set[str] = set()
            for row, (study_id, created) in zip(new, inserted, strict=True):
                if study_id is None:
                    continue
                existing[row.digest] = study_id
                if created:
                    made.add(row.digest)
                    name, title = names[row.digest]
                    writer.record(
                        _event(
                            "Study",
                            study_id,
                            "created",
                            _present(
                                {
                                    "id": study_id,
                                    "name": name,
                                    "title": title,
                                    "spec_hash": row.digest,
                                }
                            ),
                        )
                    )
        for row in rows:
            study_id = existing.get(row.digest)
            if study_id is None:
                self.refused_studies.add(row.stored_hash)
                self.refuse(
                    "Study",
                    row.location,
                    row.source_id,
                    f"its name {names[row.digest][0]!r} was taken by another study while "
                    "this import ran; run the import again",
                )
                continue
            self.study_ids[row.stored_hash] = study_id
            self.study_ids.setdefault(row.digest, study_id)
            if row.digest in made and first[row.digest] is row:
                counts.created += 1
            else:
                counts.present += 1
        self.progress.advance(self.total("studies"))
        self.progress.end()

    async def study_of(self, rows: Sequence[RunRow]) -> dict[str, int]:
        """spec_hash -> study id of the hashes the runs name that this export does not
        hold, found in scimeta by hash or by the run service's hash it was imported with."""
        wanted = sorted(
            {
                row.spec_hash
                for row in rows
                if row.spec_hash is not None
                and row.spec_hash not in self.study_ids
                and row.spec_hash not in self.refused_studies
            }
        )
        if not wanted:
            return {}
        driver = await self.driver()
        found: dict[str, int] = {}
        for digest, stored, study_id in await driver.fetch(
            "SELECT spec_hash, attributes->>'aonp_spec_hash', id FROM studies"
            " WHERE spec_hash = ANY($1::text[]) OR attributes->>'aonp_spec_hash' = ANY($1::text[])",
            wanted,
        ):
            for key in (stored, digest):
                if key in wanted:
                    found.setdefault(key, study_id)
        return found

    # -- runs and their artifacts

    async def runs(self) -> None:
        counts = self.report.of("Run")
        self.progress.begin("Run", self.total("runs"))
        documents = self.documents.get("runs", [])
        duplicated = _given_twice(documents, "run_id")
        rows: list[RunRow] = []
        for row in self.rows("runs", "Run", run_row, "run_id"):
            if row.name in duplicated:
                self.refuse(
                    "Run",
                    row.location,
                    row.name,
                    "another run document has the same run_id; run ids are unique, and which "
                    "document is right is unknown",
                )
                continue
            rows.append(row)
        # summaries, outputs and events of a run refused are refused too
        self.refused_runs = _values(documents, "run_id") - {row.name for row in rows}
        self.progress.advance(len(documents) - len(rows))
        for chunk in _chunks(rows, ROWS_PER_STEP):
            async with self.step() as writer:
                elsewhere = await self.study_of(chunk)
                taken: list[tuple[RunRow, int | None]] = []
                for row in chunk:
                    try:
                        taken.append((row, self._study(row, elsewhere)))
                    except Refused as exc:
                        self.refused_runs.add(row.name)
                        self.refuse("Run", row.location, row.name, str(exc))
                created = await self._insert_runs(taken)
                await self._insert_artifacts(writer, [row for row, _ in taken])
                for row, study_id in taken:
                    run_id = self.run_ids[row.name]
                    if run_id in created:
                        counts.created += 1
                        writer.record(
                            _event("Run", run_id, "created", _run_snapshot(row, run_id, study_id))
                        )
                    else:
                        counts.present += 1
            self.progress.advance(len(chunk))
        self.progress.end()

    def _study(self, row: RunRow, elsewhere: dict[str, int]) -> int | None:
        if row.spec_hash is None:
            return None
        if row.spec_hash in self.study_ids:
            return self.study_ids[row.spec_hash]
        if row.spec_hash in self.refused_studies:
            raise Refused(f"its study (spec_hash {row.spec_hash}) was refused (see that refusal)")
        if row.spec_hash in elsewhere:
            return elsewhere[row.spec_hash]
        raise Refused(
            f"its spec_hash {row.spec_hash} names no study of the export nor of scimeta; "
            "export the studies collection with it"
        )

    async def _insert_runs(self, taken: Sequence[tuple[RunRow, int | None]]) -> set[int]:
        if not taken:
            return set()
        driver = await self.driver()
        rows = [row for row, _ in taken]
        inserted = await driver.fetch(
            _INSERT_RUNS,
            [r.name for r in rows],
            [study_id for _, study_id in taken],
            [r.status.value for r in rows],
            [None if r.phase is None else r.phase.value for r in rows],
            [r.claimed_by for r in rows],
            [r.lease_token for r in rows],
            [r.lease_expires_at for r in rows],
            [r.attempt for r in rows],
            [r.started_at for r in rows],
            [r.ended_at for r in rows],
            [None if r.error is None else json.dumps(r.error) for r in rows],
            [json.dumps(r.attributes) for r in rows],
            [r.created_at for r in rows],
        )
        created = set()
        for row, (run_id, was_inserted) in zip(rows, inserted, strict=True):
            self.run_ids[row.name] = run_id
            if was_inserted:
                created.add(run_id)
        return created

    async def _insert_artifacts(self, writer: Writer, rows: Sequence[RunRow]) -> None:
        counts = self.report.of("RunArtifact")
        wanted = [
            (self.run_ids[row.name], role, path)
            for row in rows
            for role, path in row.artifacts.items()
        ]
        counts.read += len(wanted)
        if not wanted:
            return
        driver = await self.driver()
        added = await driver.fetch(
            _INSERT_ARTIFACTS,
            [run_id for run_id, _, _ in wanted],
            [role for _, role, _ in wanted],
            [path for _, _, path in wanted],
            [path.rstrip("/").rsplit("/", 1)[-1] or path for _, _, path in wanted],
        )
        counts.created += len(added)
        counts.present += len(wanted) - len(added)
        roles: dict[int, Counter[str]] = {}
        for run_id, role in added:
            roles.setdefault(run_id, Counter())[role] += 1
        for run_id, counted in roles.items():
            writer.record(
                _event(
                    "Run",
                    run_id,
                    "artifacts_added",
                    {"count": sum(counted.values()), "roles": dict(counted)},
                )
            )

    # -- summaries: a run's metrics

    async def summaries(self) -> None:
        counts = self.report.of("Summary")
        self.progress.begin("Summary", self.total("summaries"))
        rows = self.rows("summaries", "Summary", summary_row, "run_id")
        self.progress.advance(self.total("summaries") - len(rows))
        seen: dict[str, str] = {}
        for chunk in _chunks(rows, ROWS_PER_STEP):
            async with self.step() as writer:
                await self.known_runs([row.run for row in chunk])
                taken: list[tuple[SummaryRow, int]] = []
                for row in chunk:
                    try:
                        run_id = self.run_of(row.run)
                        if row.run in seen:
                            raise Refused(
                                f"{seen[row.run]} is a summary of the same run; a run has one"
                            )
                        seen[row.run] = row.location
                        taken.append((row, run_id))
                    except Refused as exc:
                        self.refuse("Summary", row.location, row.run, str(exc))
                added = await self._insert_metrics(writer, taken)
                for _, run_id in taken:
                    new = added.get(run_id, {})
                    if new:
                        counts.created += 1
                        writer.record(_event("Run", run_id, "metrics_recorded", {"metrics": new}))
                    else:
                        counts.present += 1
            self.progress.advance(len(chunk))
        self.progress.end()

    async def _insert_metrics(
        self, writer: Writer, taken: Sequence[tuple[SummaryRow, int]]
    ) -> dict[int, dict[str, Any]]:
        """Insert the metrics the runs do not have yet; run id -> {key: value} of those
        inserted."""
        metrics = [(run_id, row, metric) for row, run_id in taken for metric in row.metrics]
        if not metrics:
            return {}
        units = {metric.key: metric.unit for _, _, metric in metrics}
        keys = await metric_keys(writer, list(units), units)
        driver = await self.driver()
        inserted = await driver.fetch(
            _INSERT_METRICS,
            [run_id for run_id, _, _ in metrics],
            [keys[metric.key] for _, _, metric in metrics],
            [metric.value for _, _, metric in metrics],
            [metric.text for _, _, metric in metrics],
            [metric.unit for _, _, metric in metrics],
            [row.extracted_at for _, row, _ in metrics],
        )
        names = {key_id: name for name, key_id in keys.items()}
        added: dict[int, dict[str, Any]] = {}
        for run_id, key_id, value, text_value in inserted:
            added.setdefault(run_id, {})[names[key_id]] = value if value is not None else text_value
        return added

    # -- agent outputs

    async def agent_outputs(self) -> None:
        counts = self.report.of("AgentOutput")
        self.progress.begin("AgentOutput", self.total("agent_outputs"))
        rows = self.rows("agent_outputs", "AgentOutput", output_row, "_id")
        self.progress.advance(self.total("agent_outputs") - len(rows))
        seen: dict[tuple[str, str, str, datetime], str] = {}
        for chunk in _chunks(rows, ROWS_PER_STEP):
            async with self.step() as writer:
                await self.known_runs([row.run for row in chunk])
                taken: list[tuple[OutputRow, int]] = []
                for row in chunk:
                    key = (row.run, row.agent, row.kind, row.created_at)
                    try:
                        run_id = self.run_of(row.run)
                        if key in seen:
                            raise Refused(
                                f"{seen[key]} has the same run, agent, kind and ts; scimeta "
                                "tells an agent's outputs apart by these four"
                            )
                        seen[key] = row.location
                        taken.append((row, run_id))
                    except Refused as exc:
                        self.refuse("AgentOutput", row.location, row.source_id, str(exc))
                if taken:
                    driver = await self.driver()
                    inserted = await driver.fetch(
                        _INSERT_OUTPUTS,
                        [run_id for _, run_id in taken],
                        [row.agent for row, _ in taken],
                        [row.kind for row, _ in taken],
                        [json.dumps(row.data) for row, _ in taken],
                        [row.schema_version for row, _ in taken],
                        [row.created_at for row, _ in taken],
                    )
                    for (row, run_id), (output_id, created) in zip(taken, inserted, strict=True):
                        if not created:
                            counts.present += 1
                            continue
                        counts.created += 1
                        snapshot = {
                            "id": output_id,
                            "run_id": run_id,
                            "agent": row.agent,
                            "kind": row.kind,
                            "schema_version": row.schema_version,
                        }
                        writer.record(
                            _event("AgentOutput", output_id, "created", _present(snapshot))
                        )
            self.progress.advance(len(chunk))
        self.progress.end()

    # -- the event log

    async def events(self) -> None:
        counts = self.report.of("Event")
        self.progress.begin("Event", self.total("events"))
        rows = self.rows("events", "Event", event_row, "_id")
        self.progress.advance(self.total("events") - len(rows))
        seen: dict[str, str] = {}
        for chunk in _chunks(rows, EVENTS_PER_STEP):
            async with self.step():
                await self.known_runs([row.run for row in chunk if row.run is not None])
                taken: list[tuple[EventRow, int | None]] = []
                for row in chunk:
                    try:
                        if row.source_id in seen:
                            raise Refused(f"{seen[row.source_id]} has the same _id")
                        seen[row.source_id] = row.location
                        taken.append((row, None if row.run is None else self.run_of(row.run)))
                    except Refused as exc:
                        self.refuse("Event", row.location, row.source_id, str(exc))
                if taken:
                    driver = await self.driver()
                    inserted = await driver.fetchval(
                        _INSERT_EVENTS,
                        EVENT_LOG_LOCK,
                        EVENTS_CHANNEL,
                        [row.source_id for row, _ in taken],
                        [row.at for row, _ in taken],
                        ["Run" if run_id is not None else None for _, run_id in taken],
                        [run_id for _, run_id in taken],
                        [None if row.level is None else row.level.value for row, _ in taken],
                        [row.type for row, _ in taken],
                        [row.actor for row, _ in taken],
                        [
                            json.dumps(
                                row.payload | {"imported_from": NAME, "source_id": row.source_id}
                            )
                            for row, _ in taken
                        ],
                    )
                    counts.created += inserted
                    counts.present += len(taken) - inserted
            self.progress.advance(len(chunk))
        self.progress.end()


def _values(documents: Sequence[Document], key: str) -> set[str]:
    """The texts the documents give as `key`."""
    return {
        value[key]
        for document in documents
        if (value := document.value) is not None and isinstance(value.get(key), str)
    }


def _given_twice(documents: Sequence[Document], key: str) -> set[str]:
    """The texts more than one of the documents give as `key`."""
    named = Counter(
        value[key]
        for document in documents
        if (value := document.value) is not None and isinstance(value.get(key), str)
    )
    return {name for name, count in named.items() if count > 1}


def _study_names(rows: Sequence[StudyRow], taken: set[str]) -> dict[str, tuple[str, str | None]]:
    """digest -> (name, title) of each new study: its spec's name while that is free,
    else spec-<first 12 digits of its hash> (as upsertStudyBySpec names a study without a
    name) with the spec's name as its title."""
    names: dict[str, tuple[str, str | None]] = {}
    for row in rows:
        if row.spec_name is not None and row.spec_name not in taken:
            names[row.digest] = (row.spec_name, None)
            taken.add(row.spec_name)
        else:
            names[row.digest] = (f"spec-{row.digest[:12]}", row.spec_name)
    return names


def _chunks(rows: Sequence[RowT], size: int) -> Iterator[Sequence[RowT]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _run_snapshot(row: RunRow, run_id: int, study_id: int | None) -> dict[str, Any]:
    return _present(
        {
            "id": run_id,
            "name": row.name,
            "study_id": study_id,
            "status": row.status.value,
            "phase": None if row.phase is None else row.phase.value,
            "claimed_by": row.claimed_by,
            "lease_expires_at": _iso(row.lease_expires_at),
            "attempt": row.attempt,
            "started_at": _iso(row.started_at),
            "ended_at": _iso(row.ended_at),
        }
    )


def _event(subject_type: str, subject_id: int, type_: str, payload: dict[str, Any]) -> models.Event:
    return models.Event(
        subject_type=subject_type, subject_id=subject_id, type=type_, actor=ACTOR, payload=payload
    )


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# Each statement inserts the rows whose natural key is free and answers, in input order,
# (the row's id, whether it inserted it).
_INSERT_STUDIES = """
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

_INSERT_RUNS = """
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
_INSERT_ARTIFACTS = """
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

_INSERT_METRICS = """
INSERT INTO metrics (run_id, key_id, value, text, unit, created_at, updated_at)
SELECT run_id, key_id, value, text, unit, coalesce(at, now()), coalesce(at, now())
FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::text[], $5::text[],
    $6::timestamptz[]) WITH ORDINALITY AS s(run_id, key_id, value, text, unit, at, n)
ORDER BY n
ON CONFLICT (run_id, key_id) WHERE run_id IS NOT NULL DO NOTHING
RETURNING run_id, key_id, value, text
"""

_INSERT_OUTPUTS = """
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
_INSERT_EVENTS = """
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

SOURCE = Source(
    name=NAME,
    location="DIR|FILE",
    summary="the AONP run service's MongoDB collections, as mongoexport files",
    run=import_aonp_mongo,
)
