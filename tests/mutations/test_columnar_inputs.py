"""Bulk lists as columns against the same lists as objects.

The list of objects (`atomicProperties: [{atomIndex, element, ...}]`) is the reference:
every bulk mutation is run both ways on the same rows, and must store the same rows and
events, or refuse with the same code and a message that names the same row and field in
the form the client sent (`atomicProperties[3].element`, `atomicPropertyColumns.element[3]`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.relay import GlobalID

from scimeta import models
from tests.conftest import GraphQLClient
from tests.studies.test_studies import participant_of
from tests.support.snapshots import assert_refused, database_state
from tests.test_fuzz import fuzz_settings

CREATE_MOLECULE = """
mutation { createMolecule(input: {smiles: "CCO"}) { molecule { id } } }"""
CREATE_CALCULATION = """
mutation($input: CreateCalculationInput!) {
  createCalculation(input: $input) { calculation { id } }
}"""
ADD_ATOMS = """
mutation($input: AddAtomicPropertiesInput!) {
  addAtomicProperties(input: $input) { calculation { id } }
}"""
ROWS, COLUMNS = "rows", "columns"
ATOM_FIELDS = ("atomIndex", "element", "charge", "values")


def row_id(node_id: str) -> int:
    return int(GlobalID.from_id(node_id).node_id)


def columns_of(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, list[Any]]:
    """The rows as one list per field; a field no row has is left out, and a row without
    a field has null in its column."""
    present = [name for name in fields if any(name in row for row in rows)]
    return {name: [row.get(name) for row in rows] for name in present}


def atom_input(form: str, atoms: list[dict[str, Any]]) -> dict[str, Any]:
    if form == ROWS:
        return {"atomicProperties": atoms}
    return {
        "atomicPropertyColumns": columns_of(atoms, ATOM_FIELDS) or {"atomIndex": [], "element": []}
    }


# The list of objects each columnar input stands for.
LISTS = {"atomicPropertyColumns": "atomicProperties", "cycleColumns": "cycles"}


def as_rows(message: str) -> str:
    """A columnar error message with its names as the list of objects has them."""
    for columns, rows in LISTS.items():
        message = re.sub(rf"{columns}\.(\w+)\[(\d+)\]", rf"{rows}[\2].\1", message)
        message = re.sub(rf"row (\d+) of {columns}", rf"{rows}[\1]", message)
    return message


async def stored_atoms(session: AsyncSession, calculation: str) -> list[tuple[Any, ...]]:
    rows = await session.execute(
        select(
            models.AtomicProperty.atom_index,
            models.AtomicProperty.element,
            models.AtomicProperty.charge,
            models.AtomicProperty.values,
        )
        .where(models.AtomicProperty.calculation_id == row_id(calculation))
        .order_by(models.AtomicProperty.atom_index)
    )
    return [tuple(row) for row in rows]


async def stored_events(
    session: AsyncSession, subject: str, unlike: tuple[str, ...] = ()
) -> list[tuple[str, str, Any]]:
    """The subject's events in order: type, actor and payload without the row's own id and
    the `unlike` keys, which differ between the rows compared."""
    rows = await session.execute(
        select(models.Event.type, models.Event.actor, models.Event.payload)
        .where(
            models.Event.subject_type == GlobalID.from_id(subject).type_name,
            models.Event.subject_id == row_id(subject),
        )
        .order_by(models.Event.sequence)
    )
    return [
        (type_, actor, {k: v for k, v in payload.items() if k != "id" and k not in unlike})
        for type_, actor, payload in rows
    ]


async def molecule(graphql: GraphQLClient) -> str:
    data = await graphql.data(CREATE_MOLECULE)
    node: str = data["createMolecule"]["molecule"]["id"]
    return node


async def create_calculation(
    graphql: GraphQLClient, form: str, atoms: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """The response body of createCalculation with the atoms in `form`."""
    input = {"moleculeId": await molecule(graphql), "energy": -1.5, **extra}
    return await graphql.execute(CREATE_CALCULATION, input={**input, **atom_input(form, atoms)})


def sample_atoms(count: int) -> list[dict[str, Any]]:
    """Atoms with every kind of value: charges and values given, null and left out."""
    atoms: list[dict[str, Any]] = []
    for index in range(count):
        atom: dict[str, Any] = {
            "atomIndex": count - 1 - index,
            "element": ("C", "H", "Cl")[index % 3],
        }
        if index % 4:
            atom["charge"] = None if index % 4 == 1 else round(-0.3 + 0.01 * index, 3)
        if index % 5:
            atom["values"] = None if index % 5 == 1 else {"cn": index, "tags": ["a", index]}
        atoms.append(atom)
    return atoms


@pytest.mark.chemistry
async def test_create_calculation_stores_the_same_atoms_and_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    atoms = sample_atoms(50)
    made = {}
    for form in (ROWS, COLUMNS):
        body = await create_calculation(graphql, form, atoms)
        assert "errors" not in body, body
        made[form] = body["data"]["createCalculation"]["calculation"]["id"]
    reference = await stored_atoms(session, made[ROWS])
    assert len(reference) == 50
    assert (9, "H", None, {}) in reference
    assert await stored_atoms(session, made[COLUMNS]) == reference
    events = await stored_events(session, made[ROWS])
    assert events[0][0] == "created" and events[0][2]["atomic_properties"] == 50
    assert await stored_events(session, made[COLUMNS]) == events


@pytest.mark.chemistry
async def test_add_atomic_properties_stores_the_same_atoms_and_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    first, more = sample_atoms(20)[:10], sample_atoms(20)[10:]
    made = {}
    for form in (ROWS, COLUMNS):
        body = await create_calculation(graphql, form, first)
        made[form] = body["data"]["createCalculation"]["calculation"]["id"]
        added = await graphql.execute(
            ADD_ATOMS, input={"calculationId": made[form], **atom_input(form, more)}
        )
        assert "errors" not in added, added
    reference = await stored_atoms(session, made[ROWS])
    assert [atom[0] for atom in reference] == list(range(20))
    assert await stored_atoms(session, made[COLUMNS]) == reference
    events = await stored_events(session, made[ROWS])
    assert [event[0] for event in events] == ["created", "atomic_properties_added"]
    assert await stored_events(session, made[COLUMNS]) == events


def _atoms_with(position: int, **changes: Any) -> list[dict[str, Any]]:
    atoms = [{"atomIndex": n, "element": "C", "charge": 0.1, "values": {"n": n}} for n in range(5)]
    atoms[position] = {**atoms[position], **changes}
    return atoms


@pytest.mark.parametrize(
    ("atoms", "column", "row", "says"),
    [
        (_atoms_with(3, atomIndex=-1), "atomIndex", 3, "is -1; atoms count from 0"),
        (_atoms_with(2, atomIndex=0), "atomIndex", 2, "0 is given twice"),
        (_atoms_with(4, element="Xx"), "element", 4, "'Xx' is not an element symbol"),
        (_atoms_with(1, element="c"), "element", 1, "'c' is not an element symbol"),
        (_atoms_with(2, values=[1, 2]), "values", 2, "must be a JSON object"),
        (_atoms_with(0, values="text"), "values", 0, "must be a JSON object"),
    ],
)
@pytest.mark.chemistry
async def test_a_bad_atom_is_refused_alike_both_ways(
    graphql: GraphQLClient,
    session: AsyncSession,
    atoms: list[dict[str, Any]],
    column: str,
    row: int,
    says: str,
) -> None:
    """BAD_USER_INPUT naming the row and field as the client sent them; nothing written."""
    input = {"moleculeId": await molecule(graphql)}
    errors = {}
    for form in (ROWS, COLUMNS):
        errors[form] = await assert_refused(
            graphql,
            session,
            CREATE_CALCULATION,
            code="BAD_USER_INPUT",
            says=says,
            input={**input, **atom_input(form, atoms)},
        )
    assert f"atomicProperties[{row}].{column}" in errors[ROWS]["message"]
    assert f"atomicPropertyColumns.{column}[{row}]" in errors[COLUMNS]["message"]
    assert as_rows(errors[COLUMNS]["message"]) == errors[ROWS]["message"]
    assert errors[COLUMNS]["extensions"]["field"] == f"atomicPropertyColumns.{column}[{row}]"


@pytest.mark.parametrize("mutation", ["createCalculation", "addAtomicProperties"])
@pytest.mark.chemistry
async def test_more_atoms_than_the_cap_are_refused_both_ways(
    graphql: GraphQLClient, session: AsyncSession, mutation: str
) -> None:
    atoms = [{"atomIndex": n, "element": "H"} for n in range(10_001)]
    if mutation == "createCalculation":
        query, input = CREATE_CALCULATION, {"moleculeId": await molecule(graphql)}
    else:
        body = await create_calculation(graphql, ROWS, [])
        query = ADD_ATOMS
        input = {"calculationId": body["data"]["createCalculation"]["calculation"]["id"]}
    for form, field in (("rows", "atomicProperties"), ("columns", "atomicPropertyColumns")):
        error = await assert_refused(
            graphql,
            session,
            query,
            code="BAD_USER_INPUT",
            says=f"{field} has 10001",
            input={**input, **atom_input(form, atoms)},
        )
        assert error["extensions"]["maximum"] == 10_000
        assert error["extensions"]["field"] == field


@pytest.mark.parametrize(
    ("columns", "field", "says"),
    [
        (
            {"atomIndex": [0, 1, 2], "element": ["C", "H"]},
            "atomicPropertyColumns.element",
            "atomicPropertyColumns.element has 2 entries but atomicPropertyColumns.atomIndex has 3",
        ),
        (
            {"atomIndex": [0, 1], "element": ["C", "H"], "charge": [0.1]},
            "atomicPropertyColumns.charge",
            "atomicPropertyColumns.charge has 1 entries",
        ),
        (
            {"atomIndex": [0], "element": ["C"], "values": [{}, {}]},
            "atomicPropertyColumns.values",
            "atomicPropertyColumns.values has 2 entries",
        ),
    ],
)
@pytest.mark.chemistry
async def test_columns_of_other_lengths_are_refused(
    graphql: GraphQLClient, session: AsyncSession, columns: dict[str, Any], field: str, says: str
) -> None:
    error = await assert_refused(
        graphql,
        session,
        CREATE_CALCULATION,
        code="BAD_USER_INPUT",
        says=says,
        input={"moleculeId": await molecule(graphql), "atomicPropertyColumns": columns},
    )
    assert error["extensions"]["field"] == field


@pytest.mark.chemistry
async def test_atoms_given_both_ways_at_once_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    await assert_refused(
        graphql,
        session,
        CREATE_CALCULATION,
        code="BAD_USER_INPUT",
        says="as atomicProperties or as atomicPropertyColumns, not both",
        input={
            "moleculeId": await molecule(graphql),
            "atomicProperties": [{"atomIndex": 0, "element": "C"}],
            "atomicPropertyColumns": {"atomIndex": [1], "element": ["H"]},
        },
    )


# Mostly atoms an atom can be, so that most calls store; now and then a negative or repeated
# index, a misspelt element or values that are not an object, so that some are refused.
VALUES = st.sampled_from(["object"] * 6 + ["null", "list"]).flatmap(
    lambda kind: {
        "object": st.dictionaries(
            st.sampled_from(["a", "b", "cn"]), st.integers(-5, 5), max_size=2
        ),
        "null": st.none(),
        "list": st.lists(st.integers(0, 3), max_size=2),
    }[kind]
)
ATOMS = st.lists(
    st.fixed_dictionaries(
        {
            "atomIndex": st.integers(min_value=-1, max_value=80),
            "element": st.sampled_from(["C", "H", "O", "N", "Cl", "Fe", "S", "P", "Xx", "h"]),
        },
        optional={
            "charge": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32),
            "values": VALUES,
        },
    ),
    max_size=8,
)


@fuzz_settings(60)
@given(atoms=ATOMS)
@pytest.mark.chemistry
async def test_generated_atoms_give_the_same_result_both_ways(
    graphql: GraphQLClient, session: AsyncSession, atoms: list[dict[str, Any]]
) -> None:
    """Both ways store the same atoms and events, or both refuse with the same error and
    write nothing."""
    before = await database_state(session)
    bodies = {form: await create_calculation(graphql, form, atoms) for form in (ROWS, COLUMNS)}
    event("refused" if "errors" in bodies[ROWS] else "stored")
    if "errors" in bodies[ROWS]:
        assert "errors" in bodies[COLUMNS], bodies
        reference, columnar = bodies[ROWS]["errors"][0], bodies[COLUMNS]["errors"][0]
        assert columnar["extensions"]["code"] == reference["extensions"]["code"]
        assert as_rows(columnar["message"]) == reference["message"]
        assert await database_state(session) == before
        return
    assert "errors" not in bodies[COLUMNS], bodies
    made = {
        form: body["data"]["createCalculation"]["calculation"]["id"]
        for form, body in bodies.items()
    }
    reference_atoms = await stored_atoms(session, made[ROWS])
    assert len(reference_atoms) == len(atoms)
    assert await stored_atoms(session, made[COLUMNS]) == reference_atoms
    assert await stored_events(session, made[COLUMNS]) == await stored_events(session, made[ROWS])


SAVE_RECORDING = """
mutation($input: SaveRecordingInput!) {
  saveRecording(input: $input) { recording { id } }
}"""
CYCLE_FIELDS = ("index", "startSeconds", "endSeconds", "qcPassed", "attributes")
RECORDING_KEY = {"kind": "AUDIO", "maneuver": "WALK", "knee": "LEFT", "passNumber": 1}


def cycle_input(form: str, cycles: list[dict[str, Any]]) -> dict[str, Any]:
    if form == ROWS:
        return {"cycles": cycles}
    empty: dict[str, list[Any]] = {"index": [], "startSeconds": [], "endSeconds": []}
    return {"cycleColumns": columns_of(cycles, CYCLE_FIELDS) or empty}


def sample_cycles(count: int, shift: float = 0.0) -> list[dict[str, Any]]:
    cycles: list[dict[str, Any]] = []
    for n in range(count):
        cycle: dict[str, Any] = {
            "index": count - 1 - n,
            "startSeconds": n + shift,
            "endSeconds": n + shift + (0.0 if n % 7 == 0 else 0.8),
        }
        if n % 3:
            cycle["qcPassed"] = None if n % 3 == 1 else n % 2 == 0
        if n % 4:
            cycle["attributes"] = None if n % 4 == 1 else {"energy": n * 0.5}
        cycles.append(cycle)
    return cycles


async def stored_cycles(session: AsyncSession, recording: str) -> list[tuple[Any, ...]]:
    cycle = models.MovementCycle
    rows = await session.execute(
        select(
            cycle.index, cycle.start_seconds, cycle.end_seconds, cycle.qc_passed, cycle.attributes
        )
        .where(cycle.recording_id == row_id(recording))
        .order_by(cycle.index)
    )
    return [tuple(row) for row in rows]


async def test_save_recording_stores_the_same_cycles_and_events_both_ways(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    """Created, replaced and saved again unchanged (which writes nothing), each both ways."""
    participants = {form: await participant_of(graphql, f"AOA-{form}") for form in (ROWS, COLUMNS)}
    saves = [sample_cycles(40), sample_cycles(25, shift=0.25), sample_cycles(25, shift=0.25)]
    made = {}
    for cycles in saves:
        for form in (ROWS, COLUMNS):
            input = {"participantId": participants[form], **RECORDING_KEY}
            body = await graphql.execute(
                SAVE_RECORDING, input={**input, **cycle_input(form, cycles)}
            )
            assert "errors" not in body, body
            made[form] = body["data"]["saveRecording"]["recording"]["id"]
        reference = await stored_cycles(session, made[ROWS])
        assert len(reference) == len(cycles)
        assert await stored_cycles(session, made[COLUMNS]) == reference
    events = await stored_events(session, made[ROWS], unlike=("participant_id",))
    assert [event[0] for event in events] == ["created", "updated"]
    assert events[1][2] == {"fields": ["cycles"], "cycles": 25}
    assert await stored_events(session, made[COLUMNS], unlike=("participant_id",)) == events


def _cycles_with(position: int, **changes: Any) -> list[dict[str, Any]]:
    cycles = [
        {"index": n, "startSeconds": n, "endSeconds": n + 0.5, "qcPassed": True, "attributes": {}}
        for n in range(5)
    ]
    cycles[position] = {**cycles[position], **changes}
    return cycles


@pytest.mark.parametrize(
    ("cycles", "names", "says"),
    [
        (
            _cycles_with(3, index=1),
            ("cycles[3].index", "cycleColumns.index[3]"),
            "1 is given twice",
        ),
        (
            _cycles_with(2, index=-2),
            ("cycles[2].index", "cycleColumns.index[2]"),
            "must be 0 or more",
        ),
        (
            _cycles_with(4, endSeconds=3.5),
            ("cycles[4]", "row 4 of cycleColumns"),
            "ends (3.5 s) before it starts (4.0 s)",
        ),
        (
            _cycles_with(1, attributes=[1]),
            ("cycles[1].attributes", "cycleColumns.attributes[1]"),
            "must be a JSON object",
        ),
    ],
)
async def test_a_bad_cycle_is_refused_alike_both_ways(
    graphql: GraphQLClient,
    session: AsyncSession,
    cycles: list[dict[str, Any]],
    names: tuple[str, str],
    says: str,
) -> None:
    input = {"participantId": await participant_of(graphql), **RECORDING_KEY}
    errors = {}
    for form, name in zip((ROWS, COLUMNS), names, strict=True):
        errors[form] = await assert_refused(
            graphql,
            session,
            SAVE_RECORDING,
            code="BAD_USER_INPUT",
            says=f"{name} {says}" if "ends" in says else name,
            input={**input, **cycle_input(form, cycles)},
        )
        assert says in errors[form]["message"]
    assert as_rows(errors[COLUMNS]["message"]) == errors[ROWS]["message"]


async def test_cycles_over_the_cap_of_other_lengths_or_given_twice_are_refused(
    graphql: GraphQLClient, session: AsyncSession
) -> None:
    input = {"participantId": await participant_of(graphql), **RECORDING_KEY}
    many = [{"index": n, "startSeconds": 0.0, "endSeconds": 1.0} for n in range(10_001)]
    for form, field in ((ROWS, "cycles"), (COLUMNS, "cycleColumns")):
        error = await assert_refused(
            graphql,
            session,
            SAVE_RECORDING,
            code="BAD_USER_INPUT",
            says=f"{field} has 10001",
            input={**input, **cycle_input(form, many)},
        )
        assert error["extensions"]["maximum"] == 10_000
    short = {"index": [0, 1], "startSeconds": [0.0, 1.0], "endSeconds": [1.0]}
    error = await assert_refused(
        graphql,
        session,
        SAVE_RECORDING,
        code="BAD_USER_INPUT",
        says="cycleColumns.endSeconds has 1 entries but cycleColumns.index has 2",
        input={**input, "cycleColumns": short},
    )
    assert error["extensions"]["field"] == "cycleColumns.endSeconds"
    await assert_refused(
        graphql,
        session,
        SAVE_RECORDING,
        code="BAD_USER_INPUT",
        says="as cycles or as cycleColumns, not both",
        input={**input, "cycles": [], "cycleColumns": {**short, "endSeconds": [1.0, 2.0]}},
    )


# A cycle's end is its start plus a length, now and then a negative one.
CYCLES = st.lists(
    st.builds(
        lambda start, length, cycle: {
            **cycle,
            "startSeconds": start,
            "endSeconds": round(start + length, 3),
        },
        st.floats(0, 100, width=32),
        st.floats(-1, 10, width=32),
        st.fixed_dictionaries(
            {"index": st.integers(min_value=-1, max_value=80)},
            optional={"qcPassed": st.none() | st.booleans(), "attributes": VALUES},
        ),
    ),
    max_size=6,
)


@fuzz_settings(40)
@given(cycles=CYCLES)
async def test_generated_cycles_give_the_same_result_both_ways(
    graphql: GraphQLClient, session: AsyncSession, cycles: list[dict[str, Any]]
) -> None:
    """Both ways store the same cycles, or both refuse with the same error and write
    nothing; each example saves a new recording each way."""
    participants = {
        form: await participant_of(graphql, f"AOA-{form}-{uuid.uuid4().hex[:8]}")
        for form in (ROWS, COLUMNS)
    }
    before = await database_state(session)
    bodies = {
        form: await graphql.execute(
            SAVE_RECORDING,
            input={
                "participantId": participants[form],
                **RECORDING_KEY,
                **cycle_input(form, cycles),
            },
        )
        for form in (ROWS, COLUMNS)
    }
    event("refused" if "errors" in bodies[ROWS] else "stored")
    if "errors" in bodies[ROWS]:
        assert "errors" in bodies[COLUMNS], bodies
        reference, columnar = bodies[ROWS]["errors"][0], bodies[COLUMNS]["errors"][0]
        assert columnar["extensions"]["code"] == reference["extensions"]["code"]
        assert as_rows(columnar["message"]) == reference["message"]
        assert await database_state(session) == before
        return
    assert "errors" not in bodies[COLUMNS], bodies
    made = {form: body["data"]["saveRecording"]["recording"]["id"] for form, body in bodies.items()}
    reference = await stored_cycles(session, made[ROWS])
    assert len(reference) == len(cycles)
    assert await stored_cycles(session, made[COLUMNS]) == reference
