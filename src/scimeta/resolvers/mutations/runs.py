"""Mutations of the runs domain."""

from __future__ import annotations

import strawberry


@strawberry.type
class RunMutations:
    pass
