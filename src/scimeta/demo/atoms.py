"""Starting structures of trajectories, as ASE writes them: symbols, Cartesian positions
in Å, the cell and its periodicity."""

from __future__ import annotations

import random
from typing import Any

_FCC = ((0.0, 0.0, 0.0), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0))
_DIAMOND = (*_FCC, *((x + 0.25, y + 0.25, z + 0.25) for x, y, z in _FCC))


def _crystal(
    symbols: list[str], fractions: tuple[tuple[float, float, float], ...], a: float
) -> dict[str, Any]:
    return {
        "symbols": symbols,
        "positions": [[x * a, y * a, z * a] for x, y, z in fractions],
        "cell": [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]],
        "pbc": [True, True, True],
    }


SYSTEMS: dict[str, dict[str, Any]] = {
    "cu-fcc": _crystal(["Cu"] * 4, _FCC, 3.615),
    "al-fcc": _crystal(["Al"] * 4, _FCC, 4.05),
    "si-diamond": _crystal(["Si"] * 8, _DIAMOND, 5.431),
    "nacl-rocksalt": _crystal(
        ["Na"] * 4 + ["Cl"] * 4, (*_FCC, *(((x + 0.5) % 1.0, y, z) for x, y, z in _FCC)), 5.64
    ),
    "water": {
        "symbols": ["O", "H", "H"],
        "positions": [[5.0, 5.0, 5.0], [5.757, 5.586, 5.0], [4.243, 5.586, 5.0]],
        "cell": [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]],
        "pbc": [False, False, False],
    },
}


def initial_atoms(rng: random.Random, system: str) -> dict[str, Any]:
    """The system with every atom displaced a little, so that each trajectory starts
    from its own structure."""
    structure = SYSTEMS[system]
    return structure | {
        "positions": [
            [round(coordinate + rng.gauss(0.0, 0.03), 4) for coordinate in position]
            for position in structure["positions"]
        ]
    }
