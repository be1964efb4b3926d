"""`scimeta import quantum-forge LOCATION`: the Quantum Forge chemistry database (seed 002)
onto molecules, calculations, atomic properties, batches, files and events.

LOCATION is the store's postgresql:// URL or a SQLite copy (a path or sqlite:///PATH),
optionally with `?results=DIR`, where its job directories are (see docs/import/quantum-forge.md).

Rows are matched by natural keys, so a second run creates nothing and an interrupted one
finishes what it left: a molecule by its canonical SMILES (two source molecules of one
structure become one), a calculation by (molecule, method, created_at), an atom by
(calculation, atom index), a batch by (name, created_at), an item by (batch, molecule), a
file by (path, sha256), a logged event by (type, time, id in the store). Each step is one
transaction (the calculations one per range of about ATOM_ROWS atoms, with their atoms,
files and events); a dry run does them all in one transaction and rolls it back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.models import EventLevel, Status
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs.quantum_forge_atoms import AtomImport
from scimeta.transfer.labs.quantum_forge_files import (
    STRUCTURE_FILE,
    ResultFile,
    job_directory,
    result_files,
)
from scimeta.transfer.labs.quantum_forge_store import (
    EVENT_LOG,
    Store,
    json_object,
    open_store,
    results_root,
    timestamp,
)
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal, Source
from scimeta.writes.chemistry import DEFAULT_METHOD, NewMolecule, Results, get_or_create_molecules
from scimeta.writes.core import MAX_EVENT_TYPE
from scimeta.writes.smiles import FeatureUnavailable, structure
from scimeta.writes.transaction import EVENT_LOG_LOCK, EVENTS_CHANNEL, Writer, global_id_of

NAME = "quantum-forge"
ACTOR = f"import:{NAME}"
# atoms per transaction of calculations (and calculations at most per transaction)
ATOM_ROWS = 25_000
CALCULATIONS_PER_STEP = 5_000
# Serialises imports of Quantum Forge stores: calculations and batches have no unique
# constraint, so two imports checking their natural keys at once would both insert.
IMPORT_LOCK = 0x51F0_26E0_0002
_METHOD_LENGTH = 64
_NAME_LENGTH = 255

CALCULATION_STATUS = {
    "converged": Status.SUCCEEDED,
    "not_converged": Status.FAILED,
    "error": Status.FAILED,
}
BATCH_STATUS = {
    "pending": Status.PENDING,
    "in_progress": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELLED,
}
ITEM_STATUS = {
    "pending": Status.PENDING,
    "processing": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "skipped": Status.CANCELLED,
}
EVENT_LEVEL = {
    "success": EventLevel.INFO,
    "info": EventLevel.INFO,
    "debug": EventLevel.DEBUG,
    "warning": EventLevel.WARNING,
    "error": EventLevel.ERROR,
    "critical": EventLevel.CRITICAL,
}
# event_logs.entity_type -> (the store's table, the node type)
EVENT_SUBJECTS = {
    "molecule": ("molecules", "Molecule"),
    "molecules": ("molecules", "Molecule"),
    "calculation": ("calculations", "Calculation"),
    "calculations": ("calculations", "Calculation"),
    "batch": ("batch_jobs", "Batch"),
    "batches": ("batch_jobs", "Batch"),
    "batch_job": ("batch_jobs", "Batch"),
    "batch_jobs": ("batch_jobs", "Batch"),
    "batch_item": ("batch_items", "BatchItem"),
    "batch_items": ("batch_items", "BatchItem"),
}
_CALCULATION_EXTRAS = (
    "homo",
    "lumo",
    "total_charge",
    "xtb_version",
    "solvation",
    "xyz_file_hash",
    "output_json_path",
    "user_id",
)


class Refused(Exception):
    """A row that cannot be taken; the message says why."""


@dataclass
class Calculation:
    source_id: int
    molecule_id: int
    method: str
    status: Status
    results: Results
    error: str | None
    created_at: datetime
    attributes: dict[str, Any]
    files: list[ResultFile] = field(default_factory=list)


@dataclass
class Batch:
    source_id: int
    name: str
    description: str | None
    method: str
    status: Status
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attributes: dict[str, Any]


@dataclass
class Item:
    source_id: int
    batch: int  # source id
    molecule_id: int
    status: Status
    calculation_id: int | None
    created_at: datetime | None
    details: dict[str, Any]


async def import_quantum_forge(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the Quantum Forge store at `location` (see the module's docstring)."""
    if options.project is not None or options.study is not None:
        raise TransferError(
            "a Quantum Forge store has no projects or studies: import it without --project "
            "and --study (its files are recorded without a project)"
        )
    store = await open_store(location)
    try:
        roots = [root] if (root := results_root(location)) is not None else []
        if store.directory is not None:
            roots += [store.directory / "jobs", store.directory]
        async with engine.connect() as connection:
            run = _Import(connection, store, options, progress, report, roots)
            try:
                await run.molecules()
                await run.calculations()
                await run.batches()
                await run.events()
            except FeatureUnavailable as exc:
                raise TransferError(exc.message) from exc
            if options.dry_run:
                await connection.rollback()
    finally:
        await store.close()
    return report


