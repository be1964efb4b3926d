"""Seed 002 (xTB calculations of molecules), replayed as mutations and read back.

Molecules are created by SMILES (OCC and then CCO are one molecule); a finished calculation
is stored with its results and atomic properties in one call; a batch of molecules runs
each item PENDING -> RUNNING -> SUCCEEDED with its calculation, and one fails; the batch
completes and an event is logged. Then the seed's queries: calculations by energy range,
by gap range and by molecule, a calculation's atoms, the batch's progress and its items by
status, and the dashboard statistics.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GraphQLClient

# the workflow creates molecules by SMILES
pytestmark = pytest.mark.chemistry

CREATE_MOLECULE = """
mutation($smiles: String!, $name: String) {
  createMolecule(input: {smiles: $smiles, name: $name}) { created molecule { id smiles formula } }
}"""
CREATE_CALCULATION = """
mutation($input: CreateCalculationInput!) {
  createCalculation(input: $input) { calculation { id status createdAt } }
}"""
SET_CALCULATION_STATUS = """
mutation($input: SetCalculationStatusInput!) {
  setCalculationStatus(input: $input) { calculation { status startedAt finishedAt } }
}"""
CREATE_BATCH = """
mutation($input: CreateBatchInput!) {
  createBatch(input: $input) { batch { id items { nodes { id molecule { id smiles } } } } }
}"""
SET_BATCH_STATUS = """
mutation($id: ID!, $status: Status!) {
  setBatchStatus(input: {id: $id, status: $status}) { batch { status } }
}"""
SET_ITEM_STATUS = """
mutation($id: ID!, $status: Status!, $calculationId: ID) {
  setBatchItemStatus(input: {id: $id, status: $status, calculationId: $calculationId}) {
    batchItem { status }
  }
}"""
LOG_EVENT = """
mutation($id: ID!) {
  appendEvent(input: {subjectId: $id, type: "batch_completed", payload: {molecules: 4}}) {
    events { sequence }
  }
}"""
CALCULATIONS = """
query($where: CalculationWhere) {
  calculations(where: $where, orderBy: [{field: ENERGY}]) {
    nodes { energy gap molecule { smiles } }
  }
}"""
ATOMS = """
query($id: ID!) {
  node(id: $id) {
    ... on Calculation {
      method energy gap dipole executionSeconds status finishedAt
      atomicProperties { nodes { atomIndex element charge values } }
    }
  }
}"""
BATCH = """
query($id: ID!) {
  node(id: $id) {
    ... on Batch {
      name status startedAt finishedAt
      progress { total pending running succeeded failed fractionDone }
      failed: items(where: {status: {eq: FAILED}}) {
        nodes { molecule { smiles } calculation { status error } }
      }
      events { nodes { type payload } }
    }
  }
}"""
STATISTICS = """{
  chemistryStatistics {
    molecules batches calculations succeeded failed averageEnergy medianGap successRate
    latestCalculationAt
  }
}"""
# Ethanol's nine atoms as xTB lists them: heavy atoms, then hydrogens.
ETHANOL_ATOMS = [
    {"atomIndex": index, "element": element, "charge": charge, "values": {"cn": cn}}
    for index, (element, charge, cn) in enumerate(
        [("C", -0.10, 3.99), ("C", 0.03, 3.97), ("O", -0.44, 1.99)]
        + [("H", 0.04, 0.99)] * 5
        + [("H", 0.28, 0.99)]
    )
]


async def _molecule(graphql: GraphQLClient, smiles: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = (await graphql.data(CREATE_MOLECULE, smiles=smiles, name=name))[
        "createMolecule"
    ]
    return result


async def _compute(
    graphql: GraphQLClient, item: dict[str, Any], outcome: str, **results: Any
) -> dict[str, Any]:
    """One batch item run the way the seed's worker runs it, logging start and end."""
    await graphql.data(SET_ITEM_STATUS, id=item["id"], status="RUNNING")
    calculation: dict[str, Any] = (
        await graphql.data(
            CREATE_CALCULATION,
            input={"moleculeId": item["molecule"]["id"], "status": "RUNNING"},
        )
    )["createCalculation"]["calculation"]
    done = await graphql.data(
        SET_CALCULATION_STATUS, input={"id": calculation["id"], "status": outcome, **results}
    )
    assert done["setCalculationStatus"]["calculation"]["status"] == outcome
    await graphql.data(
        SET_ITEM_STATUS, id=item["id"], status=outcome, calculationId=calculation["id"]
    )
    return calculation


async def _calculations(graphql: GraphQLClient, **where: Any) -> list[tuple[Any, ...]]:
    nodes = (await graphql.data(CALCULATIONS, where=where))["calculations"]["nodes"]
    return [(n["molecule"]["smiles"], n["energy"], n["gap"]) for n in nodes]


