"""The run service's studies, one scimeta study per spec: a study is told apart by the hash
of its spec, and its name is its spec's name while that is free."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimeta.transfer.labs.aonp_rows import (
    Refused,
    extras_of,
    id_time,
    plain,
    source_attribute,
    source_id,
    timestamp,
)
from scimeta.transfer.labs.aonp_sql import INSERT_STUDIES
from scimeta.transfer.labs.aonp_state import ImportState, event, given, given_twice, present
from scimeta.writes.runs import NAME_LENGTH, spec_hash

_STUDY_FIELDS = {"_id", "spec_hash", "canonical_spec", "created_at"}


@dataclass
class StudyRow:
    location: str
    source_id: str | None
    stored_hash: str
    spec: dict[str, Any]
    digest: str
    spec_name: str | None
    created_at: datetime | None
    attributes: dict[str, Any]


def study_row(location: str, document: dict[str, Any]) -> StudyRow:
    spec = document.get("canonical_spec")
    if not isinstance(spec, dict):
        raise Refused("its canonical_spec is not a JSON object: a study is its spec")
    stored = document.get("spec_hash")
    if not isinstance(stored, str) or not stored.strip():
        raise Refused("it has no spec_hash, which runs name their study by")
    spec = plain(spec, "canonical_spec")
    name = spec.get("name")
    attributes = extras_of(document, _STUDY_FIELDS)
    digest = spec_hash(spec)
    if stored != digest:
        attributes["aonp_spec_hash"] = stored
    return StudyRow(
        location=location,
        source_id=source_id(document),
        stored_hash=stored,
        spec=spec,
        digest=digest,
        spec_name=name if isinstance(name, str) and 0 < len(name) <= NAME_LENGTH else None,
        created_at=timestamp(document.get("created_at"), "created_at") or id_time(document),
        attributes=attributes | source_attribute(document),
    )


async def import_studies(state: ImportState) -> None:
    counts = state.report.of("Study")
    state.progress.begin("Study", state.total("studies"))
    documents = state.documents.get("studies", [])
    duplicated = given_twice(documents, "spec_hash")
    rows: list[StudyRow] = []
    for row in state.rows("studies", "Study", study_row, "_id"):
        if row.stored_hash in duplicated:
            state.refuse(
                "Study",
                row.location,
                row.source_id,
                f"another study document has the spec_hash {row.stored_hash}; the run "
                "service keeps one study per spec_hash, and which spec is right is unknown",
            )
            continue
        rows.append(row)
    # runs of a study refused are refused too, rather than taken as runs of no study
    state.refused_studies = given(documents, "spec_hash") - {r.stored_hash for r in rows}
    # one scimeta study per spec: the first document of a spec makes it
    first: dict[str, StudyRow] = {}
    for row in rows:
        first.setdefault(row.digest, row)
    new = list(first.values())
    async with state.step() as writer:
        driver = await state.driver()
        existing = dict(
            await driver.fetch(
                "SELECT spec_hash, id FROM studies WHERE spec_hash = ANY($1::text[])",
                [row.digest for row in new],
            )
        )
        new = [row for row in new if row.digest not in existing]
        names = _study_names(
            new,
            {
                name
                for (name,) in await driver.fetch(
                    "SELECT name FROM studies WHERE name = ANY($1::text[])",
                    [row.spec_name for row in new if row.spec_name],
                )
            },
        )
        inserted = await driver.fetch(
            INSERT_STUDIES,
            [names[row.digest][0] for row in new],
            [names[row.digest][1] for row in new],
            [json.dumps(row.spec) for row in new],
            [row.digest for row in new],
            [json.dumps(row.attributes) for row in new],
            [row.created_at for row in new],
        )
        made: set[str] = set()
        for row, (study_id, created) in zip(new, inserted, strict=True):
            if study_id is None:
                continue
            existing[row.digest] = study_id
            if created:
                made.add(row.digest)
                name, title = names[row.digest]
                writer.record(
                    event(
                        "Study",
                        study_id,
                        "created",
                        present(
                            {
                                "id": study_id,
                                "name": name,
                                "title": title,
                                "spec_hash": row.digest,
                            }
                        ),
                    )
                )
    for row in rows:
        study_id = existing.get(row.digest)
        if study_id is None:
            state.refused_studies.add(row.stored_hash)
            state.refuse(
                "Study",
                row.location,
                row.source_id,
                f"its name {names[row.digest][0]!r} was taken by another study while "
                "this import ran; run the import again",
            )
            continue
        state.study_ids[row.stored_hash] = study_id
        state.study_ids.setdefault(row.digest, study_id)
        if row.digest in made and first[row.digest] is row:
            counts.created += 1
        else:
            counts.present += 1
    state.progress.advance(state.total("studies"))
    state.progress.end()


def _study_names(rows: Sequence[StudyRow], taken: set[str]) -> dict[str, tuple[str, str | None]]:
    """digest -> (name, title) of each new study: its spec's name while that is free,
    else spec-<first 12 digits of its hash> (as upsertStudyBySpec names a study without a
    name) with the spec's name as its title."""
    names: dict[str, tuple[str, str | None]] = {}
    for row in rows:
        if row.spec_name is not None and row.spec_name not in taken:
            names[row.digest] = (row.spec_name, None)
            taken.add(row.spec_name)
        else:
            names[row.digest] = (f"spec-{row.digest[:12]}", row.spec_name)
    return names
