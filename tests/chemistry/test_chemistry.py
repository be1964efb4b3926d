"""Molecules and calculations through mutations: canonical molecules, bulk atoms,
idempotency, versions, and concurrent creations of one molecule."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from tests.conftest import GraphQLClient, StatementCounter

# every test writes molecules by SMILES
pytestmark = pytest.mark.chemistry

CREATE_MOLECULE = """
mutation($input: CreateMoleculeInput!) {
  createMolecule(input: $input) { created molecule { id smiles name formula version } }
}"""
CREATE_MOLECULES = """
mutation($molecules: [CreateMoleculeInput!]!) {
  createMolecules(input: {molecules: $molecules}) { molecules { created molecule { id smiles } } }
}"""
UPDATE_MOLECULE = """
mutation($input: UpdateMoleculeInput!) {
  updateMolecule(input: $input) { molecule { name attributes version } }
}"""
CREATE_CALCULATION = """
mutation($input: CreateCalculationInput!) {
  createCalculation(input: $input) {
    replayed
    calculation {
      id method status energy gap startedAt finishedAt version
      atomicProperties { totalCount }
    }
  }
}"""
ADD_ATOMS = """
mutation($input: AddAtomicPropertiesInput!) {
  addAtomicProperties(input: $input) {
    calculation { atomicProperties(first: 100) { nodes { atomIndex element charge values } } }
  }
}"""
SET_CALCULATION_STATUS = """
mutation($input: SetCalculationStatusInput!) {
  setCalculationStatus(input: $input) {
    calculation { status energy gap error startedAt finishedAt version }
  }
}"""
EVENTS = """
query($id: ID!) { events(where: {subject: {eq: $id}}) { nodes { type payload } } }"""


async def molecule(graphql: GraphQLClient, smiles: str, **input: Any) -> dict[str, Any]:
    data = await graphql.data(CREATE_MOLECULE, input={"smiles": smiles, **input})
    result: dict[str, Any] = data["createMolecule"]
    return result


async def calculation(graphql: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await graphql.data(CREATE_CALCULATION, input=input)
    result: dict[str, Any] = data["createCalculation"]
    return result


def atoms(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"atomIndex": index, "element": "C" if index % 3 else "O", "charge": -0.01 * index}
        for index in range(start, start + count)
    ]


async def events(graphql: GraphQLClient, node_id: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = (await graphql.data(EVENTS, id=node_id))["events"]["nodes"]
    return nodes


async def test_one_structure_is_one_molecule(graphql: GraphQLClient) -> None:
    first = await molecule(graphql, "OCC", name="ethanol", attributes={"source": "lab"})
    assert first["created"] is True
    assert first["molecule"]["smiles"] == "CCO"
    assert first["molecule"]["formula"] == "C2H6O"
    again = await molecule(graphql, "CCO", name="alcohol")
    assert again["created"] is False
    # the molecule is returned as it was: a second create does not rename it
    assert again["molecule"] == first["molecule"]
    assert [e["type"] for e in await events(graphql, first["molecule"]["id"])] == ["created"]


async def test_bulk_molecules_keep_input_order_in_a_fixed_number_of_statements(
    graphql: GraphQLClient, statements: StatementCounter
) -> None:
    await molecule(graphql, "c1ccccc1")
    statements.reset()
    data = await graphql.data(
        CREATE_MOLECULES,
        molecules=[
            {"smiles": "C1=CC=CC=C1"},
            {"smiles": "OCC"},
            {"smiles": "C(=O)O"},
            {"smiles": "CCO", "name": "ethanol again"},
        ],
    )
    few = statements.count
    results = data["createMolecules"]["molecules"]
    assert [(r["molecule"]["smiles"], r["created"]) for r in results] == [
        ("c1ccccc1", False),
        ("CCO", True),
        ("O=CO", True),
        ("CCO", False),
    ]
    assert results[1]["molecule"]["id"] == results[3]["molecule"]["id"]

    statements.reset()
    # names on some and not others: still one insert
    chains = [
        {"smiles": "C" * length + "N", **({"name": f"amine {length}"} if length % 2 else {})}
        for length in range(1, 201)
    ]
    data = await graphql.data(CREATE_MOLECULES, molecules=chains)
    assert all(r["created"] for r in data["createMolecules"]["molecules"])
    assert statements.count == few, statements.statements


async def test_update_molecule_checks_the_version(graphql: GraphQLClient) -> None:
    created = (await molecule(graphql, "CC(=O)O"))["molecule"]
    update = {"id": created["id"], "name": "acetic acid", "attributes": {"pKa": 4.76}}
    updated = await graphql.data(
        UPDATE_MOLECULE, input={**update, "expectedVersion": created["version"]}
    )
    assert updated["updateMolecule"]["molecule"] == {
        "name": "acetic acid",
        "attributes": {"pKa": 4.76},
        "version": created["version"] + 1,
    }
    stale = await graphql.execute(
        UPDATE_MOLECULE, input={"id": created["id"], "name": "x", "expectedVersion": 1}
    )
    assert stale["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert stale["errors"][0]["extensions"]["reason"] == "STALE_VERSION"
    assert "version 2" in stale["errors"][0]["message"]
    assert [e["type"] for e in await events(graphql, created["id"])] == ["created", "updated"]


async def test_calculation_with_atoms_is_one_event(graphql: GraphQLClient) -> None:
    water = (await molecule(graphql, "O"))["molecule"]
    created = await calculation(
        graphql,
        moleculeId=water["id"],
        status="SUCCEEDED",
        energy=-5.07,
        gap=0.6,
        atomicProperties=[
            {"atomIndex": 0, "element": "O", "charge": -0.56, "values": {"spin": 0.0}},
            {"atomIndex": 1, "element": "H", "charge": 0.28},
            {"atomIndex": 2, "element": "H", "charge": 0.28},
        ],
    )
    result = created["calculation"]
    assert (result["method"], result["status"]) == ("GFN2-xTB", "SUCCEEDED")
    assert result["finishedAt"] is not None
    assert result["startedAt"] is None
    assert result["atomicProperties"] == {"totalCount": 3}
    [created_event] = await events(graphql, result["id"])
    assert created_event["type"] == "created"
    assert created_event["payload"]["atomic_properties"] == 3
    assert created_event["payload"]["energy"] == -5.07

    added = await graphql.data(
        ADD_ATOMS,
        input={
            "calculationId": result["id"],
            "atomicProperties": [{"atomIndex": 3, "element": "Cl", "values": {"bonds": 0}}],
        },
    )
    nodes = added["addAtomicProperties"]["calculation"]["atomicProperties"]["nodes"]
    assert [(n["atomIndex"], n["element"], n["charge"], n["values"]) for n in nodes] == [
        (0, "O", -0.56, {"spin": 0.0}),
        (1, "H", 0.28, {}),
        (2, "H", 0.28, {}),
        (3, "Cl", None, {"bonds": 0}),
    ]
    assert [e["type"] for e in await events(graphql, result["id"])] == [
        "created",
        "atomic_properties_added",
    ]


async def test_ten_thousand_atoms_take_as_many_statements_as_ten(
    graphql: GraphQLClient, statements: StatementCounter
) -> None:
    methane = (await molecule(graphql, "C"))["molecule"]
    statements.reset()
    await calculation(graphql, moleculeId=methane["id"], atomicProperties=atoms(10))
    few = statements.count
    statements.reset()
    many = await calculation(graphql, moleculeId=methane["id"], atomicProperties=atoms(10_000))
    assert statements.count == few, statements.statements
    assert many["calculation"]["atomicProperties"]["totalCount"] == 10_000


async def test_create_calculation_replays_its_idempotency_key(graphql: GraphQLClient) -> None:
    methane = (await molecule(graphql, "C"))["molecule"]
    input = {"moleculeId": methane["id"], "energy": -4.2, "idempotencyKey": "calc-1"}
    first = await calculation(graphql, **input, atomicProperties=atoms(5))
    retry = await calculation(graphql, **input, atomicProperties=atoms(5))
    assert (first["replayed"], retry["replayed"]) == (False, True)
    assert retry["calculation"] == first["calculation"]
    count = await graphql.data(
        "query($id: ID!) { node(id: $id) { ... on Molecule { calculations { totalCount } } } }",
        id=methane["id"],
    )
    assert count["node"]["calculations"]["totalCount"] == 1

    reused = await graphql.execute(
        CREATE_CALCULATION, input={**input, "energy": -4.3, "atomicProperties": atoms(5)}
    )
    assert reused["errors"][0]["extensions"]["reason"] == "IDEMPOTENCY_KEY_REUSED"


async def test_status_moves_carry_their_results(graphql: GraphQLClient) -> None:
    ethanol = (await molecule(graphql, "CCO"))["molecule"]
    created = (await calculation(graphql, moleculeId=ethanol["id"]))["calculation"]
    assert created["status"] == "PENDING"
    running = await graphql.data(
        SET_CALCULATION_STATUS, input={"id": created["id"], "status": "RUNNING"}
    )
    started = running["setCalculationStatus"]["calculation"]
    assert started["startedAt"] is not None
    done = await graphql.data(
        SET_CALCULATION_STATUS,
        input={
            "id": created["id"],
            "status": "SUCCEEDED",
            "energy": -5.105,
            "gap": 0.6,
            "expectedVersion": started["version"],
        },
    )
    finished = done["setCalculationStatus"]["calculation"]
    assert (finished["status"], finished["energy"], finished["gap"]) == ("SUCCEEDED", -5.105, 0.6)
    assert finished["finishedAt"] >= finished["startedAt"]
    changes = [e["payload"] for e in await events(graphql, created["id"])][1:]
    assert changes == [
        {"from": "PENDING", "to": "RUNNING"},
        {"from": "RUNNING", "to": "SUCCEEDED", "energy": -5.105, "gap": 0.6},
    ]
    stale = await graphql.execute(
        SET_CALCULATION_STATUS,
        input={"id": created["id"], "status": "SUCCEEDED", "expectedVersion": 1},
    )
    assert stale["errors"][0]["extensions"]["reason"] == "STALE_VERSION"


# The committed database is new for each run, so numbering the structures within the run
# keeps them unique.
_STRUCTURES = itertools.count(1)


def _unique_smiles() -> str:
    """A structure no other write of the run makes: an amino ether, one carbon longer each
    time."""
    return f"{'C' * next(_STRUCTURES)}OCCN"


async def test_concurrent_creations_of_one_molecule_make_one(
    committed_graphql: GraphQLClient,
) -> None:
    smiles = _unique_smiles()
    results = await asyncio.gather(*(molecule(committed_graphql, smiles) for _ in range(10)))
    assert len({r["molecule"]["id"] for r in results}) == 1
    assert sorted(r["created"] for r in results) == [False] * 9 + [True]


async def test_concurrent_bulk_creations_of_the_same_molecules_create_each_once(
    committed_graphql: GraphQLClient,
) -> None:
    shared = [{"smiles": _unique_smiles()} for _ in range(20)]
    calls = [
        committed_graphql.data(CREATE_MOLECULES, molecules=shared[:: 1 if n % 2 else -1])
        for n in range(8)
    ]
    results = await asyncio.gather(*calls)
    ids = {r["molecule"]["id"] for data in results for r in data["createMolecules"]["molecules"]}
    assert len(ids) == len(shared)
    created = sum(r["created"] for data in results for r in data["createMolecules"]["molecules"])
    assert created == len(shared)
