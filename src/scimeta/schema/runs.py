"""Runs, their artifacts and agent outputs, trajectories and chunk attempts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.schema.core import Event, File, Metric
from scimeta.schema.enums import AuditStatus, RunPhase, Status
from scimeta.schema.node import Entity, LoaderInfo
from scimeta.schema.relations import events, many, one

if TYPE_CHECKING:
    from scimeta.schema.studies import Study

StudyType = Annotated["Study", strawberry.lazy("scimeta.schema.studies")]


@strawberry.type(description="A file a run produced, with its role.")
class RunArtifact(Entity):
    __model__ = models.RunArtifact

    role: str = strawberry.field(description="bundle, statepoint, parquet, ...")

    @strawberry.field(description="The file.")
    async def file(self, root: strawberry.Parent[models.RunArtifact], info: LoaderInfo) -> File:
        return await one(info, models.File, root.file_id)


@strawberry.type(description="Structured output an agent produced about a run.")
class AgentOutput(Entity):
    __model__ = models.AgentOutput

    agent: str = strawberry.field(description="The agent's name.")
    kind: str = strawberry.field(description="What kind of output (plan, report, ...).")
    data: JSON = strawberry.field(description="The output.")
    schema_version: str | None = strawberry.field(description="Version of the data's schema.")


@strawberry.type(description="A run: a simulation or trajectory engine execution.")
class Run(Entity):
    __model__ = models.Run

    name: str = strawberry.field(description="Unique run name.")
    status: Status = strawberry.field(description="Lifecycle status.")
    phase: RunPhase | None = strawberry.field(description="Current phase.")
    claimed_by: str | None = strawberry.field(description="Worker holding the lease.")
    lease_expires_at: datetime | None = strawberry.field(description="When the lease ends.")
    attempt: int = strawberry.field(description="How many times the run was claimed.")
    started_at: datetime | None = strawberry.field(description="When it started.")
    ended_at: datetime | None = strawberry.field(description="When it ended.")
    error: JSON | None = strawberry.field(description="Error details of a failed run.")
    attributes: JSON = strawberry.field(description="Lab-specific fields.")

    @strawberry.field(description="The study the run belongs to.")
    async def study(
        self, root: strawberry.Parent[models.Run], info: LoaderInfo
    ) -> StudyType | None:
        return await one(info, models.Study, root.study_id)

    @strawberry.field(description="Files the run produced.")
    async def artifacts(
        self, root: strawberry.Parent[models.Run], info: LoaderInfo
    ) -> list[RunArtifact]:
        return await many(info, models.RunArtifact, models.RunArtifact.run_id, root.id)

    @strawberry.field(description="Summary metrics (keff, ...).")
    async def metrics(self, root: strawberry.Parent[models.Run], info: LoaderInfo) -> list[Metric]:
        return await many(info, models.Metric, models.Metric.run_id, root.id)

    @strawberry.field(description="Outputs of agents about this run.")
    async def agent_outputs(
        self, root: strawberry.Parent[models.Run], info: LoaderInfo
    ) -> list[AgentOutput]:
        return await many(
            info,
            models.AgentOutput,
            models.AgentOutput.run_id,
            root.id,
            models.AgentOutput.created_at,
            models.AgentOutput.id,
        )

    @strawberry.field(description="Trajectories, by index.")
    async def trajectories(
        self, root: strawberry.Parent[models.Run], info: LoaderInfo
    ) -> list[Trajectory]:
        return await many(
            info, models.Trajectory, models.Trajectory.run_id, root.id, models.Trajectory.index
        )

    @strawberry.field(description="Chunk attempts of all trajectories.")
    async def chunks(self, root: strawberry.Parent[models.Run], info: LoaderInfo) -> list[Chunk]:
        return await many(
            info,
            models.Chunk,
            models.Chunk.run_id,
            root.id,
            models.Chunk.trajectory_id,
            models.Chunk.index,
            models.Chunk.attempt,
        )

    @strawberry.field(description="Events about the run, oldest first.")
    async def events(self, root: strawberry.Parent[models.Run], info: LoaderInfo) -> list[Event]:
        return await events(info, "Run", root.id)


@strawberry.type(description="A trajectory of a run, generated chunk by chunk.")
class Trajectory(Entity):
    __model__ = models.Trajectory

    index: int = strawberry.field(description="Trajectory index, unique in the run.")
    target_length: int = strawberry.field(description="Number of frames wanted.")
    init_atoms: JSON | None = strawberry.field(
        description="Start structure: symbols, positions, cell."
    )

    @strawberry.field(description="The run.")
    async def run(self, root: strawberry.Parent[models.Trajectory], info: LoaderInfo) -> Run:
        return await one(info, models.Run, root.run_id)

    @strawberry.field(description="Chunk attempts, by chunk index and attempt.")
    async def chunks(
        self, root: strawberry.Parent[models.Trajectory], info: LoaderInfo
    ) -> list[Chunk]:
        return await many(
            info,
            models.Chunk,
            models.Chunk.trajectory_id,
            root.id,
            models.Chunk.index,
            models.Chunk.attempt,
        )


@strawberry.type(description="One attempt at one chunk of a trajectory, and its audit result.")
class Chunk(Entity):
    __model__ = models.Chunk

    index: int = strawberry.field(description="Chunk index in the trajectory.")
    attempt: int = strawberry.field(description="Attempt number for this chunk, from 1.")
    model_version: str | None = strawberry.field(description="Model version that generated it.")
    audit_status: AuditStatus = strawberry.field(description="Audit result.")
    frame_count: int | None = strawberry.field(description="Number of frames.")

    @strawberry.field(description="The trajectory.")
    async def trajectory(
        self, root: strawberry.Parent[models.Chunk], info: LoaderInfo
    ) -> Trajectory:
        return await one(info, models.Trajectory, root.trajectory_id)

    @strawberry.field(description="The frames file.")
    async def file(self, root: strawberry.Parent[models.Chunk], info: LoaderInfo) -> File | None:
        return await one(info, models.File, root.file_id)

    @strawberry.field(description="Metrics of this chunk.")
    async def metrics(
        self, root: strawberry.Parent[models.Chunk], info: LoaderInfo
    ) -> list[Metric]:
        return await many(info, models.Metric, models.Metric.chunk_id, root.id)
