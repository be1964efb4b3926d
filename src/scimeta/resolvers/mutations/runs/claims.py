"""Mutations of workers that claim queued runs under a lease (seed 004 `claim_next_run`,
`release_run`)."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from scimeta import models
from scimeta.auth.policy import Action
from scimeta.resolvers.mutations.base import MAX_BULK_ROWS, WriteInfo, json_object, write
from scimeta.resolvers.mutations.core import MetricInput, metric_specs
from scimeta.schema.enums import RunPhase, Status
from scimeta.schema.inputs.runs import RunWhere
from scimeta.schema.runs import Lease, Run
from scimeta.writes.runs import claims as writes


@strawberry.input(description="Who claims a run, for how long, and which runs it takes.")
class ClaimRunInput:
    worker: str = strawberry.field(description="The worker's name, e.g. worker-01.")
    lease_seconds: int = strawberry.field(
        description=f"How long the lease lasts, 1 to {writes.MAX_LEASE_SECONDS} seconds."
    )
    where: RunWhere | None = strawberry.field(
        default=None, description="Only runs that match all conditions; any run if not given."
    )
    statuses: list[Status] | None = strawberry.field(
        default=None,
        description="Only runs in these statuses: PENDING (queued), RUNNING (whose lease "
        "expired), FAILED or CANCELLED (retried: the run goes back to PENDING and on to "
        "RUNNING in the same step). PENDING and RUNNING if not given.",
    )


@strawberry.type(description="The lease on the claimed run, if one could be claimed.")
class ClaimRunPayload:
    lease: Lease | None = strawberry.field(
        description="Null when no run is claimable: none is queued or has an expired lease."
    )


@strawberry.input(description="A lease to extend.")
class RenewLeaseInput:
    lease: str = strawberry.field(description="The lease's token.")
    lease_seconds: int = strawberry.field(
        description=f"The lease ends this long from now, 1 to {writes.MAX_LEASE_SECONDS} seconds."
    )


@strawberry.type(description="The renewed lease.")
class RenewLeasePayload:
    lease: Lease = strawberry.field(description="The lease with its new expiry.")


@strawberry.input(description="A lease to end, and how the run ends with it.")
class ReleaseRunInput:
    lease: str = strawberry.field(description="The lease's token.")
    status: Status = strawberry.field(
        description="SUCCEEDED, FAILED or CANCELLED; or PENDING to give the run back to the queue."
    )
    phase: RunPhase | None = strawberry.field(
        default=None, description="The run's phase now; phases only move forward."
    )
    error: JSON | None = strawberry.field(
        default=None,
        description="What went wrong, a JSON object (e.g. type and message); with FAILED only.",
    )
    metrics: list[MetricInput] | None = strawberry.field(
        default=None,
        description=f"Values to record on the run, as recordMetrics takes them (at most "
        f"{MAX_BULK_ROWS:,}).",
    )


@strawberry.type(description="The released run.")
class ReleaseRunPayload:
    run: Run = strawberry.field(description="The run, no longer leased.")


@strawberry.type
class ClaimMutations:
    @strawberry.mutation(
        description="Claim the oldest claimable run that matches `where` (seed 004 "
        "claim_next_run): a queued (PENDING) run, or a RUNNING one whose lease expired, or "
        "with `statuses` a FAILED or CANCELLED one to retry. Concurrent claimers each get a "
        "different run, and none waits for a run another holds. The run becomes RUNNING, "
        "its attempt grows by one, and the lease returned proves the claim; renew it before "
        "it expires or another worker may claim the run. The lease is null when nothing is "
        "claimable."
    )
    async def claim_run(self, info: WriteInfo, input: ClaimRunInput) -> ClaimRunPayload:
        condition = input.where.condition() if input.where is not None else None
        async with write(info, Action.RUN) as writer:
            run = await writes.claim_run(
                writer,
                worker=input.worker,
                lease_seconds=input.lease_seconds,
                condition=condition,
                statuses=None
                if input.statuses is None
                else [models.Status(status.value) for status in input.statuses],
            )
        return ClaimRunPayload(lease=Lease.of(run) if run is not None else None)

    @strawberry.mutation(
        description="Extend a lease to leaseSeconds from now. A lease that expired, or "
        "that is no longer the run's, is refused (CONFLICT, STALE_LEASE): the run may be "
        "another worker's by then."
    )
    async def renew_lease(self, info: WriteInfo, input: RenewLeaseInput) -> RenewLeasePayload:
        token = writes.lease_token(input.lease)
        async with write(info, Action.RUN) as writer:
            run = await writes.renew_lease(writer, token, lease_seconds=input.lease_seconds)
        return RenewLeasePayload(lease=Lease.of(run))

    @strawberry.mutation(
        description="End a lease (seed 004 release_run): the run finishes as SUCCEEDED, "
        "FAILED or CANCELLED, or goes back to the queue as PENDING, with its phase, error "
        "and metrics, all in one step. A lease that expired, or that is no longer the "
        "run's (released already, or claimed again after expiring), is refused (CONFLICT, "
        "STALE_LEASE) and nothing is written."
    )
    async def release_run(self, info: WriteInfo, input: ReleaseRunInput) -> ReleaseRunPayload:
        token = writes.lease_token(input.lease)
        error = json_object(input.error, "error") if input.error is not None else None
        metrics = metric_specs(input.metrics or [])
        phase = models.RunPhase(input.phase.value) if input.phase is not None else None
        async with write(info, Action.RUN) as writer:
            run = await writes.release_run(
                writer,
                token,
                models.Status(input.status.value),
                phase=phase,
                error=error,
                metrics=metrics,
            )
        return ReleaseRunPayload(run=run)  # type: ignore[arg-type]
