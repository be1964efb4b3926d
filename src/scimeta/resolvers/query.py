"""The root query: `node`, `nodes`, and a filterable, sortable list of every entity."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from scimeta import models
from scimeta.loaders.chemistry import chemistry_statistics, chemistry_statistics_statement
from scimeta.schema.chemistry import Batch, Calculation, ChemistryStatistics, Molecule
from scimeta.schema.connections import list_field
from scimeta.schema.core import Event, File, Metric, MetricKey, Viewer, viewer_of
from scimeta.schema.filters import where_condition
from scimeta.schema.generated.connections import (
    BatchConnection,
    CalculationConnection,
    ChunkConnection,
    EventConnection,
    FileConnection,
    JobConnection,
    MetricConnection,
    MetricKeyConnection,
    MoleculeConnection,
    ParticipantConnection,
    ProjectConnection,
    RecordingConnection,
    RunConnection,
    StudyConnection,
    TrajectoryConnection,
)
from scimeta.schema.inputs import chemistry as chemistry_inputs
from scimeta.schema.inputs import core as core_inputs
from scimeta.schema.inputs import jobs as jobs_inputs
from scimeta.schema.inputs import runs as runs_inputs
from scimeta.schema.inputs import studies as studies_inputs
from scimeta.schema.jobs import Job, Project
from scimeta.schema.node import ConcreteNodeIds
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.relations import Figures, reads
from scimeta.schema.runs import Chunk, Run, Trajectory
from scimeta.schema.studies import Participant, Recording, Study

CalculationWhere = chemistry_inputs.CalculationWhere


@strawberry.type(description="Read the metadata.")
class Query:
    node: relay.Node = relay.node(
        description="Any entity by its global id.", extensions=[ConcreteNodeIds()]
    )
    nodes: list[relay.Node] = relay.node(
        description="Entities by their global ids.", extensions=[ConcreteNodeIds()]
    )

    studies = list_field(
        Study,
        models.Study,
        connection=StudyConnection,
        where=studies_inputs.StudyWhere,
        order=studies_inputs.StudyOrder,
        description="Studies, oldest first.",
    )
    participants = list_field(
        Participant,
        models.Participant,
        connection=ParticipantConnection,
        where=studies_inputs.ParticipantWhere,
        order=studies_inputs.ParticipantOrder,
        description="Participants of all studies, oldest first.",
    )
    recordings = list_field(
        Recording,
        models.Recording,
        connection=RecordingConnection,
        where=studies_inputs.RecordingWhere,
        order=studies_inputs.RecordingOrder,
        description="Recordings of all participants, oldest first.",
    )
    projects = list_field(
        Project,
        models.Project,
        connection=ProjectConnection,
        where=jobs_inputs.ProjectWhere,
        order=jobs_inputs.ProjectOrder,
        description="Projects, oldest first.",
    )
    jobs = list_field(
        Job,
        models.Job,
        connection=JobConnection,
        where=jobs_inputs.JobWhere,
        order=jobs_inputs.JobOrder,
        description="Jobs of all projects at any depth, oldest first.",
    )
    files = list_field(
        File,
        models.File,
        connection=FileConnection,
        where=core_inputs.FileWhere,
        order=core_inputs.FileOrder,
        description="Files, oldest first.",
    )
    runs = list_field(
        Run,
        models.Run,
        connection=RunConnection,
        where=runs_inputs.RunWhere,
        order=runs_inputs.RunOrder,
        description="Runs, oldest first.",
    )
    trajectories = list_field(
        Trajectory,
        models.Trajectory,
        connection=TrajectoryConnection,
        where=runs_inputs.TrajectoryWhere,
        order=runs_inputs.TrajectoryOrder,
        description="Trajectories of all runs, oldest first.",
    )
    chunks = list_field(
        Chunk,
        models.Chunk,
        connection=ChunkConnection,
        where=runs_inputs.ChunkWhere,
        order=runs_inputs.ChunkOrder,
        description="Chunk attempts of all trajectories, oldest first.",
    )
    molecules = list_field(
        Molecule,
        models.Molecule,
        connection=MoleculeConnection,
        where=chemistry_inputs.MoleculeWhere,
        order=chemistry_inputs.MoleculeOrder,
        description="Molecules, oldest first.",
    )
    calculations = list_field(
        Calculation,
        models.Calculation,
        connection=CalculationConnection,
        where=chemistry_inputs.CalculationWhere,
        order=chemistry_inputs.CalculationOrder,
        description="Calculations of all molecules, oldest first.",
    )
    batches = list_field(
        Batch,
        models.Batch,
        connection=BatchConnection,
        where=chemistry_inputs.BatchWhere,
        order=chemistry_inputs.BatchOrder,
        description="Batches, oldest first.",
    )
    metric_keys = list_field(
        MetricKey,
        models.MetricKey,
        connection=MetricKeyConnection,
        where=core_inputs.MetricKeyWhere,
        order=core_inputs.MetricKeyOrder,
        default_order=[OrderTerm(models.MetricKey.name)],
        description="The metric catalogue, by name.",
    )
    metrics = list_field(
        Metric,
        models.Metric,
        connection=MetricConnection,
        where=core_inputs.MetricWhere,
        order=core_inputs.MetricOrder,
        description="Metrics (KPIs) of every owner, oldest first.",
    )
    events = list_field(
        Event,
        models.Event,
        connection=EventConnection,
        where=core_inputs.EventWhere,
        order=core_inputs.EventOrder,
        default_order=[OrderTerm(models.Event.sequence)],
        description="The event log, in sequence order.",
    )

    @strawberry.field(
        description="Dashboard figures of the chemistry store: totals, average energy, "
        "median gap, success rate and the latest calculation, over the calculations that "
        "match `where` (all by default)."
    )
    @reads(Figures(chemistry_statistics_statement))
    async def chemistry_statistics(
        self,
        info: Info[Any, Any],
        where: Annotated[
            CalculationWhere | None,
            strawberry.argument(description="Only calculations that match all conditions."),
        ] = None,
    ) -> ChemistryStatistics:
        figures = await chemistry_statistics(info.context, where_condition(where))
        return ChemistryStatistics.of(figures)

    @strawberry.field(description="Who the caller is, and its roles.")
    def viewer(self, info: Info[Any, Any]) -> Viewer:
        return viewer_of(info.context.identity)
