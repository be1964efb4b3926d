"""The run service's runs, told apart by their run_id (a scimeta run's name), each with
the study its spec_hash names, and their artifacts, told apart by (run, role, path)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from scimeta.transfer.labs.aonp_rows import Refused
from scimeta.transfer.labs.aonp_run_rows import RunRow, run_row
from scimeta.transfer.labs.aonp_sql import INSERT_ARTIFACTS, INSERT_RUNS
from scimeta.transfer.labs.aonp_state import (
    ROWS_PER_STEP,
    ImportState,
    chunks,
    event,
    given,
    given_twice,
    present,
)
from scimeta.writes.transaction import Writer


async def import_runs(state: ImportState) -> None:
    counts = state.report.of("Run")
    state.progress.begin("Run", state.total("runs"))
    documents = state.documents.get("runs", [])
    duplicated = given_twice(documents, "run_id")
    rows: list[RunRow] = []
    for row in state.rows("runs", "Run", run_row, "run_id"):
        if row.name in duplicated:
            state.refuse(
                "Run",
                row.location,
                row.name,
                "another run document has the same run_id; run ids are unique, and which "
                "document is right is unknown",
            )
            continue
        rows.append(row)
    # summaries, outputs and events of a run refused are refused too
    state.refused_runs = given(documents, "run_id") - {row.name for row in rows}
    state.progress.advance(len(documents) - len(rows))
    for chunk in chunks(rows, ROWS_PER_STEP):
        async with state.step() as writer:
            elsewhere = await study_of(state, chunk)
            taken: list[tuple[RunRow, int | None]] = []
            for row in chunk:
                try:
                    taken.append((row, _study(state, row, elsewhere)))
                except Refused as exc:
                    state.refused_runs.add(row.name)
                    state.refuse("Run", row.location, row.name, str(exc))
            created = await _insert_runs(state, taken)
            await _insert_artifacts(state, writer, [row for row, _ in taken])
            for row, study_id in taken:
                run_id = state.run_ids[row.name]
                if run_id in created:
                    counts.created += 1
                    writer.record(
                        event("Run", run_id, "created", _run_snapshot(row, run_id, study_id))
                    )
                else:
                    counts.present += 1
        state.progress.advance(len(chunk))
    state.progress.end()


async def study_of(state: ImportState, rows: Sequence[RunRow]) -> dict[str, int]:
    """spec_hash -> study id of the hashes the runs name that this export does not
    hold, found in scimeta by hash or by the run service's hash it was imported with."""
    wanted = sorted(
        {
            row.spec_hash
            for row in rows
            if row.spec_hash is not None
            and row.spec_hash not in state.study_ids
            and row.spec_hash not in state.refused_studies
        }
    )
    if not wanted:
        return {}
    driver = await state.driver()
    found: dict[str, int] = {}
    for digest, stored, study_id in await driver.fetch(
        "SELECT spec_hash, attributes->>'aonp_spec_hash', id FROM studies"
        " WHERE spec_hash = ANY($1::text[]) OR attributes->>'aonp_spec_hash' = ANY($1::text[])",
        wanted,
    ):
        for key in (stored, digest):
            if key in wanted:
                found.setdefault(key, study_id)
    return found


def _study(state: ImportState, row: RunRow, elsewhere: dict[str, int]) -> int | None:
    if row.spec_hash is None:
        return None
    if row.spec_hash in state.study_ids:
        return state.study_ids[row.spec_hash]
    if row.spec_hash in state.refused_studies:
        raise Refused(f"its study (spec_hash {row.spec_hash}) was refused (see that refusal)")
    if row.spec_hash in elsewhere:
        return elsewhere[row.spec_hash]
    raise Refused(
        f"its spec_hash {row.spec_hash} names no study of the export nor of scimeta; "
        "export the studies collection with it"
    )


async def _insert_runs(state: ImportState, taken: Sequence[tuple[RunRow, int | None]]) -> set[int]:
    if not taken:
        return set()
    driver = await state.driver()
    rows = [row for row, _ in taken]
    inserted = await driver.fetch(
        INSERT_RUNS,
        [r.name for r in rows],
        [study_id for _, study_id in taken],
        [r.status.value for r in rows],
        [None if r.phase is None else r.phase.value for r in rows],
        [r.claimed_by for r in rows],
        [r.lease_token for r in rows],
        [r.lease_expires_at for r in rows],
        [r.attempt for r in rows],
        [r.started_at for r in rows],
        [r.ended_at for r in rows],
        [None if r.error is None else json.dumps(r.error) for r in rows],
        [json.dumps(r.attributes) for r in rows],
        [r.created_at for r in rows],
    )
    created = set()
    for row, (run_id, was_inserted) in zip(rows, inserted, strict=True):
        state.run_ids[row.name] = run_id
        if was_inserted:
            created.add(run_id)
    return created


async def _insert_artifacts(state: ImportState, writer: Writer, rows: Sequence[RunRow]) -> None:
    counts = state.report.of("RunArtifact")
    wanted = [
        (state.run_ids[row.name], role, path)
        for row in rows
        for role, path in row.artifacts.items()
    ]
    counts.read += len(wanted)
    if not wanted:
        return
    driver = await state.driver()
    added = await driver.fetch(
        INSERT_ARTIFACTS,
        [run_id for run_id, _, _ in wanted],
        [role for _, role, _ in wanted],
        [path for _, _, path in wanted],
        [path.rstrip("/").rsplit("/", 1)[-1] or path for _, _, path in wanted],
    )
    counts.created += len(added)
    counts.present += len(wanted) - len(added)
    roles: dict[int, Counter[str]] = {}
    for run_id, role in added:
        roles.setdefault(run_id, Counter())[role] += 1
    for run_id, counted in roles.items():
        writer.record(
            event(
                "Run",
                run_id,
                "artifacts_added",
                {"count": sum(counted.values()), "roles": dict(counted)},
            )
        )


def _run_snapshot(row: RunRow, run_id: int, study_id: int | None) -> dict[str, Any]:
    return present(
        {
            "id": run_id,
            "name": row.name,
            "study_id": study_id,
            "status": row.status.value,
            "phase": None if row.phase is None else row.phase.value,
            "claimed_by": row.claimed_by,
            "lease_expires_at": _iso(row.lease_expires_at),
            "attempt": row.attempt,
            "started_at": _iso(row.started_at),
            "ended_at": _iso(row.ended_at),
        }
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