async def test_seed_002_workflow_replays_and_reads_back(graphql: GraphQLClient) -> None:
    ethanol = await _molecule(graphql, "OCC", "ethanol")
    same = await _molecule(graphql, "CCO", "ethyl alcohol")
    assert (ethanol["created"], same["created"]) == (True, False)
    assert same["molecule"] == {
        "id": ethanol["molecule"]["id"],
        "smiles": "CCO",
        "formula": "C2H6O",
    }
    water = (await _molecule(graphql, "O", "water"))["molecule"]
    benzene = (await _molecule(graphql, "C1=CC=CC=C1", "benzene"))["molecule"]
    assert (water["formula"], benzene["smiles"], benzene["formula"]) == ("H2O", "c1ccccc1", "C6H6")

    stored = (
        await graphql.data(
            CREATE_CALCULATION,
            input={
                "moleculeId": ethanol["molecule"]["id"],
                "status": "SUCCEEDED",
                "energy": -5.105,
                "gap": 0.60,
                "dipole": 1.85,
                "executionSeconds": 2.5,
                "atomicProperties": ETHANOL_ATOMS,
            },
        )
    )["createCalculation"]["calculation"]

    batch = (
        await graphql.data(
            CREATE_BATCH,
            input={
                "name": "small molecules",
                "description": "GFN2-xTB screening",
                "moleculeIds": [water["id"], benzene["id"]],
                "smiles": ["OC", "CC(=O)C", "c1ccccc1"],
            },
        )
    )["createBatch"]["batch"]
    items = {item["molecule"]["smiles"]: item for item in batch["items"]["nodes"]}
    assert list(items) == ["O", "c1ccccc1", "CO", "CC(C)=O"]

    await graphql.data(SET_BATCH_STATUS, id=batch["id"], status="RUNNING")
    await _compute(graphql, items["O"], "SUCCEEDED", energy=-5.07, gap=0.45, dipole=1.85)
    await _compute(graphql, items["c1ccccc1"], "SUCCEEDED", energy=-15.87, gap=0.33, dipole=0.0)
    await _compute(graphql, items["CO"], "SUCCEEDED", energy=-8.08, gap=0.71, dipole=1.7)
    last = await _compute(graphql, items["CC(C)=O"], "FAILED", error="SCF did not converge")
    await graphql.data(SET_BATCH_STATUS, id=batch["id"], status="SUCCEEDED")
    await graphql.data(LOG_EVENT, id=batch["id"])

    assert await _calculations(graphql, energy={"gte": -10.0, "lte": 0.0}) == [
        ("CO", -8.08, 0.71),
        ("CCO", -5.105, 0.60),
        ("O", -5.07, 0.45),
    ]
    assert await _calculations(graphql, gap={"gte": 0.4, "lte": 0.65}) == [
        ("CCO", -5.105, 0.60),
        ("O", -5.07, 0.45),
    ]
    assert await _calculations(graphql, molecule={"smiles": {"eq": "CCO"}}) == [
        ("CCO", -5.105, 0.60)
    ]

    calculation = (await graphql.data(ATOMS, id=stored["id"]))["node"]
    assert calculation["method"] == "GFN2-xTB"
    assert (calculation["energy"], calculation["gap"], calculation["dipole"]) == (-5.105, 0.6, 1.85)
    assert (calculation["executionSeconds"], calculation["status"]) == (2.5, "SUCCEEDED")
    assert calculation["finishedAt"] is not None
    assert calculation["atomicProperties"]["nodes"] == ETHANOL_ATOMS

    read = (await graphql.data(BATCH, id=batch["id"]))["node"]
    assert (read["name"], read["status"]) == ("small molecules", "SUCCEEDED")
    assert read["finishedAt"] >= read["startedAt"]
    assert read["progress"] == {
        "total": 4,
        "pending": 0,
        "running": 0,
        "succeeded": 3,
        "failed": 1,
        "fractionDone": 1.0,
    }
    assert read["failed"]["nodes"] == [
        {
            "molecule": {"smiles": "CC(C)=O"},
            "calculation": {"status": "FAILED", "error": "SCF did not converge"},
        }
    ]
    assert [(e["type"], e["payload"].get("to")) for e in read["events"]["nodes"]] == [
        ("created", None),
        ("status_changed", "RUNNING"),
        ("status_changed", "SUCCEEDED"),
        ("batch_completed", None),
    ]
    assert read["events"]["nodes"][0]["payload"]["items"] == 4
    assert read["events"]["nodes"][3]["payload"] == {"molecules": 4}

    statistics = (await graphql.data(STATISTICS))["chemistryStatistics"]
    assert statistics.pop("averageEnergy") == pytest.approx((-5.105 - 5.07 - 15.87 - 8.08) / 4)
    assert statistics.pop("medianGap") == pytest.approx((0.45 + 0.60) / 2)
    assert statistics == {
        "molecules": 5,
        "batches": 1,
        "calculations": 5,
        "succeeded": 4,
        "failed": 1,
        "successRate": 0.8,
        "latestCalculationAt": last["createdAt"],
    }
