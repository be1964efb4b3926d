"""`scimeta import scimeta-export DIR`: an export read back into a database.

Rows keep their ids (and events their sequence numbers), so the global ids an export
names, and every link and bookmark made of them, stay valid: the id map from the export to
the database is the identity. This is what makes a second import of one export find
everything present, and what lets an export move a server's data to a new database with
nothing lost. Idempotency keys are not exported, so a retried call after a move is a new
call; API tokens are not exported either (see `scimeta.transfer.tables`).

How: one transaction for the whole import (rolled back in a dry run). Each file is read
in batches; a batch is copied (COPY) into a temporary table as JSON text, and one
statement turns it into rows (`jsonb_populate_record`, global ids checked and decoded
by `pg_temp.scimeta_row_id`), inserts those whose id is free and compares those whose id
is taken. A batch the database refuses (a broken line, a constraint) is split in halves
until the refused rows are found; each is reported with the database's reason, and the
rest go in.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scimeta.server import migrate
from scimeta.transfer.export import EXPORT_FORMAT, Manifest
from scimeta.transfer.formats import TransferError, read_lines
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal, Source
from scimeta.transfer.tables import SUBJECT_ID, SUBJECT_TYPE, EntityTable, entity_tables
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL

BATCH_ROWS = 20_000
STAGE = "scimeta_import_stage"
# characters that JSON never holds unescaped (a tab is JSON whitespace); COPY would
# misread them
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")

# raised where a global id does not decode to the expected type and a row number
_REFUSE_ID = r"""
CREATE OR REPLACE FUNCTION pg_temp.scimeta_refuse_id(gid text, expected text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the id "%" is not the global id of a % (base64 of "%:<number>")',
        gid, expected, expected USING ERRCODE = '22023';
END $$
"""


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class TablePlan:
    """How one file's rows become one table's: the columns written, and the statement
    that inserts a range of staged lines and compares those already present."""

    entity: EntityTable
    columns: list[str]
    statement: str


def plan(entity: EntityTable, file_columns: Sequence[str]) -> TablePlan:
    table = entity.table
    stored = set(entity.columns)
    key = entity.key
    # the export's `id` is the key's global id; an event's `sequence` is the same number
    columns = [key] + [c for c in file_columns if c in stored and c not in {key, "id"}]
    # global ids: column -> (the field holding it, the type it must name)
    ids = {key: ("id", _literal(entity.type_name))}
    for column, type_name in entity.references.items():
        ids[column] = (column, _literal(type_name))
    if entity.polymorphic:
        ids[SUBJECT_ID] = (SUBJECT_ID, f"(j.d->>{_literal(SUBJECT_TYPE)})")
    decoded = {}
    texts = []
    for position, (column, (field, expected)) in enumerate(ids.items()):
        texts.append(
            f"convert_from(decode(j.d->>{_literal(field)}, 'base64'), 'UTF8') AS g{position}"
        )
        value = f"g.g{position}"
        number = f"substr({value}, length({expected}) + 2)::bigint"
        decoded[column] = (
            f"CASE WHEN {value} IS NULL THEN NULL"
            f" WHEN left({value}, length({expected}) + 1) = {expected} || ':' AND {number} > 0"
            f" THEN {number}"
            f" ELSE pg_temp.scimeta_refuse_id(j.d->>{_literal(field)}, {expected}) END"
        )
    for column in entity.nullable_json:
        # a missing key is NULL, a JSON null is a JSON null
        decoded[column] = f"CASE WHEN j.d ? {_literal(column)} THEN j.d->{_literal(column)} END"
    removed = ",".join(sorted({"id", *decoded}))
    selected = ", ".join(
        f"{decoded[c]} AS {_q(c)}" if c in decoded else f"r.{_q(c)}" for c in columns
    )
    names = ", ".join(_q(c) for c in columns)
    differs = ", ".join(
        f"CASE WHEN src.{_q(c)} IS DISTINCT FROM t.{_q(c)} THEN {_literal(c)} END" for c in columns
    )
    statement = f"""
WITH src AS MATERIALIZED (
    SELECT s.line, {selected}
    FROM {STAGE} s
    -- OFFSET 0: each line is parsed, and each id decoded, once
    CROSS JOIN LATERAL (SELECT s.doc::jsonb AS d OFFSET 0) j
    CROSS JOIN LATERAL (SELECT {", ".join(texts)} OFFSET 0) g
    CROSS JOIN LATERAL
        jsonb_populate_record(NULL::{_q(table.name)}, j.d - '{{{removed}}}'::text[]) r
    WHERE s.line BETWEEN $1 AND $2
),
present AS (
    SELECT src.line, array_remove(ARRAY[{differs}]::text[], NULL) AS differs
    FROM src JOIN {_q(table.name)} t ON t.{_q(key)} = src.{_q(key)}
),
inserted AS (
    INSERT INTO {_q(table.name)} ({names}) OVERRIDING SYSTEM VALUE
    SELECT {names} FROM src
    WHERE NOT EXISTS (SELECT FROM {_q(table.name)} t WHERE t.{_q(key)} = src.{_q(key)})
    ORDER BY src.line
    RETURNING 1
)
SELECT
    (SELECT count(*) FROM inserted),
    (SELECT count(*) FROM present WHERE cardinality(differs) = 0),
    (SELECT coalesce(json_agg(json_build_array(line, differs)), '[]')::text
       FROM present WHERE cardinality(differs) > 0)
"""
    return TablePlan(entity, columns, statement)


async def import_scimeta_export(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the export in directory `location` (see the module's docstring)."""
    if options.project is not None or options.study is not None:
        raise TransferError(
            "an export is imported whole, into the projects and studies it names; to move "
            "some of them, export with --where project=NAME or study=NAME"
        )
    directory = Path(location)
    manifest = Manifest.read(directory)
    head = migrate.head_revision()
    if manifest.schema_revision != head:
        raise TransferError(
            f"{directory} was exported at schema revision {manifest.schema_revision}; this "
            f"scimeta is at {head}: import it with the scimeta version that exported it "
            f"({manifest.scimeta_version}) and export it again"
        )
    by_type = {entity.type_name: entity for entity in entity_tables()}
    for listed in manifest.entities:
        if listed.type_name not in by_type:
            report.of(listed.type_name).read += listed.rows
            for line in range(1, listed.rows + 1):
                report.refuse(
                    Refusal(
                        listed.type_name,
                        f"{listed.file} line {line}",
                        None,
                        f"this scimeta has no {listed.type_name} rows",
                    )
                )
    listed_by_type = {listed.type_name: listed for listed in manifest.entities}
    async with engine.connect() as connection, connection.begin() as transaction:
        await connection.execute(
            text(f"CREATE TEMP TABLE {STAGE} (line bigint PRIMARY KEY, doc text) ON COMMIT DROP")
        )
        await connection.execute(text(_REFUSE_ID))
        for entity in entity_tables():
            if entity.type_name not in listed_by_type:
                continue
            listed = listed_by_type[entity.type_name]
            unknown = [
                c
                for c in listed.columns
                if c not in entity.columns and c != "id" and c not in entity.computed
            ]
            if unknown:
                raise TransferError(
                    f"{listed.file} has columns this scimeta does not know: {', '.join(unknown)}"
                )
            path = directory / listed.file
            if not path.is_file():
                raise TransferError(f"{path}: the manifest lists it, but it is not there")
            importer = _TableImport(connection, plan(entity, listed.columns), report, options)
            progress.begin(entity.type_name, listed.rows)
            if entity.polymorphic:
                # as every writer of events does: one writer of the log at a time
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOG_LOCK}
                )
            line = 0
            for batch in read_lines(manifest.file_format, entity, path, BATCH_ROWS):
                await importer.batch(listed.file, line, batch)
                line += len(batch)
                progress.advance(len(batch))
            progress.end()
            if entity.polymorphic and not options.dry_run:
                await connection.execute(
                    text("SELECT pg_notify(:channel, (SELECT max(sequence) FROM events)::text)"),
                    {"channel": EVENTS_CHANNEL},
                )
        if options.dry_run:
            await transaction.rollback()
    return report


