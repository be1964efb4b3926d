"""Files of a bulk write as one list per column: checked, completed and inserted in one
statement, whichever form the client sent them in.

Output files of a job, artifacts of a run and the files of chunk attempts all arrive as
lists of up to thousands of rows. `FileColumns` holds them as columns (`FileColumns.of`
turns a list of `FileSpec` into columns), `check_files` applies what `FileSpec.row`
applies to one file, naming a bad value as the client sent it, and `insert_files` writes
them with one INSERT ... SELECT FROM unnest(...).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.writes.columns import Names, nulls
from scimeta.writes.core import FileSpec
from scimeta.writes.transaction import Writer

# The file columns by their GraphQL names, in the order FileSpec has them.
FILE_FIELDS = {
    "path": "path",
    "name": "name",
    "mimetype": "mimetype",
    "sizeBytes": "size_bytes",
    "checksum": "checksum",
    "checksumAlgorithm": "checksum_algorithm",
    "modifiedAt": "modified_at",
    "annotation": "annotation",
    "contentFlag": "content_flag",
    "subType": "sub_type",
}
_TYPES: dict[str, Any] = {
    "path": Text,
    "name": Text,
    "mimetype": String,
    "size_bytes": BigInteger,
    "checksum": String,
    "checksum_algorithm": String,
    "modified_at": DateTime(timezone=True),
    "annotation": Text,
    "content_flag": Integer,
    "sub_type": Integer,
}


@dataclass
class FileColumns:
    """Files as one list per column, entry n of each being file n's. A null path marks a
    row without a file where a file is optional (a chunk attempt's)."""

    path: Sequence[str | None]
    name: Sequence[str | None]
    mimetype: Sequence[str | None]
    size_bytes: Sequence[int | None]
    checksum: Sequence[str | None]
    checksum_algorithm: Sequence[str | None]
    modified_at: Sequence[datetime | None]
    annotation: Sequence[str | None]
    content_flag: Sequence[int | None]
    sub_type: Sequence[int | None]

    def __len__(self) -> int:
        return len(self.path)

    @classmethod
    def of(cls, files: Sequence[FileSpec | None]) -> FileColumns:
        """The columns of a list of files; None (no file) is a row of nulls."""
        return cls(
            **{
                column: [None if file is None else getattr(file, column) for file in files]
                for column in FILE_FIELDS.values()
            }
        )

    @classmethod
    def given(cls, columns: dict[str, Sequence[Any] | None], rows: int) -> FileColumns:
        """Columns as a client sent them, by GraphQL name (None or missing: left out,
        `rows` nulls); their lengths are checked with the columns of their rows."""
        return cls(
            **{column: nulls(columns.get(name), rows) for name, column in FILE_FIELDS.items()}
        )


def check_files(
    files: FileColumns, names: Names, *, prefix: str = "file.", optional: bool = False
) -> list[int]:
    """The positions of the rows that have a file, once every file is one `FileSpec.row`
    would take: a path that is not empty, a size that is not negative. With `optional`, a
    null path is a row without a file, which must then have no other file value; without
    it, a null path is refused as an empty one. Completes each file's name (the last part
    of its path) and checksum algorithm (sha256 when a checksum is given) in place."""
    paths = files.path
    if None in paths or "" in paths:
        for position, path in enumerate(paths):
            if path == "" or (path is None and not optional):
                raise BadUserInput(
                    f"{names.value(position, prefix + 'path')} is empty; a file needs a path.",
                    field=names.value(position, prefix + "path"),
                )
            if path is None:
                for name, column in FILE_FIELDS.items():
                    if getattr(files, column)[position] is not None:
                        raise BadUserInput(
                            f"{names.value(position, prefix + name)} is given but "
                            f"{names.value(position, prefix + 'path')} is null: a row without "
                            "a file has null in every file column.",
                            field=names.value(position, prefix + name),
                        )
    sizes = [size for size in files.size_bytes if size is not None]
    if sizes and min(sizes) < 0:
        for position, size in enumerate(files.size_bytes):
            if size is not None and size < 0:
                raise BadUserInput(
                    f"{names.value(position, prefix + 'sizeBytes')} cannot be negative "
                    f"(got {size}).",
                    field=names.value(position, prefix + "sizeBytes"),
                )
    files.name = [
        name or (path and (posixpath.basename(path.rstrip("/")) or path))
        for path, name in zip(paths, files.name, strict=True)
    ]
    files.checksum_algorithm = [
        algorithm or ("sha256" if checksum else None)
        for checksum, algorithm in zip(files.checksum, files.checksum_algorithm, strict=True)
    ]
    if None in paths:
        return [position for position, path in enumerate(paths) if path is not None]
    return list(range(len(paths)))


async def insert_files(
    writer: Writer, files: FileColumns, rows: Sequence[int], project_id: int | None
) -> list[int]:
    """Insert the files at positions `rows` (checked by `check_files`) in one statement;
    their ids, in the order of `rows`."""
    if not rows:
        return []
    every = len(rows) == len(files)
    arrays = [
        literal(
            list(values) if every else [values[row] for row in rows],
            ARRAY(_TYPES[column]),
        )
        for column in FILE_FIELDS.values()
        for values in (getattr(files, column),)
    ]
    table = (
        func.unnest(*arrays)
        .table_valued(*FILE_FIELDS.values(), with_ordinality="n")
        .render_derived()
    )
    inserted = await writer.session.scalars(
        insert(models.File)
        .from_select(
            ["project_id", *FILE_FIELDS.values()],
            select(
                literal(project_id, BigInteger), *(table.c[c] for c in FILE_FIELDS.values())
            ).order_by(table.c.n),
        )
        .returning(models.File.id)
    )
    # identities are taken in the order the rows are inserted: that of the arrays
    return sorted(inserted)
