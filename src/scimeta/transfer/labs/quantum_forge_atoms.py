"""Atomic properties of a Quantum Forge store in bulk: a range of calculations' atoms is
checked as columns (whole columns at C speed, with `check_atoms` per calculation; rows
are walked one by one only when a check fails, to refuse just the offending ones) and
inserted with one INSERT ... SELECT FROM unnest(arrays), whose per-atom JSON values
PostgreSQL builds from the float arrays."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from itertools import chain
from typing import Any

from scimeta.errors import BadUserInput
from scimeta.transfer.labs.quantum_forge_store import AtomColumns
from scimeta.transfer.sources import ImportReport, Refusal
from scimeta.writes.chemistry import AtomColumns as CheckedAtoms
from scimeta.writes.chemistry import check_atoms
from scimeta.writes.chemistry.smiles import ELEMENTS, PERIODIC_TABLE

ATOMIC_NUMBER = {symbol: number for number, symbol in enumerate(PERIODIC_TABLE, start=1)}
_INDEX_LIMIT = 2**31 - 1
_FLOATS = (
    "partial_charge",
    "position_x",
    "position_y",
    "position_z",
    "force_x",
    "force_y",
    "force_z",
    "orbital_energy",
)
_NUMBER_TYPES = (int, float, type(None))

_INSERT_ATOMS = """
WITH inserted AS (
    INSERT INTO atomic_properties (calculation_id, atom_index, element, charge, "values")
    SELECT a.c, a.i, a.e, a.q,
        CASE WHEN a.x IS NULL AND a.y IS NULL AND a.z IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('position', jsonb_build_array(a.x, a.y, a.z)) END
        || CASE WHEN a.fx IS NULL AND a.fy IS NULL AND a.fz IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('force', jsonb_build_array(a.fx, a.fy, a.fz)) END
        || CASE WHEN a.o IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('orbital_energy', a.o) END
        || CASE WHEN a.u IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('user_id', a.u) END
        || CASE WHEN a.m IS NULL OR a.m::jsonb = '{}'::jsonb THEN '{}'::jsonb
            ELSE jsonb_build_object('metadata', a.m::jsonb) END
    FROM unnest($1::bigint[], $2::int[], $3::text[], $4::float8[], $5::float8[], $6::float8[],
        $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[], $12::text[],
        $13::text[]) AS a(c, i, e, q, x, y, z, fx, fy, fz, o, u, m)
    ON CONFLICT (calculation_id, atom_index) DO NOTHING
    RETURNING calculation_id
)
SELECT calculation_id, count(*) FROM inserted GROUP BY calculation_id
"""


class AtomImport:
    """Checks and inserts atoms; `calculation_ids` maps the store's calculation ids to
    scimeta's (those taken so far), `refused_calculations` holds those refused."""

    def __init__(
        self,
        report: ImportReport,
        calculation_ids: dict[int, int],
        refused_calculations: set[int],
        typed: bool,
        driver: Callable[[], Awaitable[Any]],
    ) -> None:
        self.report = report
        self.counts = report.of("AtomicProperty")
        self.calculation_ids = calculation_ids
        self.refused_calculations = refused_calculations
        self.typed = typed
        self.driver = driver

    async def insert(self, atoms: AtomColumns) -> dict[int, int]:
        """Insert the atoms that are new; how many each scimeta calculation got."""
        self.counts.read += len(atoms)
        if not len(atoms):
            return {}
        ids = self.calculation_ids
        calculations = [ids.get(source_id) for source_id in atoms.calculation_id]
        columns: list[Sequence[Any]] = [
            calculations,
            atoms.atom_index,
            atoms.element,
            *(getattr(atoms, name) for name in _FLOATS),
            atoms.user_id,
            atoms.metadata,
        ]
        if not self._all_valid(atoms, calculations):
            kept = self._valid_rows(atoms, calculations)
            columns = [[column[row] for row in kept] for column in columns]
        if not columns[0]:
            return {}
        driver = await self.driver()
        added = {row[0]: row[1] for row in await driver.fetch(_INSERT_ATOMS, *columns)}
        created = sum(added.values())
        self.counts.created += created
        self.counts.present += len(columns[0]) - created
        return added

    def _all_valid(self, atoms: AtomColumns, calculations: list[int | None]) -> bool:
        """Whether every row can be taken, checked column by column."""
        if None in calculations:
            return False
        if not self.typed and not _typed(atoms):
            return False
        index = atoms.atom_index
        if min(index) < 0 or max(index) > _INDEX_LIMIT:
            return False
        numbers = atoms.atomic_number
        if any(n is not None for n in numbers) and any(
            n is not None and ATOMIC_NUMBER.get(e) != n
            for n, e in zip(numbers, atoms.element, strict=True)
        ):
            return False
        if any(m is not None and m != "{}" and not _is_object(m) for m in atoms.metadata):
            return False
        # the rules a mutation applies to one calculation's atoms (rows come by calculation)
        start = 0
        for end in chain(_boundaries(calculations), [len(calculations)]):
            try:
                check_atoms(
                    CheckedAtoms(
                        index=index[start:end],
                        element=atoms.element[start:end],
                        charge=(),
                        values=(),
                    )
                )
            except BadUserInput:
                return False
            start = end
        return True

    def _valid_rows(self, atoms: AtomColumns, calculations: list[int | None]) -> list[int]:
        """The rows that can be taken; each other row is refused with its reason."""
        kept = []
        seen: dict[tuple[int, int], Any] = {}
        for row, calculation_id in enumerate(calculations):
            reason = self._problem(atoms, row, calculation_id, seen)
            if reason is None:
                kept.append(row)
            else:
                self.report.refuse(
                    Refusal(
                        "AtomicProperty",
                        f"atomic_properties id {atoms.id[row]}",
                        str(atoms.id[row]),
                        reason,
                    )
                )
        return kept

    def _problem(
        self,
        atoms: AtomColumns,
        row: int,
        calculation_id: int | None,
        seen: dict[tuple[int, int], Any],
    ) -> str | None:
        source_calculation = atoms.calculation_id[row]
        if calculation_id is None:
            if source_calculation in self.refused_calculations:
                return f"its calculation {source_calculation} was refused (see that refusal)"
            return f"its calculation {source_calculation} is not in the store's calculations table"
        index, element = atoms.atom_index[row], atoms.element[row]
        if isinstance(index, bool) or not isinstance(index, int):
            return f"its atom_index {index!r} is not a whole number"
        if index < 0:
            return f"its atom_index is {index}; atoms count from 0"
        if index > _INDEX_LIMIT:
            return f"its atom_index {index} is larger than {_INDEX_LIMIT}"
        if element not in ELEMENTS:
            return (
                f"its element {element!r} is not an element symbol (such as C, H, Cl or Fe, "
                "capitalised as in the periodic table)"
            )
        number = atoms.atomic_number[row]
        if number is not None and ATOMIC_NUMBER[element] != number:
            return (
                f"its atomic_number {number!r} is not that of its element {element} "
                f"({ATOMIC_NUMBER[element]})"
            )
        for name in _FLOATS:
            value = getattr(atoms, name)[row]
            if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
                return f"its {name} {value!r} is not a number"
        metadata = atoms.metadata[row]
        if metadata is not None and not _is_object(metadata):
            return "its metadata is not a JSON object"
        first = seen.setdefault((calculation_id, index), atoms.id[row])
        if first != atoms.id[row]:
            return (
                f"atom_index {index} of calculation {source_calculation} is given twice (also by "
                f"atomic_properties id {first}); each atom has one entry"
            )
        return None


def _boundaries(calculations: list[int | None]) -> list[int]:
    """The positions where the next calculation's rows start."""
    return [
        position
        for position in range(1, len(calculations))
        if calculations[position] != calculations[position - 1]
    ]


def _typed(atoms: AtomColumns) -> bool:
    """Whether a SQLite store's values have the types the columns name."""
    return (
        all(type(value) is int for value in atoms.atom_index)
        and all(type(value) is str for value in atoms.element)
        and all(type(value) in _NUMBER_TYPES for value in atoms.atomic_number)
        and all(type(value) in _NUMBER_TYPES for name in _FLOATS for value in getattr(atoms, name))
    )


def _is_object(text: Any) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (TypeError, ValueError):
        return False
