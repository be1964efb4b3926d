"""The atoms of a SMILES string, hydrogens included, and the molecular formula they make.

Covers what the demo catalogue writes: the organic subset (aliphatic and aromatic), bracket
atoms with hydrogen counts, charges and chirality, branches and ring closures. Hydrogens
follow the SMILES rules for implicit hydrogens, so formulas come from the structure itself.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_VALENCES = {
    "B": (3,),
    "C": (4,),
    "N": (3, 5),
    "O": (2,),
    "P": (3, 5),
    "S": (2, 4, 6),
    "F": (1,),
    "Cl": (1,),
    "Br": (1,),
    "I": (1,),
}
_BOND_ORDERS = {"-": 1, "=": 2, "#": 3, "/": 1, "\\": 1}
_TOKEN = re.compile(r"\[[^\]]+\]|Cl|Br|[BCNOPSFI]|[bcnops]|[=#\-/\\()]|%\d\d|\d")
_BRACKET = re.compile(r"\[(\d*)([A-Z][a-z]?|[bcnops])(@*)(H\d*)?([+-]\d*)?\]")


@dataclass
class _Atom:
    element: str
    aromatic: bool
    explicit_hydrogens: int | None
    bond_order_sum: int = 0
    has_double_bond: bool = False

    def implicit_hydrogens(self) -> int:
        if self.explicit_hydrogens is not None:
            return self.explicit_hydrogens
        if self.aromatic:
            # An aromatic carbon gives one electron to the ring unless it carries an
            # exocyclic double bond; aromatic N, O and S written bare carry no hydrogen.
            if self.element != "C":
                return 0
            ring_share = 0 if self.has_double_bond else 1
            return max(0, 4 - self.bond_order_sum - ring_share)
        for valence in _VALENCES[self.element]:
            if valence >= self.bond_order_sum:
                return valence - self.bond_order_sum
        return 0


def _parse(smiles: str) -> list[_Atom]:
    atoms: list[_Atom] = []
    branch_points: list[int] = []
    open_rings: dict[str, tuple[int, int]] = {}
    previous: int | None = None
    pending_order: int | None = None

    def bond(first: int, second: int, order: int) -> None:
        for index in (first, second):
            atoms[index].bond_order_sum += order
            atoms[index].has_double_bond |= order == 2

    position = 0
    for match in _TOKEN.finditer(smiles):
        if match.start() != position:
            raise ValueError(f"unsupported SMILES at {position}: {smiles!r}")
        position = match.end()
        token = match.group()
        if token in _BOND_ORDERS:
            pending_order = _BOND_ORDERS[token]
        elif token == "(":
            if previous is None:
                raise ValueError(f"branch before any atom: {smiles!r}")
            branch_points.append(previous)
        elif token == ")":
            previous = branch_points.pop()
        elif token[0].isdigit() or token[0] == "%":
            if previous is None:
                raise ValueError(f"ring closure before any atom: {smiles!r}")
            if token in open_rings:
                partner, opening_order = open_rings.pop(token)
                bond(partner, previous, pending_order or opening_order)
            else:
                open_rings[token] = (previous, pending_order or 1)
            pending_order = None
        else:
            atoms.append(_atom(token))
            current = len(atoms) - 1
            if previous is not None:
                bond(previous, current, pending_order or 1)
            previous, pending_order = current, None
    if position != len(smiles) or open_rings or branch_points:
        raise ValueError(f"incomplete SMILES: {smiles!r}")
    return atoms


def _atom(token: str) -> _Atom:
    if not token.startswith("["):
        return _Atom(element=token.capitalize(), aromatic=token.islower(), explicit_hydrogens=None)
    match = _BRACKET.fullmatch(token)
    if match is None:
        raise ValueError(f"unsupported bracket atom {token}")
    symbol, hydrogens = match.group(2), match.group(4)
    count = 0 if hydrogens is None else int(hydrogens[1:] or "1")
    return _Atom(element=symbol.capitalize(), aromatic=symbol.islower(), explicit_hydrogens=count)


def atom_elements(smiles: str) -> tuple[str, ...]:
    """Element of every atom: heavy atoms in SMILES order, then all hydrogens, which is
    the order a structure with explicit hydrogens added lists them in."""
    atoms = _parse(smiles)
    hydrogens = sum(atom.implicit_hydrogens() for atom in atoms)
    return (*(atom.element for atom in atoms), *("H",) * hydrogens)


def hill_formula(elements: tuple[str, ...]) -> str:
    """The formula in Hill order: C, then H, then the rest alphabetically (all
    alphabetically when there is no carbon)."""
    counts = Counter(elements)
    if "C" in counts:
        order = ["C", *(["H"] if "H" in counts else []), *sorted(set(counts) - {"C", "H"})]
    else:
        order = sorted(counts)
    return "".join(
        f"{element}{counts[element] if counts[element] > 1 else ''}" for element in order
    )
