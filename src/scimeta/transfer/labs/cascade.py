"""`scimeta import cascade LOCATION`: the Cascade ML-potential trajectory engine (seed 000):
its trajectory and chunk-attempt tables and the frames of its ASE database, onto runs,
trajectories and chunk attempts with their frames, and the events the mutations write.

LOCATION is the engine's database, a postgresql:// URL or a SQLite file (a path or
sqlite:///PATH); its ASE database of frames is read from the same database, as the engine
keeps both under one URL, unless `?ase=URL_OR_PATH` names another one (see
docs/import/cascade.md).

Rows are matched by their natural keys, so a second run creates nothing and an
interrupted one finishes what it left: a run by name (the engine's run_id), a trajectory
by (run, index), a chunk attempt by (trajectory, index, attempt). Each step is one
transaction (the trajectories and the chunk attempts one per CHUNK_ROWS rows); a dry run
does them all in one transaction and rolls it back.
"""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ase.data import chemical_symbols
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.models import AuditStatus, Status
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs.cascade_store import Frame, FrameSource, Location, Tables, read_tables
from scimeta.transfer.labs.steps import driver_connection, import_step
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal, Source
from scimeta.writes.lifecycle import AUDIT_TRANSITIONS
from scimeta.writes.runs import NAME_LENGTH, checked_text
from scimeta.writes.runs.trajectories import (
    ChunkAttemptSpec,
    check_chunks,
    init_atoms,
    non_negative,
)
from scimeta.writes.transaction import Writer

NAME = "cascade"
ACTOR = f"import:{NAME}"
RUN_ATTRIBUTES = {"imported_from": NAME}
# trajectories or chunk attempts per transaction
CHUNK_ROWS = 5_000
# Serialises imports of Cascade stores, so that two at once report what each created.
IMPORT_LOCK = 0x51F0_26E0_0000
STAGE = "scimeta_cascade_frames"
# the key-value pairs that place a frame in its chunk attempt; `attempt` is an older
# name of `attempt_index`
FRAME_KEYS = ("run_id", "traj_id", "chunk_id")
CELL_VECTORS = 3
ATTEMPT_KEYS = ("attempt_index", "attempt")


class Refused(Exception):
    """A row that cannot be taken; the message says why."""


@dataclass
class TrajectoryRow:
    source_id: Any
    run: str
    index: int
    target_length: int
    init_atoms: dict[str, Any] | None
    created_at: datetime | None
    done: bool | None  # the store's flag, where it has one


@dataclass
class ChunkRow:
    source_id: Any
    run: str
    traj: int
    index: int
    attempt_index: int
    model_version: str | None
    audit_status: AuditStatus
    frame_count: int
    created_at: datetime | None
    # which mechanism gave the audit result (newer engines), kept in the created event
    audit_reason: str | None = None

    @property
    def attempt(self) -> int:
        """scimeta numbers attempts from 1, the engine from 0."""
        return self.attempt_index + 1


