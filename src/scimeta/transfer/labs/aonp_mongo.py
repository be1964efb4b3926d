"""`scimeta import aonp-mongo LOCATION`: the AONP OpenMC run service's MongoDB collections
(seed 004), exported by `mongoexport`, onto studies, runs with their artifacts, summary
metrics, agent outputs and events.

LOCATION is a directory of `studies.json`, `runs.json`, `summaries.json`, `events.json`
and `agent_outputs.json` (any may be missing), or one of those files (see
docs/import/aonp-mongo.md).

Rows are matched by natural keys, so a second run creates nothing and an interrupted one
finishes what it left: a study by the hash of its spec, a run by its run_id (its name), an
artifact by (run, role, path), a summary's metric by (run, key), an agent output by (run,
agent, kind, ts), an event by (ts, type, its Mongo _id kept in the payload). Each step is
one transaction of at most ROWS_PER_STEP documents (EVENTS_PER_STEP events); a dry run
does them all in one transaction and rolls it back.

Each kind of row has its step in a module beside this one (aonp_studies, aonp_runs with
aonp_run_rows, aonp_summaries, aonp_outputs, aonp_events); aonp_export reads the files,
aonp_rows the documents' fields, aonp_sql holds the statements and aonp_state what the
steps share.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs.aonp_events import import_events
from scimeta.transfer.labs.aonp_export import collection_files, read_documents
from scimeta.transfer.labs.aonp_outputs import import_agent_outputs
from scimeta.transfer.labs.aonp_runs import import_runs
from scimeta.transfer.labs.aonp_state import NAME, ImportState
from scimeta.transfer.labs.aonp_studies import import_studies
from scimeta.transfer.labs.aonp_summaries import import_summaries
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Source


async def import_aonp_mongo(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the export at `location` (see the module's docstring)."""
    if options.project is not None or options.study is not None:
        raise TransferError(
            "the run service's runs name their own studies and it has no projects: import "
            "it without --project and --study"
        )
    documents = {
        collection: read_documents(path) for collection, path in collection_files(location).items()
    }
    async with engine.connect() as connection:
        state = ImportState(connection, documents, options, progress, report)
        await import_studies(state)
        await import_runs(state)
        await import_summaries(state)
        await import_agent_outputs(state)
        await import_events(state)
        if options.dry_run:
            await connection.rollback()
    return report


SOURCE = Source(
    name=NAME,
    location="DIR|FILE",
    summary="the AONP run service's MongoDB collections, as mongoexport files",
    run=import_aonp_mongo,
)
