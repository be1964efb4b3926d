"""Mutations of studies by spec and of runs (seed 004): phases, statuses, artifacts,
agent outputs. Summaries and audit events are the shared recordMetrics and appendEvent.

The runs domain's other mutations are in its modules `claims` (leased claims of queued
runs) and `trajectories` (trajectories and chunk attempts).
"""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.auth.policy import Action
from scimeta.errors import BadUserInput
from scimeta.resolvers.mutations.base import (
    WriteInfo,
    capped,
    json_object,
    optional_row_id,
    replayed,
    row_id,
    update_node,
    write,
)
from scimeta.resolvers.mutations.core import FileColumnsInput, FileInput
from scimeta.schema.enums import RunPhase, Status
from scimeta.schema.runs import AgentOutput, Run, RunArtifact
from scimeta.schema.studies import Study
from scimeta.writes import runs as writes
from scimeta.writes.columns import Names, check_columns

MAX_ARTIFACTS = 1_000


@strawberry.input(description="A study specification to store once.")
class UpsertStudyBySpecInput:
    spec: JSON = strawberry.field(
        description="The specification, a JSON object; its key order does not matter."
    )
    name: str | None = strawberry.field(
        default=None,
        description='Name of a new study; "spec-" and the first 12 hex digits of the hash '
        "if not given. Ignored when the spec is stored already.",
    )
    title: str | None = strawberry.field(default=None, description="Title of a new study.")
    description: str | None = strawberry.field(
        default=None, description="Description of a new study."
    )


@strawberry.type(description="The study of the spec, and whether this call created it.")
class UpsertStudyBySpecPayload:
    study: Study = strawberry.field(description="The study whose spec it is.")
    created: bool = strawberry.field(
        description="False if a study had this spec already: nothing was written."
    )


@strawberry.input(description="A new run; it starts PENDING.")
class CreateRunInput:
    name: str = strawberry.field(description="Unique run name.")
    study_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The study the run belongs to."
    )
    spec_hash: str | None = strawberry.field(
        default=None, description="Or the study given by its specHash (not both)."
    )
    phase: RunPhase = strawberry.field(default=RunPhase.BUNDLE, description="Starting phase.")
    attributes: JSON | None = strawberry.field(default=None, description="Lab-specific fields.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first call's run and creates none.",
    )


@strawberry.type(description="The run, and whether an earlier call with the key made it.")
class CreateRunPayload:
    run: Run = strawberry.field(description="The run.")
    replayed: bool = strawberry.field(
        description="True if the idempotency key matched an earlier call: nothing was written."
    )


@strawberry.input(description="A run's next phase, and optionally its status with it.")
class SetRunPhaseInput:
    id: relay.GlobalID = strawberry.field(description="The run.")
    phase: RunPhase = strawberry.field(description="The phase; phases only move forward.")
    status: Status | None = strawberry.field(
        default=None, description="The status to move to in the same step."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the run changed."
    )


@strawberry.input(description="A run's next status.")
class SetRunStatusInput:
    id: relay.GlobalID = strawberry.field(description="The run.")
    status: Status = strawberry.field(description="The status to move to.")
    error: JSON | None = strawberry.field(
        default=None,
        description="What went wrong, a JSON object (e.g. type and message); with FAILED only.",
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the run changed."
    )


@strawberry.input(description="Changes to a run; fields left out keep their value.")
class UpdateRunInput:
    id: relay.GlobalID = strawberry.field(description="The run.")
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET, description="Lab-specific fields; replaces the whole object."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the run changed."
    )


@strawberry.type(description="The run.")
class RunPayload:
    run: Run = strawberry.field(description="The run after the change.")


@strawberry.input(description="A file a run produced, with its role.")
class RunArtifactInput:
    role: str = strawberry.field(description="bundle, statepoint, parquet, ...")
    file: FileInput = strawberry.field(description="The file.")


@strawberry.input(
    description="Run artifacts as one list per column, entry n of each being artifact n's: "
    "the same rows as a list of RunArtifactInput, checked by the same rules. Errors name a "
    "value by its column and position, as artifactColumns.file.path[3]."
)
class RunArtifactColumnsInput:
    role: list[str] = strawberry.field(
        description="bundle, statepoint, parquet, ...; its length is the number of artifacts "
        f"(at most {MAX_ARTIFACTS})."
    )
    file: FileColumnsInput = strawberry.field(description="The files, one per role.")


