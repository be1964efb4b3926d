"""`scimeta import quantum-forge LOCATION`: the Quantum Forge chemistry database (seed 002)
onto molecules, calculations, atomic properties, batches, files and events.

LOCATION is the store's postgresql:// URL or a SQLite copy (a path or sqlite:///PATH),
optionally with `?results=DIR`, where its job directories are (see docs/import/quantum-forge.md).

Rows are matched by natural keys, so a second run creates nothing and an interrupted one
finishes what it left: a molecule by its canonical SMILES (two source molecules of one
structure become one), a calculation by (molecule, method, created_at), an atom by
(calculation, atom index), a batch by (name, created_at), an item by (batch, molecule), a
file by (path, sha256), a logged event by (type, time, id in the store). Each step is one
transaction (the calculations one per range of about ATOM_ROWS atoms, with their atoms,
files and events); a dry run does them all in one transaction and rolls it back.

Each kind of row has its step in a module beside this one (quantum_forge_molecules,
quantum_forge_calculations with quantum_forge_atoms and quantum_forge_files,
quantum_forge_batches, quantum_forge_events); quantum_forge_run holds what the steps share.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs.quantum_forge_batches import import_batches
from scimeta.transfer.labs.quantum_forge_calculations import import_calculations
from scimeta.transfer.labs.quantum_forge_events import import_events
from scimeta.transfer.labs.quantum_forge_molecules import import_molecules
from scimeta.transfer.labs.quantum_forge_run import NAME, ImportRun
from scimeta.transfer.labs.quantum_forge_store import open_store, results_root
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, Source
from scimeta.writes.chemistry.smiles import FeatureUnavailable


async def import_quantum_forge(
    engine: AsyncEngine,
    location: str,
    options: ImportOptions,
    progress: Progress,
    report: ImportReport,
) -> ImportReport:
    """Import the Quantum Forge store at `location` (see the module's docstring)."""
    if options.project is not None or options.study is not None:
        raise TransferError(
            "a Quantum Forge store has no projects or studies: import it without --project "
            "and --study (its files are recorded without a project)"
        )
    store = await open_store(location)
    try:
        roots = [root] if (root := results_root(location)) is not None else []
        if store.directory is not None:
            roots += [store.directory / "jobs", store.directory]
        async with engine.connect() as connection:
            run = ImportRun(connection, store, options, progress, report, roots)
            try:
                await import_molecules(run)
                await import_calculations(run)
                await import_batches(run)
                await import_events(run)
            except FeatureUnavailable as exc:
                raise TransferError(exc.message) from exc
            if options.dry_run:
                await connection.rollback()
    finally:
        await store.close()
    return report


SOURCE = Source(
    name=NAME,
    location="URL|FILE",
    summary="a Quantum Forge chemistry database: its postgresql:// URL or a SQLite copy",
    run=import_quantum_forge,
)
