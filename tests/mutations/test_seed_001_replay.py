"""Seed 001 (crystallography jobs), replayed as mutations and read back.

A pipeline job "copycell" runs two sub-jobs, ctruncate and refmac; an MTZ file is imported
as ctruncate's input; each job moves PENDING -> RUNNING -> SUCCEEDED (FINISHED in the
seed) or FAILED; output files and KPIs (float and text) are gleaned from finished jobs.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient

CREATE_JOB = """
mutation($input: CreateJobInput!) { createJob(input: $input) { job { id number } } }"""
SET_STATUS = """
mutation($id: ID!, $status: Status!) {
  setJobStatus(input: {id: $id, status: $status}) { job { status } }
}"""
IMPORT_FILE = """
mutation($input: ImportFileInput!) {
  importFile(input: $input) { file { id path importedFrom importedAt checksum } }
}"""
GLEAN = """
mutation($input: GleanJobOutputsInput!) {
  gleanJobOutputs(input: $input) { job { number files { totalCount } } }
}"""
RECORD_METRICS = """
mutation($id: ID!, $metrics: [MetricInput!]!) {
  recordMetrics(subjectId: $id, metrics: $metrics) { subject { id } }
}"""
JOB_TREE = """
query($id: ID!) {
  node(id: $id) {
    ... on Project {
      name lastJobNumber
      jobs {
        nodes {
          number taskName status startedAt finishedAt
          files { nodes { role parameterName file { path mimetype contentFlag subType } } }
          metrics { nodes { name value text } }
          children {
            nodes {
              number taskName status startedAt finishedAt
              files { nodes { role parameterName file { name mimetype importedFrom annotation } } }
              metrics { nodes { name value text unit } }
              events { nodes { type payload } }
            }
          }
        }
      }
    }
  }
}"""


async def _job(graphql: GraphQLClient, **input: Any) -> dict[str, Any]:
    job: dict[str, Any] = (await graphql.data(CREATE_JOB, input=input))["createJob"]["job"]
    return job


async def _run(graphql: GraphQLClient, job: dict[str, Any], outcome: str) -> None:
    for status in ("RUNNING", outcome):
        data = await graphql.data(SET_STATUS, id=job["id"], status=status)
        assert data["setJobStatus"]["job"]["status"] == status


async def test_seed_001_pipeline_replays_and_reads_back(graphql: GraphQLClient) -> None:
    project = (
        await graphql.data(
            """mutation { createProject(input: {name: "lysozyme", directory: "/data/lysozyme"})
            { project { id } } }"""
        )
    )["createProject"]["project"]

    pipeline = await _job(graphql, projectId=project["id"], taskName="copycell")
    truncate = await _job(graphql, parentId=pipeline["id"], taskName="ctruncate")
    refine = await _job(graphql, parentId=pipeline["id"], taskName="refmac")
    assert [pipeline["number"], truncate["number"], refine["number"]] == ["1", "1.1", "1.2"]

    imported = (
        await graphql.data(
            IMPORT_FILE,
            input={
                "projectId": project["id"],
                "jobId": truncate["id"],
                "parameterName": "HKLIN",
                "importedFrom": "/home/user/downloads/input.mtz",
                "file": {
                    "path": "/data/lysozyme/CCP4_IMPORTED_FILES/input.mtz",
                    "mimetype": "application/CCP4-mtz",
                    "sizeBytes": 1048576,
                    "checksum": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                },
            },
        )
    )["importFile"]["file"]
    assert imported["importedFrom"] == "/home/user/downloads/input.mtz"
    assert imported["importedAt"] is not None

    await graphql.data(SET_STATUS, id=pipeline["id"], status="RUNNING")
    await _run(graphql, truncate, "SUCCEEDED")
    await graphql.data(
        GLEAN,
        input={
            "jobId": truncate["id"],
            "files": [
                {
                    "parameterName": "HKLOUT",
                    "file": {
                        "path": "/data/lysozyme/CCP4_JOBS/job_1/job_1/HKLOUT.mtz",
                        "mimetype": "application/CCP4-mtz",
                        "contentFlag": 1,
                        "subType": 2,
                        "annotation": "Intensities and amplitudes",
                    },
                },
                {
                    "parameterName": "OBSOUT",
                    "file": {
                        "path": "/data/lysozyme/CCP4_JOBS/job_1/job_1/OBSOUT.mtz",
                        "mimetype": "application/CCP4-mtz-observed",
                        "contentFlag": 4,
                    },
                },
            ],
            "metrics": [{"key": "twinning", "text": "none detected"}],
        },
    )
    await _run(graphql, refine, "FAILED")
    await graphql.data(
        RECORD_METRICS,
        id=refine["id"],
        metrics=[{"key": "Rfactor", "value": 0.231}, {"key": "RFree", "value": 0.274}],
    )
    # a second value for a key replaces the first
    await graphql.data(
        RECORD_METRICS, id=refine["id"], metrics=[{"key": "Rfactor", "value": 0.219}]
    )
    await graphql.data(SET_STATUS, id=pipeline["id"], status="FAILED")

    tree = (await graphql.data(JOB_TREE, id=project["id"]))["node"]
    assert tree["lastJobNumber"] == 1
    [top] = tree["jobs"]["nodes"]
    assert (top["number"], top["status"]) == ("1", "FAILED")
    assert top["finishedAt"] >= top["startedAt"]
    first, second = top["children"]["nodes"]
    assert (first["number"], first["taskName"], first["status"]) == (
        "1.1",
        "ctruncate",
        "SUCCEEDED",
    )
    assert (second["number"], second["taskName"], second["status"]) == ("1.2", "refmac", "FAILED")

    files = [(f["role"], f["parameterName"], f["file"]["name"]) for f in first["files"]["nodes"]]
    assert files == [
        ("INPUT", "HKLIN", "input.mtz"),
        ("OUTPUT", "HKLOUT", "HKLOUT.mtz"),
        ("OUTPUT", "OBSOUT", "OBSOUT.mtz"),
    ]
    assert first["files"]["nodes"][1]["file"]["annotation"] == "Intensities and amplitudes"
    assert first["metrics"]["nodes"] == [
        {"name": "twinning", "value": None, "text": "none detected", "unit": None}
    ]
    assert {m["name"]: m["value"] for m in second["metrics"]["nodes"]} == {
        "Rfactor": 0.219,
        "RFree": 0.274,
    }
    assert [e["type"] for e in first["events"]["nodes"]] == [
        "created",
        "status_changed",
        "status_changed",
        "metrics_recorded",
        "outputs_gleaned",
    ]
    assert [e["payload"].get("to") for e in second["events"]["nodes"][1:3]] == [
        "RUNNING",
        "FAILED",
    ]
