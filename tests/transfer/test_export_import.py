"""An export of the demo data, read back into an empty database, gives the same rows, ids
and answers; a second import adds nothing; a dry run writes nothing; rows that cannot be
taken are reported with reasons while the rest go in."""

from __future__ import annotations

import json
import shutil
from base64 import b64encode
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scimeta.auth.tokens import Grant, create_token
from scimeta.models import Role
from scimeta.server import migrate
from scimeta.transfer.export import MANIFEST, Manifest, Where, export, identity_of_token
from scimeta.transfer.formats import FileFormat, TransferError
from scimeta.transfer.sources import ImportOptions, ImportReport
from scimeta.transfer.tables import NOT_EXPORTED, entity_tables
from tests.test_frontend_queries import DOCUMENTS, FrontendQuery, _run
from tests.transfer.conftest import Snapshot, rounded, run_import, snapshot


def _lines(directory: Path, type_name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (directory / f"{type_name}.jsonl").read_text().splitlines()
    ]


def _gid(type_name: str, row_id: int) -> str:
    return b64encode(f"{type_name}:{row_id}".encode()).decode()


async def test_manifest_counts_every_file_and_names_the_schema(
    demo_export: tuple[Path, Manifest], demo_snapshot: Snapshot
) -> None:
    directory, manifest = demo_export
    written = json.loads((directory / MANIFEST).read_text())
    assert written["format"] == "scimeta-export"
    assert written["schema_revision"] == migrate.head_revision()
    assert written["exported_by"] == "local"
    assert written["exported_at"]
    assert written["scimeta_version"]
    assert [e["type"] for e in written["entities"]] == [e.type_name for e in entity_tables()]
    for listed, entity in zip(manifest.entities, entity_tables(), strict=True):
        lines = (directory / listed.file).read_text().splitlines()
        assert len(lines) == listed.rows == len(demo_snapshot[entity.name]), listed.file
    # credentials and per-caller keys of this server are not data to move
    assert not {e.name for e in entity_tables()} & NOT_EXPORTED
    assert sum(listed.rows for listed in manifest.entities) > 1000


async def test_rows_name_ids_and_references_by_global_id(
    demo_export: tuple[Path, Manifest],
) -> None:
    directory, _ = demo_export
    jobs = _lines(directory, "Job")
    by_id = {job["id"]: job for job in jobs}
    child = next(job for job in jobs if job["parent_id"] is not None)
    assert by_id[child["parent_id"]]["number"] + "." in child["number"]
    assert child["project_id"] in {p["id"] for p in _lines(directory, "Project")}
    assert "number_path" not in child  # computed by the database
    events = _lines(directory, "Event")
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    assert all(e["id"] == _gid("Event", e["sequence"]) for e in events)
    run_ids = {run["id"] for run in _lines(directory, "Run")}
    assert {e["subject_id"] for e in events if e["subject_type"] == "Run"} <= run_ids
    # a NULL JSON column has no key; a JSON null stays a null
    runs = _lines(directory, "Run")
    assert any("error" in run and run["error"] is None for run in runs)


async def test_import_into_an_empty_database_gives_the_same_rows_and_answers(
    demo_export: tuple[Path, Manifest],
    demo_source: AsyncEngine,
    demo_snapshot: Snapshot,
    empty_engine: AsyncEngine,
) -> None:
    directory, manifest = demo_export
    report = await run_import(empty_engine, directory)
    assert report.refusals == []
    for listed in manifest.entities:
        counts = report.counts[listed.type_name]
        assert (counts.read, counts.created, counts.present) == (listed.rows, listed.rows, 0)
    imported = await snapshot(empty_engine)
    assert {t: len(rows) for t, rows in imported.items()} == {
        t: len(rows) for t, rows in demo_snapshot.items()
    }
    assert imported == demo_snapshot
    # ids are kept, so every document, with its variables (global ids included), gives
    # the same answer
    for path in DOCUMENTS:
        query = FrontendQuery.load(path)
        _, expected = await _run(demo_source, query)
        _, answered = await _run(empty_engine, query)
        assert rounded(answered) == rounded(expected), path
    # rows created afterwards get new ids, after the imported ones
    async with empty_engine.begin() as connection:
        created = await connection.scalar(
            text("INSERT INTO projects (name) VALUES ('after the import') RETURNING id")
        )
        highest = await connection.scalar(
            text("SELECT max(id) FROM projects WHERE name <> 'after the import'")
        )
        sequence = await connection.scalar(
            text("INSERT INTO events (type) VALUES ('after') RETURNING sequence")
        )
        assert created > highest
        assert sequence == len(demo_snapshot["events"]) + 1
        await connection.rollback()

    again = await run_import(empty_engine, directory)
    assert again.refusals == []
    for listed in manifest.entities:
        counts = again.counts[listed.type_name]
        assert (counts.read, counts.created, counts.present) == (listed.rows, 0, listed.rows)
    assert await snapshot(empty_engine) == demo_snapshot


