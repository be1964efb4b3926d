"""A CCP4i2 project database as its lab keeps it: the SQLite file of the Django app
`ccp4x` (tables `ccp4x_<model>`), and each project's directory with its job tree
(`CCP4_JOBS/job_1/job_2/...`) and imported files (`CCP4_IMPORTED_FILES/`).

The tables are read whole, one dictionary per row, with the stdlib sqlite3 module and
the file opened read-only. Files on disk are described (size, sha256, time) as CCP4i2
would find them: under their job's directory or the project's import directory.
"""

from __future__ import annotations

import hashlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scimeta.transfer.formats import TransferError

APP = "ccp4x"
# the tables read, by Django model; Django names them <app label>_<model in lower case>
PROJECT = f"{APP}_project"
JOB = f"{APP}_job"
FILE = f"{APP}_file"
FILE_IMPORT = f"{APP}_fileimport"
FILE_USE = f"{APP}_fileuse"
VALUE_KEY = f"{APP}_jobvaluekey"
FLOAT_VALUE = f"{APP}_jobfloatvalue"
CHAR_VALUE = f"{APP}_jobcharvalue"
TABLES = (PROJECT, JOB, FILE, FILE_IMPORT, FILE_USE, VALUE_KEY, FLOAT_VALUE, CHAR_VALUE)
# Django's default name of the SQLite file, looked for first in a directory
DATABASE_NAMES = ("db.sqlite3",)
DATABASE_SUFFIXES = (".sqlite3", ".sqlite", ".db")
JOBS_DIRECTORY = "CCP4_JOBS"
IMPORTS_DIRECTORY = "CCP4_IMPORTED_FILES"
# File.directory
JOB_DIR = 1
IMPORT_DIR = 2
_READ_BYTES = 1 << 20
HASHING_THREADS = 4

Row = dict[str, Any]


@dataclass
class Store:
    """The rows of every table read, by table, and where the store lies."""

    path: Path
    # the directory LOCATION named, or the one holding the SQLite file
    base: Path
    tables: dict[str, list[Row]]

    def rows(self, table: str) -> list[Row]:
        return self.tables[table]


def locate(location: str) -> tuple[Path, Path]:
    """The SQLite file at `location` (the file itself, or a project directory holding it)
    and the directory to look for project directories in."""
    path = Path(location).expanduser()
    if path.is_file():
        return path, path.parent
    if not path.is_dir():
        raise TransferError(
            f"{location} is neither a CCP4i2 database (a SQLite file) nor a directory holding one"
        )
    for name in DATABASE_NAMES:
        if (path / name).is_file():
            return path / name, path
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in DATABASE_SUFFIXES)
    if len(found) == 1:
        return found[0], path
    if not found:
        raise TransferError(
            f"{location} holds no CCP4i2 database: no {', '.join(DATABASE_NAMES)} nor any "
            f"*{', *'.join(DATABASE_SUFFIXES)} file; name the file itself"
        )
    names = ", ".join(p.name for p in found)
    raise TransferError(f"{location} holds several databases ({names}); name the one to import")


def read_store(location: str) -> Store:
    path, base = locate(location)
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise TransferError(f"cannot open {path}: {exc}") from exc
    try:
        connection.row_factory = sqlite3.Row
        try:
            present = {
                name
                for (name,) in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            }
        except sqlite3.DatabaseError as exc:
            raise TransferError(f"{path} is not a SQLite database: {exc}") from exc
        missing = [table for table in TABLES if table not in present]
        if missing:
            raise TransferError(
                f"{path} is not a CCP4i2 project database: it lacks the tables "
                f"{', '.join(missing)} (those of the Django app {APP!r})"
            )
        tables = {
            table: [dict(row) for row in connection.execute(f'SELECT * FROM "{table}"')]
            for table in TABLES
        }
    finally:
        connection.close()
    return Store(path=path, base=base, tables=tables)


def project_root(recorded: str, base: Path, only_project: bool) -> Path | None:
    """Where a project's directory is on this machine: where the database says, or (the
    project moved with its database) the directory LOCATION names when it is that
    project's (the store's only project, or a directory of the same name), or a directory
    of that name in it."""
    candidates = [Path(recorded)] if recorded else []
    name = Path(recorded).name if recorded else ""
    if only_project or (name and base.name == name):
        candidates.append(base)
    if name:
        candidates.append(base / name)
    for candidate in candidates:
        if (candidate / JOBS_DIRECTORY).is_dir() or (candidate / IMPORTS_DIRECTORY).is_dir():
            return candidate.resolve()
    return None


def job_directory(root: Path, number: str) -> Path:
    """`CCP4_JOBS/job_1/job_2` for job 1.2, as CCP4i2's Job.directory builds it."""
    return root.joinpath(JOBS_DIRECTORY, *(f"job_{part}" for part in number.split(".")))


@dataclass(frozen=True)
class OnDisk:
    size_bytes: int
    sha256: str
    # CCP4i2 records an imported file's md5
    md5: str
    modified_at: datetime


def describe(path: Path) -> OnDisk | None:
    """Size, checksums and time of a regular file; None if there is none at `path`."""
    try:
        if not path.is_file():
            return None
        sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with path.open("rb") as stream:
            while chunk := stream.read(_READ_BYTES):
                sha256.update(chunk)
                md5.update(chunk)
        status = path.stat()
    except OSError:
        return None
    return OnDisk(
        size_bytes=status.st_size,
        sha256=sha256.hexdigest(),
        md5=md5.hexdigest(),
        modified_at=datetime.fromtimestamp(status.st_mtime, UTC),
    )


def describe_all(paths: list[Path | None]) -> list[OnDisk | None]:
    """`describe` of each path, a few at a time (hashing releases the GIL)."""
    with ThreadPoolExecutor(HASHING_THREADS) as pool:
        return list(pool.map(lambda p: None if p is None else describe(p), paths))


def timestamp(value: Any) -> datetime | None:
    """A time as Django keeps it in SQLite: ISO text in UTC, naive when USE_TZ is off."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"{value!r} is not a time")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