async def import_cascade(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the Cascade store at `location` (see the module's docstring)."""
    if options.project is not None:
        raise TransferError(
            "a Cascade store holds runs, which belong to no project: import it without "
            "--project (--study NAME puts the runs it creates in that study)"
        )
    where = Location.parse(location)
    tables = await read_tables(where.tables)
    frames = FrameSource(where.frames)
    try:
        has_frames = await frames.open()
        async with engine.connect() as connection:
            run = _Import(connection, tables, options, progress, report)
            try:
                study_id = await run.study(options.study)
                run.check_trajectories()
                await run.runs(study_id)
                await run.trajectories()
                run.check_chunks()
                await run.stage_frames(frames if has_frames else None)
                await run.chunks()
                await run.statuses()
            finally:
                # a dry run's one transaction, or an interrupted step's
                await connection.rollback()
                if not options.dry_run:
                    # the connection goes back to the pool: its temporary table goes away
                    await connection.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
                    await connection.commit()
    finally:
        await frames.close()
    return report


class _Import:
    def __init__(
        self,
        connection: AsyncConnection,
        tables: Tables,
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
    ) -> None:
        self.connection = connection
        self.tables = tables
        self.options = options
        self.progress = progress
        self.report = report
        self.checked_trajectories: list[TrajectoryRow] = []
        self.taken_trajectories: list[TrajectoryRow] = []
        # (run, traj) -> the store's trajectory id, of those refused / of those in scimeta
        self.refused_trajectories: set[tuple[str, int]] = set()
        self.trajectory_source_ids: dict[tuple[str, int], Any] = {}
        self.trajectory_ids: dict[tuple[str, int], int] = {}
        self.run_ids: dict[str, int] = {}
        self.taken_chunks: list[ChunkRow] = []
        self.refused_chunks: set[tuple[str, int, int, int]] = set()
        # frames staged per chunk attempt (its position in taken_chunks): their ASE ids
        self.staged: dict[int, list[int]] = defaultdict(list)

    # -- plumbing

    def step(self) -> AbstractAsyncContextManager[Writer]:
        """One transaction of the import (see `import_step`), under its lock."""
        return import_step(self.connection, ACTOR, self.options.dry_run, IMPORT_LOCK)

    async def driver(self) -> Any:
        return await driver_connection(self.connection)

    def refuse(self, entity: str, location: str, source_id: Any, reason: str) -> None:
        identifier = None if source_id is None else str(source_id)
        self.report.refuse(Refusal(entity, location, identifier, reason))

    # -- runs

    async def study(self, name: str | None) -> int | None:
        if name is None:
            return None
        found = await self.connection.scalar(
            text("SELECT id FROM studies WHERE name = :name"), {"name": name}
        )
        await self.connection.rollback()
        if found is None:
            raise TransferError(
                f"no study is called {name!r}: create it first, or leave out --study"
            )
        return int(found)

    def check_trajectories(self) -> None:
        """Each trajectory of the store checked against the model's rules; those refused
        are reported."""
        counts = self.report.of("Trajectory")
        table = self.tables.trajectory_table
        for row in self.tables.trajectories:
            counts.read += 1
            try:
                trajectory = _trajectory(row)
            except Refused as exc:
                self.refuse("Trajectory", f"{table} id {row.get('id')}", row.get("id"), str(exc))
                if isinstance(row.get("run_id"), str) and _is_integer(row.get("traj_id")):
                    self.refused_trajectories.add((row["run_id"], row["traj_id"]))
                continue
            key = (trajectory.run, trajectory.index)
            if key in self.trajectory_source_ids:
                self.refused_trajectories.add(key)
                self.refuse(
                    "Trajectory",
                    f"{table} id {trajectory.source_id}",
                    trajectory.source_id,
                    f"trajectory {self.trajectory_source_ids[key]} has the same run_id and "
                    "traj_id; scimeta tells a run's trajectories apart by these",
                )
                continue
            self.trajectory_source_ids[key] = trajectory.source_id
            self.checked_trajectories.append(trajectory)

    async def runs(self, study_id: int | None) -> None:
        """A run per run_id of the trajectories, by name."""
        counts = self.report.of("Run")
        names = sorted({row.run for row in self.checked_trajectories})
        self.progress.begin("Run", len(names))
        counts.read += len(names)
        async with self.step() as writer:
            driver = await self.driver()
            found = await driver.fetch(_INSERT_RUNS, names, study_id, json.dumps(RUN_ATTRIBUTES))
            for name, run_id, created in found:
                self.run_ids[name] = run_id
                if not created:
                    counts.present += 1
                    continue
                counts.created += 1
                payload: dict[str, Any] = {
                    "id": run_id,
                    "name": name,
                    "status": Status.PENDING.value,
                    "attempt": 0,
                }
                if study_id is not None:
                    payload["study_id"] = study_id
                writer.record(_event("Run", run_id, "created", payload))
        self.progress.advance(len(names))
        self.progress.end()

    # -- trajectories

    async def trajectories(self) -> None:
        counts = self.report.of("Trajectory")
        table = self.tables.trajectory_table
        unique = self.checked_trajectories
        self.progress.begin("Trajectory", len(self.tables.trajectories))
        self.progress.advance(len(self.tables.trajectories) - len(unique))
        for start in range(0, len(unique), CHUNK_ROWS):
            batch = unique[start : start + CHUNK_ROWS]
            async with self.step() as writer:
                driver = await self.driver()
                found = await driver.fetch(
                    _INSERT_TRAJECTORIES,
                    [self.run_ids[row.run] for row in batch],
                    [row.index for row in batch],
                    [row.target_length for row in batch],
                    [_json(row.init_atoms) for row in batch],
                    [row.created_at for row in batch],
                )
                for row, (trajectory_id, created, differs) in zip(batch, found, strict=True):
                    key = (row.run, row.index)
                    if differs:
                        self.refused_trajectories.add(key)
                        self.refuse(
                            "Trajectory",
                            f"{table} id {row.source_id}",
                            row.source_id,
                            f"trajectory {row.index} of run {row.run!r} exists in scimeta with "
                            "another targetLength or initAtoms; a trajectory's start is fixed "
                            "once set",
                        )
                        continue
                    self.trajectory_ids[key] = trajectory_id
                    self.taken_trajectories.append(row)
                    if created:
                        counts.created += 1
                        writer.record(
                            _event(
                                "Trajectory",
                                trajectory_id,
                                "created",
                                {
                                    "id": trajectory_id,
                                    "run_id": self.run_ids[row.run],
                                    "index": row.index,
                                    "target_length": row.target_length,
                                },
                            )
                        )
                    else:
                        counts.present += 1
            self.progress.advance(len(batch))
        self.progress.end()

    # -- chunk attempts

    def check_chunks(self) -> None:
        """Each chunk attempt of the store checked against the model's rules and placed in
        its trajectory; those refused are reported."""
        counts = self.report.of("Chunk")
        table = self.tables.chunk_table
        seen: dict[tuple[str, int, int, int], Any] = {}
        for row in self.tables.chunks:
            counts.read += 1
            try:
                chunk = self._chunk(row)
                key = (chunk.run, chunk.traj, chunk.index, chunk.attempt_index)
                if key in seen:
                    raise Refused(
                        f"chunk attempt {seen[key]} has the same run_id, traj_id, chunk_id and "
                        "attempt_index"
                    )
                seen[key] = chunk.source_id
                self.taken_chunks.append(chunk)
            except Refused as exc:
                self.refuse("Chunk", f"{table} id {row.get('id')}", row.get("id"), str(exc))
                refused = _chunk_key(row)
                if refused is not None:
                    self.refused_chunks.add(refused)

    def _chunk(self, row: dict[str, Any]) -> ChunkRow:
        run = row.get("run_id")
        traj = _integer(row, "traj_id")
        if not isinstance(run, str):
            raise Refused(f"its run_id {run!r} is not text")
        if (run, traj) in self.refused_trajectories:
            raise Refused(f"its trajectory (run_id {run!r}, traj_id {traj}) was refused")
        source_trajectory = self.trajectory_source_ids.get((run, traj))
        if source_trajectory is None:
            raise Refused(
                f"its trajectory (run_id {run!r}, traj_id {traj}) is not in the store's "
                f"{self.tables.trajectory_table} table"
            )
        given = row.get("trajectory_id")
        if given is not None and given != source_trajectory:
            raise Refused(
                f"its trajectory_id {given} is not trajectory {source_trajectory}, the one "
                f"with run_id {run!r} and traj_id {traj}"
            )
        word = row.get("audit_status")
        status = _audit_status(word)
        version = row.get("model_version")
        attempt_index = row.get("attempt_index")
        chunk = ChunkRow(
            source_id=row.get("id"),
            run=run,
            traj=traj,
            index=_integer(row, "chunk_id"),
            attempt_index=0 if attempt_index is None else _integer(row, "attempt_index"),
            model_version=None if version is None else str(version),
            audit_status=status,
            frame_count=_integer(row, "n_frames"),
            created_at=_time(row, "created_at"),
            audit_reason=None if row.get("audit_reason") is None else str(row["audit_reason"]),
        )
        _non_negative(chunk.attempt_index, "attempt_index")
        try:
            check_chunks(
                [
                    ChunkAttemptSpec(
                        index=chunk.index,
                        model_version=chunk.model_version,
                        frame_count=chunk.frame_count,
                        audit_status=chunk.audit_status,
                    )
                ]
            )
        except BadUserInput as exc:
            raise Refused(_source_words(exc.message)) from exc
        return chunk

    async def stage_frames(self, frames: FrameSource | None) -> None:
        """The ASE frames, each checked and placed in its chunk attempt, copied into a
        temporary table from which each attempt takes its own."""
        counts = self.report.of("Frame")
        positions = {
            (c.run, c.traj, c.index, c.attempt_index): n for n, c in enumerate(self.taken_chunks)
        }
        attempts: dict[tuple[str, int, int], list[int]] = defaultdict(list)
        for (run, traj, index, attempt), _ in positions.items():
            attempts[(run, traj, index)].append(attempt)
        for run, traj, index, attempt in self.refused_chunks:
            attempts[(run, traj, index)].append(attempt)
        total = await frames.count() if frames is not None else 0
        self.progress.begin("Frame", total)
        async with self.step():
            await self.connection.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
            await self.connection.execute(
                text(f"CREATE TEMP TABLE {STAGE} (key integer, ase_id bigint, frame jsonb)")
            )
            if frames is not None:
                driver = await self.driver()
                framed = await self._framed(driver, positions)
                async for batch in frames.batches():
                    records = []
                    for frame in batch:
                        counts.read += 1
                        try:
                            key = self._frame_chunk(frame, positions, attempts)
                            if key in framed:
                                # an earlier import gave the attempt its frames
                                counts.present += 1
                                continue
                            records.append((key, frame.ase_id, _frame_json(frame)))
                        except Refused as exc:
                            self.refuse(
                                "Frame", f"ASE row id {frame.ase_id}", frame.ase_id, str(exc)
                            )
                    for key, ase_id, _ in records:
                        self.staged[key].append(ase_id)
                    if records:
                        await driver.copy_records_to_table(
                            STAGE, records=records, columns=["key", "ase_id", "frame"]
                        )
                    self.progress.advance(len(batch))
            await self.connection.execute(text(f"CREATE INDEX ON {STAGE} (key)"))
        self.progress.end()

    async def _framed(
        self, driver: Any, positions: dict[tuple[str, int, int, int], int]
    ) -> set[int]:
        """The attempts (positions in taken_chunks) that hold frames in scimeta already."""
        rows = await driver.fetch(_FRAMED, sorted(self.run_ids.values()))
        found = set()
        for run, traj, index, attempt in rows:
            position = positions.get((run, traj, index, attempt - 1))
            if position is not None:
                found.add(position)
        return found

    def _frame_chunk(
        self,
        frame: Frame,
        positions: dict[tuple[str, int, int, int], int],
        attempts: dict[tuple[str, int, int], list[int]],
    ) -> int:
        """The position in taken_chunks of the frame's chunk attempt, or Refused."""
        pairs = frame.key_value_pairs
        missing = [key for key in FRAME_KEYS if key not in pairs]
        if missing:
            raise Refused(
                f"it has no {' or '.join(missing)} key-value pair, which place a frame in its chunk"
            )
        run, traj, index = pairs["run_id"], pairs["traj_id"], pairs["chunk_id"]
        attempt = next((pairs[key] for key in ATTEMPT_KEYS if key in pairs), None)
        where = f"run_id {run!r}, traj_id {traj}, chunk_id {index}"
        if attempt is None:
            known = attempts.get((run, traj, index), [])
            if len(known) != 1:
                raise Refused(
                    f"it has no attempt_index, and chunk ({where}) has {len(known)} attempts "
                    "in the tables: it cannot be placed"
                )
            attempt = known[0]
        key = (run, traj, index, attempt)
        if key in self.refused_chunks:
            raise Refused(f"its chunk attempt ({where}, attempt_index {attempt}) was refused")
        found = positions.get(key)
        if found is None:
            raise Refused(
                f"its chunk attempt ({where}, attempt_index {attempt}) is not in the store's "
                f"{self.tables.chunk_table} table"
            )
        return found

    async def chunks(self) -> None:
        counts = self.report.of("Chunk")
        frame_counts = self.report.of("Frame")
        table = self.tables.chunk_table
        self.progress.begin("Chunk", len(self.tables.chunks))
        self.progress.advance(len(self.tables.chunks) - len(self.taken_chunks))
        order = sorted(
            range(len(self.taken_chunks)),
            key=lambda n: (
                self.taken_chunks[n].run,
                self.taken_chunks[n].traj,
                self.taken_chunks[n].index,
                self.taken_chunks[n].attempt,
            ),
        )
        for start in range(0, len(order), CHUNK_ROWS):
            keys = order[start : start + CHUNK_ROWS]
            batch = [self.taken_chunks[n] for n in keys]
            async with self.step() as writer:
                driver = await self.driver()
                found = await driver.fetch(
                    _INSERT_CHUNKS,
                    [self.trajectory_ids[(c.run, c.traj)] for c in batch],
                    [self.run_ids[c.run] for c in batch],
                    [c.index for c in batch],
                    [c.attempt for c in batch],
                    [c.model_version for c in batch],
                    [c.frame_count for c in batch],
                    [c.audit_status.value for c in batch],
                    [c.created_at for c in batch],
                    keys,
                )
                audits: list[tuple[int, AuditStatus, AuditStatus]] = []
                gaining: list[tuple[int, int]] = []
                for key, chunk, record in zip(keys, batch, found, strict=True):
                    chunk_id, created = record["id"], record["created"]
                    staged = len(self.staged.get(key, ()))
                    if created:
                        counts.created += 1
                        frame_counts.created += staged
                        payload = {
                            "id": chunk_id,
                            "run_id": self.run_ids[chunk.run],
                            "trajectory_id": self.trajectory_ids[(chunk.run, chunk.traj)],
                            "index": chunk.index,
                            "attempt": chunk.attempt,
                            "audit_status": chunk.audit_status.value,
                            "frame_count": chunk.frame_count,
                        }
                        if chunk.model_version is not None:
                            payload["model_version"] = chunk.model_version
                        if chunk.audit_reason is not None:
                            payload["audit_reason"] = chunk.audit_reason
                        if staged:
                            payload["frames"] = staged
                        writer.record(_event("Chunk", chunk_id, "created", payload))
                        continue
                    try:
                        audit = self._present(chunk, record)
                    except Refused as exc:
                        self.refuse(
                            "Chunk", f"{table} id {chunk.source_id}", chunk.source_id, str(exc)
                        )
                        for ase_id in self.staged.get(key, ()):
                            self.refuse(
                                "Frame",
                                f"ASE row id {ase_id}",
                                ase_id,
                                f"its chunk attempt ({table} id {chunk.source_id}) was refused",
                            )
                        continue
                    counts.present += 1
                    if audit is not None:
                        audits.append((chunk_id, audit, chunk.audit_status))
                    if staged and record["has_frames"]:
                        frame_counts.present += staged
                    elif staged:
                        gaining.append((chunk_id, key))
                if audits:
                    moved = await driver.fetch(
                        _SET_AUDITS,
                        [a[0] for a in audits],
                        [a[1].value for a in audits],
                        [a[2].value for a in audits],
                    )
                    changed = {row[0] for row in moved}
                    for chunk_id, before, after in audits:
                        if chunk_id not in changed:
                            continue
                        writer.record(
                            _event(
                                "Chunk",
                                chunk_id,
                                "audit_status_changed",
                                {"from": before.value, "to": after.value},
                            )
                        )
                if gaining:
                    filled = await driver.fetch(
                        _FILL_FRAMES, [g[0] for g in gaining], [g[1] for g in gaining]
                    )
                    for chunk_id, count in filled:
                        frame_counts.created += count
                        writer.record(_event("Chunk", chunk_id, "frames_added", {"count": count}))
            self.progress.advance(len(batch))
        self.progress.end()

    @staticmethod
    def _present(chunk: ChunkRow, record: Any) -> AuditStatus | None:
        """The audit status a present attempt moves from, if the store's is a later one;
        Refused if the attempt in scimeta disagrees with the store."""
        if (record["model_version"], record["frame_count"]) != (
            chunk.model_version,
            chunk.frame_count,
        ):
            raise Refused(
                f"attempt {chunk.attempt} of chunk {chunk.index} exists in scimeta with model "
                f"version {record['model_version']!r} and frame count {record['frame_count']}; "
                f"the store has {chunk.model_version!r} and {chunk.frame_count}"
            )
        current = AuditStatus(record["audit_status"])
        if current == chunk.audit_status:
            return None
        if chunk.audit_status not in AUDIT_TRANSITIONS[current]:
            raise Refused(
                f"attempt {chunk.attempt} of chunk {chunk.index} was audited {current.value} in "
                f"scimeta and is {chunk.audit_status.value} in the store; an audit result is "
                "final"
            )
        return current

    # -- run statuses

    async def statuses(self) -> None:
        """Runs move on as their rows imply: RUNNING once they have chunk attempts,
        SUCCEEDED once every trajectory is done; never back, and never a run a worker
        holds a lease on."""
        attempted = {c.run for c in self.taken_chunks}
        passed_frames: dict[tuple[str, int], int] = defaultdict(int)
        for chunk in self.taken_chunks:
            if chunk.audit_status is AuditStatus.PASSED:
                passed_frames[(chunk.run, chunk.traj)] += chunk.frame_count
        done: dict[str, bool] = {}
        for row in self.taken_trajectories:
            finished = row.done
            if finished is None:
                finished = passed_frames[(row.run, row.index)] >= row.target_length
            done[row.run] = done.get(row.run, True) and finished
        running = [self.run_ids[name] for name in sorted(attempted) if name in self.run_ids]
        succeeded = [
            self.run_ids[name]
            for name in sorted(attempted)
            if name in self.run_ids and done.get(name, False)
        ]
        async with self.step() as writer:
            driver = await self.driver()
            for ids, before, after in (
                (running, Status.PENDING, Status.RUNNING),
                (succeeded, Status.RUNNING, Status.SUCCEEDED),
            ):
                moved = await driver.fetch(_MOVE_RUNS, ids, before.value, after.value)
                for (run_id,) in moved:
                    writer.record(
                        _event(
                            "Run",
                            run_id,
                            "status_changed",
                            {"from": before.value, "to": after.value},
                        )
                    )


def _non_negative(value: int, column: str) -> None:
    try:
        non_negative(value, column)
    except BadUserInput as exc:
        raise Refused(exc.message) from exc


def _trajectory(row: dict[str, Any]) -> TrajectoryRow:
    run = row.get("run_id")
    if not isinstance(run, str):
        raise Refused(f"its run_id {run!r} is not text")
    try:
        checked_text(run, "run_id", NAME_LENGTH)
    except BadUserInput as exc:
        raise Refused(f"its run_id is not a run name: {exc.message}") from exc
    index = _integer(row, "traj_id")
    target_length = _integer(row, "target_length")
    _non_negative(index, "traj_id")
    _non_negative(target_length, "target_length")
    column = "init_atoms_json" if "init_atoms_json" in row else "init_atoms"
    try:
        atoms = init_atoms(_unified_atoms(row.get(column)))
    except BadUserInput as exc:
        raise Refused(f"its {column} is not a start structure: {exc.message}") from exc
    done = row.get("done")
    return TrajectoryRow(
        source_id=row.get("id"),
        run=run,
        index=index,
        target_length=target_length,
        init_atoms=atoms,
        created_at=_time(row, "created_at"),
        done=None if done is None else bool(done),
    )


def _unified_atoms(value: Any) -> dict[str, Any] | None:
    """The engine's init_atoms_json (numbers, positions, cell, pbc) as scimeta keeps a start
    structure (symbols, positions, cell, pbc)."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise Refused(f"its init_atoms_json is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        return value  # type: ignore[no-any-return]
    atoms = dict(value)
    if "numbers" in atoms:
        atoms["symbols"] = _symbols(atoms.pop("numbers"))
    if atoms.get("pbc") is not None and isinstance(atoms["pbc"], list):
        atoms["pbc"] = [bool(flag) for flag in atoms["pbc"]]
    return atoms


def _symbols(numbers: Any) -> list[str]:
    if not isinstance(numbers, list):
        raise Refused(f"its atomic numbers {numbers!r} are not a list")
    symbols = []
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int):
            raise Refused(f"its atomic number {number!r} is not a whole number")
        if not 0 <= number < len(chemical_symbols):
            raise Refused(f"its atomic number {number} is no element's")
        symbols.append(chemical_symbols[number])
    return symbols


def _frame_json(frame: Frame) -> str:
    """A frame as the API gives it: shaped like a start structure, with its energy and
    forces when stored, its key-value pairs and its id in the ASE database."""
    # The rules of init_atoms, of which the decoding already kept the shapes (three
    # numbers a vector) and _symbols the elements.
    symbols = _symbols(frame.numbers)
    if not symbols or len(frame.positions) != len(symbols):
        raise Refused(
            f"its atoms are not a structure: {len(symbols)} atoms and "
            f"{len(frame.positions)} positions"
        )
    if frame.cell is not None and len(frame.cell) != CELL_VECTORS:
        raise Refused(f"its cell has {len(frame.cell)} vectors, not 3")
    document: dict[str, Any] = {
        "symbols": symbols,
        "positions": frame.positions,
        "cell": frame.cell,
        "pbc": frame.pbc,
    }
    if frame.energy is not None:
        document["energy"] = frame.energy
    if frame.forces is not None:
        document["forces"] = frame.forces
    document["key_value_pairs"] = frame.key_value_pairs
    document["ase_id"] = frame.ase_id
    try:
        return json.dumps(document, allow_nan=False)
    except ValueError as exc:
        raise Refused(
            "it holds NaN or an infinity (in its energy, forces, positions or key-value "
            "pairs), which JSON cannot"
        ) from exc


def _audit_status(word: Any) -> AuditStatus:
    """The engine's AuditStatus, stored by name (PENDING, PASSED, FAILED)."""
    name = str(word).strip().upper().removeprefix("AUDITSTATUS.") if word is not None else ""
    try:
        return AuditStatus[name]
    except KeyError:
        raise Refused(
            f"its audit_status {word!r} is not one of {', '.join(s.value for s in AuditStatus)}"
        ) from None


def _chunk_key(row: dict[str, Any]) -> tuple[str, int, int, int] | None:
    """The (run_id, traj_id, chunk_id, attempt_index) of a refused row, where it has one, so
    that its frames are refused as frames of a refused attempt."""
    values = (
        row.get("run_id"),
        row.get("traj_id"),
        row.get("chunk_id"),
        row.get("attempt_index") or 0,
    )
    if not isinstance(values[0], str) or not all(_is_integer(v) for v in values[1:]):
        return None
    return values  # type: ignore[return-value]


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integer(row: dict[str, Any], column: str) -> int:
    value = row.get(column)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Refused(f"its {column} {value!r} is not a whole number")
    return value


def _source_words(message: str) -> str:
    """A model rule's message in the store's words."""
    for model, store in (
        ("chunks[0].frameCount", "n_frames"),
        ("chunks[0].index", "chunk_id"),
        ("chunks[0].modelVersion", "model_version"),
    ):
        message = message.replace(model, store)
    return message


def _time(row: dict[str, Any], column: str) -> datetime | None:
    """A time of the store in UTC (naive times are UTC); None if it has none."""
    value = row.get(column)
    if value is None or value == "":
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise Refused(f"its {column} {value!r} is not a time") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _event(subject_type: str, subject_id: int, type_: str, payload: dict[str, Any]) -> models.Event:
    return models.Event(
        subject_type=subject_type, subject_id=subject_id, type=type_, actor=ACTOR, payload=payload
    )


# Each statement inserts the rows whose natural key is free and answers, in input order,
# the row's id and whether it inserted it.
_INSERT_RUNS = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::text[]) WITH ORDINALITY AS s(name, n)
),
inserted AS (
    INSERT INTO runs (name, study_id, status, attributes)
    SELECT name, $2::bigint, 'PENDING', $3::jsonb FROM src ORDER BY n
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name
)
SELECT src.name, coalesce(i.id, r.id), i.id IS NOT NULL
FROM src LEFT JOIN inserted i USING (name) LEFT JOIN runs r ON r.name = src.name
ORDER BY src.n
"""

# ... and, for a trajectory present, whether it has another target length or start
_INSERT_TRAJECTORIES = """
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::timestamptz[])
        WITH ORDINALITY AS s(run_id, index, target_length, init_atoms, created_at, n)
),
inserted AS (
    INSERT INTO trajectories (run_id, index, target_length, init_atoms, created_at)
    SELECT run_id, index, target_length, init_atoms::jsonb, coalesce(created_at, now())
    FROM src ORDER BY n
    ON CONFLICT (run_id, index) DO NOTHING
    RETURNING id, run_id, index
)
SELECT coalesce(i.id, t.id), i.id IS NOT NULL,
    i.id IS NULL AND (t.target_length IS DISTINCT FROM src.target_length
        OR t.init_atoms IS DISTINCT FROM src.init_atoms::jsonb)
