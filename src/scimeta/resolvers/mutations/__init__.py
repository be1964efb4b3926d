"""The root mutation: one class per domain, merged."""

from __future__ import annotations

from strawberry.tools import merge_types

from scimeta.resolvers.mutations.core import CoreMutations
from scimeta.resolvers.mutations.jobs import JobMutations

Mutation = merge_types("Mutation", (CoreMutations, JobMutations))

__all__ = ["Mutation"]