class _Import:
    def __init__(
        self,
        connection: AsyncConnection,
        store: Store,
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
        roots: list[Path],
    ) -> None:
        self.connection = connection
        self.store = store
        self.options = options
        self.progress = progress
        self.report = report
        self.roots = roots
        # source id -> scimeta id, per table of the store
        self.ids: dict[str, dict[int, int]] = {}
        # source ids refused, per table of the store
        self.refused: dict[str, set[int]] = {}
        # scimeta calculation id -> its molecule's id
        self.calculation_molecule: dict[int, int] = {}

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

    def refuse(self, entity: str, table: str, source_id: Any, reason: str) -> None:
        if isinstance(source_id, int):
            self.refused.setdefault(table, set()).add(source_id)
        self.report.refuse(Refusal(entity, f"{table} id {source_id}", _text(source_id), reason))

    def reference(self, table: str, source_id: Any, what: str) -> int:
        """The scimeta id of the row `source_id` of `table`, or Refused saying why not."""
        if source_id is None:
            raise Refused(f"it has no {what}")
        found = self.ids.get(table, {}).get(source_id)
        if found is not None:
            return found
        if source_id in self.refused.get(table, set()):
            raise Refused(f"its {what} {source_id} was refused (see that refusal)")
        raise Refused(f"its {what} {source_id} is not in the store's {table} table")

    # -- molecules

    async def molecules(self) -> None:
        rows = await self.store.rows("molecules")
        counts = self.report.of("Molecule")
        self.progress.begin("Molecule", len(rows))
        taken: list[tuple[int, NewMolecule]] = []
        for row in rows:
            counts.read += 1
            try:
                taken.append((row["id"], _molecule(row)))
            except Refused as exc:
                self.refuse("Molecule", "molecules", row["id"], str(exc))
        async with self.step() as writer:
            made = await get_or_create_molecules(writer, [molecule for _, molecule in taken])
        ids = self.ids.setdefault("molecules", {})
        for (source_id, _), (molecule, created) in zip(taken, made, strict=True):
            ids[source_id] = molecule.id
            if created:
                counts.created += 1
            else:
                counts.present += 1
        self.progress.advance(len(rows))
        self.progress.end()

    # -- calculations with their atoms and files

    async def calculations(self) -> None:
        rows = await self.store.rows("calculations")
        atom_counts = await self.store.atom_counts()
        counts = self.report.of("Calculation")
        taken: list[Calculation] = []
        keys: dict[tuple[int, str, datetime], int] = {}
        for row in rows:
            counts.read += 1
            try:
                calculation = self._calculation(row)
                key = (calculation.molecule_id, calculation.method, calculation.created_at)
                if key in keys:
                    raise Refused(
                        f"calculation {keys[key]} has the same molecule, method and created_at; "
                        "scimeta tells calculations apart by these three"
                    )
                keys[key] = calculation.source_id
                taken.append(calculation)
            except Refused as exc:
                self.refuse("Calculation", "calculations", row["id"], str(exc))
        self._find_files(taken)
        atoms = AtomImport(
            self.report,
            self.ids.setdefault("calculations", {}),
            self.refused.setdefault("calculations", set()),
            self.store.typed,
            self.driver,
        )
        total = sum(atom_counts.values())
        self.progress.begin("Calculation+AtomicProperty", len(taken) + total)
        # Contiguous ranges of calculation ids, so that every atom row is read once: also
        # those of calculations refused or missing, which are refused with a reason.
        low = -(2**63)
        steps = list(_steps(taken, atom_counts)) or [[]]
        for number, chunk in enumerate(steps):
            high = chunk[-1].source_id if chunk and number < len(steps) - 1 else 2**63 - 1
            async with self.step() as writer:
                await self._insert_files(chunk)
                created = await self._insert_calculations(chunk)
                added = await atoms.insert(await self.store.atoms(low, high))
                for calculation in chunk:
                    calculation_id = self.ids["calculations"][calculation.source_id]
                    count = added.get(calculation_id, 0)
                    if calculation_id in created:
                        writer.record(
                            _event(
                                "Calculation",
                                calculation_id,
                                "created",
                                _calculation_snapshot(calculation_id, calculation)
                                | {"atomic_properties": count},
                            )
                        )
                    elif count:
                        writer.record(
                            _event(
                                "Calculation",
                                calculation_id,
                                "atomic_properties_added",
                                {"count": count},
                            )
                        )
            low = high + 1
            self.progress.advance(len(chunk) + sum(added.values()))
        self.progress.end()

    def _calculation(self, row: dict[str, Any]) -> Calculation:
        molecule_id = self.reference("molecules", row.get("molecule_id"), "molecule")
        word = row.get("convergence_status")
        status = CALCULATION_STATUS.get(str(word).strip().lower()) if word is not None else None
        if status is None:
            raise Refused(
                f"its convergence_status {word!r} is not one of {', '.join(CALCULATION_STATUS)}"
            )
        method = row.get("method") or DEFAULT_METHOD
        if not isinstance(method, str) or len(method) > _METHOD_LENGTH:
            raise Refused(
                f"its method {method!r} is not a name of up to {_METHOD_LENGTH} characters"
            )
        if row.get("energy") is None:
            raise Refused("it has no energy (the store requires one)")
        try:
            results = Results(
                energy=_number(row, "energy"),
                gap=_number(row, "gap"),
                dipole=_number(row, "dipole"),
                execution_seconds=_number(row, "execution_time_seconds"),
            )
        except BadUserInput as exc:
            raise Refused(exc.message) from exc
        created_at = _time(row, "created_at")
        if created_at is None:
            raise Refused(
                "it has no created_at, which scimeta needs to tell it from other calculations "
                "of the molecule"
            )
        metadata = _json(row, "metadata")
        attributes = {key: row[key] for key in _CALCULATION_EXTRAS if row.get(key) is not None}
        if metadata:
            attributes["metadata"] = metadata
        attributes["source_id"] = row["id"]
        error = None
        if status is Status.FAILED:
            given = metadata.get("error") if isinstance(metadata, dict) else None
            error = given if isinstance(given, str) else f"xTB convergence_status: {word}"
        return Calculation(
            source_id=row["id"],
            molecule_id=molecule_id,
            method=method,
            status=status,
            results=results,
            error=error,
            created_at=created_at,
            attributes=attributes,
        )

    def _find_files(self, calculations: Sequence[Calculation]) -> None:
        """The files of each calculation's job directory, found and hashed up front."""
        located = [c for c in calculations if isinstance(c.attributes.get("output_json_path"), str)]
        counts = self.report.of("File")
        self.progress.begin("File", None)
        for calculation in located:
            recorded = calculation.attributes["output_json_path"]
            directory = job_directory(recorded, self.roots)
            if directory is None:
                continue
            expected = calculation.attributes.get("xyz_file_hash")
            for found in result_files(directory, recorded):
                counts.read += 1
                if found.name == STRUCTURE_FILE and expected and found.sha256 != expected:
                    self.report.refuse(
                        Refusal(
                            "File",
                            found.path,
                            _text(calculation.source_id),
                            f"its sha256 {found.sha256} is not the xyz_file_hash {expected} "
                            f"of calculation {calculation.source_id}: the structure changed "
                            "since it was computed",
                        )
                    )
                    continue
                calculation.files.append(found)
            self.progress.advance(len(calculation.files))
        self.progress.end()

    async def _insert_files(self, chunk: Sequence[Calculation]) -> None:
        unique: dict[tuple[str, str], ResultFile] = {}
        for calculation in chunk:
            for found in calculation.files:
                unique.setdefault((found.path, found.sha256), found)
        if not unique:
            return
        files = list(unique.values())
        driver = await self.driver()
        rows = await driver.fetch(
            _INSERT_FILES,
            [f.path for f in files],
            [f.name for f in files],
            [f.size_bytes for f in files],
            [f.sha256 for f in files],
            [f.modified_at for f in files],
            [f.recorded for f in files],
        )
        counts = self.report.of("File")
        ids = {}
        for found, (file_id, created) in zip(files, rows, strict=True):
            ids[(found.path, found.sha256)] = file_id
            if created:
                counts.created += 1
            else:
                counts.present += 1
        for calculation in chunk:
            if calculation.files:
                calculation.attributes["files"] = [
                    {
                        "id": global_id_of("File", ids[(f.path, f.sha256)]),
                        "name": f.name,
                        "size_bytes": f.size_bytes,
                        "sha256": f.sha256,
                    }
                    for f in calculation.files
                ]

    async def _insert_calculations(self, chunk: Sequence[Calculation]) -> set[int]:
        """Insert the calculations not stored yet; the ids of those it inserted."""
        if not chunk:
            return set()
        driver = await self.driver()
        rows = await driver.fetch(
            _INSERT_CALCULATIONS,
            [c.molecule_id for c in chunk],
            [c.method for c in chunk],
            [c.status.value for c in chunk],
            [c.results.energy for c in chunk],
            [c.results.gap for c in chunk],
            [c.results.dipole for c in chunk],
            [c.results.execution_seconds for c in chunk],
            [c.error for c in chunk],
            [json.dumps(c.attributes, default=str) for c in chunk],
            [c.created_at for c in chunk],
        )
        counts = self.report.of("Calculation")
        ids = self.ids.setdefault("calculations", {})
        created = set()
        for calculation, (calculation_id, inserted) in zip(chunk, rows, strict=True):
            ids[calculation.source_id] = calculation_id
            self.calculation_molecule[calculation_id] = calculation.molecule_id
            if inserted:
                created.add(calculation_id)
                counts.created += 1
            else:
                counts.present += 1
        return created

    # -- batches and their items

    async def batches(self) -> None:
        batch_rows = await self.store.rows("batch_jobs")
        item_rows = await self.store.rows("batch_items")
        batches = self.report.of("Batch")
        items = self.report.of("BatchItem")
        self.progress.begin("Batch+BatchItem", len(batch_rows) + len(item_rows))
        taken: list[Batch] = []
        keys: dict[tuple[str, datetime], int] = {}
        for row in batch_rows:
            batches.read += 1
            try:
                batch = _batch(row)
                if (batch.name, batch.created_at) in keys:
                    raise Refused(
                        f"batch {keys[(batch.name, batch.created_at)]} has the same batch_name "
                        "and created_at; scimeta tells batches apart by these two"
                    )
                keys[(batch.name, batch.created_at)] = batch.source_id
                taken.append(batch)
            except Refused as exc:
                self.refuse("Batch", "batch_jobs", row["id"], str(exc))
        taken_ids = {batch.source_id for batch in taken}
        members: dict[tuple[int, int], int] = {}
        chosen: list[Item] = []
        for row in item_rows:
            items.read += 1
            try:
                item = self._item(row, taken_ids)
                if (item.batch, item.molecule_id) in members:
                    raise Refused(
                        f"batch item {members[(item.batch, item.molecule_id)]} puts the same "
                        "molecule (by canonical SMILES) in the same batch; a batch holds a "
                        "molecule once"
                    )
                members[(item.batch, item.molecule_id)] = item.source_id
                chosen.append(item)
            except Refused as exc:
                self.refuse("BatchItem", "batch_items", row["id"], str(exc))
        async with self.step() as writer:
            created_batches = await self._insert_batches(taken)
            created_items = await self._insert_items(chosen)
            batch_ids = self.ids.get("batch_jobs", {})
            added: dict[int, int] = {}
            for item in chosen:
                if self.ids["batch_items"][item.source_id] in created_items:
                    added[item.batch] = added.get(item.batch, 0) + 1
            for batch in taken:
                batch_id = batch_ids[batch.source_id]
                if batch_id in created_batches:
                    payload = _batch_snapshot(batch_id, batch) | {
                        "items": added.get(batch.source_id, 0)
                    }
                    writer.record(_event("Batch", batch_id, "created", payload))
                elif added.get(batch.source_id):
                    writer.record(
                        _event("Batch", batch_id, "items_added", {"count": added[batch.source_id]})
                    )
            for item in chosen:
                item_id = self.ids["batch_items"][item.source_id]
                if item_id in created_items:
                    snapshot = {
                        "id": item_id,
                        "batch_id": batch_ids[item.batch],
                        "molecule_id": item.molecule_id,
                        "status": item.status.value,
                        "calculation_id": item.calculation_id,
                    }
                    writer.record(
                        _event("BatchItem", item_id, "created", _present(snapshot | item.details))
                    )
        self.progress.advance(len(batch_rows) + len(item_rows))
        self.progress.end()

    def _item(self, row: dict[str, Any], batches: set[int]) -> Item:
        batch = row.get("batch_id")
        if batch not in batches:
            self.reference("batch_jobs", batch, "batch")  # raises, saying why
        molecule_id = self.reference("molecules", row.get("molecule_id"), "molecule")
        status = _status(row, ITEM_STATUS)
        calculation_id = None
        if row.get("calculation_id") is not None:
            calculation_id = self.reference("calculations", row["calculation_id"], "calculation")
            if self.calculation_molecule[calculation_id] != molecule_id:
                raise Refused(
                    f"its calculation {row['calculation_id']} is of another molecule than the "
                    f"item's molecule {row['molecule_id']}; an item's calculation is of its "
                    "molecule"
                )
        details = {
            "error_message": row.get("error_message"),
            "retry_count": row.get("retry_count") or None,
            "started_at": _iso(_time(row, "started_at")),
            "completed_at": _iso(_time(row, "completed_at")),
            "metadata": _json(row, "metadata") or None,
            "user_id": row.get("user_id"),
            "source_id": row["id"],
        }
        return Item(
            source_id=row["id"],
            batch=cast(int, batch),
            molecule_id=molecule_id,
            status=status,
            calculation_id=calculation_id,
            created_at=_time(row, "created_at"),
            details=details,
        )

    async def _insert_batches(self, batches: Sequence[Batch]) -> set[int]:
        driver = await self.driver()
        rows = await driver.fetch(
            _INSERT_BATCHES,
            [b.name for b in batches],
            [b.description for b in batches],
            [b.method for b in batches],
            [b.status.value for b in batches],
            [b.started_at for b in batches],
            [b.finished_at for b in batches],
            [json.dumps(b.attributes, default=str) for b in batches],
            [b.created_at for b in batches],
        )
        return self._taken("batch_jobs", "Batch", [b.source_id for b in batches], rows)

    async def _insert_items(self, items: Sequence[Item]) -> set[int]:
        driver = await self.driver()
        batch_ids = self.ids.get("batch_jobs", {})
        rows = await driver.fetch(
            _INSERT_ITEMS,
            [batch_ids[i.batch] for i in items],
            [i.molecule_id for i in items],
            [i.status.value for i in items],
            [i.calculation_id for i in items],
            [i.created_at for i in items],
        )
        return self._taken("batch_items", "BatchItem", [i.source_id for i in items], rows)

    def _taken(
        self, table: str, entity: str, source_ids: Sequence[int], rows: Sequence[Any]
    ) -> set[int]:
        """Record the ids of inserted-or-found rows; the ids of those inserted."""
        ids = self.ids.setdefault(table, {})
        counts = self.report.of(entity)
        created = set()
        for source_id, (row_id, inserted) in zip(source_ids, rows, strict=True):
            ids[source_id] = row_id
            if inserted:
                created.add(row_id)
                counts.created += 1
            else:
                counts.present += 1
        return created

    # -- the event log

    async def events(self) -> None:
        rows = await self.store.rows(EVENT_LOG)
        counts = self.report.of("Event")
        self.progress.begin("Event", len(rows))
        taken: list[tuple[int, datetime, str | None, int | None, Any, str, str | None, str]] = []
        for row in rows:
            counts.read += 1
            try:
                taken.append(self._logged(row))
            except Refused as exc:
                self.refuse("Event", EVENT_LOG, row["id"], str(exc))
        async with self.step():
            driver = await self.driver()
            inserted = await driver.fetchval(
                _INSERT_EVENTS,
                EVENT_LOG_LOCK,
                EVENTS_CHANNEL,
                [e[0] for e in taken],
                [e[1] for e in taken],
                [e[2] for e in taken],
                [e[3] for e in taken],
                [e[4] for e in taken],
                [e[5] for e in taken],
                [e[6] for e in taken],
                [e[7] for e in taken],
            )
        counts.created += inserted
        counts.present += len(taken) - inserted
        self.progress.advance(len(rows))
        self.progress.end()

    def _logged(
        self, row: dict[str, Any]
    ) -> tuple[int, datetime, str | None, int | None, Any, str, str | None, str]:
        """(source id, at, subject type, subject id, level, type, actor, payload JSON)."""
        event_type = row.get("event_type")
        if not isinstance(event_type, str) or not 1 <= len(event_type) <= MAX_EVENT_TYPE:
            raise Refused(f"its event_type {event_type!r} is not 1 to {MAX_EVENT_TYPE} characters")
        at = _time(row, "created_at")
        if at is None:
            raise Refused("it has no created_at, the time of the event")
        word = row.get("status")
        level = None
        if word is not None:
            level = EVENT_LEVEL.get(str(word).strip().lower())
            if level is None:
                raise Refused(f"its status {word!r} is not one of {', '.join(EVENT_LEVEL)}")
        entity_type, entity_id = row.get("entity_type"), row.get("entity_id")
        subject_type = subject_id = None
        subject = EVENT_SUBJECTS.get(str(entity_type).strip().lower())
        if subject is not None and entity_id is not None:
            table, type_name = subject
            if entity_id in self.refused.get(table, set()):
                raise Refused(f"its subject, {table} {entity_id}, was refused")
            # an event about a row the store no longer has is kept as a service event
            subject_id = self.ids.get(table, {}).get(entity_id)
            subject_type = type_name if subject_id is not None else None
        payload = _present(
            {
                "imported_from": NAME,
                "source_id": row["id"],
                "entity_type": entity_type,
                "entity_id": entity_id,
                "error_message": row.get("error_message"),
                "error_code": row.get("error_code"),
                "context": _json(row, "context") or None,
                "user_id": row.get("user_id"),
            }
        )
        actor = row.get("service")
        return (
            row["id"],
            at,
            subject_type,
            subject_id,
            None if level is None else level.value,
            event_type,
            actor if isinstance(actor, str) else None,
            json.dumps(payload, default=str),
        )


