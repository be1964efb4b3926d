"""Molecules by their structure: RDKit's canonical SMILES and the formula it derives.

One structure has one canonical SMILES (`OCC` and `CCO` are both `CCO`), which is what
makes the molecules table's unique SMILES a unique structure.

RDKit (with numpy and Pillow, most of an installation's size) comes with the `chemistry`
extra, for the servers that take molecule writes. Without it the server serves everything
else, reads of molecules included, and refuses every write that needs a canonical SMILES
with FEATURE_UNAVAILABLE: storing a SMILES as given would let one structure become two
molecules.
"""

from __future__ import annotations

from dataclasses import dataclass

from scimeta.errors import BadUserInput, ClientError

try:
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdMolDescriptors
except ImportError:
    RDKIT_AVAILABLE = False
else:
    RDKIT_AVAILABLE = True

CHEMISTRY_EXTRA = "pip install 'scimeta[chemistry]'"

# The element symbols by atomic number (1 to 118), as RDKit's periodic table spells them,
# kept here so that atom and element checks need no RDKit.
PERIODIC_TABLE: tuple[str, ...] = (
    "H", "He",
    "Li", "Be", "B", "C", "N", "O", "F", "Ne",
    "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Ga", "Ge", "As", "Se", "Br", "Kr",
    "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
    "In", "Sn", "Sb", "Te", "I", "Xe",
    "Cs", "Ba",
    "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
    "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn",
    "Fr", "Ra",
    "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr",
    "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
)  # fmt: skip
ELEMENTS = frozenset(PERIODIC_TABLE)


class FeatureUnavailable(ClientError):
    """The server was installed without what the call needs; nothing the client sent is
    wrong, and the same call succeeds on a server installed with it."""

    code = "FEATURE_UNAVAILABLE"


@dataclass(frozen=True)
class Structure:
    """A parsed molecule: its canonical isomeric SMILES and its molecular formula."""

    smiles: str
    formula: str


def structure(smiles: str, field: str = "smiles") -> Structure:
    """The canonical form of `smiles`; BAD_USER_INPUT naming it if RDKit cannot read it,
    FEATURE_UNAVAILABLE if RDKit is not installed."""
    if not RDKIT_AVAILABLE:
        raise FeatureUnavailable(
            f"canonical SMILES need RDKit, which this server was installed without: "
            f"{CHEMISTRY_EXTRA}",
            feature="chemistry",
            field=field,
        )
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
    # What a failed sanitization step means, for the message.
    problems = {
        Chem.SanitizeFlags.SANITIZE_PROPERTIES: "an atom has more bonds than its valence allows",
        Chem.SanitizeFlags.SANITIZE_KEKULIZE: "an aromatic ring cannot be written with "
        "alternating single and double bonds (a ring atom may need an explicit hydrogen, as "
        "in [nH])",
    }
    return problems.get(failed, f"RDKit's check {failed.name} fails")
