"""Runs, their artifacts and agent outputs, trajectories and chunk attempts, and a worker's
lease on a run."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.models.ownership import relation
from scimeta.schema.connections import list_field
from scimeta.schema.core import File, event_list, metric_list
from scimeta.schema.enums import AuditStatus, RunPhase, Status
from scimeta.schema.generated.lists import (
    agent_output_list,
    chunk_list,
    run_artifact_list,
    trajectory_list,
)
from scimeta.schema.node import Entity, LoaderInfo
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.relations import DistinctValues, reads, related

if TYPE_CHECKING:
    from scimeta.schema.studies import Study

StudyType = Annotated["Study", strawberry.lazy("scimeta.schema.studies")]
_MODULE = "scimeta.schema.runs"


@strawberry.type(description="A file a run produced, with its role.")
class RunArtifact(Entity):
    __model__ = models.RunArtifact

    role: str = strawberry.field(description="bundle, statepoint, parquet, ...")

    file: File = related(models.RunArtifact, "file", description="The file.")


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

    study: StudyType | None = related(
        models.Run, "study", description="The study the run belongs to."
    )

    artifacts = list_field(
        RunArtifact,
        relation(models.Run, "artifacts"),
        resolver=run_artifact_list,
        description="Files the run produced, oldest first.",
    )
    metrics = metric_list(relation(models.Run, "metrics"), "Summary metrics (keff, ...).")
    agent_outputs = list_field(
        AgentOutput,
        relation(models.Run, "agent_outputs"),
        resolver=agent_output_list,
        default_order=[OrderTerm(models.AgentOutput.created_at)],
        description="Outputs of agents about this run, oldest first.",
    )
    trajectories = list_field(
        Annotated["Trajectory", strawberry.lazy(_MODULE)],
        relation(models.Run, "trajectories"),
        resolver=trajectory_list,
        default_order=[OrderTerm(models.Trajectory.index)],
        description="Trajectories, by index.",
    )
    chunks = list_field(
        Annotated["Chunk", strawberry.lazy(_MODULE)],
        relation(models.Run, "chunks"),
        resolver=chunk_list,
        default_order=[
            OrderTerm(models.Chunk.trajectory_id),
            OrderTerm(models.Chunk.index),
            OrderTerm(models.Chunk.attempt),
        ],
        description="Chunk attempts of all trajectories, by trajectory, chunk and attempt.",
    )
    events = event_list("Run", "Events about the run, oldest first.")


@strawberry.type(description="A trajectory of a run, generated chunk by chunk.")
class Trajectory(Entity):
    __model__ = models.Trajectory

    index: int = strawberry.field(description="Trajectory index, unique in the run.")
    target_length: int = strawberry.field(description="Number of frames wanted.")
    init_atoms: JSON | None = strawberry.field(
        description="Start structure: symbols, positions, cell."
    )

    run: Run = related(models.Trajectory, "run", description="The run.")

    chunks = list_field(
        Annotated["Chunk", strawberry.lazy(_MODULE)],
        relation(models.Trajectory, "chunks"),
        resolver=chunk_list,
        default_order=[OrderTerm(models.Chunk.index), OrderTerm(models.Chunk.attempt)],
        description="Chunk attempts, by chunk index and attempt.",
    )

    @strawberry.field(description="Indexes of the chunks that have a PASSED attempt, ascending.")
    @reads(
        DistinctValues(
            models.Chunk,
            "trajectory_id",
            "index",
            lambda: models.Chunk.audit_status == models.AuditStatus.PASSED,
        )
    )
    async def chunks_completed(
        self, root: strawberry.Parent[models.Trajectory], info: LoaderInfo
    ) -> list[int]:
        return await info.context.loaders.passed_chunk_indexes().load(root.id)


@strawberry.type(description="One attempt at one chunk of a trajectory, and its audit result.")
class Chunk(Entity):
    __model__ = models.Chunk

    index: int = strawberry.field(description="Chunk index in the trajectory.")
    attempt: int = strawberry.field(description="Attempt number for this chunk, from 1.")
    model_version: str | None = strawberry.field(description="Model version that generated it.")
    audit_status: AuditStatus = strawberry.field(description="Audit result.")
    frame_count: int | None = strawberry.field(description="Number of frames.")
    frames: JSON | None = strawberry.field(
        description="The frames, where they were imported: a list, one object per frame in "
        "order, each shaped like Trajectory.initAtoms (symbols, positions, cell, pbc) plus the "
        "frame's energy and forces when stored, its key_value_pairs and its ase_id (the row "
        "id in the ASE database it came from)."
    )

    trajectory: Trajectory = related(models.Chunk, "trajectory", description="The trajectory.")

    file: File | None = related(models.Chunk, "file", description="The frames file.")

    metrics = metric_list(relation(models.Chunk, "metrics"), "Metrics of this chunk.")


@strawberry.type(description="A worker's claim on a run, valid until it expires.")
class Lease:
    token: str = strawberry.field(
        description="Proof of the claim, for renewLease and releaseRun. Shown only to the "
        "claimer, here; keep it secret."
    )
    worker: str = strawberry.field(description="The worker holding the run.")
    expires_at: datetime = strawberry.field(
        description="When the lease ends unless renewed; then another worker may claim the run."
    )
    run: Run = strawberry.field(description="The claimed run.")

    @classmethod
    def of(cls, run: models.Run) -> Lease:
        assert run.claimed_by is not None and run.lease_expires_at is not None
        return cls(
            token=str(run.lease_token),
            worker=run.claimed_by,
            expires_at=run.lease_expires_at,
            run=run,  # type: ignore[arg-type]
        )
