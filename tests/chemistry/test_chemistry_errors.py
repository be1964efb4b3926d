"""Bad chemistry writes: each is refused with a code and a message a client can act on, and
leaves every chemistry table and the event log as they were."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from tests.chemistry.test_batches import ADD_BATCH_ITEMS, CREATE_BATCH, SET_ITEM_STATUS
from tests.chemistry.test_chemistry import (
    ADD_ATOMS,
    CREATE_CALCULATION,
    CREATE_MOLECULE,
    SET_CALCULATION_STATUS,
    atoms,
    calculation,
    molecule,
)
from tests.conftest import GraphQLClient
from tests.support.snapshots import database_state

DELETE = "mutation($id: ID!) { deleteNode(id: $id) { deletedId } }"
SET_BATCH_STATUS = """
mutation($id: ID!, $status: Status!) {
  setBatchStatus(input: {id: $id, status: $status}) { batch { id } }
}"""


async def refused(
    graphql: GraphQLClient, session: AsyncSession, query: str, **variables: Any
) -> dict[str, Any]:
    """The one error of a call that must change nothing."""
    before = await database_state(session)
    body = await graphql.execute(query, **variables)
    assert body["data"] is None, body
    [error] = body["errors"]
    assert await database_state(session) == before
    return dict(error)


async def methane(graphql: GraphQLClient) -> str:
    result: str = (await molecule(graphql, "C"))["molecule"]["id"]
    return result


@pytest.mark.chemistry
async def test_the_counts_see_what_mutations_write(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    before = await database_state(session)
    await calculation(graphql, moleculeId=await methane(graphql), atomicProperties=atoms(4))
    after = await database_state(session)
    added = {table: after[table][0] - before[table][0] for table in after}
    assert {table: count for table, count in added.items() if count} == {
        "molecules": 1,
        "calculations": 1,
        "atomic_properties": 4,
        "events": 2,
    }


@pytest.mark.parametrize("smiles", ["C1CC", "not a smiles", "C(C)(C)(C)(C)C", "c1cccc1", ""])
@pytest.mark.chemistry
async def test_unparsable_smiles(
    graphql: GraphQLClient, session: AsyncSession, smiles: str
) -> None:
    error = await refused(graphql, session, CREATE_MOLECULE, input={"smiles": smiles})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"{smiles!r} is not a" in error["message"]


@pytest.mark.chemistry
async def test_batch_with_a_bad_smiles_creates_none_of_its_molecules(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    error = await refused(
        graphql, session, CREATE_BATCH, input={"name": "b", "smiles": ["CCCCO", "C1CC"]}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "smiles[1] 'C1CC' is not a valid SMILES" in error["message"]


@pytest.mark.chemistry
async def test_duplicate_atom_index(graphql: GraphQLClient, session: AsyncSession) -> None:
    input = {"moleculeId": await methane(graphql), "atomicProperties": atoms(3) + atoms(1, 2)}
    error = await refused(graphql, session, CREATE_CALCULATION, input=input)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "atomicProperties[3].atomIndex 2 is given twice" in error["message"]


@pytest.mark.chemistry
async def test_atom_index_a_calculation_already_has(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    created = await calculation(
        graphql, moleculeId=await methane(graphql), atomicProperties=atoms(5)
    )
    input = {"calculationId": created["calculation"]["id"], "atomicProperties": atoms(3, 4)}
    error = await refused(graphql, session, ADD_ATOMS, input=input)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["reason"] == "ALREADY_EXISTS"
    assert "already has atom index 4" in error["message"]


@pytest.mark.chemistry
async def test_negative_atom_index(graphql: GraphQLClient, session: AsyncSession) -> None:
    input = {"moleculeId": await methane(graphql), "atomicProperties": atoms(1, -1)}
    error = await refused(graphql, session, CREATE_CALCULATION, input=input)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "atomIndex is -1; atoms count from 0" in error["message"]


@pytest.mark.parametrize("element", ["Xx", "CL", "", "D"])
@pytest.mark.chemistry
async def test_unknown_element(graphql: GraphQLClient, session: AsyncSession, element: str) -> None:
    properties = [*atoms(2), {"atomIndex": 2, "element": element}]
    input = {"moleculeId": await methane(graphql), "atomicProperties": properties}
    error = await refused(graphql, session, CREATE_CALCULATION, input=input)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"atomicProperties[2].element {element!r} is not an element symbol" in error["message"]


@pytest.mark.parametrize("field", ["gap", "dipole", "executionSeconds"])
@pytest.mark.chemistry
async def test_negative_result(graphql: GraphQLClient, session: AsyncSession, field: str) -> None:
    input = {"moleculeId": await methane(graphql), field: -0.1}
    error = await refused(graphql, session, CREATE_CALCULATION, input=input)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == f"{field} cannot be negative (got -0.1)."


@pytest.mark.chemistry
async def test_too_many_atoms(graphql: GraphQLClient, session: AsyncSession) -> None:
    input = {"moleculeId": await methane(graphql), "atomicProperties": atoms(10_001)}
    error = await refused(graphql, session, CREATE_CALCULATION, input=input)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["maximum"] == 10_000
    assert "atomicProperties has 10001 entries; one call takes at most 10000" in error["message"]


@pytest.mark.chemistry
async def test_too_many_batch_items(graphql: GraphQLClient, session: AsyncSession) -> None:
    input = {"name": "b", "moleculeIds": [await methane(graphql)], "smiles": ["CC"] * 10_000}
    error = await refused(graphql, session, CREATE_BATCH, input=input)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "moleculeIds and smiles have 10001 entries together" in error["message"]


async def test_unknown_molecule_id(graphql: GraphQLClient, session: AsyncSession) -> None:
    missing = str(relay.GlobalID("Molecule", "987654321"))
    error = await refused(graphql, session, CREATE_CALCULATION, input={"moleculeId": missing})
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert f"No Molecule has the id {missing}" in error["message"]


@pytest.mark.chemistry
async def test_unknown_molecule_id_in_a_batch(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    missing = str(relay.GlobalID("Molecule", "987654321"))
    input = {"name": "b", "moleculeIds": [await methane(graphql), missing], "smiles": ["CCCO"]}
    error = await refused(graphql, session, CREATE_BATCH, input=input)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert f"no Molecule has the id {missing}" in error["message"]


async def test_wrong_id_type(graphql: GraphQLClient, session: AsyncSession) -> None:
    batch = (await graphql.data(CREATE_BATCH, input={"name": "b"}))["createBatch"]["batch"]
    error = await refused(graphql, session, CREATE_CALCULATION, input={"moleculeId": batch["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == "moleculeId must be the id of a Molecule, not of a Batch."


@pytest.mark.chemistry
async def test_illegal_status_transition(graphql: GraphQLClient, session: AsyncSession) -> None:
    created = await calculation(graphql, moleculeId=await methane(graphql), status="SUCCEEDED")
    input = {"id": created["calculation"]["id"], "status": "RUNNING", "energy": -4.0}
    error = await refused(graphql, session, SET_CALCULATION_STATUS, input=input)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["reason"] == "ILLEGAL_TRANSITION"
    assert "is SUCCEEDED and cannot become RUNNING" in error["message"]


@pytest.mark.chemistry
async def test_calculation_of_another_molecule_on_a_batch_item(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    other = await calculation(graphql, moleculeId=await methane(graphql))
    batch = (await graphql.data(CREATE_BATCH, input={"name": "b", "smiles": ["CCO"]}))[
        "createBatch"
    ]["batch"]
    [item] = batch["items"]["nodes"]
    input = {"id": item["id"], "status": "RUNNING", "calculationId": other["calculation"]["id"]}
    error = await refused(graphql, session, SET_ITEM_STATUS, input=input)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "calculationId"
    assert f"but batch item {item['id']} is for the molecule" in error["message"]


@pytest.mark.chemistry
async def test_adding_to_a_succeeded_batch(graphql: GraphQLClient, session: AsyncSession) -> None:
    batch = (await graphql.data(CREATE_BATCH, input={"name": "b", "smiles": ["C"]}))["createBatch"][
        "batch"
    ]
    for status in ("RUNNING", "SUCCEEDED"):
        await graphql.data(SET_BATCH_STATUS, id=batch["id"], status=status)
    input = {"batchId": batch["id"], "smiles": ["CCCCCO"]}
    error = await refused(graphql, session, ADD_BATCH_ITEMS, input=input)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["reason"] == "ILLEGAL_TRANSITION"
    assert "has SUCCEEDED, which is final" in error["message"]


@pytest.mark.chemistry
async def test_deleting_a_molecule_that_has_calculations(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    molecule_id = await methane(graphql)
    await calculation(graphql, moleculeId=molecule_id, atomicProperties=atoms(5))
    await calculation(graphql, moleculeId=molecule_id)
    error = await refused(graphql, session, DELETE, id=molecule_id)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["reason"] == "HAS_DEPENDENTS"
    assert "still has 2 calculations" in error["message"]