class _TableImport:
    def __init__(
        self,
        connection: AsyncConnection,
        table_plan: TablePlan,
        report: ImportReport,
        options: ImportOptions,
    ) -> None:
        self.connection = connection
        self.plan = table_plan
        self.entity = table_plan.entity
        self.report = report
        self.counts = report.of(table_plan.entity.type_name)
        self.options = options
        self.file = ""
        self.lines: dict[int, str] = {}

    async def batch(self, file: str, first_line: int, lines: list[str]) -> None:
        """Stage lines `first_line + 1`... and insert them."""
        self.file = file
        self.lines = {}
        records = []
        for offset, raw in enumerate(lines):
            number = first_line + offset + 1
            line = raw.rstrip("\r")
            if not line.strip():
                continue
            self.counts.read += 1
            self.lines[number] = line
            if _CONTROL.search(line):
                self._refuse(number, "not a JSON object: it holds an unescaped control character")
                continue
            try:
                records.append(b"%d\x02%s\n" % (number, line.encode()))
            except UnicodeEncodeError:
                self._refuse(number, "not UTF-8")
        if not records:
            return
        driver = await self._driver()
        await driver.execute(f"TRUNCATE {STAGE}")
        await driver.copy_to_table(
            STAGE,
            source=io.BytesIO(b"".join(records)),
            columns=["line", "doc"],
            format="csv",
            delimiter="\x02",
            quote="\x01",
        )
        await self._insert(first_line + 1, first_line + len(lines))
        if not self.options.dry_run:
            await self._advance_sequence()

    async def _driver(self) -> Any:
        raw = await self.connection.get_raw_connection()
        return raw.driver_connection

    async def _insert(self, first: int, last: int) -> None:
        """Insert the staged lines `first` to `last`; if the database refuses, find the
        lines it refuses by halves."""
        driver = await self._driver()
        try:
            async with driver.transaction():  # a savepoint inside the import's transaction
                created, present, differing = await driver.fetchrow(
                    self.plan.statement, first, last
                )
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            if first == last:
                self._refuse(first, _reason(exc))
                return
            middle = (first + last) // 2
            await self._insert(first, middle)
            await self._insert(middle + 1, last)
            return
        self.counts.created += created
        self.counts.present += present
        for line, columns in json.loads(differing):
            self._refuse(
                line,
                f"its id is taken by a {self.entity.type_name} with other values "
                f"({', '.join(columns)})",
            )

    async def _advance_sequence(self) -> None:
        """Move the key's sequence past the ids written, so that rows created afterwards
        get new ones (at once: sequences are not transactional)."""
        table, key = _literal(self.entity.table.name), _literal(self.entity.key)
        await self.connection.execute(
            text(
                f"SELECT setval(seq, m) FROM (SELECT pg_get_serial_sequence({table}, {key}) AS seq,"
                f" (SELECT max({_q(self.entity.key)}) FROM {_q(self.entity.table.name)}) AS m) x"
                " WHERE m IS NOT NULL AND m > coalesce(pg_sequence_last_value(seq::regclass), 0)"
            )
        )

    def _refuse(self, line: int, reason: str) -> None:
        self.report.refuse(
            Refusal(self.entity.type_name, f"{self.file} line {line}", self._id(line), reason)
        )

    def _id(self, line: int) -> str | None:
        try:
            document = json.loads(self.lines.get(line, ""))
        except ValueError:
            return None
        found = document.get("id") if isinstance(document, dict) else None
        return found if isinstance(found, str) else None


def _is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.PostgresError | DBAPIError)


def _reason(exc: BaseException) -> str:
    message = str(getattr(exc, "message", None) or exc).strip()
    detail = getattr(exc, "detail", None)
    return f"{message} ({detail})" if detail else message


SOURCE = Source(
    name=EXPORT_FORMAT,
    location="DIR",
    summary="a directory written by scimeta export",
    run=import_scimeta_export,
)
