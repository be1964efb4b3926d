"""Projects and jobs: numbering, lifecycle, imports and gleaning through mutations."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient

CREATE_PROJECT = """
mutation($name: String!) {
  createProject(input: {name: $name, directory: "/data/p"}) {
    project { id name lastJobNumber version }
  }
}"""
CREATE_JOB = """
mutation($input: CreateJobInput!) {
  createJob(input: $input) { replayed job { id number status parent { number } } }
}"""
SET_STATUS = """
mutation($id: ID!, $status: Status!) {
  setJobStatus(input: {id: $id, status: $status}) { job { status startedAt finishedAt version } }
}"""


async def create_project(graphql: GraphQLClient, name: str = "p1") -> dict[str, Any]:
    data = await graphql.data(CREATE_PROJECT, name=name)
    project: dict[str, Any] = data["createProject"]["project"]
    return project


async def create_job(graphql: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await graphql.data(CREATE_JOB, input={"taskName": "ctruncate", **input})
    job: dict[str, Any] = data["createJob"]["job"]
    return job


async def test_jobs_are_numbered_under_their_parent(graphql: GraphQLClient) -> None:
    project = await create_project(graphql)
    first = await create_job(graphql, projectId=project["id"])
    second = await create_job(graphql, projectId=project["id"])
    child = await create_job(graphql, parentId=first["id"])
    grandchild = await create_job(graphql, parentId=child["id"])
    assert [first["number"], second["number"], child["number"], grandchild["number"]] == [
        "1",
        "2",
        "1.1",
        "1.1.1",
    ]
    assert grandchild["parent"] == {"number": "1.1"}


async def test_status_lifecycle_sets_times_and_refuses_illegal_moves(
    graphql: GraphQLClient,
) -> None:
    project = await create_project(graphql)
    job = await create_job(graphql, projectId=project["id"])
    running = (await graphql.data(SET_STATUS, id=job["id"], status="RUNNING"))["setJobStatus"]
    assert running["job"]["startedAt"] is not None
    assert running["job"]["finishedAt"] is None
    done = (await graphql.data(SET_STATUS, id=job["id"], status="SUCCEEDED"))["setJobStatus"]
    assert done["job"]["finishedAt"] >= done["job"]["startedAt"]
    assert done["job"]["version"] == running["job"]["version"] + 1
    body = await graphql.execute(SET_STATUS, id=job["id"], status="RUNNING")
    error = body["errors"][0]
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["reason"] == "ILLEGAL_TRANSITION"
    assert "SUCCEEDED" in error["message"]
