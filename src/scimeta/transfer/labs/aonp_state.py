"""One import of a run service export: the connection it writes through, its steps (one
transaction each), and what it has learnt so far (the scimeta id of each study and run
taken, those refused), which later steps look their references up in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from scimeta import models
from scimeta.transfer.labs.aonp_export import Document
from scimeta.transfer.labs.aonp_rows import Refused
from scimeta.transfer.labs.steps import driver_connection, import_step
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal
from scimeta.writes.transaction import Writer

NAME = "aonp-mongo"
ACTOR = f"import:{NAME}"
ROWS_PER_STEP = 5_000
# Serialises imports of run service exports: agent outputs and events have no unique
# constraint, so two imports checking their natural keys at once would both insert.
IMPORT_LOCK = 0x51F0_26E0_0004

RowT = TypeVar("RowT")


class ImportState:
    def __init__(
        self,
        connection: AsyncConnection,
        documents: dict[str, list[Document]],
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
    ) -> None:
        self.connection = connection
        self.documents = documents
        self.options = options
        self.progress = progress
        self.report = report
        # the spec_hash a document names -> the study's id
        self.study_ids: dict[str, int] = {}
        self.refused_studies: set[str] = set()
        # run_id -> the run's id
        self.run_ids: dict[str, int] = {}
        self.refused_runs: set[str] = set()

    def step(self) -> AbstractAsyncContextManager[Writer]:
        """One transaction of the import (see `import_step`), under its lock."""
        return import_step(self.connection, ACTOR, self.options.dry_run, IMPORT_LOCK)

    async def driver(self) -> Any:
        return await driver_connection(self.connection)

    def refuse(self, entity: str, location: str, source_id: str | None, reason: str) -> None:
        self.report.refuse(Refusal(entity, location, source_id, reason))

    def rows(
        self,
        collection: str,
        entity: str,
        make: Callable[[str, dict[str, Any]], RowT],
        identity: str,
    ) -> list[RowT]:
        """The collection's documents that map onto rows; the others refused."""
        counts = self.report.of(entity)
        taken = []
        for document in self.documents.get(collection, []):
            counts.read += 1
            if document.value is None:
                self.refuse(entity, document.location, None, str(document.unreadable))
                continue
            try:
                taken.append(make(document.location, document.value))
            except Refused as exc:
                found = document.value.get(identity)
                self.refuse(entity, document.location, _text(found), str(exc))
        return taken

    def total(self, collection: str) -> int:
        return len(self.documents.get(collection, []))

    async def known_runs(self, names: Sequence[str]) -> None:
        """Look up the runs named that this export does not hold, in scimeta."""
        wanted = sorted({n for n in names if n not in self.run_ids and n not in self.refused_runs})
        if not wanted:
            return
        driver = await self.driver()
        for name, run_id in await driver.fetch(
            "SELECT name, id FROM runs WHERE name = ANY($1::text[])", wanted
        ):
            self.run_ids[name] = run_id

    def run_of(self, name: str) -> int:
        """The id of the run `name`, or Refused saying why there is none."""
        found = self.run_ids.get(name)
        if found is not None:
            return found
        if name in self.refused_runs:
            raise Refused(f"its run {name!r} was refused (see that refusal)")
        raise Refused(
            f"its run {name!r} is neither in the export's runs nor a run in scimeta; import "
            "that run first"
        )


def given(documents: Sequence[Document], key: str) -> set[str]:
    """The texts the documents give as `key`."""
    return {
        value[key]
        for document in documents
        if (value := document.value) is not None and isinstance(value.get(key), str)
    }


def given_twice(documents: Sequence[Document], key: str) -> set[str]:
    """The texts more than one of the documents give as `key`."""
    named = Counter(
        value[key]
        for document in documents
        if (value := document.value) is not None and isinstance(value.get(key), str)
    )
    return {name for name, count in named.items() if count > 1}


def chunks(rows: Sequence[RowT], size: int) -> Iterator[Sequence[RowT]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def event(subject_type: str, subject_id: int, type_: str, payload: dict[str, Any]) -> models.Event:
    return models.Event(
        subject_type=subject_type, subject_id=subject_id, type=type_, actor=ACTOR, payload=payload
    )


def present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
