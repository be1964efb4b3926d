"""The root mutation: one class per domain, merged."""

from __future__ import annotations

from strawberry.tools import merge_types

from scimeta.resolvers.mutations.batches import BatchMutations
from scimeta.resolvers.mutations.chemistry import ChemistryMutations
from scimeta.resolvers.mutations.claims import ClaimMutations
from scimeta.resolvers.mutations.core import CoreMutations
from scimeta.resolvers.mutations.jobs import JobMutations
from scimeta.resolvers.mutations.recordings import RecordingMutations
from scimeta.resolvers.mutations.runs import RunMutations
from scimeta.resolvers.mutations.studies import StudyMutations
from scimeta.resolvers.mutations.tokens import TokenMutations
from scimeta.resolvers.mutations.trajectories import TrajectoryMutations

Mutation = merge_types(
    "Mutation",
    (
        CoreMutations,
        StudyMutations,
        RecordingMutations,
        JobMutations,
        RunMutations,
        ClaimMutations,
        TrajectoryMutations,
        ChemistryMutations,
        BatchMutations,
        TokenMutations,
    ),
)

__all__ = ["Mutation"]
