"""The molecules of the demo: a reference set of familiar small molecules, then members
of homologous series, smallest first. SMILES are in RDKit's canonical form."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from scimeta.demo.molecule_series import series_members
from scimeta.demo.smiles import atom_elements, hill_formula

# (name, canonical SMILES, dipole moment in Debye, HOMO-LUMO gap in eV)
_REFERENCE_SET = (
    ("water", "O", 1.85, 4.9),
    ("methane", "C", 0.0, 5.0),
    ("ammonia", "N", 1.47, 4.7),
    ("methanol", "CO", 1.70, 4.6),
    ("ethanol", "CCO", 1.69, 4.5),
    ("formaldehyde", "C=O", 2.33, 2.6),
    ("formic acid", "O=CO", 1.41, 3.4),
    ("acetic acid", "CC(=O)O", 1.74, 3.4),
    ("acetone", "CC(C)=O", 2.88, 2.9),
    ("acetonitrile", "CC#N", 3.92, 4.0),
    ("benzene", "c1ccccc1", 0.0, 3.0),
    ("toluene", "Cc1ccccc1", 0.37, 2.9),
    ("phenol", "Oc1ccccc1", 1.22, 2.7),
    ("aniline", "Nc1ccccc1", 1.53, 2.4),
    ("pyridine", "c1ccncc1", 2.22, 2.6),
    ("pyrrole", "c1cc[nH]c1", 1.74, 2.8),
    ("furan", "c1ccoc1", 0.66, 3.0),
    ("thiophene", "c1ccsc1", 0.55, 2.7),
    ("imidazole", "c1c[nH]cn1", 3.70, 3.0),
    ("urea", "NC(N)=O", 4.56, 3.7),
    ("naphthalene", "c1ccc2ccccc2c1", 0.0, 2.0),
    ("benzoic acid", "O=C(O)c1ccccc1", 1.72, 2.3),
    ("benzaldehyde", "O=Cc1ccccc1", 3.00, 2.0),
    ("acetophenone", "CC(=O)c1ccccc1", 3.02, 2.1),
    ("styrene", "C=Cc1ccccc1", 0.13, 2.2),
    ("glycine", "NCC(=O)O", 1.10, 3.3),
    ("L-alanine", "C[C@H](N)C(=O)O", 1.30, 3.3),
    ("acetamide", "CC(N)=O", 3.76, 3.5),
    ("dimethyl sulfoxide", "CS(C)=O", 3.96, 3.1),
    ("N,N-dimethylformamide", "CN(C)C=O", 3.82, 3.2),
    ("tetrahydrofuran", "C1CCOC1", 1.63, 4.4),
    ("1,4-dioxane", "C1COCCO1", 0.0, 4.3),
    ("cyclohexane", "C1CCCCC1", 0.0, 4.9),
    ("cyclopentane", "C1CCCC1", 0.0, 4.9),
    ("ethylene glycol", "OCCO", 2.28, 4.3),
    ("glycerol", "OCC(O)CO", 2.60, 4.2),
    ("ethyl acetate", "CCOC(C)=O", 1.78, 3.5),
    ("diethyl ether", "CCOCC", 1.15, 4.4),
    ("dichloromethane", "ClCCl", 1.60, 3.9),
    ("chloroform", "ClC(Cl)Cl", 1.04, 3.6),
    ("carbon tetrachloride", "ClC(Cl)(Cl)Cl", 0.0, 3.3),
    ("pyrimidine", "c1cncnc1", 2.33, 2.5),
    ("caffeine", "Cn1c(=O)c2c(ncn2C)n(C)c1=O", 3.64, 2.1),
    ("indole", "c1ccc2[nH]ccc2c1", 2.11, 2.3),
    ("adenine", "Nc1ncnc2[nH]cnc12", 2.50, 2.2),
    ("cytosine", "Nc1cc[nH]c(=O)n1", 6.40, 2.4),
    ("uracil", "O=c1cc[nH]c(=O)[nH]1", 4.16, 2.6),
    ("ethylene", "C=C", 0.0, 3.3),
    ("acetylene", "C#C", 0.0, 3.6),
    ("carbon dioxide", "O=C=O", 0.0, 4.2),
    ("hydrogen cyanide", "C#N", 2.98, 4.1),
    ("nitromethane", "C[N+](=O)[O-]", 3.46, 1.9),
    ("aspirin", "CC(=O)Oc1ccccc1C(=O)O", 3.70, 2.0),
    ("paracetamol", "CC(=O)Nc1ccc(O)cc1", 4.50, 2.4),
    ("ibuprofen", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", 1.50, 2.9),
    ("(S)-nicotine", "CN1CCC[C@H]1c1cccnc1", 2.20, 2.5),
    ("serotonin", "NCCc1c[nH]c2ccc(O)cc12", 2.90, 2.2),
    ("dopamine", "NCCc1ccc(O)c(O)c1", 2.60, 2.5),
    ("hydrogen sulfide", "S", 0.97, 4.1),
    ("methylamine", "CN", 1.31, 4.5),
)


@dataclass(frozen=True)
class CatalogueMolecule:
    smiles: str
    name: str
    elements: tuple[str, ...]
    # Typical values for the molecule, which calculated results scatter around.
    dipole_debye: float
    gap_ev: float
    origin: str

    @property
    def formula(self) -> str:
        return hill_formula(self.elements)


def _molecules() -> Iterator[CatalogueMolecule]:
    seen = set()
    for name, smiles, dipole, gap in _REFERENCE_SET:
        seen.add(smiles)
        yield CatalogueMolecule(smiles, name, atom_elements(smiles), dipole, gap, "reference set")
    for member in series_members():
        if member.smiles not in seen:
            seen.add(member.smiles)
            yield CatalogueMolecule(
                member.smiles,
                member.name,
                atom_elements(member.smiles),
                member.dipole_debye,
                member.gap_ev,
                "homologous series",
            )


def molecule_catalogue(count: int) -> list[CatalogueMolecule]:
    """The first `count` molecules; a larger count extends the list without changing it."""
    catalogue: list[CatalogueMolecule] = []
    for molecule in _molecules():
        if len(catalogue) == count:
            break
        catalogue.append(molecule)
    if len(catalogue) < count:
        raise ValueError(f"the catalogue has fewer than {count} molecules")
    return catalogue
