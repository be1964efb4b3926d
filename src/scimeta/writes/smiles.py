"""Molecules by their structure: RDKit's canonical SMILES and the formula it derives.

One structure has one canonical SMILES (`OCC` and `CCO` are both `CCO`), which is what
makes the molecules table's unique SMILES a unique structure.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem, rdBase
from rdkit.Chem import rdMolDescriptors

from scimeta.errors import BadUserInput

ELEMENTS = frozenset(Chem.GetPeriodicTable().GetElementSymbol(number) for number in range(1, 119))

# What a failed sanitization step means, for the message.
_SANITIZE_PROBLEMS = {
    Chem.SanitizeFlags.SANITIZE_PROPERTIES: "an atom has more bonds than its valence allows",
    Chem.SanitizeFlags.SANITIZE_KEKULIZE: "an aromatic ring cannot be written with alternating "
    "single and double bonds (a ring atom may need an explicit hydrogen, as in [nH])",
}


@dataclass(frozen=True)
class Structure:
    """A parsed molecule: its canonical isomeric SMILES and its molecular formula."""

    smiles: str
    formula: str


def structure(smiles: str, field: str = "smiles") -> Structure:
    """The canonical form of `smiles`; BAD_USER_INPUT naming it if RDKit cannot read it."""
    if not smiles or any(character.isspace() for character in smiles):
        # RDKit reads what follows a space as the molecule's title and would drop it.
        raise BadUserInput(
            f"{field} {smiles!r} is not a SMILES string: it is empty or contains whitespace.",
            field=field,
        )
    # RDKit logs every parse failure to stderr; the client gets the error instead.
    with rdBase.BlockLogs():
        molecule = Chem.MolFromSmiles(smiles)
        if molecule is None:
            raise BadUserInput(
                f"{field} {smiles!r} is not a valid SMILES: {_problem(smiles)}.", field=field
            )
    return Structure(
        smiles=Chem.MolToSmiles(molecule, canonical=True, isomericSmiles=True),
        formula=rdMolDescriptors.CalcMolFormula(molecule),
    )


def _problem(smiles: str) -> str:
    """Why RDKit refused `smiles`: its syntax, or the chemistry of what it describes."""
    unsanitized = Chem.MolFromSmiles(smiles, sanitize=False)
    if unsanitized is None:
        return "RDKit cannot parse it (check its atoms, brackets, branches and ring closures)"
    failed = Chem.SanitizeMol(unsanitized, catchErrors=True)
    return _SANITIZE_PROBLEMS.get(failed, f"RDKit's check {failed.name} fails")
