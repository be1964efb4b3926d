"""A CCP4i2 project database (its Django SQLite file) with its project directory,
imported: read back through GraphQL; a second run adds nothing; a dry run writes nothing;
rows the store holds but scimeta cannot take are refused with their reasons while the
rest go in; an interrupted run finishes when run again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.app import create_app
from scimeta.server.cli import main
from scimeta.server.database import create_sessionmaker
from scimeta.transfer.formats import TransferError
from scimeta.transfer.labs import ccp4i2
from scimeta.transfer.labs.ccp4i2 import import_ccp4i2
from scimeta.transfer.progress import Progress
from scimeta.transfer.sources import ImportOptions, ImportReport, source
from tests.conftest import DatabaseFactory, started
from tests.transfer.ccp4i2_store import write_store
from tests.transfer.conftest import snapshot

MTZ = b"MTZ \x00\x00 reflections of job 1"
GAMMA = b"MTZ \x00\x00 gamma, as collected"
CHANGED = b"MTZ edited after the import"
PROJECT_UUID = "6f1c0e4d2a8b4c1e9d3f5a7b8c9d0e1f"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_rows(directory: str) -> dict[str, list[dict[str, Any]]]:
    """Project lysozyme: jobs 1 (with sub-jobs 1.1, named by its parent column, and 1.2,
    by its number alone), 2 and 3 go in; jobs 4.1 (no job 4), 1..2, 5 (status 42), 6.1 (a
    parent row the store lacks), 4.1.1 (under the refused 4.1) and 7 (finished before it
    was created) are refused, with what depends on them: file 6, use 6 and so on."""
    jobs: list[dict[str, Any]] = [
        {
            "id": 1,
            "number": "1",
            "task_name": "aimless_pipe",
            "title": "Data reduction",
            "status": 6,
            "evaluation": 2,
            "creation_time": "2025-02-01 10:00:00",
            "finish_time": "2025-02-01 10:05:30.250000",
            "process_id": 4242,
        },
        {
            "id": 2,
            "number": "1.1",
            "parent_id": 1,
            "task_name": "pointless",
            "title": "Symmetry",
            "status": 6,
            "creation_time": "2025-02-01 10:00:01",
            "finish_time": "2025-02-01 10:01:00",
        },
        {
            "id": 3,
            "number": "1.2",
            "task_name": "aimless",
            "title": "Scaling",
            "status": 5,
            "creation_time": "2025-02-01 10:01:01",
            "finish_time": "2025-02-01 10:02:00",
            "comments": "ran out of memory",
        },
        {
            "id": 4,
            "number": "2",
            "task_name": "phaser_pipeline",
            "title": "Molecular replacement",
            # SQLite keeps a word where Django writes a code
            "status": "RUNNING_REMOTELY",
            "creation_time": "2025-02-01 11:00:00",
        },
        {
            "id": 5,
            "number": "3",
            "task_name": "prosmart_refmac",
            "title": "Refinement",
            "status": 10,
            "creation_time": "2025-02-01 12:00:00",
            "finish_time": "2025-02-01 12:30:00",
        },
        {
            "id": 12,
            "number": "8",
            "task_name": "coot_rebuild",
            "status": 4,
            "creation_time": "2025-02-01 14:00:00",
        },
        # refused
        {"id": 6, "number": "4.1", "task_name": "refmac", "status": 1},
        {"id": 7, "number": "1..2", "task_name": "refmac", "status": 1},
        {"id": 8, "number": "5", "task_name": "refmac", "status": 42},
        {"id": 9, "number": "6.1", "parent_id": 99, "task_name": "refmac", "status": 1},
        {"id": 10, "number": "4.1.1", "parent_id": 6, "task_name": "refmac", "status": 1},
        {
            "id": 11,
            "number": "7",
            "task_name": "refmac",
            "status": 6,
            "creation_time": "2025-02-01 13:00:00",
            "finish_time": "2025-02-01 12:00:00",
        },
    ]
    return {
        "ccp4x_project": [
            {
                "id": 1,
                "uuid": PROJECT_UUID,
                "name": "lysozyme",
                "description": "Hen egg-white lysozyme",
                "directory": directory,
                "last_job_number": 7,
                "creation_time": "2025-02-01 09:00:00",
                "creation_user": "ada",
                "i1_project_name": "lyso_i1",
            }
        ],
        "ccp4x_job": [{"project_id": 1, **job} for job in jobs],
        "ccp4x_file": [
            {
                "id": 1,
                "name": "HKLOUT.mtz",
                "directory": 1,
                "job_id": 1,
                "type_id": "application/CCP4-mtz",
                "content": 1,
                "sub_type": 1,
                "annotation": "Merged intensities",
                "job_param_name": "HKLOUT",
            },
            {"id": 2, "name": "gamma.mtz", "directory": 2, "job_id": 1, "content": 2},
            {
                "id": 3,
                "name": "XYZOUT.pdb",
                "directory": 1,
                "job_id": 2,
                "type_id": "chemical/x-pdb",
            },
            {
                "id": 4,
                "name": "lysozyme.fasta",
                "directory": 2,
                "job_id": 1,
                "type_id": "application/CCP4-seq",
            },
            {"id": 8, "name": "XYZOUT.pdb", "directory": 1, "job_id": 12},
            # refused: the same content as file 2; its job was refused; changed since its
            # import
            {"id": 5, "name": "gamma_again.mtz", "directory": 2, "job_id": 1},
            {"id": 6, "name": "XYZOUT.pdb", "directory": 1, "job_id": 6},
            {"id": 7, "name": "changed.mtz", "directory": 2, "job_id": 1},
        ],
        "ccp4x_fileimport": [
            {
                "file_id": 2,
                "name": "/data/raw/gamma.mtz",
                "checksum": _md5(GAMMA),
                "time": "2025-02-01 09:59:00",
                "last_modified": "2025-01-30 17:00:00",
            },
            {
                "file_id": 4,
                "name": "/home/ada/lysozyme.fasta",
                "checksum": "0123456789abcdef0123456789abcdef",
                "time": "2025-02-01 09:59:30",
                "last_modified": "2025-01-29 08:00:00",
            },
            {"file_id": 5, "name": "/data/raw/gamma_copy.mtz", "checksum": _md5(GAMMA)},
            {"file_id": 7, "name": "/data/raw/changed.mtz", "checksum": _md5(b"original")},
        ],
        "ccp4x_fileuse": [
            {"id": 1, "file_id": 1, "job_id": 1, "role": 0, "job_param_name": "HKLOUT"},
            {"id": 2, "file_id": 2, "job_id": 1, "role": 1, "job_param_name": "HKLIN"},
            {"id": 3, "file_id": 1, "job_id": 2, "role": 1, "job_param_name": "HKLIN"},
            {"id": 4, "file_id": 3, "job_id": 2, "role": 0, "job_param_name": "XYZOUT"},
            {"id": 5, "file_id": 4, "job_id": 3, "role": 1, "job_param_name": "ASUIN"},
            # refused: a missing file; the same file, job and role under another parameter
            # (which CCP4i2's unique key allows); an unknown role; an output of a job that
            # was interrupted (CANCELLED)
            {"id": 6, "file_id": 99, "job_id": 1, "role": 1, "job_param_name": "XYZIN"},
            {"id": 7, "file_id": 1, "job_id": 2, "role": 1, "job_param_name": "HKLIN2"},
            {"id": 8, "file_id": 3, "job_id": 4, "role": 7, "job_param_name": "XYZIN"},
            {"id": 9, "file_id": 8, "job_id": 12, "role": 0, "job_param_name": "XYZOUT"},
        ],
        "ccp4x_jobvaluekey": [
            {"name": "Rfactor", "description": "R factor"},
            {"name": "Rfree", "description": "Free R factor"},
            {"name": "spaceGroup", "description": "Space group"},
            {"name": "<b>resolution</b>", "description": "markup in a key"},
        ],
        "ccp4x_jobfloatvalue": [
            {"id": 1, "job_id": 1, "key_id": "Rfactor", "value": 0.21},
            {"id": 2, "job_id": 1, "key_id": "Rfree", "value": 0.25},
            {"id": 3, "job_id": 5, "key_id": "Rfactor", "value": 0.19},
            # refused: a refused key; a refused job
            {"id": 4, "job_id": 5, "key_id": "<b>resolution</b>", "value": 1.6},
            {"id": 5, "job_id": 8, "key_id": "Rfree", "value": 0.3},
        ],
        "ccp4x_jobcharvalue": [
            {"id": 1, "job_id": 1, "key_id": "spaceGroup", "value": "P 43 21 2"},
            # refused: job 1 has a float Rfactor already
            {"id": 2, "job_id": 1, "key_id": "Rfactor", "value": "0.21"},
        ],
    }


REFUSED = {
    ("Job", "6"): "its parent job 4 (by its number 4.1) is not in the project",
    ("Job", "7"): "its number '1..2' is not a dotted job number",
    ("Job", "8"): "its status 42 is not one of 0 UNKNOWN",
    ("Job", "9"): "its parent job (ccp4x_job id 99) is not in the store",
    ("Job", "10"): "its parent job (ccp4x_job id 6) was refused",
    ("Job", "11"): "is before its creation_time",
    ("File", "5"): "file 2 of the same project was imported with the same content",
    ("File", "6"): "its job (ccp4x_job id 6) was refused",
    ("File", "7"): "its content changed since it was imported",
    ("JobFile", "6"): "its file (ccp4x_file id 99) is not in the store",
    ("JobFile", "7"): "file use 3 already links file 1 to job 1.1 as INPUT",
    ("JobFile", "8"): "its role 7 is neither 0 (OUT, an output) nor 1 (IN, an input)",
    ("JobFile", "9"): "its job 8 is CANCELLED (CCP4i2 status 'Interrupted'): only a job that",
    ("MetricKey", "<b>resolution</b>"): "cannot be a metric key",
    ("Metric", "4"): "its key (ccp4x_jobvaluekey id <b>resolution</b>) was refused",
    ("Metric", "5"): "its job (ccp4x_job id 8) was refused",
    ("Metric", "2"): "ccp4x_jobfloatvalue id 1 already gives Rfactor of job 1",
}
CREATED = {"Project": 1, "Job": 6, "File": 5, "JobFile": 5, "MetricKey": 3, "Metric": 4}


class Recorded(Progress):
    def __init__(self) -> None:
        self.tables: list[tuple[str, int | None, int]] = []

    def begin(self, name: str, total: int | None) -> None:
        self.tables.append((name, total, 0))

    def advance(self, rows: int) -> None:
        name, total, done = self.tables[-1]
        self.tables[-1] = (name, total, done + rows)


async def run(
    engine: AsyncEngine,
    location: Path | str,
    *,
    dry_run: bool = False,
    project: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    report = ImportReport("ccp4i2", dry_run)
    options = ImportOptions(dry_run=dry_run, project=project)
    return await import_ccp4i2(engine, str(location), options, progress or Recorded(), report)


def created(report: ImportReport) -> dict[str, int]:
    return {name: counts.created for name, counts in report.counts.items() if counts.created}


def refusals(report: ImportReport) -> dict[tuple[str, str | None], str]:
    return {(r.entity, r.source_id): r.reason for r in report.refusals}


@pytest.fixture
async def target(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """The project directory with its database and the files CCP4i2 left on disk; file 3
    (job 1.1's XYZOUT.pdb) and file 4 (the imported sequence) are not there any more."""
    root = tmp_path / "lysozyme"
    (root / "CCP4_JOBS" / "job_1" / "job_1").mkdir(parents=True)
    (root / "CCP4_JOBS" / "job_1" / "HKLOUT.mtz").write_bytes(MTZ)
    imported = root / "CCP4_IMPORTED_FILES"
    imported.mkdir()
    (imported / "gamma.mtz").write_bytes(GAMMA)
    (imported / "gamma_again.mtz").write_bytes(GAMMA)
    (imported / "changed.mtz").write_bytes(CHANGED)
    write_store(root / "db.sqlite3", store_rows(str(root)))
    return root


async def graphql(engine: AsyncEngine, query: str) -> dict[str, Any]:
    app = await started(create_app(sessionmaker=create_sessionmaker(engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        body = (await client.post("/graphql", json={"query": query})).json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


FILE_FIELDS = """role parameterName file { path name mimetype sizeBytes checksum
    checksumAlgorithm modifiedAt importedFrom importedAt annotation contentFlag subType }"""
READ_BACK = f"""{{
  projects(first: 5) {{ nodes {{ name directory description lastJobNumber attributes
    jobs(first: 10) {{ nodes {{ number taskName title status startedAt finishedAt attributes
      files(first: 10) {{ nodes {{ {FILE_FIELDS} }} }}
      metrics(first: 10) {{ nodes {{ name value text key {{ description }} }} }}
      children(first: 10) {{ nodes {{ number taskName status finishedAt parent {{ number }}
        files(first: 10) {{ nodes {{ {FILE_FIELDS} }} }} }} }} }} }} }} }}
  events(first: 100, where: {{actor: {{eq: "import:ccp4i2"}}}}) {{
    nodes {{ type subjectType payload }} }}
}}"""


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_the_registry_names_the_importer() -> None:
    assert source("ccp4i2").run is import_ccp4i2


async def test_a_project_is_imported_and_read_back(project_dir: Path, target: AsyncEngine) -> None:
    report = await run(target, project_dir)

    assert created(report) == CREATED
    refused = refusals(report)
    assert set(refused) == set(REFUSED)
    for key, reason in REFUSED.items():
        assert reason in refused[key], (key, refused[key])
    assert {name: c.refused for name, c in report.counts.items() if c.refused} == {
        "Job": 6,
        "File": 3,
        "JobFile": 4,
        "MetricKey": 1,
        "Metric": 3,
    }

    data = await graphql(target, READ_BACK)
    [project] = data["projects"]["nodes"]
    assert (project["name"], project["description"]) == ("lysozyme", "Hen egg-white lysozyme")
    assert project["directory"] == str(project_dir.resolve())
    # the store's last_job_number is 7, but it holds a job 8
    assert project["lastJobNumber"] == 8
    assert project["attributes"]["uuid"] == PROJECT_UUID
    assert project["attributes"]["creation_user"] == "ada"
    assert project["attributes"]["i1_project_name"] == "lyso_i1"
    jobs = {job["number"]: job for job in project["jobs"]["nodes"]}
    assert list(jobs) == ["1", "2", "3", "8"]
    one = jobs["1"]
    assert (one["taskName"], one["title"], one["status"]) == (
        "aimless_pipe",
        "Data reduction",
        "SUCCEEDED",
    )
    assert datetime.fromisoformat(one["startedAt"]) == _at("2025-02-01 10:00:00")
    assert datetime.fromisoformat(one["finishedAt"]) == _at("2025-02-01 10:05:30.250000")
    assert one["attributes"]["evaluation"] == "GOOD"
    assert one["attributes"]["process_id"] == 4242
    assert one["attributes"]["ccp4i2_status"] == "Finished"
    files = {(f["role"], f["parameterName"]): f["file"] for f in one["files"]["nodes"]}
    assert set(files) == {("OUTPUT", "HKLOUT"), ("INPUT", "HKLIN")}
    output = files[("OUTPUT", "HKLOUT")]
    assert output["path"] == str(project_dir.resolve() / "CCP4_JOBS" / "job_1" / "HKLOUT.mtz")
    assert (output["name"], output["mimetype"]) == ("HKLOUT.mtz", "application/CCP4-mtz")
    assert (output["sizeBytes"], output["checksum"]) == (len(MTZ), _sha256(MTZ))
    assert output["checksumAlgorithm"] == "sha256"
    assert (output["annotation"], output["contentFlag"], output["subType"]) == (
        "Merged intensities",
        1,
        1,
    )
    assert output["importedFrom"] is None
    gamma = files[("INPUT", "HKLIN")]
    assert gamma["path"].endswith("/CCP4_IMPORTED_FILES/gamma.mtz")
    assert gamma["importedFrom"] == "/data/raw/gamma.mtz"
    assert datetime.fromisoformat(gamma["importedAt"]) == _at("2025-02-01 09:59:00")
    assert (gamma["checksum"], gamma["sizeBytes"]) == (_sha256(GAMMA), len(GAMMA))
    metrics = {m["name"]: m for m in one["metrics"]["nodes"]}
    assert metrics["Rfactor"]["value"] == 0.21
    assert metrics["Rfree"]["key"] == {"description": "Free R factor"}
    assert (metrics["spaceGroup"]["value"], metrics["spaceGroup"]["text"]) == (None, "P 43 21 2")
    children = {child["number"]: child for child in one["children"]["nodes"]}
    assert list(children) == ["1.1", "1.2"]
    assert children["1.1"]["parent"] == {"number": "1"}
    assert children["1.2"]["parent"] == {"number": "1"}
    assert (children["1.2"]["taskName"], children["1.2"]["status"]) == ("aimless", "FAILED")
    used = {(f["role"], f["parameterName"]): f["file"] for f in children["1.1"]["files"]["nodes"]}
    assert used[("INPUT", "HKLIN")]["checksum"] == _sha256(MTZ)
    pdb = used[("OUTPUT", "XYZOUT")]
    assert (pdb["mimetype"], pdb["sizeBytes"], pdb["checksum"]) == ("chemical/x-pdb", None, None)
    [sequence] = [f["file"] for f in children["1.2"]["files"]["nodes"]]
    # not on disk: the checksum CCP4i2 recorded at the import
    assert (sequence["checksum"], sequence["checksumAlgorithm"]) == (
        "0123456789abcdef0123456789abcdef",
        "md5",
    )
    assert datetime.fromisoformat(sequence["modifiedAt"]) == _at("2025-01-29 08:00:00")
    two, three = jobs["2"], jobs["3"]
    assert (two["status"], two["finishedAt"]) == ("RUNNING", None)
    assert two["attributes"]["ccp4i2_status"] == "Running remotely"
    assert datetime.fromisoformat(two["startedAt"]) == _at("2025-02-01 11:00:00")
    assert (three["status"], three["attributes"]["ccp4i2_status"]) == ("FAILED", "Unsatisfactory")
    assert [m["value"] for m in three["metrics"]["nodes"]] == [0.19]
    eight = jobs["8"]
    assert (eight["status"], eight["attributes"]["ccp4i2_status"]) == ("CANCELLED", "Interrupted")
    assert eight["files"]["nodes"] == []

    events = [(e["subjectType"], e["type"]) for e in data["events"]["nodes"]]
    assert sorted(events) == sorted(
        [("Project", "created")]
        + [("Job", "created")] * 6
        # the imported files
        + [("File", "created")] * 2
        # jobs 1 and 1.1 have outputs; jobs 1 and 3 metrics
        + [("Job", "outputs_gleaned")] * 2
        + [("Job", "metrics_recorded")] * 2
        + [("MetricKey", "created")] * 3
    )
    payloads = {
        (e["subjectType"], e["type"], e["payload"].get("number")): e["payload"]
        for e in data["events"]["nodes"]
    }
    assert payloads[("Job", "created", "1.1")]["status"] == "SUCCEEDED"


async def test_a_second_run_adds_nothing(project_dir: Path, target: AsyncEngine) -> None:
    await run(target, project_dir)
    before = await snapshot(target)

    again = await run(target, project_dir / "db.sqlite3")

    assert created(again) == {}
    assert {name: c.present for name, c in again.counts.items() if c.present} == CREATED
    assert set(refusals(again)) == set(REFUSED)
    assert await snapshot(target) == before


async def test_a_dry_run_writes_nothing(project_dir: Path, target: AsyncEngine) -> None:
    before = await snapshot(target)

    report = await run(target, project_dir, dry_run=True)

    assert created(report) == CREATED
    assert set(refusals(report)) == set(REFUSED)
    assert await snapshot(target) == before


async def test_an_interrupted_run_finishes_when_run_again(
    project_dir: Path, target: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(self: Any, uses: Any) -> None:
        raise ConnectionError("the network went away")

    with monkeypatch.context() as patch:
        patch.setattr(ccp4i2._Import, "uses", failing)
        with pytest.raises(ConnectionError):
            await run(target, project_dir)
    async with target.connect() as connection:
        kept = (
            await connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM files),"
                    " (SELECT count(*) FROM job_files)"
                )
            )
        ).one()
    assert tuple(kept) == (6, 5, 0)

    report = await run(target, project_dir)

    assert report.of("File").present == 5
    assert report.of("JobFile").created == 5
    assert report.of("Metric").created == 4
    async with target.connect() as connection:
        gleaned = await connection.scalar(
            text("SELECT count(*) FROM events WHERE type = 'outputs_gleaned'")
        )
    assert gleaned == 2


async def test_a_moved_project_is_found_beside_its_database(
    tmp_path: Path, target: AsyncEngine
) -> None:
    root = tmp_path / "moved"
    (root / "CCP4_JOBS" / "job_1").mkdir(parents=True)
    (root / "CCP4_JOBS" / "job_1" / "HKLOUT.mtz").write_bytes(MTZ)
    rows = store_rows("/old/disk/lysozyme")
    write_store(root / "db.sqlite3", rows)

    report = await run(target, root)

    # gamma.mtz is not there: its recorded md5 stands in (file 5 repeats it); nor is
    # changed.mtz, whose change goes unseen
    assert report.of("File").created == 6
    data = await graphql(
        target,
        """{ projects(first: 1) { nodes { directory attributes
             files(first: 10, where: {name: {eq: "HKLOUT.mtz"}}) {
               nodes { path checksum } } } } }""",
    )
    [project] = data["projects"]["nodes"]
    assert project["directory"] == str(root.resolve())
    assert project["attributes"]["recorded_directory"] == "/old/disk/lysozyme"
    [hklout] = project["files"]["nodes"]
    assert hklout == {
        "path": str(root.resolve() / "CCP4_JOBS" / "job_1" / "HKLOUT.mtz"),
        "checksum": _sha256(MTZ),
    }


async def test_a_namesake_project_made_elsewhere_is_refused(
    project_dir: Path, target: AsyncEngine
) -> None:
    async with target.begin() as connection:
        await connection.execute(text("INSERT INTO projects (name) VALUES ('lysozyme')"))
    before = await snapshot(target)

    report = await run(target, project_dir)

    assert created(report) == {"MetricKey": 3}
    refused = refusals(report)
    assert "was not imported from this CCP4i2 project" in refused[("Project", "1")]
    assert "its project (ccp4x_project id 1) was refused" in refused[("Job", "1")]
    assert "its job (ccp4x_job id 1) was refused" in refused[("File", "1")]
    assert "its job (ccp4x_job id 1) was refused" in refused[("JobFile", "1")]
    assert report.of("Job").refused == 12
    after = await snapshot(target)
    assert after["projects"] == before["projects"]
    assert after["jobs"] == after["files"] == []


async def test_one_project_of_a_store_with_several(
    project_dir: Path, target: AsyncEngine, tmp_path: Path
) -> None:
    rows = store_rows(str(project_dir))
    rows["ccp4x_project"].append({"id": 2, "name": "thaumatin", "directory": "/x/thaumatin"})
    rows["ccp4x_job"].append({"id": 50, "number": "1", "project_id": 2, "task_name": "x"})
    database = tmp_path / "several.sqlite3"
    write_store(database, rows)

    report = await run(target, database, project="thaumatin")

    # the metric catalogue is the store's, whichever project is chosen
    assert created(report) == {"Project": 1, "Job": 1, "MetricKey": 3}
    assert set(refusals(report)) == {("MetricKey", "<b>resolution</b>")}
    with pytest.raises(TransferError, match="no project named 'insulin'"):
        await run(target, database, project="insulin")


async def test_a_location_that_is_no_store_is_refused(tmp_path: Path, target: AsyncEngine) -> None:
    with pytest.raises(TransferError, match="holds no CCP4i2 database"):
        await run(target, tmp_path)
    (tmp_path / "other.db").write_bytes(b"")
    with pytest.raises(TransferError, match="lacks the tables ccp4x_project"):
        await run(target, tmp_path)


async def test_progress_is_reported_per_kind_of_row(project_dir: Path, target: AsyncEngine) -> None:
    progress = Recorded()
    await run(target, project_dir, progress=progress)
    assert progress.tables == [
        ("File on disk", 7, 7),
        ("Project", 1, 1),
        ("Job", 6, 6),
        ("File", 5, 5),
        ("JobFile", 5, 5),
        ("MetricKey+Metric", 3 + 4, 3 + 4),
    ]


@pytest.fixture
async def empty_url(databases: DatabaseFactory) -> str:
    return await databases.create()


def test_the_command_line_lists_the_refusals(
    project_dir: Path,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    refused = tmp_path / "refused.jsonl"

    # refused rows make the exit status 1
    assert main(["import", "ccp4i2", str(project_dir), "--refusals", str(refused)]) == 1

    printed = capsys.readouterr()
    (total_line,) = [line for line in printed.out.splitlines() if line.startswith("total")]
    assert total_line.split() == ["total", "41", "24", "0", f"{len(REFUSED)}"]
    assert "refused Job 8 (ccp4x_job id 8): its status 42 is not one of" in printed.out
    lines = [json.loads(line) for line in refused.read_text().splitlines()]
    assert {(line["entity"], line["id"]) for line in lines} == set(REFUSED)
