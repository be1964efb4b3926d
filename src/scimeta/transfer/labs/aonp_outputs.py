"""The run service's agent outputs, told apart by (run, agent, kind, ts)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimeta.transfer.labs.aonp_rows import Refused, id_time, name_of, plain, source_id, timestamp
from scimeta.transfer.labs.aonp_sql import INSERT_OUTPUTS
from scimeta.transfer.labs.aonp_state import ROWS_PER_STEP, ImportState, chunks, event, present
from scimeta.writes.runs import NAME_LENGTH, SCHEMA_VERSION_LENGTH


@dataclass
class OutputRow:
    location: str
    source_id: str | None
    run: str
    agent: str
    kind: str
    data: dict[str, Any]
    schema_version: str | None
    created_at: datetime


def output_row(location: str, document: dict[str, Any]) -> OutputRow:
    run = name_of(document, "run_id", NAME_LENGTH)
    agent = name_of(document, "agent", NAME_LENGTH)
    kind = name_of(document, "kind", NAME_LENGTH)
    data = document.get("data")
    if not isinstance(data, dict):
        raise Refused("its data is not a JSON object, which scimeta keeps an agent's output as")
    version = document.get("schema_version")
    if version is not None:
        if isinstance(version, int | float) and not isinstance(version, bool):
            version = str(version)
        if not isinstance(version, str) or not 0 < len(version) <= SCHEMA_VERSION_LENGTH:
            raise Refused(
                f"its schema_version is not text of 1 to {SCHEMA_VERSION_LENGTH} characters"
            )
    created_at = timestamp(document.get("ts"), "ts") or id_time(document)
    if created_at is None:
        raise Refused("it has no ts, which tells it from the agent's other outputs of the run")
    return OutputRow(
        location=location,
        source_id=source_id(document),
        run=run,
        agent=agent,
        kind=kind,
        data=plain(data, "data"),
        schema_version=version,
        created_at=created_at,
    )


async def import_agent_outputs(state: ImportState) -> None:
    counts = state.report.of("AgentOutput")
    state.progress.begin("AgentOutput", state.total("agent_outputs"))
    rows = state.rows("agent_outputs", "AgentOutput", output_row, "_id")
    state.progress.advance(state.total("agent_outputs") - len(rows))
    seen: dict[tuple[str, str, str, datetime], str] = {}
    for chunk in chunks(rows, ROWS_PER_STEP):
        async with state.step() as writer:
            await state.known_runs([row.run for row in chunk])
            taken: list[tuple[OutputRow, int]] = []
            for row in chunk:
                key = (row.run, row.agent, row.kind, row.created_at)
                try:
                    run_id = state.run_of(row.run)
                    if key in seen:
                        raise Refused(
                            f"{seen[key]} has the same run, agent, kind and ts; scimeta "
                            "tells an agent's outputs apart by these four"
                        )
                    seen[key] = row.location
                    taken.append((row, run_id))
                except Refused as exc:
                    state.refuse("AgentOutput", row.location, row.source_id, str(exc))
            if taken:
                driver = await state.driver()
                inserted = await driver.fetch(
                    INSERT_OUTPUTS,
                    [run_id for _, run_id in taken],
                    [row.agent for row, _ in taken],
                    [row.kind for row, _ in taken],
                    [json.dumps(row.data) for row, _ in taken],
                    [row.schema_version for row, _ in taken],
                    [row.created_at for row, _ in taken],
                )
                for (row, run_id), (output_id, created) in zip(taken, inserted, strict=True):
                    if not created:
                        counts.present += 1
                        continue
                    counts.created += 1
                    snapshot = {
                        "id": output_id,
                        "run_id": run_id,
                        "agent": row.agent,
                        "kind": row.kind,
                        "schema_version": row.schema_version,
                    }
                    writer.record(event("AgentOutput", output_id, "created", present(snapshot)))
        state.progress.advance(len(chunk))
    state.progress.end()
