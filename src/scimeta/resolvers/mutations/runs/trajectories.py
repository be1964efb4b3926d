"""Mutations of trajectories and chunk attempts (seed 000): start structures, attempt
numbers allocated by the server, audit results."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.auth.policy import Action
from scimeta.errors import BadUserInput
from scimeta.resolvers.mutations.base import WriteInfo, capped, replayed, row_id, write
from scimeta.resolvers.mutations.core import FileColumnsInput, FileInput
from scimeta.schema.enums import AuditStatus
from scimeta.schema.runs import Chunk, Trajectory
from scimeta.writes.columns import Names, check_columns, nulls
from scimeta.writes.core.files import FileColumns
from scimeta.writes.runs import trajectories as writes

MAX_CHUNK_ATTEMPTS = 1_000


@strawberry.input(description="A trajectory of a run and where it starts.")
class InitializeTrajectoryInput:
    run_id: relay.GlobalID = strawberry.field(description="The run.")
    index: int = strawberry.field(description="Trajectory index in the run, 0 or more.")
    target_length: int = strawberry.field(description="Number of frames wanted, 0 or more.")
    init_atoms: JSON | None = strawberry.field(
        default=None,
        description="Start structure: {symbols: [element, ...], positions: [[x, y, z], ...] "
        "(one per symbol), cell: [[...], [...], [...]] (optional), pbc: [bool, bool, bool] "
        "(optional)}.",
    )


@strawberry.type(description="The trajectory, and whether this call created it.")
class InitializeTrajectoryPayload:
    trajectory: Trajectory = strawberry.field(description="The trajectory.")
    created: bool = strawberry.field(
        description="False if the trajectory existed with the same values: nothing was written."
    )


@strawberry.input(description="One attempt at one chunk; the server numbers the attempt.")
class ChunkAttemptInput:
    index: int = strawberry.field(description="Chunk index in the trajectory, 0 or more.")
    model_version: str | None = strawberry.field(
        default=None, description="Model version that generated it."
    )
    frame_count: int | None = strawberry.field(
        default=None, description="Number of frames, 0 or more."
    )
    audit_status: AuditStatus = strawberry.field(
        default=AuditStatus.PENDING, description="Audit result so far."
    )
    file: FileInput | None = strawberry.field(default=None, description="The frames file.")

    def spec(self) -> writes.ChunkAttemptSpec:
        return writes.ChunkAttemptSpec(
            index=self.index,
            model_version=self.model_version,
            frame_count=self.frame_count,
            audit_status=models.AuditStatus(self.audit_status.value),
            file=self.file.spec() if self.file is not None else None,
        )


@strawberry.input(
    description="Chunk attempts as one list per column, entry n of each being attempt n's: "
    "the same rows as a list of ChunkAttemptInput, checked by the same rules and numbered "
    "in the same order, for less work per attempt on the server and a smaller request. "
    "Errors name a value by its column and position, as chunkColumns.frameCount[3]."
)
class ChunkAttemptColumnsInput:
    index: list[int] = strawberry.field(
        description="Chunk indexes in the trajectory, 0 or more. Its length is the number of "
        f"attempts (at most {MAX_CHUNK_ATTEMPTS})."
    )
    model_version: list[str | None] | None = strawberry.field(
        default=None, description="Model versions that generated them; left out, null for all."
    )
    frame_count: list[int | None] | None = strawberry.field(
        default=None, description="Numbers of frames, 0 or more; left out, null for all."
    )
    audit_status: list[AuditStatus | None] | None = strawberry.field(
        default=None, description="Audit results so far; null or left out: PENDING."
    )
    file: FileColumnsInput | None = strawberry.field(
        default=None,
        description="The frames files; a null path is an attempt without a file. Left out, "
        "no attempt has a file.",
    )


def _chunks(
    chunks: list[ChunkAttemptInput] | None, columns: ChunkAttemptColumnsInput | None
) -> writes.ChunkColumns:
    """The attempts of either form as columns, checked for the cap and, as columns, for
    their lengths; the write function checks their values."""
    if columns is None:
        if chunks is None:
            raise BadUserInput("Give the attempts as chunks or as chunkColumns.", field="chunks")
        capped(chunks, "chunks", MAX_CHUNK_ATTEMPTS)
        return writes.ChunkColumns.of([chunk.spec() for chunk in chunks])
    if chunks is not None:
        raise BadUserInput(
            "Give the attempts as chunks or as chunkColumns, not both.", field="chunks"
        )
    names = Names("chunkColumns", columnar=True)
    files = columns.file.columns() if columns.file is not None else {}
    rows = check_columns(
        names,
        MAX_CHUNK_ATTEMPTS,
        "index",
        {
            "index": columns.index,
            "modelVersion": columns.model_version,
            "frameCount": columns.frame_count,
            "auditStatus": columns.audit_status,
            **files,
        },
    )
    pending = models.AuditStatus.PENDING
    return writes.ChunkColumns(
        index=columns.index,
        model_version=nulls(columns.model_version, rows),
        frame_count=nulls(columns.frame_count, rows),
        audit_status=[pending] * rows
        if columns.audit_status is None
        else [
            pending if status is None else models.AuditStatus(status.value)
            for status in columns.audit_status
        ],
        file=columns.file.files(rows) if columns.file is not None else FileColumns.given({}, rows),
        names=names,
    )


@strawberry.input(description="A new attempt at a chunk of a trajectory.")
class AddChunkAttemptInput(ChunkAttemptInput):
    trajectory_id: relay.GlobalID = strawberry.field(description="The trajectory.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first call's attempt and adds none.",
    )


@strawberry.type(description="The attempt, and whether an earlier call with the key made it.")
class AddChunkAttemptPayload:
    chunk: Chunk = strawberry.field(description="The attempt.")
    replayed: bool = strawberry.field(
        description="True if the idempotency key matched an earlier call: nothing was written."
    )


@strawberry.input(description="New attempts at chunks of one trajectory.")
class AddChunkAttemptsInput:
    trajectory_id: relay.GlobalID = strawberry.field(description="The trajectory.")
    chunks: list[ChunkAttemptInput] | None = strawberry.field(
        default=None,
        description=f"The attempts, numbered in this order (at most {MAX_CHUNK_ATTEMPTS}).",
    )
    chunk_columns: ChunkAttemptColumnsInput | None = strawberry.field(
        default=None, description="The same attempts as columns, instead of chunks."
    )


@strawberry.type(description="The attempts added, in the order given.")
class AddChunkAttemptsPayload:
    chunks: list[Chunk] = strawberry.field(description="The attempts, in the order given.")


@strawberry.input(description="The audit result of a chunk attempt.")
class SetChunkAuditStatusInput:
    id: relay.GlobalID = strawberry.field(description="The chunk attempt.")
    audit_status: AuditStatus = strawberry.field(description="PASSED or FAILED.")
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the attempt changed."
    )


@strawberry.type(description="The chunk attempt.")
class ChunkPayload:
    chunk: Chunk = strawberry.field(description="The attempt after the change.")


@strawberry.type
class TrajectoryMutations:
    @strawberry.mutation(
        description="Start a trajectory of a run (seed 000 initialize_trajectory). Calling "
        "again with the same values returns it (created: false); with other values it is "
        "refused (CONFLICT, ALREADY_EXISTS). A malformed initAtoms is BAD_USER_INPUT."
    )
    async def initialize_trajectory(
        self, info: WriteInfo, input: InitializeTrajectoryInput
    ) -> InitializeTrajectoryPayload:
        run_id = row_id(input.run_id, models.Run, "runId")
        atoms = writes.init_atoms(input.init_atoms)
        async with write(info) as writer:
            trajectory, created = await writes.initialize_trajectory(
                writer,
                run_id,
                index=input.index,
                target_length=input.target_length,
                atoms=atoms,
            )
        return InitializeTrajectoryPayload(trajectory=trajectory, created=created)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Record an attempt at a chunk (seed 000 get_next_attempt_index and "
        "add_chunk_attempt in one call). The server numbers it after the chunk's last "
        "attempt, from 1, unique and gap-free even when many clients add at once."
    )
    async def add_chunk_attempt(
        self, info: WriteInfo, input: AddChunkAttemptInput
    ) -> AddChunkAttemptPayload:
        trajectory_id = row_id(input.trajectory_id, models.Trajectory, "trajectoryId")
        spec = input.spec()
        async with write(info, Action.RUN) as writer:
            earlier, idempotency = await replayed(
                writer, models.Chunk, input.idempotency_key, "addChunkAttempt", vars(input)
            )
            if earlier is not None:
                return AddChunkAttemptPayload(chunk=earlier, replayed=True)  # type: ignore[arg-type]
            (chunk,) = await writes.add_chunk_attempts(
                writer, trajectory_id, writes.ChunkColumns.of([spec], Names("", single=True))
            )
            await idempotency.finish(chunk)
        return AddChunkAttemptPayload(chunk=chunk, replayed=False)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Record attempts at chunks of one trajectory in one transaction, at most "
        f"{MAX_CHUNK_ATTEMPTS}; each is numbered after the last attempt at its chunk, in the "
        "order given."
    )
    async def add_chunk_attempts(
        self, info: WriteInfo, input: AddChunkAttemptsInput
    ) -> AddChunkAttemptsPayload:
        trajectory_id = row_id(input.trajectory_id, models.Trajectory, "trajectoryId")
        columns = _chunks(input.chunks, input.chunk_columns)
        async with write(info, Action.RUN) as writer:
            chunks = await writes.add_chunk_attempts(writer, trajectory_id, columns)
        return AddChunkAttemptsPayload(chunks=chunks)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Record a chunk attempt's audit result (seed 000 update_chunk_audit_status). "
        "The result is final: an audited attempt cannot be audited again (CONFLICT, "
        "ILLEGAL_TRANSITION); add a new attempt instead. Trajectory.chunksCompleted follows "
        "the PASSED attempts."
    )
    async def set_chunk_audit_status(
        self, info: WriteInfo, input: SetChunkAuditStatusInput
    ) -> ChunkPayload:
        chunk_id = row_id(input.id, models.Chunk, "id")
        async with write(info) as writer:
            chunk = await writes.set_chunk_audit_status(
                writer,
                chunk_id,
                models.AuditStatus(input.audit_status.value),
                expected_version=input.expected_version,
            )
        return ChunkPayload(chunk=chunk)  # type: ignore[arg-type]