def _steps(
    calculations: Sequence[Calculation], atom_counts: dict[int, int]
) -> Iterator[list[Calculation]]:
    """The calculations in ranges of about ATOM_ROWS atoms, by source id."""
    chunk: list[Calculation] = []
    atoms = 0
    for calculation in sorted(calculations, key=lambda c: c.source_id):
        chunk.append(calculation)
        atoms += atom_counts.get(calculation.source_id, 0)
        if atoms >= ATOM_ROWS or len(chunk) >= CALCULATIONS_PER_STEP:
            yield chunk
            chunk, atoms = [], 0
    if chunk:
        yield chunk


def _molecule(row: dict[str, Any]) -> NewMolecule:
    smiles = row.get("smiles")
    if not isinstance(smiles, str) or not smiles.strip():
        raise Refused("it has no SMILES")
    try:
        parsed = structure(smiles.strip())
    except BadUserInput as exc:
        raise Refused(exc.message) from exc
    name = row.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > _NAME_LENGTH):
        raise Refused(f"its name is not text of up to {_NAME_LENGTH} characters")
    attributes: dict[str, Any] = {"source_id": row["id"]}
    metadata = _json(row, "metadata")
    if metadata:
        attributes["metadata"] = metadata
    if row.get("user_id") is not None:
        attributes["user_id"] = row["user_id"]
    if row.get("formula") and row["formula"] != parsed.formula:
        attributes["formula"] = row["formula"]
    return NewMolecule(smiles=parsed.smiles, name=name, attributes=attributes)


