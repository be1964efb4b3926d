"""Batch functions specific to runs and trajectories."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select

from scimeta.loaders.batch import LoaderSource, execute, key_in
from scimeta.models import AuditStatus, Chunk


async def passed_chunk_indexes(source: LoaderSource, keys: Sequence[int]) -> list[list[int]]:
    """Per trajectory id: the chunk indexes with a PASSED attempt, ascending."""
    statement = (
        select(Chunk.trajectory_id, Chunk.index)
        .where(key_in(Chunk.trajectory_id, keys), Chunk.audit_status == AuditStatus.PASSED)
        .distinct()
        .order_by(Chunk.trajectory_id, Chunk.index)
    )
    indexes: defaultdict[int, list[int]] = defaultdict(list)
    for trajectory_id, index in await execute(source, statement):
        indexes[trajectory_id].append(index)
    return [indexes.get(key, []) for key in keys]
