"""Mutations of batches of molecules (seed 002): items by molecule id or SMILES, and the
status of batches and items."""

from __future__ import annotations

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.errors import BadUserInput
from scimeta.resolvers.mutations.base import (
    MAX_BULK_ROWS,
    WriteInfo,
    json_object,
    optional_row_id,
    replayed,
    row_id,
    write,
)
from scimeta.schema.chemistry import Batch, BatchItem
from scimeta.schema.enums import Status
from scimeta.writes.chemistry import DEFAULT_METHOD
from scimeta.writes.chemistry import batches as writes

_MEMBERS = (
    f"moleculeIds and smiles together take at most {MAX_BULK_ROWS} entries; a molecule given "
    "twice (also as an id and as a SMILES) is one item."
)


@strawberry.input(description="A new batch of molecules to compute.")
class CreateBatchInput:
    name: str = strawberry.field(description="Batch name.")
    description: str | None = strawberry.field(default=None, description="What it is for.")
    method: str = strawberry.field(
        default=DEFAULT_METHOD, description="Method used for every item."
    )
    attributes: JSON | None = strawberry.field(default=None, description="Lab-specific fields.")
    molecule_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description=f"Molecules in the batch. {_MEMBERS}"
    )
    smiles: list[str] = strawberry.field(
        default_factory=list,
        description="Molecules in the batch by structure, created if new (canonical SMILES).",
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retry with the same key returns the first call's batch and creates none.",
    )


@strawberry.type(description="The batch, and whether an earlier call with the key made it.")
class CreateBatchPayload:
    batch: Batch = strawberry.field(description="The batch.")
    replayed: bool = strawberry.field(
        description="True if the idempotency key matched an earlier call: nothing was written."
    )


@strawberry.input(description="More molecules for a batch.")
class AddBatchItemsInput:
    batch_id: relay.GlobalID = strawberry.field(description="The batch.")
    molecule_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description=f"Molecules to add. {_MEMBERS}"
    )
    smiles: list[str] = strawberry.field(
        default_factory=list, description="Molecules to add by structure, created if new."
    )


@strawberry.type(description="The batch and its items for the molecules given.")
class AddBatchItemsPayload:
    batch: Batch = strawberry.field(description="The batch as it is now.")
    items: list[BatchItem] = strawberry.field(
        description="One item per molecule given, in input order, new or already there."
    )
    added: int = strawberry.field(description="How many items this call added.")


@strawberry.input(description="A batch's next status.")
class SetBatchStatusInput:
    id: relay.GlobalID = strawberry.field(description="The batch.")
    status: Status = strawberry.field(description="The status it moves to.")
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the batch changed."
    )


@strawberry.type(description="The batch.")
class BatchPayload:
    batch: Batch = strawberry.field(description="The batch as it is now.")


@strawberry.input(description="A batch item's next status, and its calculation once computed.")
class SetBatchItemStatusInput:
    id: relay.GlobalID = strawberry.field(description="The batch item.")
    status: Status = strawberry.field(description="The status it moves to.")
    calculation_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The item's calculation: one of the item's molecule."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse (CONFLICT, STALE_VERSION) if the item changed."
    )


@strawberry.type(description="The batch item.")
class BatchItemPayload:
    batch_item: BatchItem = strawberry.field(description="The batch item as it is now.")


def _molecule_ids(molecule_ids: list[relay.GlobalID], smiles: list[str]) -> list[int]:
    if len(molecule_ids) + len(smiles) > MAX_BULK_ROWS:
        raise BadUserInput(
            f"moleculeIds and smiles have {len(molecule_ids) + len(smiles)} entries together; "
            f"one call takes at most {MAX_BULK_ROWS}. Add the rest with addBatchItems.",
            field="moleculeIds",
            maximum=MAX_BULK_ROWS,
        )
    return [
        row_id(molecule_id, models.Molecule, f"moleculeIds[{position}]")
        for position, molecule_id in enumerate(molecule_ids)
    ]


@strawberry.type
class BatchMutations:
    @strawberry.mutation(
        description="Create a batch with one PENDING item per molecule (seed 002 "
        f"create_batch_job and create_batch_item). {_MEMBERS}"
    )
    async def create_batch(self, info: WriteInfo, input: CreateBatchInput) -> CreateBatchPayload:
        molecule_ids = _molecule_ids(input.molecule_ids, input.smiles)
        attributes = json_object(input.attributes, "attributes")
        async with write(info, server="the chemistry store") as writer:
            earlier, idempotency = await replayed(
                writer, models.Batch, input.idempotency_key, "createBatch", vars(input)
            )
            if earlier is not None:
                return CreateBatchPayload(batch=earlier, replayed=True)  # type: ignore[arg-type]
            batch = await writes.create_batch(
                writer,
                name=input.name,
                description=input.description,
                method=input.method,
                attributes=attributes,
                molecule_ids=molecule_ids,
                smiles=input.smiles,
            )
            await idempotency.finish(batch)
        return CreateBatchPayload(batch=batch, replayed=False)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Add molecules to a batch as PENDING items (seed 002 create_batch_item); "
        f"molecules already in it keep their item. {_MEMBERS} A SUCCEEDED batch is final "
        "(CONFLICT, ILLEGAL_TRANSITION)."
    )
    async def add_batch_items(
        self, info: WriteInfo, input: AddBatchItemsInput
    ) -> AddBatchItemsPayload:
        batch_id = row_id(input.batch_id, models.Batch, "batchId")
        molecule_ids = _molecule_ids(input.molecule_ids, input.smiles)
        async with write(info, server="the chemistry store") as writer:
            batch, items, added = await writes.add_batch_items(
                writer, batch_id, molecule_ids, input.smiles
            )
        return AddBatchItemsPayload(batch=batch, items=items, added=added)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Move a batch through its lifecycle (seed 002 update_batch_job_status); "
        "startedAt and finishedAt are set by the server, illegal moves refused (CONFLICT, "
        "ILLEGAL_TRANSITION)."
    )
    async def set_batch_status(self, info: WriteInfo, input: SetBatchStatusInput) -> BatchPayload:
        batch_id = row_id(input.id, models.Batch, "id")
        async with write(info, server="the chemistry store") as writer:
            batch = await writes.set_batch_status(
                writer,
                batch_id,
                models.Status(input.status.value),
                expected_version=input.expected_version,
            )
        return BatchPayload(batch=batch)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Move a batch item through its lifecycle and link its calculation (seed "
        "002 update_batch_item_status); the calculation must be of the item's molecule "
        "(BAD_USER_INPUT otherwise)."
    )
    async def set_batch_item_status(
        self, info: WriteInfo, input: SetBatchItemStatusInput
    ) -> BatchItemPayload:
        item_id = row_id(input.id, models.BatchItem, "id")
        calculation_id = optional_row_id(input.calculation_id, models.Calculation, "calculationId")
        async with write(info, server="the chemistry store") as writer:
            item = await writes.set_batch_item_status(
                writer,
                item_id,
                models.Status(input.status.value),
                calculation_id=calculation_id,
                expected_version=input.expected_version,
            )
        return BatchItemPayload(batch_item=item)  # type: ignore[arg-type]
