"""`scimeta import SOURCE LOCATION`: the sources rows can be imported from, and what every
importer promises.

An importer is an async function `(engine, location, options, progress) -> ImportReport`
exposed as `SOURCE` in its module, and named in `SOURCE_MODULES` below, so the command
knows every source's name without importing each one. It:

- reads the source at `location` (a path or URL) and writes through one connection of
  `engine`, in large transactions of bulk statements, never one API call per row;
- writes nothing with `options.dry_run`, but reads and checks everything as it would;
- imports into `options.project` / `options.study` where its source has no such notion;
- is idempotent: a second run finds every row present and creates nothing;
- reports each row it could not take (`ImportReport.refuse`) with the reason, and goes on
  with the others;
- tells `progress` when each kind of row starts, as rows go by, and when it ends.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import IO, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.transfer.formats import TransferError
from scimeta.transfer.progress import Progress

# The sources `scimeta import` knows, by name: each module has a `SOURCE`.
SOURCE_MODULES: dict[str, str] = {
    "scimeta-export": "scimeta.transfer.import_export",
    # the labs' own stores
    "acoustic-excel": "scimeta.transfer.labs.acoustic_excel",
    "aonp-mongo": "scimeta.transfer.labs.aonp_mongo",
    "ccp4i2": "scimeta.transfer.labs.ccp4i2",
    "quantum-forge": "scimeta.transfer.labs.quantum_forge",
    "cascade": "scimeta.transfer.labs.cascade",
}

# refusals kept in memory for the report; the rest are counted (and written to the
# report's sink, when it has one)
KEPT_REFUSALS = 1000


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    # where rows go when the source does not say: a project or a study, by name
    project: str | None = None
    study: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A row the import could not take: of which kind, where in the source, its id
    there (if it has one), and why."""

    entity: str
    location: str
    source_id: str | None
    reason: str

    def to_json(self) -> dict[str, str | None]:
        return {
            "entity": self.entity,
            "location": self.location,
            "id": self.source_id,
            "reason": self.reason,
        }


@dataclass
class EntityCounts:
    read: int = 0
    created: int = 0
    present: int = 0
    refused: int = 0


@dataclass
class ImportReport:
    """Per kind of row: read, created (or, in a dry run, would be), already present, and
    refused; and the refusals, with reasons."""

    source: str
    dry_run: bool
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)
    # each refusal is also written here as a JSON line, when given
    sink: IO[str] | None = None

    def of(self, entity: str) -> EntityCounts:
        return self.counts.setdefault(entity, EntityCounts())

    def refuse(self, refusal: Refusal) -> None:
        self.of(refusal.entity).refused += 1
        if len(self.refusals) < KEPT_REFUSALS:
            self.refusals.append(refusal)
        if self.sink is not None:
            self.sink.write(json.dumps(refusal.to_json(), ensure_ascii=False) + "\n")

    @property
    def total(self) -> EntityCounts:
        total = EntityCounts()
        for counts in self.counts.values():
            total.read += counts.read
            total.created += counts.created
            total.present += counts.present
            total.refused += counts.refused
        return total


class Importer(Protocol):
    def __call__(
        self,
        engine: AsyncEngine,
        location: str,
        options: ImportOptions,
        progress: Progress,
        report: ImportReport,
    ) -> Awaitable[ImportReport]: ...


@dataclass(frozen=True)
class Source:
    name: str
    # what LOCATION is, for the command's help: "DIR", "URL", "FILE"
    location: str
    summary: str
    run: Importer


def source(name: str) -> Source:
    """The source called `name`, loaded on first use."""
    module = SOURCE_MODULES.get(name)
    if module is None:
        known = ", ".join(sorted(SOURCE_MODULES))
        raise TransferError(f"no import source is called {name!r}; known: {known}")
    found: Source = importlib.import_module(module).SOURCE
    return found