@strawberry.input(description="Files a run produced.")
class AddRunArtifactsInput:
    run_id: relay.GlobalID = strawberry.field(description="The run.")
    artifacts: list[RunArtifactInput] | None = strawberry.field(
        default=None, description=f"The files and their roles (at most {MAX_ARTIFACTS})."
    )
    artifact_columns: RunArtifactColumnsInput | None = strawberry.field(
        default=None, description="The same artifacts as columns, instead of artifacts."
    )


def _artifacts(
    artifacts: list[RunArtifactInput] | None, columns: RunArtifactColumnsInput | None
) -> writes.ArtifactColumns:
    """The artifacts of either form as columns, checked for the cap and, as columns, for
    their lengths; the write function checks their values."""
    if columns is None:
        if artifacts is None:
            raise BadUserInput(
                "Give the artifacts as artifacts or as artifactColumns.", field="artifacts"
            )
        capped(artifacts, "artifacts", MAX_ARTIFACTS)
        return writes.ArtifactColumns.of(
            [
                writes.ArtifactSpec(role=artifact.role, file=artifact.file.spec())
                for artifact in artifacts
            ]
        )
    if artifacts is not None:
        raise BadUserInput(
            "Give the artifacts as artifacts or as artifactColumns, not both.", field="artifacts"
        )
    names = Names("artifactColumns", columnar=True)
    rows = check_columns(
        names, MAX_ARTIFACTS, "role", {"role": columns.role, **columns.file.columns()}
    )
    return writes.ArtifactColumns(role=columns.role, file=columns.file.files(rows), names=names)


@strawberry.type(description="The run and the artifacts just added.")
class AddRunArtifactsPayload:
    run: Run = strawberry.field(description="The run.")
    artifacts: list[RunArtifact] = strawberry.field(description="The new artifacts, in order.")


@strawberry.input(description="Structured output of an agent about a run.")
class StoreAgentOutputInput:
    run_id: relay.GlobalID = strawberry.field(description="The run.")
    agent: str = strawberry.field(description="The agent's name, e.g. planner.")
    kind: str = strawberry.field(description="What kind of output, e.g. simulation_plan.")
    data: JSON = strawberry.field(description="The output, a JSON object.")
    schema_version: str | None = strawberry.field(
        default=None, description="Version of the data's schema."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first call's output and adds none.",
    )


@strawberry.type(description="The stored output, and whether an earlier call with the key made it.")
class StoreAgentOutputPayload:
    agent_output: AgentOutput = strawberry.field(description="The stored output.")
    replayed: bool = strawberry.field(
        description="True if the idempotency key matched an earlier call: nothing was written."
    )


