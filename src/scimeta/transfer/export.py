"""`scimeta export`: every entity a caller may see, one file per entity, and a manifest.

The rows are read in one REPEATABLE READ, read-only transaction, so the files agree with
each other as a `pg_dump` would, even while the server takes writes; each table is read
in keyset pages of its key, so memory stays the same for any number of rows. PostgreSQL
writes each row as JSON (`to_jsonb`), with its id and references replaced by global ids:
Python only moves the lines to the file. The manifest is written last, so a directory
with one is a complete export.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from scimeta import __version__, models
from scimeta.auth.identity import LOCAL, Identity, identify
from scimeta.auth.policy import Access, visible_rows
from scimeta.planner.sqljson import global_id, global_id_of
from scimeta.server import migrate
from scimeta.transfer.formats import FileFormat, TransferError, open_writer, require_pyarrow
from scimeta.transfer.progress import Progress, QuietProgress
from scimeta.transfer.tables import SUBJECT_ID, SUBJECT_TYPE, EntityTable, entity_tables

MANIFEST = "manifest.json"
EXPORT_FORMAT = "scimeta-export"
EXPORT_FORMAT_VERSION = 1
PAGE_ROWS = 10_000

Visibility = dict[str, ColumnElement[bool]]


@dataclass(frozen=True)
class Where:
    """Restrictions of an export to some projects and studies, by name (`--where
    project=NAME`, `--where study=NAME`): what a caller with grants on just those would
    see. None given: everything the caller may see."""

    projects: tuple[str, ...] = ()
    studies: tuple[str, ...] = ()

    @classmethod
    def parse(cls, terms: Sequence[str]) -> Where:
        projects: list[str] = []
        studies: list[str] = []
        for term in terms:
            kind, equals, name = term.partition("=")
            if not equals or not name or kind.strip() not in {"project", "study"}:
                raise TransferError(
                    f"--where {term!r}: give project=NAME or study=NAME (repeatable)"
                )
            (projects if kind.strip() == "project" else studies).append(name)
        return cls(tuple(projects), tuple(studies))

    def __bool__(self) -> bool:
        return bool(self.projects or self.studies)

    def describe(self) -> list[str]:
        return [f"project={n}" for n in self.projects] + [f"study={n}" for n in self.studies]


@dataclass
class EntityExport:
    type_name: str
    file: str
    rows: int
    columns: list[str]


@dataclass
class Manifest:
    """What an export holds, written to `manifest.json` beside its files."""

    export_id: str
    file_format: FileFormat
    schema_revision: str | None
    scimeta_version: str
    exported_at: str
    exported_by: str
    where: list[str]
    entities: list[EntityExport] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "export_id": self.export_id,
            "file_format": self.file_format.value,
            "schema_revision": self.schema_revision,
            "scimeta_version": self.scimeta_version,
            "exported_at": self.exported_at,
            "exported_by": self.exported_by,
            "where": self.where,
            "entities": [
                {"type": e.type_name, "file": e.file, "rows": e.rows, "columns": e.columns}
                for e in self.entities
            ],
        }

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TransferError(
                f"{directory} is not a complete scimeta export: it has no {MANIFEST}"
            ) from None
        except (OSError, ValueError) as exc:
            raise TransferError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
            raise TransferError(f"{path} is not the manifest of a scimeta export")
        if data.get("format_version") != EXPORT_FORMAT_VERSION:
            raise TransferError(
                f"{path} is an export of format version {data.get('format_version')}; this "
                f"scimeta reads version {EXPORT_FORMAT_VERSION}"
            )
        try:
            return cls(
                export_id=str(data["export_id"]),
                file_format=FileFormat(data["file_format"]),
                schema_revision=data["schema_revision"],
                scimeta_version=str(data["scimeta_version"]),
                exported_at=str(data["exported_at"]),
                exported_by=str(data["exported_by"]),
                where=list(data["where"]),
                entities=[
                    EntityExport(str(e["type"]), str(e["file"]), int(e["rows"]), list(e["columns"]))
                    for e in data["entities"]
                ],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TransferError(f"{path} is incomplete or damaged ({exc!r})") from None


async def identity_of_token(engine: AsyncEngine, secret: str) -> Identity:
    """The caller a token names (refused as the API refuses it: unknown, revoked, ...)."""
    async with AsyncSession(engine) as session:
        return await identify(session, f"Bearer {secret}")


async def export(
    engine: AsyncEngine,
    directory: Path,
    *,
    file_format: FileFormat = FileFormat.JSONL,
    identity: Identity = LOCAL,
    where: Where | None = None,
    progress: Progress | None = None,
    page_rows: int = PAGE_ROWS,
) -> Manifest:
    """Write what `identity` may see (restricted by `where`) to `directory`, which must
    be new or empty, and return the manifest written there."""
    progress = progress or QuietProgress()
    if file_format is FileFormat.PARQUET:
        require_pyarrow()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise TransferError(f"{directory} exists and is not an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    async with engine.connect() as connection:
        connection = await connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with connection.begin():
            revision = await connection.run_sync(migrate.current_revision)
            if revision != migrate.head_revision():
                raise TransferError(
                    f"the database is at schema revision {revision}, not this scimeta's "
                    f"{migrate.head_revision()}: run scimeta db upgrade first"
                )
            exported_at = (await connection.execute(select(func.now()))).scalar_one()
            visibility = await _visibility(connection, identity.access, where or Where())
            manifest = Manifest(
                export_id=str(uuid.uuid4()),
                file_format=file_format,
                schema_revision=revision,
                scimeta_version=__version__,
                exported_at=exported_at.isoformat(),
                exported_by=identity.name,
                where=(where or Where()).describe(),
            )
            for entity in entity_tables():
                condition = visibility.get(entity.name, true())
                manifest.entities.append(
                    await _export_table(
                        connection, entity, condition, directory, file_format, progress, page_rows
                    )
                )
    (directory / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    return manifest


async def _visibility(connection: AsyncConnection, access: Access, where: Where) -> Visibility:
    """Per table, what the rows exported must meet: the caller's conditions and, with
    `where`, those of a caller with grants on the named projects and studies only."""
    caller = {model.__tablename__: c for model, c in access.visibility.items()}
    if not where:
        return caller
    projects = await _ids_by_name(connection, models.Project, where.projects, caller)
    studies = await _ids_by_name(connection, models.Study, where.studies, caller)
    restricted = {model.__tablename__: c for model, c in visible_rows(projects, studies).items()}
    return {
        table: and_(caller.get(table, true()), restricted.get(table, true()))
        for table in caller.keys() | restricted.keys()
    }


async def _ids_by_name(
    connection: AsyncConnection,
    model: type[models.Project] | type[models.Study],
    names: Sequence[str],
    caller: Visibility,
) -> list[int]:
    ids = []
    for name in names:
        condition = caller.get(model.__tablename__, true())
        found = await connection.scalar(select(model.id).where(model.name == name, condition))
        if found is None:
            kind = model.__name__.lower()
            raise TransferError(f"--where {kind}={name}: no {kind} you may see has that name")
        ids.append(found)
    return ids


def row_json(entity: EntityTable) -> ColumnElement[Any]:
    """The row as JSON text, with its key and references as global ids."""
    table = entity.table
    document: ColumnElement[Any] = func.to_jsonb(literal_column(table.name))
    if entity.computed:
        document = document.op("-")(array(sorted(entity.computed), type_=Text))
    if entity.nullable_json:
        # a NULL JSON column has no key; a JSON null is a null
        absent: list[ColumnElement[Any]] = [
            case((table.c[c].is_(None), c), else_=None) for c in entity.nullable_json
        ]
        absent_keys: ColumnElement[Any] = array(absent, type_=Text)
        document = document.op("-")(func.array_remove(absent_keys, None))
    pairs: list[Any] = ["id", global_id(entity.type_name, table.c[entity.key])]
    for float_column in table.columns:
        if isinstance(float_column.type, Float) and float_column.name not in entity.computed:
            # JSON numbers have no negative zero: it goes as the string "-0" (as NaN and
            # the infinities go as "NaN", "Infinity"), which PostgreSQL reads back
            negative_zero = and_(float_column == 0, cast(float_column, Text) == "-0")
            pairs += [
                float_column.name,
                case(
                    (negative_zero, func.to_jsonb(cast(float_column, Text))),
                    else_=func.to_jsonb(float_column),
                ),
            ]
    for column, type_name in entity.references.items():
        pairs += [column, global_id(type_name, table.c[column])]
    if entity.polymorphic:
        pairs += [SUBJECT_ID, global_id_of(table.c[SUBJECT_TYPE], table.c[SUBJECT_ID])]
    return cast(document.op("||")(func.jsonb_build_object(*pairs)), Text)


def _page(entity: EntityTable, condition: ColumnElement[bool], page_rows: int) -> Select[Any]:
    key = entity.table.c[entity.key]
    return (
        select(key, row_json(entity))
        .where(condition, key > bindparam("after"))
        .order_by(key)
        .limit(page_rows)
    )


async def _export_table(
    connection: AsyncConnection,
    entity: EntityTable,
    condition: ColumnElement[bool],
    directory: Path,
    file_format: FileFormat,
    progress: Progress,
    page_rows: int,
) -> EntityExport:
    total = await connection.scalar(select(func.count()).select_from(entity.table).where(condition))
    file = f"{entity.type_name}.{file_format.value}"
    columns = entity.fields
    progress.begin(entity.type_name, total)
    rows = 0
    statement = _page(entity, condition, page_rows)
    with open_writer(file_format, entity, directory / file) as writer:
        after = 0
        while True:
            page = (await connection.execute(statement, {"after": after})).all()
            if not page:
                break
            writer.write([line for _, line in page])
            after = page[-1][0]
            rows += len(page)
            progress.advance(len(page))
            if len(page) < page_rows:
                break
    progress.end()
    return EntityExport(entity.type_name, file, rows, columns)
