"""The per-request loader registry: one cached DataLoader per (entity, key) pair.

Loaders live in the request context and never at module level: a module-level loader
would cache rows across requests and callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute
from strawberry.dataloader import DataLoader

from scimeta.loaders.batch import (
    LoaderSource,
    primary_key_attribute,
    rows_by_key,
)
from scimeta.loaders.chemistry import batch_item_counts
from scimeta.loaders.pages import (
    AggregateQuery,
    AggregateRow,
    PageQuery,
    aggregates_by_parent,
    counts_by_parent,
    pages_by_parent,
)
from scimeta.loaders.runs import passed_chunk_indexes
from scimeta.models import Base, Status

RowT = TypeVar("RowT", bound=Base)


class Loaders:
    def __init__(self, source: LoaderSource) -> None:
        self._source = source
        self._cache: dict[tuple[Any, ...], DataLoader[Any, Any]] = {}

    def by_id(self, model: type[RowT]) -> DataLoader[int, RowT | None]:
        """`<Entity>ByIdLoader`: one row per id, None where there is none."""
        key = ("by_id", model)
        if key not in self._cache:
            attribute = primary_key_attribute(model)
            self._cache[key] = DataLoader(partial(rows_by_key, self._source, model, attribute))
        return self._cache[key]

    def pages(
        self, parent_key: InstrumentedAttribute[Any], query: PageQuery, fingerprint: str
    ) -> DataLoader[int, list[Any]]:
        """One page of rows per parent key. `fingerprint` identifies the query's filter,
        order and cursor, so that two differently filtered lists are cached apart."""
        key = ("pages", parent_key, fingerprint)
        if key not in self._cache:
            self._cache[key] = DataLoader(partial(pages_by_parent, self._source, query, parent_key))
        return self._cache[key]

    def counts(
        self,
        model: type[Base],
        parent_key: InstrumentedAttribute[Any],
        conditions: Sequence[ColumnElement[bool]],
        fingerprint: str,
    ) -> DataLoader[int, int]:
        """The number of rows matching `conditions` per parent key."""
        key = ("counts", parent_key, fingerprint)
        if key not in self._cache:
            self._cache[key] = DataLoader(
                partial(counts_by_parent, self._source, model, conditions, parent_key)
            )
        return self._cache[key]

    def aggregates(
        self, parent_key: InstrumentedAttribute[Any], query: AggregateQuery, fingerprint: str
    ) -> DataLoader[int, list[AggregateRow]]:
        """Grouped aggregates per parent key."""
        key = ("aggregates", parent_key, fingerprint)
        if key not in self._cache:
            self._cache[key] = DataLoader(
                partial(aggregates_by_parent, self._source, query, parent_key)
            )
        return self._cache[key]

    def passed_chunk_indexes(self) -> DataLoader[int, list[int]]:
        """`PassedChunkIndexesByTrajectoryLoader`: chunk indexes with a PASSED attempt."""
        return self._named("passed_chunk_indexes", passed_chunk_indexes)

    def batch_item_counts(self) -> DataLoader[int, dict[Status, int]]:
        """`BatchItemCountsByBatchLoader`: item counts per status."""
        return self._named("batch_item_counts", batch_item_counts)

    def _named(self, name: str, batch: Any) -> DataLoader[Any, Any]:
        key = (name,)
        if key not in self._cache:
            self._cache[key] = DataLoader(partial(batch, self._source))
        return self._cache[key]
