"""One run of the Quantum Forge import: the connection it writes through, its steps (one
transaction each), and what it has learnt of the store so far (the scimeta id of each
source row taken, the source rows refused), which later steps look their references up in."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from scimeta import models
from scimeta.transfer.labs.quantum_forge_rows import Refused, text_of
from scimeta.transfer.labs.quantum_forge_store import Store
from scimeta.transfer.labs.steps import driver_connection, import_step
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Refusal
from scimeta.writes.transaction import Writer

NAME = "quantum-forge"
ACTOR = f"import:{NAME}"
# Serialises imports of Quantum Forge stores: calculations and batches have no unique
# constraint, so two imports checking their natural keys at once would both insert.
IMPORT_LOCK = 0x51F0_26E0_0002


class ImportRun:
    def __init__(
        self,
        connection: AsyncConnection,
        store: Store,
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
        roots: list[Path],
    ) -> None:
        self.connection = connection
        self.store = store
        self.options = options
        self.progress = progress
        self.report = report
        self.roots = roots
        # source id -> scimeta id, per table of the store
        self.ids: dict[str, dict[int, int]] = {}
        # source ids refused, per table of the store
        self.refused: dict[str, set[int]] = {}
        # scimeta calculation id -> its molecule's id
        self.calculation_molecule: dict[int, int] = {}

    def step(self) -> AbstractAsyncContextManager[Writer]:
        """One transaction of the import (see `import_step`), under its lock."""
        return import_step(self.connection, ACTOR, self.options.dry_run, IMPORT_LOCK)

    async def driver(self) -> Any:
        return await driver_connection(self.connection)

    def refuse(self, entity: str, table: str, source_id: Any, reason: str) -> None:
        if isinstance(source_id, int):
            self.refused.setdefault(table, set()).add(source_id)
        self.report.refuse(Refusal(entity, f"{table} id {source_id}", text_of(source_id), reason))

    def reference(self, table: str, source_id: Any, what: str) -> int:
        """The scimeta id of the row `source_id` of `table`, or Refused saying why not."""
        if source_id is None:
            raise Refused(f"it has no {what}")
        found = self.ids.get(table, {}).get(source_id)
        if found is not None:
            return found
        if source_id in self.refused.get(table, set()):
            raise Refused(f"its {what} {source_id} was refused (see that refusal)")
        raise Refused(f"its {what} {source_id} is not in the store's {table} table")

    def taken(
        self, table: str, entity: str, source_ids: Sequence[int], rows: Sequence[Any]
    ) -> set[int]:
        """Record the ids of inserted-or-found rows; the ids of those inserted."""
        ids = self.ids.setdefault(table, {})
        counts = self.report.of(entity)
        created = set()
        for source_id, (row_id, inserted) in zip(source_ids, rows, strict=True):
            ids[source_id] = row_id
            if inserted:
                created.add(row_id)
                counts.created += 1
            else:
                counts.present += 1
        return created


def event(subject_type: str, subject_id: int, type_: str, payload: dict[str, Any]) -> models.Event:
    return models.Event(
        subject_type=subject_type, subject_id=subject_id, type=type_, actor=ACTOR, payload=payload
    )
