"""A CCP4i2 project database built as Django builds it on SQLite: the tables of the
`ccp4x` app (BigAutoField ids, references DEFERRABLE INITIALLY DEFERRED and, as on a
connection that did not turn foreign keys on, not enforced), filled with given rows; the
NOT NULL columns a row leaves out get Django's defaults."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE "ccp4x_project" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "uuid" char(32) NOT NULL UNIQUE, "name" varchar(100) NOT NULL UNIQUE,
    "description" text NOT NULL, "directory" text NOT NULL UNIQUE,
    "creation_time" datetime NOT NULL, "creation_user" text NOT NULL,
    "creation_host" text NOT NULL, "last_access" datetime NOT NULL,
    "last_job_number" integer NOT NULL, "i1_project_name" text NOT NULL,
    "i1_project_directory" text NOT NULL,
    "follow_from_job_id" bigint NULL REFERENCES "ccp4x_job" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE "ccp4x_job" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "uuid" char(32) NOT NULL UNIQUE, "number" varchar(50) NOT NULL,
    "title" varchar(255) NOT NULL, "status" integer NOT NULL, "evaluation" integer NOT NULL,
    "comments" text NOT NULL, "creation_time" datetime NOT NULL, "finish_time" datetime NULL,
    "task_name" varchar(100) NOT NULL, "process_id" integer NULL,
    "parent_id" bigint NULL REFERENCES "ccp4x_job" ("id") DEFERRABLE INITIALLY DEFERRED,
    "project_id" bigint NOT NULL REFERENCES "ccp4x_project" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE UNIQUE INDEX "ccp4x_job_project_id_number_0d5c4a5a_uniq"
    ON "ccp4x_job" ("project_id", "number");
CREATE TABLE "ccp4x_jobvaluekey" ("name" varchar(50) NOT NULL PRIMARY KEY,
    "description" text NOT NULL);
CREATE TABLE "ccp4x_jobfloatvalue" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "value" real NOT NULL,
    "job_id" bigint NOT NULL REFERENCES "ccp4x_job" ("id") DEFERRABLE INITIALLY DEFERRED,
    "key_id" varchar(50) NOT NULL
        REFERENCES "ccp4x_jobvaluekey" ("name") DEFERRABLE INITIALLY DEFERRED);
CREATE UNIQUE INDEX "ccp4x_jobfloatvalue_job_id_key_id_3b3d3f0e_uniq"
    ON "ccp4x_jobfloatvalue" ("job_id", "key_id");
CREATE TABLE "ccp4x_jobcharvalue" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "value" varchar(255) NOT NULL,
    "job_id" bigint NOT NULL REFERENCES "ccp4x_job" ("id") DEFERRABLE INITIALLY DEFERRED,
    "key_id" varchar(50) NOT NULL
        REFERENCES "ccp4x_jobvaluekey" ("name") DEFERRABLE INITIALLY DEFERRED);
CREATE UNIQUE INDEX "ccp4x_jobcharvalue_job_id_key_id_5e0a1c2b_uniq"
    ON "ccp4x_jobcharvalue" ("job_id", "key_id");
CREATE TABLE "ccp4x_filetype" ("name" varchar(50) NOT NULL PRIMARY KEY,
    "description" text NOT NULL);
CREATE TABLE "ccp4x_file" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "uuid" char(32) NOT NULL UNIQUE, "name" text NOT NULL, "directory" integer NOT NULL,
    "sub_type" integer NULL, "content" integer NULL, "annotation" text NOT NULL,
    "job_param_name" varchar(32) NOT NULL,
    "job_id" bigint NULL REFERENCES "ccp4x_job" ("id") DEFERRABLE INITIALLY DEFERRED,
    "type_id" varchar(50) NOT NULL
        REFERENCES "ccp4x_filetype" ("name") DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE "ccp4x_fileimport" ("file_id" bigint NOT NULL PRIMARY KEY
        REFERENCES "ccp4x_file" ("id") DEFERRABLE INITIALLY DEFERRED,
    "time" datetime NOT NULL, "name" text NOT NULL, "checksum" varchar(32) NOT NULL,
    "last_modified" datetime NULL);
CREATE TABLE "ccp4x_fileuse" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "role" integer NOT NULL, "job_param_name" varchar(32) NOT NULL,
    "file_id" bigint NOT NULL REFERENCES "ccp4x_file" ("id") DEFERRABLE INITIALLY DEFERRED,
    "job_id" bigint NOT NULL REFERENCES "ccp4x_job" ("id") DEFERRABLE INITIALLY DEFERRED);
CREATE UNIQUE INDEX "ccp4x_fileuse_file_id_job_id_role_job_param_name_9a1e2f3d_uniq"
    ON "ccp4x_fileuse" ("file_id", "job_id", "role", "job_param_name");
"""

CREATED = "2025-02-01 09:00:00"


def _uuid(table: str, row_id: Any) -> str:
    return hashlib.md5(f"{table} {row_id}".encode()).hexdigest()


# Django's defaults of the NOT NULL columns a test row may leave out
DEFAULTS: dict[str, dict[str, Any]] = {
    "ccp4x_project": {
        "description": "",
        "creation_time": CREATED,
        "creation_user": "ccp4",
        "creation_host": "xtal01",
        "last_access": CREATED,
        "last_job_number": 0,
        "i1_project_name": "",
        "i1_project_directory": "",
    },
    "ccp4x_job": {
        "title": "",
        "status": 0,
        "evaluation": 0,
        "comments": "",
        "creation_time": CREATED,
    },
    "ccp4x_jobvaluekey": {"description": ""},
    "ccp4x_filetype": {"description": ""},
    "ccp4x_file": {"annotation": "", "job_param_name": "", "type_id": "application/CCP4-mtz"},
    "ccp4x_fileimport": {"time": CREATED, "checksum": ""},
    "ccp4x_fileuse": {"job_param_name": ""},
}
# tables whose rows carry a uuid
_UUIDS = {"ccp4x_project", "ccp4x_job", "ccp4x_file"}

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def write_store(path: Path, rows: Rows) -> None:
    """The database at `path` with `rows` per table."""
    connection = sqlite3.connect(path)
    try:
        connection.executescript(SCHEMA)
        types = {row.get("type_id") for row in rows.get("ccp4x_file", ())} - {None}
        types.add(DEFAULTS["ccp4x_file"]["type_id"])
        connection.executemany(
            'INSERT INTO "ccp4x_filetype" (name, description) VALUES (?, ?)',
            [(name, name) for name in sorted(types)],
        )
        for table, table_rows in rows.items():
            for row in table_rows:
                values = {**DEFAULTS.get(table, {}), **row}
                if table in _UUIDS:
                    values.setdefault("uuid", _uuid(table, row.get("id")))
                columns = ", ".join(f'"{c}"' for c in values)
                marks = ", ".join("?" for _ in values)
                connection.execute(
                    f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(values.values())
                )
        connection.commit()
    finally:
        connection.close()
