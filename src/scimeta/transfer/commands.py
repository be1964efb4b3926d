"""The command line of transfers: `scimeta export`, `import`, `backup` and `restore`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.auth.identity import LOCAL, Identity
from scimeta.server import migrate
from scimeta.server.database import create_engine, resolve_database_url
from scimeta.server.settings import DATABASE_URL_VARIABLE, Settings
from scimeta.transfer.formats import FileFormat, TransferError
from scimeta.transfer.progress import print_table, progress_for
from scimeta.transfer.sources import SOURCE_MODULES, ImportOptions, ImportReport, source

if TYPE_CHECKING:
    from scimeta.transfer.export import Manifest, Where

T = TypeVar("T")

# refusals printed after an import; all of them go to --refusals FILE
PRINTED_REFUSALS = 20


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    data_dir: argparse.ArgumentParser,
) -> None:
    export = commands.add_parser(
        "export",
        parents=[data_dir],
        help="write every entity you may see to a directory, one file per entity",
    )
    export.add_argument("out", type=Path, metavar="OUT", help="a new or empty directory")
    export.add_argument(
        "--format",
        type=FileFormat,
        choices=list(FileFormat),
        default=FileFormat.JSONL,
        help="jsonl (default) or parquet (needs pip install 'scimeta[parquet]')",
    )
    export.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="project=NAME|study=NAME",
        help="only these projects and studies (and what belongs to them); repeatable",
    )
    export.add_argument(
        "--token",
        metavar="SECRET",
        help="export what this API token may see (default: everything, as the local admin)",
    )
    export.set_defaults(command=export_command)

    importing = commands.add_parser(
        "import",
        parents=[data_dir],
        help="import rows from another store",
        description="Import rows from SOURCE at LOCATION. Sources: "
        + ", ".join(sorted(SOURCE_MODULES))
        + ". A second run of the same import adds nothing.",
    )
    importing.add_argument("source", choices=sorted(SOURCE_MODULES), metavar="SOURCE")
    importing.add_argument("location", metavar="LOCATION", help="a path or URL of the source")
    importing.add_argument(
        "--dry-run", action="store_true", help="read and check everything, write nothing"
    )
    importing.add_argument("--project", metavar="NAME", help="the project rows go into")
    importing.add_argument("--study", metavar="NAME", help="the study rows go into")
    importing.add_argument(
        "--refusals", type=Path, metavar="FILE", help="write every refused row here (JSON lines)"
    )
    importing.set_defaults(command=import_command)

    backup = commands.add_parser(
        "backup", parents=[data_dir], help="dump the whole database to FILE (pg_dump -Fc)"
    )
    backup.add_argument("file", type=Path, metavar="FILE")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(command=backup_command)

    restore = commands.add_parser(
        "restore",
        parents=[data_dir],
        help="restore a backup into a new data directory or an empty database",
    )
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument(
        "--force", action="store_true", help="replace the contents of a database that has some"
    )
    restore.set_defaults(command=restore_command)


def export_command(args: argparse.Namespace) -> int:
    from scimeta.transfer.export import Where

    try:
        where = Where.parse(args.where)
        url = _database_url(args)
        started = time.perf_counter()
        manifest = asyncio.run(_with_engine(url, lambda engine: _export(engine, args, where)))
    except TransferError as exc:
        return _error(exc)
    elapsed = time.perf_counter() - started
    rows = [(e.type_name, e.rows, e.file) for e in manifest.entities]
    total = sum(e.rows for e in manifest.entities)
    print_table(["entity", "rows", "file"], [*rows, ("total", total, "manifest.json")])
    print(
        f"exported {total:,} rows to {args.out} in {elapsed:.1f} s "
        f"({total / max(elapsed, 1e-9):,.0f} rows/s) as {manifest.exported_by}"
    )
    return 0


async def _export(engine: AsyncEngine, args: argparse.Namespace, where: Where) -> Manifest:
    from scimeta.transfer.export import export, identity_of_token

    identity: Identity = LOCAL
    if args.token is not None:
        identity = await identity_of_token(engine, args.token)
    progress = progress_for()
    try:
        return await export(
            engine,
            args.out,
            file_format=args.format,
            identity=identity,
            where=where,
            progress=progress,
        )
    finally:
        progress.close()


def import_command(args: argparse.Namespace) -> int:
    options = ImportOptions(dry_run=args.dry_run, project=args.project, study=args.study)
    try:
        chosen = source(args.source)
        url = _database_url(args)
        migrate.upgrade(url)
        sink = args.refusals.open("w", encoding="utf-8") if args.refusals else None
        report = ImportReport(chosen.name, options.dry_run, sink=sink)
        progress = progress_for()
        started = time.perf_counter()
        try:
            asyncio.run(
                _with_engine(
                    url,
                    lambda engine: chosen.run(engine, args.location, options, progress, report),
                )
            )
        finally:
            progress.close()
            if sink is not None:
                sink.close()
    except TransferError as exc:
        return _error(exc)
    elapsed = time.perf_counter() - started
    created = "would create" if options.dry_run else "created"
    rows = [(name, c.read, c.created, c.present, c.refused) for name, c in report.counts.items()]
    total = report.total
    rows.append(("total", total.read, total.created, total.present, total.refused))
    print_table(["entity", "read", created, "present", "refused"], rows)
    for refusal in report.refusals[:PRINTED_REFUSALS]:
        where = f" {refusal.source_id}" if refusal.source_id else ""
        print(f"refused {refusal.entity}{where} ({refusal.location}): {refusal.reason}")
    if total.refused > PRINTED_REFUSALS:
        more = total.refused - PRINTED_REFUSALS
        listed = f"all in {args.refusals}" if args.refusals else "--refusals FILE lists all"
        print(f"... and {more:,} more refused ({listed})")
    what = "checked (dry run, nothing written)" if options.dry_run else "imported"
    print(
        f"{what} {total.read:,} rows from {args.source} {args.location} in {elapsed:.1f} s "
        f"({total.read / max(elapsed, 1e-9):,.0f} rows/s)"
    )
    if total.refused:
        print(f"scimeta: error: {total.refused:,} rows were refused", file=sys.stderr)
        return 1
    return 0


def backup_command(args: argparse.Namespace) -> int:
    from scimeta.transfer.backup import backup

    try:
        url = _database_url(args)
        started = time.perf_counter()
        size = backup(url, args.file, force=args.force)
    except TransferError as exc:
        return _error(exc)
    elapsed = time.perf_counter() - started
    print(f"backed up the database to {args.file} ({size:,} bytes) in {elapsed:.1f} s")
    print(f"restore it with: scimeta restore {args.file} --data-dir NEW_DIRECTORY")
    return 0


def restore_command(args: argparse.Namespace) -> int:
    from scimeta.transfer.backup import restore

    try:
        url = _database_url(args)
        started = time.perf_counter()
        restore(url, args.file, force=args.force)
    except TransferError as exc:
        return _error(exc)
    elapsed = time.perf_counter() - started
    print(f"restored {args.file} in {elapsed:.1f} s")
    return 0


def _database_url(args: argparse.Namespace) -> str:
    settings = Settings.from_env()
    if args.data_dir is not None:
        settings = dataclasses.replace(settings, data_dir=args.data_dir)
    if settings.database_url is None:
        print(
            f"using the embedded PostgreSQL in {settings.data_dir} "
            f"(set {DATABASE_URL_VARIABLE} to use another server)",
            file=sys.stderr,
        )
    return resolve_database_url(settings)


async def _with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    # a maintenance command, not a request: no statement timeout
    engine = create_engine(url, statement_timeout_seconds=0)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def _error(exc: TransferError) -> int:
    print(f"scimeta: error: {exc}", file=sys.stderr)
    return 1
