"""The root mutation: the mutation classes of each domain (a module or package named as
in `scimeta.models`), merged in a fixed order, which is the order of the schema's fields."""

from __future__ import annotations

from strawberry.tools import merge_types

from scimeta.resolvers.mutations.chemistry import ChemistryMutations
from scimeta.resolvers.mutations.chemistry.batches import BatchMutations
from scimeta.resolvers.mutations.core import CoreMutations
from scimeta.resolvers.mutations.core.tokens import TokenMutations
from scimeta.resolvers.mutations.jobs import JobMutations
from scimeta.resolvers.mutations.runs import RunMutations
from scimeta.resolvers.mutations.runs.claims import ClaimMutations
from scimeta.resolvers.mutations.runs.trajectories import TrajectoryMutations
from scimeta.resolvers.mutations.studies import StudyMutations
from scimeta.resolvers.mutations.studies.recordings import RecordingMutations

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
