"""The files of an export: JSON lines (the default) or Parquet (`scimeta[parquet]`).

Both carry one row per entity with the same fields. A JSON line is the row as PostgreSQL
wrote it; Parquet gives the columns their types (timestamps in UTC, JSON columns as JSON
text), for reading with pandas, DuckDB or Spark. Either is read back as JSON lines.
"""

from __future__ import annotations

import enum
import importlib
import json
import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from sqlalchemy import Boolean, DateTime, Float, Integer
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from scimeta.transfer.tables import EntityTable

_FLOAT_TEXT = {"-0.0": "-0", "nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class FileFormat(enum.StrEnum):
    JSONL = "jsonl"
    PARQUET = "parquet"


class TransferError(Exception):
    """A transfer that cannot go on; the message says why and what to do."""


def require_pyarrow() -> Any:
    try:
        pyarrow = importlib.import_module("pyarrow")
        importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise TransferError(
            "Parquet needs pyarrow: pip install 'scimeta[parquet]' (or use --format jsonl)"
        ) from None
    return pyarrow


class RowWriter:
    """Writes one entity's rows, given as JSON lines, to its file."""

    def __init__(self, entity: EntityTable, path: Path) -> None:
        self.entity = entity
        self.path = path

    def write(self, lines: Sequence[str]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class JsonlWriter(RowWriter):
    def __init__(self, entity: EntityTable, path: Path) -> None:
        super().__init__(entity, path)
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, lines: Sequence[str]) -> None:
        if lines:
            self.handle.write("\n".join(lines))
            self.handle.write("\n")

    def close(self) -> None:
        self.handle.close()


class ParquetWriter(RowWriter):
    def __init__(self, entity: EntityTable, path: Path) -> None:
        super().__init__(entity, path)
        pa = require_pyarrow()
        self.pa = pa
        ids = set(entity.id_columns)
        fields, self.kinds = [], []
        for name in entity.fields:
            arrow_type, kind = _arrow_type(pa, entity, name, ids)
            fields.append(pa.field(name, arrow_type))
            self.kinds.append(kind)
        self.schema = pa.schema(fields)
        self.writer = pa.parquet.ParquetWriter(str(path), self.schema)

    def write(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        rows = [json.loads(line) for line in lines]
        arrays = []
        for field, kind in zip(self.schema, self.kinds, strict=True):
            name = field.name
            values: list[Any]
            if kind == "json":
                # a missing key is NULL, a JSON null is "null"
                values = [json.dumps(row[name]) if name in row else None for row in rows]
            else:
                values = [row.get(name) for row in rows]
            if kind == "timestamp":
                values = [None if v is None else datetime.fromisoformat(v) for v in values]
            elif kind == "float":
                # "-0", "NaN", "Infinity" and numbers too long for a float's JSON form
                values = [None if v is None else float(v) for v in values]
            arrays.append(self.pa.array(values, type=field.type))
        self.writer.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def _arrow_type(pa: Any, entity: EntityTable, name: str, ids: set[str]) -> tuple[Any, str]:
    """The Parquet type of a column, and how its JSON value is converted to it."""
    if name in ids:
        return pa.string(), "plain"
    column_type = entity.table.c[name].type
    if isinstance(column_type, JSONB):
        return pa.string(), "json"
    if isinstance(column_type, ARRAY):
        item = pa.int64() if isinstance(column_type.item_type, Integer) else pa.string()
        return pa.list_(item), "plain"
    if isinstance(column_type, DateTime):
        return pa.timestamp("us", tz="UTC"), "timestamp"
    if isinstance(column_type, Boolean):
        return pa.bool_(), "plain"
    if isinstance(column_type, Float):
        return pa.float64(), "float"
    if isinstance(column_type, Integer):
        return pa.int64(), "plain"
    return pa.string(), "plain"


def open_writer(file_format: FileFormat, entity: EntityTable, path: Path) -> RowWriter:
    if file_format is FileFormat.PARQUET:
        return ParquetWriter(entity, path)
    return JsonlWriter(entity, path)


def read_lines(
    file_format: FileFormat, entity: EntityTable, path: Path, batch_rows: int
) -> Iterator[list[str]]:
    """An entity's rows as JSON lines, `batch_rows` at a time; empty lines are skipped,
    but still counted in the line numbers refusals name."""
    if file_format is FileFormat.PARQUET:
        yield from _parquet_lines(entity, path, batch_rows)
        return
    batch: list[str] = []
    with path.open(encoding="utf-8", newline="\n", errors="surrogateescape") as handle:
        for line in handle:
            batch.append(line.rstrip("\n"))
            if len(batch) >= batch_rows:
                yield batch
                batch = []
    if batch:
        yield batch


def _parquet_lines(entity: EntityTable, path: Path, batch_rows: int) -> Iterator[list[str]]:
    pa = require_pyarrow()
    json_columns = {
        name
        for name in entity.columns
        if isinstance(entity.table.c[name].type, JSONB) and name not in entity.id_columns
    }
    parquet = pa.parquet.ParquetFile(str(path))
    for batch in parquet.iter_batches(batch_size=batch_rows):
        lines = []
        for row in batch.to_pylist():
            for name, value in row.items():
                if isinstance(value, datetime):
                    row[name] = value.isoformat()
                elif isinstance(value, float) and not (math.isfinite(value) and value):
                    # what JSON numbers cannot say, PostgreSQL reads from text
                    row[name] = _FLOAT_TEXT.get(str(value), value)
            for name in json_columns:
                value = row.pop(name, None)
                if value is not None:
                    row[name] = json.loads(value)
            lines.append(json.dumps(row, ensure_ascii=False))
        yield lines