def _batch(row: dict[str, Any]) -> Batch:
    name = row.get("batch_name")
    if not isinstance(name, str) or not name or len(name) > _NAME_LENGTH:
        raise Refused(f"its batch_name {name!r} is not 1 to {_NAME_LENGTH} characters")
    status = _status(row, BATCH_STATUS)
    created_at = _time(row, "created_at")
    if created_at is None:
        raise Refused("it has no created_at, which scimeta needs to tell batches apart")
    parameters = _json(row, "parameters") or {}
    method = parameters.get("method") if isinstance(parameters, dict) else None
    if method is not None and (not isinstance(method, str) or not 1 <= len(method) <= 64):
        raise Refused(f"its parameters' method {method!r} is not a name of 1 to 64 characters")
    attributes: dict[str, Any] = {"source_id": row["id"]}
    if parameters:
        attributes["parameters"] = parameters
    metadata = _json(row, "metadata")
    if metadata:
        attributes["metadata"] = metadata
    if row.get("user_id") is not None:
        attributes["user_id"] = row["user_id"]
    return Batch(
        source_id=row["id"],
        name=name,
        description=row.get("description"),
        method=method or DEFAULT_METHOD,
        status=status,
        created_at=created_at,
        started_at=_time(row, "started_at"),
        finished_at=_time(row, "completed_at"),
        attributes=attributes,
    )