@strawberry.type
class RunMutations:
    @strawberry.mutation(
        description="Store a study specification once (seed 004 upsert_study). The server "
        "hashes the canonical JSON (keys sorted, no spaces) with SHA-256: the same spec in "
        "any key order is the same study. A new spec under a name another study has is "
        "refused (CONFLICT, ALREADY_EXISTS). Safe when many clients store one spec at once."
    )
    async def upsert_study_by_spec(
        self, info: WriteInfo, input: UpsertStudyBySpecInput
    ) -> UpsertStudyBySpecPayload:
        spec = json_object(input.spec, "spec")
        async with write(info) as writer:
            study, created = await writes.upsert_study_by_spec(
                writer, spec, name=input.name, title=input.title, description=input.description
            )
        return UpsertStudyBySpecPayload(study=study, created=created)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Create a run, PENDING, of a study given by id or spec hash or of none "
        "(seed 004 create_run). A taken name is refused (CONFLICT, ALREADY_EXISTS, with "
        "existingId); an "
        "unknown study is NOT_FOUND."
    )
    async def create_run(self, info: WriteInfo, input: CreateRunInput) -> CreateRunPayload:
        study_id = optional_row_id(input.study_id, models.Study, "studyId")
        attributes = json_object(input.attributes, "attributes")
        async with write(info) as writer:
            earlier, idempotency = await replayed(
                writer, models.Run, input.idempotency_key, "createRun", vars(input)
            )
            if earlier is not None:
                return CreateRunPayload(run=earlier, replayed=True)  # type: ignore[arg-type]
            run = await writes.create_run(
                writer,
                name=input.name,
                study_id=study_id,
                study_spec_hash=input.spec_hash,
                phase=models.RunPhase(input.phase.value),
                attributes=attributes,
            )
            await idempotency.finish(run)
        return CreateRunPayload(run=run, replayed=False)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Move a run to its next phase (seed 004 update_run_phase), and to a "
        "status in the same step if given. Phases run BUNDLE -> EXECUTE -> EXTRACT -> DONE "
        "and may skip one but never go back (CONFLICT, ILLEGAL_TRANSITION). startedAt and "
        "endedAt follow the status, set by the server's clock."
    )
    async def set_run_phase(self, info: WriteInfo, input: SetRunPhaseInput) -> RunPayload:
        run_id = row_id(input.id, models.Run, "id")
        status = models.Status(input.status.value) if input.status is not None else None
        async with write(info, Action.RUN) as writer:
            run = await writes.set_run_phase(
                writer,
                run_id,
                models.RunPhase(input.phase.value),
                status,
                expected_version=input.expected_version,
            )
        return RunPayload(run=run)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Move a run through its lifecycle: PENDING -> RUNNING -> SUCCEEDED, FAILED "
        "or CANCELLED; FAILED or CANCELLED -> PENDING to run again. Other moves are refused "
        "(CONFLICT, ILLEGAL_TRANSITION). startedAt and endedAt are set by the server. A FAILED "
        "run keeps the error given; queued again, it drops it (its status_changed event keeps "
        "it)."
    )
    async def set_run_status(self, info: WriteInfo, input: SetRunStatusInput) -> RunPayload:
        run_id = row_id(input.id, models.Run, "id")
        error = json_object(input.error, "error") if input.error is not None else None
        async with write(info, Action.RUN) as writer:
            run = await writes.set_run_status(
                writer,
                run_id,
                models.Status(input.status.value),
                error=error,
                expected_version=input.expected_version,
            )
        return RunPayload(run=run)  # type: ignore[arg-type]

    @strawberry.mutation(description="Change a run's attributes.")
    async def update_run(self, info: WriteInfo, input: UpdateRunInput) -> RunPayload:
        run = await update_node(info, models.Run, input)
        return RunPayload(run=run)

    @strawberry.mutation(
        description="Register files a run produced, each with its role (seed 004 artifacts: "
        f"bundle, statepoint, parquet), in one transaction; at most {MAX_ARTIFACTS}."
    )
    async def add_run_artifacts(
        self, info: WriteInfo, input: AddRunArtifactsInput
    ) -> AddRunArtifactsPayload:
        run_id = row_id(input.run_id, models.Run, "runId")
        artifacts = _artifacts(input.artifacts, input.artifact_columns)
        async with write(info, Action.RUN) as writer:
            run, rows = await writes.add_run_artifacts(writer, run_id, artifacts)
        return AddRunArtifactsPayload(run=run, artifacts=rows)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Store an agent's structured output about a run (seed 004 "
        "upsert_agent_output). Outputs are kept as history: storing again for the same agent "
        "and kind adds a newer output, and the newest by createdAt is the current one "
        "(Run.agentOutputs with orderBy CREATED_AT DESC, first: 1)."
    )
    async def store_agent_output(
        self, info: WriteInfo, input: StoreAgentOutputInput
    ) -> StoreAgentOutputPayload:
        run_id = row_id(input.run_id, models.Run, "runId")
        data = json_object(input.data, "data")
        async with write(info, Action.RUN) as writer:
            earlier, idempotency = await replayed(
                writer, models.AgentOutput, input.idempotency_key, "storeAgentOutput", vars(input)
            )
            if earlier is not None:
                return StoreAgentOutputPayload(agent_output=earlier, replayed=True)  # type: ignore[arg-type]
            output = await writes.store_agent_output(
                writer,
                run_id,
                agent=input.agent,
                kind=input.kind,
                data=data,
                schema_version=input.schema_version,
            )
            await idempotency.finish(output)
        return StoreAgentOutputPayload(agent_output=output, replayed=False)  # type: ignore[arg-type]