async def test_a_dry_run_checks_everything_and_writes_nothing(
    demo_export: tuple[Path, Manifest], empty_engine: AsyncEngine
) -> None:
    directory, manifest = demo_export
    before = await snapshot(empty_engine)
    report = await run_import(empty_engine, directory, dry_run=True)
    assert report.dry_run
    assert report.refusals == []
    assert report.total.created == report.total.read == sum(e.rows for e in manifest.entities)
    assert await snapshot(empty_engine) == before
    assert all(rows == [] for rows in before.values())
    async with empty_engine.connect() as connection:
        # nor are the sequences moved
        assert await connection.scalar(text("SELECT nextval('projects_id_seq')")) == 1


async def test_parquet_export_imports_to_the_same_rows(
    demo_source: AsyncEngine,
    demo_snapshot: Snapshot,
    empty_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    manifest = await export(demo_source, tmp_path / "parquet", file_format=FileFormat.PARQUET)
    assert manifest.file_format is FileFormat.PARQUET
    assert (tmp_path / "parquet" / "Recording.parquet").is_file()
    report = await run_import(empty_engine, tmp_path / "parquet")
    assert report.refusals == []
    assert await snapshot(empty_engine) == demo_snapshot


async def test_values_json_cannot_say_survive(
    empty_engine: AsyncEngine, databases: Any, tmp_path: Path
) -> None:
    """A negative zero, NaN and the infinities, NULL beside a JSON null, and text beyond
    ASCII, through both formats."""
    source = await databases.migrated_engine()
    try:
        async with source.begin() as connection:
            await connection.execute(
                text("INSERT INTO molecules (smiles, name) VALUES ('C', 'méthane \"ü\" \\ tab\t')")
            )
            await connection.execute(
                text(
                    "INSERT INTO calculations (molecule_id, energy, gap, dipole, attributes)"
                    " SELECT id, '-0'::float8, 'Infinity'::float8, 'NaN'::float8,"
                    " '{\"note\": null}' FROM molecules"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO runs (name, error) VALUES ('a', 'null'::jsonb), ('b', NULL),"
                    " ('c', '{\"line\": \"x\\ny\"}')"
                )
            )
        expected = await snapshot(source)
        for file_format in FileFormat:
            target = await databases.migrated_engine()
            try:
                directory = tmp_path / file_format.value
                await export(source, directory, file_format=file_format)
                report = await run_import(target, directory)
                assert report.refusals == []
                assert await snapshot(target) == expected, file_format
            finally:
                await target.dispose()
    finally:
        await source.dispose()


async def test_refused_rows_are_reported_and_the_rest_imported(
    demo_export: tuple[Path, Manifest],
    demo_snapshot: Snapshot,
    empty_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    original, _ = demo_export
    directory = tmp_path / "damaged"
    shutil.copytree(original, directory)
    jobs_file = directory / "Job.jsonl"
    jobs = jobs_file.read_text().splitlines()
    broken = json.loads(jobs[0])
    broken["project_id"] = _gid("Study", 1)
    jobs[0] = json.dumps(broken)
    jobs.insert(3, "{not json")
    jobs_file.write_text("\n".join(jobs) + "\n")

    report = await run_import(empty_engine, directory)
    refused = {(r.entity, r.location): r for r in report.refusals}
    wrong_type = refused[("Job", "Job.jsonl line 1")]
    assert wrong_type.source_id == broken["id"]
    assert "not the global id of a Project" in wrong_type.reason
    not_json = refused[("Job", "Job.jsonl line 4")]
    assert not_json.source_id is None
    assert "json" in not_json.reason.lower()
    # the rows under the refused job are refused for it, with the database's reason
    dependants = [
        r for r in report.refusals if r.location not in {"Job.jsonl line 1", "Job.jsonl line 4"}
    ]
    assert dependants
    assert all("foreign key" in r.reason for r in dependants)
    counts = report.counts["Job"]
    assert counts.read == len(demo_snapshot["jobs"]) + 1
    assert counts.created + counts.refused == counts.read
    # everything else went in
    imported = await snapshot(empty_engine)
    assert imported["studies"] == demo_snapshot["studies"]
    assert imported["recordings"] == demo_snapshot["recordings"]
    assert (
        len(imported["jobs"])
        == counts.created
        == len(demo_snapshot["jobs"])
        - sum(1 for r in report.refusals if r.entity == "Job" and r.source_id is not None)
    )


async def test_a_row_whose_id_holds_other_values_is_refused(
    demo_export: tuple[Path, Manifest], empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    original, _ = demo_export
    assert (await run_import(empty_engine, original)).refusals == []
    directory = tmp_path / "changed"
    shutil.copytree(original, directory)
    studies = _lines(directory, "Study")
    studies[0]["name"] = "renamed elsewhere"
    (directory / "Study.jsonl").write_text("".join(json.dumps(s) + "\n" for s in studies))
    report = await run_import(empty_engine, directory)
    (refusal,) = report.refusals
    assert refusal.entity == "Study"
    assert refusal.source_id == studies[0]["id"]
    assert refusal.reason == "its id is taken by a Study with other values (name)"
    assert report.total.created == 0
    assert report.total.present == report.total.read - 1


async def test_a_token_exports_only_what_it_may_see(
    demo_source: AsyncEngine, demo_snapshot: Snapshot, tmp_path: Path
) -> None:
    async with AsyncSession(demo_source) as session, session.begin():
        study_id = await session.scalar(text("SELECT id FROM studies ORDER BY id LIMIT 1"))
        made = await create_token(
            session, name="one study", grants=[Grant(Role.VIEWER, study_id=study_id)]
        )
    try:
        identity = await identity_of_token(demo_source, made.secret)
        manifest = await export(demo_source, tmp_path / "scoped", identity=identity)
        assert manifest.exported_by == identity.name
        rows = {e.type_name: e.rows for e in manifest.entities}
        directory = tmp_path / "scoped"
        assert [s["id"] for s in _lines(directory, "Study")] == [_gid("Study", study_id)]
        assert rows["Project"] == rows["Job"] == rows["Molecule"] == rows["Calculation"] == 0
        assert 0 < rows["Participant"] < len(demo_snapshot["participants"])
        assert {p["study_id"] for p in _lines(directory, "Participant")} == {
            _gid("Study", study_id)
        }
        assert {r["study_id"] for r in _lines(directory, "Run")} <= {_gid("Study", study_id)}
        # events only about what it may see, and the metric catalogue, readable by all
        subjects = {(e["subject_type"], e["subject_id"]) for e in _lines(directory, "Event")}
        visible = {
            (type_name, line["id"])
            for type_name in ("Study", "Participant", "Recording", "Run", "Trajectory", "Chunk")
            for line in _lines(directory, type_name)
        }
        assert subjects <= visible
        assert rows["MetricKey"] == len(demo_snapshot["metric_keys"])
    finally:
        async with demo_source.begin() as connection:
            await connection.execute(text("DELETE FROM api_tokens"))


async def test_where_restricts_to_a_project(demo_source: AsyncEngine, tmp_path: Path) -> None:
    async with demo_source.connect() as connection:
        project_id, name = (
            await connection.execute(text("SELECT id, name FROM projects ORDER BY id LIMIT 1"))
        ).one()
    manifest = await export(demo_source, tmp_path / "one", where=Where.parse([f"project={name}"]))
    assert manifest.where == [f"project={name}"]
    rows = {e.type_name: e.rows for e in manifest.entities}
    assert rows["Project"] == 1
    assert rows["Study"] == rows["Run"] == rows["Molecule"] == 0
    assert rows["Job"] > 0
    assert {j["project_id"] for j in _lines(tmp_path / "one", "Job")} == {
        _gid("Project", project_id)
    }
    with pytest.raises(TransferError, match="no project you may see"):
        await export(demo_source, tmp_path / "none", where=Where.parse(["project=no such"]))
    with pytest.raises(TransferError, match="project=NAME or study=NAME"):
        Where.parse(["owner=me"])


async def test_bad_destinations_and_sources_are_refused(
    demo_source: AsyncEngine, empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(TransferError, match="not an empty directory"):
        await export(demo_source, tmp_path / "used")
    with pytest.raises(TransferError, match=r"has no manifest\.json"):
        await run_import(empty_engine, tmp_path / "used")
    (tmp_path / "used" / MANIFEST).write_text("{}")
    with pytest.raises(TransferError, match="not the manifest of a scimeta export"):
        await run_import(empty_engine, tmp_path / "used")
    report = ImportReport("scimeta-export", False)
    from scimeta.transfer.import_export import import_scimeta_export
    from scimeta.transfer.progress import QuietProgress

    with pytest.raises(TransferError, match="imported whole"):
        await import_scimeta_export(
            empty_engine, str(tmp_path), ImportOptions(project="x"), QuietProgress(), report
        )