def _status(row: dict[str, Any], words: dict[str, Status]) -> Status:
    word = row.get("status")
    status = words.get(str(word).strip().lower()) if word is not None else None
    if status is None:
        raise Refused(f"its status {word!r} is not one of {', '.join(words)}")
    return status


def _number(row: dict[str, Any], column: str) -> float | None:
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(f"its {column} {value!r} is not a number")
    return float(value)


def _time(row: dict[str, Any], column: str) -> datetime | None:
    try:
        return timestamp(row.get(column))
    except ValueError as exc:
        raise Refused(f"its {column} {row.get(column)!r} is not a time") from exc


def _json(row: dict[str, Any], column: str) -> Any:
    try:
        return json_object(row.get(column))
    except ValueError as exc:
        raise Refused(f"its {column} is not JSON: {exc}") from exc


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _event(subject_type: str, subject_id: int, type_: str, payload: dict[str, Any]) -> models.Event:
    return models.Event(
        subject_type=subject_type, subject_id=subject_id, type=type_, actor=ACTOR, payload=payload
    )


def _calculation_snapshot(calculation_id: int, calculation: Calculation) -> dict[str, Any]:
    return _present(
        {
            "id": calculation_id,
            "molecule_id": calculation.molecule_id,
            "method": calculation.method,
            "status": calculation.status.value,
            **calculation.results.given(),
            "finished_at": _iso(calculation.created_at),
        }
    )


def _batch_snapshot(batch_id: int, batch: Batch) -> dict[str, Any]:
    return _present(
        {
            "id": batch_id,
            "name": batch.name,
            "description": batch.description,
            "method": batch.method,
            "status": batch.status.value,
            "started_at": _iso(batch.started_at),
            "finished_at": _iso(batch.finished_at),
        }
    )


# Each statement inserts the rows whose natural key is free and answers, in input order,
# (the row's id, whether it inserted it). A finished calculation was written when it
# finished: its created_at is also its finished_at.
_INSERT_CALCULATIONS = """
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

_INSERT_FILES = """
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

_INSERT_BATCHES = """
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

_INSERT_ITEMS = """
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
_INSERT_EVENTS = """
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

SOURCE = Source(
    name=NAME,
    location="URL|FILE",
    summary="a Quantum Forge chemistry database: its postgresql:// URL or a SQLite copy",
    run=import_quantum_forge,
)