FROM src LEFT JOIN inserted i USING (run_id, index)
    LEFT JOIN trajectories t ON t.run_id = src.run_id AND t.index = src.index
ORDER BY src.n
"""

# A new attempt takes its frames from the stage as it is inserted; a present one answers
# what scimeta holds of it, to compare.
_INSERT_CHUNKS = f"""
WITH src AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[], $5::text[],
        $6::int[], $7::text[], $8::timestamptz[], $9::int[])
        WITH ORDINALITY AS s(trajectory_id, run_id, index, attempt, model_version, frame_count,
            audit_status, created_at, key, n)
),
inserted AS (
    INSERT INTO chunks (trajectory_id, run_id, index, attempt, model_version, frame_count,
        audit_status, created_at, frames)
    SELECT trajectory_id, run_id, index, attempt, model_version, frame_count, audit_status,
        coalesce(created_at, now()),
        (SELECT jsonb_agg(f.frame ORDER BY f.ase_id) FROM {STAGE} f WHERE f.key = src.key)
    FROM src ORDER BY n
    ON CONFLICT (trajectory_id, index, attempt) DO NOTHING
    RETURNING id, trajectory_id, index, attempt
)
SELECT coalesce(i.id, c.id) AS id, i.id IS NOT NULL AS created,
    c.model_version, c.frame_count, c.audit_status, c.frames IS NOT NULL AS has_frames
