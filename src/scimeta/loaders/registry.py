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
        return self._loader(("by_id", model), rows_by_key, model, primary_key_attribute(model))

    def pages(
        self, parent_key: InstrumentedAttribute[Any], query: PageQuery, fingerprint: str
    ) -> DataLoader[int, list[Any]]:
        """One page of rows per parent key. `fingerprint` identifies the query's filter,
        order and cursor, so that two differently filtered lists are cached apart."""
        key = ("pages", parent_key, fingerprint)
        return self._loader(key, pages_by_parent, query, parent_key)

    def counts(
        self,
        model: type[Base],
        parent_key: InstrumentedAttribute[Any],
        conditions: Sequence[ColumnElement[bool]],
        fingerprint: str,
    ) -> DataLoader[int, int]:
        """The number of rows matching `conditions` per parent key."""
        key = ("counts", parent_key, fingerprint)
        return self._loader(key, counts_by_parent, model, conditions, parent_key)

    def aggregates(
        self, parent_key: InstrumentedAttribute[Any], query: AggregateQuery, fingerprint: str
    ) -> DataLoader[int, list[AggregateRow]]:
        """Grouped aggregates per parent key."""
        key = ("aggregates", parent_key, fingerprint)
        return self._loader(key, aggregates_by_parent, query, parent_key)

    def passed_chunk_indexes(self) -> DataLoader[int, list[int]]:
        """`PassedChunkIndexesByTrajectoryLoader`: chunk indexes with a PASSED attempt."""
        return self._loader(("passed_chunk_indexes",), passed_chunk_indexes)

    def batch_item_counts(self) -> DataLoader[int, dict[Status, int]]:
        """`BatchItemCountsByBatchLoader`: item counts per status."""
        return self._loader(("batch_item_counts",), batch_item_counts)

    def _loader(self, key: tuple[Any, ...], batch: Any, *args: Any) -> DataLoader[Any, Any]:
        """The loader cached under `key`, created on first use: it calls
        `batch(source, *args, keys)`."""
        if key not in self._cache:
            self._cache[key] = DataLoader(partial(batch, self._source, *args))
        return self._cache[key]
