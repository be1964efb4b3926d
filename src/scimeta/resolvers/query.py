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
from scimeta.schema.generated.lists import (
    batch_list,
    calculation_list,
    chunk_list,
    event_list,
    file_list,
    job_list,
    metric_key_list,
    metric_list,
    molecule_list,
    participant_list,
    project_list,
    recording_list,
    run_list,
    study_list,
    trajectory_list,
)
from scimeta.schema.inputs import chemistry as chemistry_inputs
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
        resolver=study_list,
        description="Studies, oldest first.",
    )
    participants = list_field(
        Participant,
        models.Participant,
        resolver=participant_list,
        description="Participants of all studies, oldest first.",
    )
    recordings = list_field(
        Recording,
        models.Recording,
        resolver=recording_list,
        description="Recordings of all participants, oldest first.",
    )
    projects = list_field(
        Project,
        models.Project,
        resolver=project_list,
        description="Projects, oldest first.",
    )
    jobs = list_field(
        Job,
        models.Job,
        resolver=job_list,
        description="Jobs of all projects at any depth, oldest first.",
    )
    files = list_field(
        File,
        models.File,
        resolver=file_list,
        description="Files, oldest first.",
    )
    runs = list_field(
        Run,
        models.Run,
        resolver=run_list,
        description="Runs, oldest first.",
    )
    trajectories = list_field(
        Trajectory,
        models.Trajectory,
        resolver=trajectory_list,
        description="Trajectories of all runs, oldest first.",
    )
    chunks = list_field(
        Chunk,
        models.Chunk,
        resolver=chunk_list,
        description="Chunk attempts of all trajectories, oldest first.",
    )
    molecules = list_field(
        Molecule,
        models.Molecule,
        resolver=molecule_list,
        description="Molecules, oldest first.",
    )
    calculations = list_field(
        Calculation,
        models.Calculation,
        resolver=calculation_list,
        description="Calculations of all molecules, oldest first.",
    )
    batches = list_field(
        Batch,
        models.Batch,
        resolver=batch_list,
        description="Batches, oldest first.",
    )
    metric_keys = list_field(
        MetricKey,
        models.MetricKey,
        resolver=metric_key_list,
        default_order=[OrderTerm(models.MetricKey.name)],
        description="The metric catalogue, by name.",
    )
    metrics = list_field(
        Metric,
        models.Metric,
        resolver=metric_list,
        description="Metrics (KPIs) of every owner, oldest first.",
    )
    events = list_field(
        Event,
        models.Event,
        resolver=event_list,
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