FROM src LEFT JOIN inserted i USING (trajectory_id, index, attempt)
    LEFT JOIN chunks c ON c.trajectory_id = src.trajectory_id AND c.index = src.index
        AND c.attempt = src.attempt
ORDER BY src.n
"""

# an attempt audited meanwhile by someone else keeps that result
_FRAMED = """
SELECT r.name, t.index, c.index, c.attempt
FROM chunks c JOIN trajectories t ON t.id = c.trajectory_id JOIN runs r ON r.id = c.run_id
WHERE c.run_id = ANY($1::bigint[]) AND c.frames IS NOT NULL
"""

_SET_AUDITS = """
UPDATE chunks c SET audit_status = u.audit_status, updated_at = now(), version = c.version + 1
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, before, audit_status)
WHERE c.id = u.id AND c.audit_status = u.before
RETURNING c.id
"""

_FILL_FRAMES = f"""
WITH wanted AS (SELECT * FROM unnest($1::bigint[], $2::int[]) AS w(chunk_id, key)),
gathered AS (
    SELECT w.chunk_id, jsonb_agg(f.frame ORDER BY f.ase_id) AS frames
    FROM wanted w JOIN {STAGE} f ON f.key = w.key
    GROUP BY w.chunk_id
)
UPDATE chunks c SET frames = g.frames, updated_at = now(), version = c.version + 1
FROM gathered g
WHERE c.id = g.chunk_id AND c.frames IS NULL
RETURNING c.id, jsonb_array_length(c.frames)
"""

_MOVE_RUNS = """
UPDATE runs SET status = $3::text,
    started_at = CASE WHEN $3::text = 'RUNNING' THEN now() ELSE started_at END,
    ended_at = CASE WHEN $3::text = 'SUCCEEDED' THEN now() END,
    updated_at = now(), version = version + 1
WHERE id = ANY($1::bigint[]) AND status = $2::text AND lease_token IS NULL
RETURNING id
"""

SOURCE = Source(
    name=NAME,
    location="URL|FILE",
    summary="a Cascade trajectory engine's database (postgresql:// URL or SQLite file) and "
    "its ASE database of frames",
    run=import_cascade,
)
