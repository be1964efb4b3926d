"""Homologous series of small organic molecules, named by IUPAC rules.

Each series places one functional group (or a pair of end groups) on an unbranched chain
of n carbons, at every distinct position k. SMILES are written in the form RDKit's
canonical writer produces for these chains, so they need no canonicalisation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

MAX_CHAIN = 99

_STEMS = {1: "meth", 2: "eth", 3: "prop", 4: "but", 5: "pent", 6: "hex", 7: "hept"}
_STEMS |= {8: "oct", 9: "non", 10: "dec", 11: "undec", 20: "icos", 21: "henicos"}
_UNIT_PREFIXES = ("", "hen", "do", "tri", "tetra", "penta", "hexa", "hepta", "octa", "nona")
_TEN_STEMS = (
    *("", "dec", "cos", "triacont", "tetracont"),
    *("pentacont", "hexacont", "heptacont", "octacont", "nonacont"),
)


def stem(carbons: int) -> str:
    """The numeral stem of an n-carbon chain: "prop", "dodec", "henicos", "tritriacont"."""
    if not 1 <= carbons <= MAX_CHAIN:
        raise ValueError(f"no chain stem for {carbons} carbons")
    if carbons in _STEMS:
        return _STEMS[carbons]
    tens, units = divmod(carbons, 10)
    return _UNIT_PREFIXES[units] + _TEN_STEMS[tens]


@dataclass(frozen=True)
class SeriesMember:
    smiles: str
    name: str
    # Typical values for this kind of molecule, which calculated results scatter around.
    dipole_debye: float
    gap_ev: float


def _substituted(carbons: int, position: int, group: str) -> str:
    """A chain with `group` on carbon `position` (counted from the nearer end)."""
    if position == 1:
        return "C" * carbons + group
    if position == 2:
        return "C" * (carbons - 2) + "C(C)" + group
    return "C" * (carbons - position) + f"C({group})" + "C" * (position - 1)


def _positions(carbons: int, first: int = 1) -> range:
    """Distinct positions on a chain: the rest are the same molecules numbered backwards."""
    return range(first, (carbons + 1) // 2 + 1)


def _locant(carbons: int, position: int) -> bool:
    """Whether the name needs a position number: not on one- and two-carbon chains."""
    return carbons > 2 or position > 1


@dataclass(frozen=True)
class _Series:
    """One homologous series: which members exist for a chain and how each is written."""

    members: Callable[[int], Iterator[tuple[str, str]]]
    dipole_debye: float
    gap_ev: float


def _suffix_series(
    group: str, suffix: str, elide_e: bool
) -> Callable[[int], Iterator[tuple[str, str]]]:
    """Alcohols, amines, thiols: a group named by a suffix ("propan-2-ol")."""

    def members(carbons: int) -> Iterator[tuple[str, str]]:
        ane = "an" if elide_e else "ane"
        for position in _positions(carbons):
            if _locant(carbons, position):
                name = f"{stem(carbons)}{ane}-{position}-{suffix}"
            else:
                name = f"{stem(carbons)}{ane}{suffix}"
            yield _substituted(carbons, position, group), name

    return members


def _prefix_series(group: str, prefix: str) -> Callable[[int], Iterator[tuple[str, str]]]:
    """Halides: a group named by a prefix ("2-chlorobutane")."""

    def members(carbons: int) -> Iterator[tuple[str, str]]:
        for position in _positions(carbons):
            locant = f"{position}-" if _locant(carbons, position) else ""
            yield _substituted(carbons, position, group), f"{locant}{prefix}{stem(carbons)}ane"

    return members


def _methyl_alkanes(carbons: int) -> Iterator[tuple[str, str]]:
    for position in _positions(carbons, first=2):
        if position < carbons:
            yield _substituted(carbons, position, "C"), f"{position}-methyl{stem(carbons)}ane"


def _ketones(carbons: int) -> Iterator[tuple[str, str]]:
    for position in _positions(carbons, first=2):
        if position < carbons:
            yield _substituted(carbons, position, "=O"), f"{stem(carbons)}an-{position}-one"


def _alkynes(carbons: int) -> Iterator[tuple[str, str]]:
    for position in _positions(carbons - 1):
        if carbons == 2 or (carbons == 3 and position == 1):
            name = f"{stem(carbons)}yne"
        else:
            name = f"{stem(carbons)}-{position}-yne"
        before, after = position - 1, carbons - position - 1
        yield "C" * before + "C#C" + "C" * after, name


def _terminal(
    first_carbons: int, write: Callable[[int], str], name: Callable[[int], str]
) -> Callable[[int], Iterator[tuple[str, str]]]:
    """Series with the group only at the chain ends (acids, nitriles, alkenes, ...)."""

    def members(carbons: int) -> Iterator[tuple[str, str]]:
        if carbons >= first_carbons:
            yield write(carbons), name(carbons)

    return members


def _alkene_name(carbons: int) -> str:
    return f"{stem(carbons)}ene" if carbons <= 3 else f"{stem(carbons)}-1-ene"


_SERIES = (
    _Series(_terminal(1, lambda n: "C" * n, lambda n: f"{stem(n)}ane"), 0.0, 4.8),
    _Series(_suffix_series("O", "ol", elide_e=True), 1.7, 4.3),
    _Series(_suffix_series("N", "amine", elide_e=True), 1.3, 4.0),
    _Series(_suffix_series("S", "thiol", elide_e=False), 1.6, 3.6),
    _Series(_prefix_series("F", "fluoro"), 1.9, 4.6),
    _Series(_prefix_series("Cl", "chloro"), 2.0, 4.0),
    _Series(_prefix_series("Br", "bromo"), 2.0, 3.5),
    _Series(_prefix_series("I", "iodo"), 1.9, 2.9),
    _Series(
        _terminal(
            1, lambda n: "C" * n + "OC", lambda n: f"{'1-' if n > 2 else ''}methoxy{stem(n)}ane"
        ),
        1.2,
        4.4,
    ),
    _Series(_methyl_alkanes, 0.1, 4.7),
    _Series(_ketones, 2.8, 2.9),
    _Series(_alkynes, 0.8, 3.3),
    _Series(_terminal(2, lambda n: "C=C" + "C" * (n - 2), _alkene_name), 0.35, 3.2),
    _Series(
        _terminal(2, lambda n: "C" * (n - 1) + "C#N", lambda n: f"{stem(n)}anenitrile"), 3.9, 3.8
    ),
    _Series(_terminal(1, lambda n: "C" * (n - 1) + "C=O", lambda n: f"{stem(n)}anal"), 2.7, 2.7),
    _Series(
        _terminal(2, lambda n: "C" * (n - 1) + "C(=O)O", lambda n: f"{stem(n)}anoic acid"), 1.6, 3.4
    ),
    _Series(
        _terminal(2, lambda n: "C" * (n - 1) + "C(N)=O", lambda n: f"{stem(n)}anamide"), 3.7, 3.5
    ),
    _Series(
        _terminal(1, lambda n: "C" * n + "c1ccccc1", lambda n: f"{stem(n)}ylbenzene"), 0.4, 2.6
    ),
    _Series(
        _terminal(2, lambda n: "O" + "C" * n + "O", lambda n: f"{stem(n)}ane-1,{n}-diol"), 2.0, 4.2
    ),
    _Series(
        _terminal(2, lambda n: "N" + "C" * n + "N", lambda n: f"{stem(n)}ane-1,{n}-diamine"),
        1.5,
        3.9,
    ),
)


def series_members() -> Iterator[SeriesMember]:
    """Every member of every series, shortest chains first, so any prefix of the sequence
    is a set of small molecules."""
    for carbons in range(1, MAX_CHAIN + 1):
        for series in _SERIES:
            for smiles, name in series.members(carbons):
                yield SeriesMember(
                    smiles=smiles,
                    name=name,
                    dipole_debye=series.dipole_debye,
                    gap_ev=series.gap_ev,
                )
