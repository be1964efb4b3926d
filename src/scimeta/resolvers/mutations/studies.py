"""Mutations of the studies domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class StudyMutations:
    pass
