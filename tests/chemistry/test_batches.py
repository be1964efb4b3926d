"""Batches through mutations: items by id and SMILES collapse to one per molecule, grow,
and take only calculations of their own molecule."""

from __future__ import annotations

import pytest

from tests.chemistry.test_chemistry import calculation, events, molecule
from tests.conftest import GraphQLClient

# every test writes molecules by SMILES
pytestmark = pytest.mark.chemistry

CREATE_BATCH = """
mutation($input: CreateBatchInput!) {
  createBatch(input: $input) {
    replayed
    batch { id name method progress { total pending } items { nodes { id molecule { smiles } } } }
  }
}"""
ADD_BATCH_ITEMS = """
mutation($input: AddBatchItemsInput!) {
  addBatchItems(input: $input) {
    added items { id molecule { smiles } } batch { progress { total } }
  }
}"""
SET_ITEM_STATUS = """
mutation($input: SetBatchItemStatusInput!) {
  setBatchItemStatus(input: $input) { batchItem { status calculation { id } } }
}"""


async def test_batch_items_collapse_and_grow(graphql: GraphQLClient) -> None:
    ethanol = (await molecule(graphql, "CCO"))["molecule"]
    input = {
        "name": "alcohols",
        "moleculeIds": [ethanol["id"], ethanol["id"]],
        "smiles": ["OCC", "CO", "C(C)O"],
        "idempotencyKey": "batch-1",
    }
    created = (await graphql.data(CREATE_BATCH, input=input))["createBatch"]
    batch = created["batch"]
    assert (created["replayed"], batch["method"]) == (False, "GFN2-xTB")
    assert [item["molecule"]["smiles"] for item in batch["items"]["nodes"]] == ["CCO", "CO"]
    assert batch["progress"] == {"total": 2, "pending": 2}
    replay = (await graphql.data(CREATE_BATCH, input=input))["createBatch"]
    assert (replay["replayed"], replay["batch"]["id"]) == (True, batch["id"])

    added = (
        await graphql.data(
            ADD_BATCH_ITEMS, input={"batchId": batch["id"], "smiles": ["CCCO", "OC"]}
        )
    )["addBatchItems"]
    assert added["added"] == 1
    assert [item["molecule"]["smiles"] for item in added["items"]] == ["CCCO", "CO"]
    assert added["items"][1]["id"] == batch["items"]["nodes"][1]["id"]
    assert added["batch"]["progress"] == {"total": 3}
    assert [e["type"] for e in await events(graphql, batch["id"])] == ["created", "items_added"]


async def test_batch_item_takes_a_calculation_of_its_molecule(graphql: GraphQLClient) -> None:
    ethanol = (await molecule(graphql, "CCO"))["molecule"]
    batch = (await graphql.data(CREATE_BATCH, input={"name": "b", "smiles": ["CCO"]}))[
        "createBatch"
    ]["batch"]
    [item] = batch["items"]["nodes"]
    computed = (await calculation(graphql, moleculeId=ethanol["id"]))["calculation"]
    await graphql.data(SET_ITEM_STATUS, input={"id": item["id"], "status": "RUNNING"})
    done = await graphql.data(
        SET_ITEM_STATUS,
        input={"id": item["id"], "status": "SUCCEEDED", "calculationId": computed["id"]},
    )
    assert done["setBatchItemStatus"]["batchItem"] == {
        "status": "SUCCEEDED",
        "calculation": {"id": computed["id"]},
    }
    assert [e["payload"] for e in await events(graphql, item["id"])] == [
        {"from": "PENDING", "to": "RUNNING"},
        {"from": "RUNNING", "to": "SUCCEEDED", "calculation_id": computed["id"]},
    ]
