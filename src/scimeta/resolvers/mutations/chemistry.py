"""Mutations of the chemistry domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class ChemistryMutations:
    pass
