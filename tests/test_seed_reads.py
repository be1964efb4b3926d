"""The reads the seed documents make, each against a little data of its own: exactly the
rows asked for come back, in a fixed number of statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from scimeta import models as m
from tests.conftest import GraphQLClient, StatementCounter, read_statements


def gid(type_name: str, row_id: int) -> str:
    return str(relay.GlobalID(type_name, str(row_id)))


async def _ids(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    result = await session.execute(insert(model).returning(model.id), rows)
    return list(result.scalars().all())


# --- seed 002: molecules, calculations, atomic properties, batches, event log -------------


async def _molecules(session: AsyncSession, *smiles: str) -> list[int]:
    return await _ids(session, m.Molecule, [{"smiles": s} for s in smiles])


async def _calculations(
    session: AsyncSession, molecule_id: int, column: str, values: list[float | None]
) -> list[int]:
    return await _ids(
        session, m.Calculation, [{"molecule_id": molecule_id, column: v} for v in values]
    )


async def test_calculations_in_an_energy_range(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    (molecule,) = await _molecules(session, "CCO")
    ids = await _calculations(
        session, molecule, "energy", [-12.0, -10.0, -5.105, 0.0, 0.5, None, -10.000001]
    )
    statements.reset()
    data = await graphql.data(
        "{ calculations(where: {energy: {gte: -10, lte: 0}}) { nodes { id energy } } }"
    )
    assert data["calculations"]["nodes"] == [
        {"id": gid("Calculation", ids[1]), "energy": -10.0},
        {"id": gid("Calculation", ids[2]), "energy": -5.105},
        {"id": gid("Calculation", ids[3]), "energy": 0.0},
    ]
    assert statements.count == 1, statements.statements


async def test_calculations_in_a_gap_range(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    (molecule,) = await _molecules(session, "CCO")
    ids = await _calculations(session, molecule, "gap", [0.05, 1.0, 0.6, None, 1.5, 0.1])
    statements.reset()
    data = await graphql.data(
        "{ calculations(where: {gap: {gte: 0.1, lte: 1.0}}, "
        "orderBy: [{field: GAP, direction: ASC}]) { nodes { id gap } } }"
    )
    assert data["calculations"]["nodes"] == [
        {"id": gid("Calculation", ids[5]), "gap": 0.1},
        {"id": gid("Calculation", ids[2]), "gap": 0.6},
        {"id": gid("Calculation", ids[1]), "gap": 1.0},
    ]
    assert statements.count == 1, statements.statements


async def test_calculations_of_one_molecule(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    ethanol, methane = await _molecules(session, "CCO", "C")
    ethanol_calcs = await _calculations(session, ethanol, "energy", [-5.1, -5.2])
    await _calculations(session, methane, "energy", [-4.0, -4.1, -4.2])
    ethanol_ids = [gid("Calculation", i) for i in ethanol_calcs]

    statements.reset()
    nested = await graphql.data(
        '{ molecules(where: {smiles: {eq: "CCO"}}) { nodes { smiles '
        "calculations { totalCount nodes { id energy } } } } }"
    )
    assert nested["molecules"]["nodes"] == [
        {
            "smiles": "CCO",
            "calculations": {
                "totalCount": 2,
                "nodes": [
                    {"id": ethanol_ids[0], "energy": -5.1},
                    {"id": ethanol_ids[1], "energy": -5.2},
                ],
            },
        }
    ]
    # molecules page, calculations page, calculations count
    assert statements.count == read_statements(3), statements.statements

    statements.reset()
    root = await graphql.data(
        '{ calculations(where: {molecule: {smiles: {eq: "CCO"}}}) '
        "{ nodes { id molecule { smiles } } } }"
    )
    assert root["calculations"]["nodes"] == [
        {"id": ethanol_ids[0], "molecule": {"smiles": "CCO"}},
        {"id": ethanol_ids[1], "molecule": {"smiles": "CCO"}},
    ]
    # calculations page, their molecules by id
    assert statements.count == read_statements(2), statements.statements


async def test_atomic_properties_of_a_calculation_by_atom_index(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    (molecule,) = await _molecules(session, "CCO")
    mine, other = await _calculations(session, molecule, "energy", [-5.0, -5.1])
    atoms = [("C", -0.2), ("C", 0.1), ("O", -0.6), ("H", 0.3), ("H", 0.3)]
    await session.execute(
        insert(m.AtomicProperty),
        [
            {"calculation_id": calc, "atom_index": i, "element": element, "charge": charge}
            for calc in (mine, other)
            for i, (element, charge) in enumerate(atoms)
        ],
    )
    query = (
        "query($id: ID, $atoms: AtomicPropertyWhere) { calculations(where: {id: {eq: $id}}) "
        "{ nodes { atomicProperties(where: $atoms) { nodes { atomIndex element charge } } } } }"
    )
    statements.reset()
    data = await graphql.data(query, id=gid("Calculation", mine), atoms={"atomIndex": {"eq": 2}})
    assert data["calculations"]["nodes"] == [
        {"atomicProperties": {"nodes": [{"atomIndex": 2, "element": "O", "charge": -0.6}]}}
    ]
    # calculations page, atomic properties page
    assert statements.count == read_statements(2), statements.statements

    data = await graphql.data(
        query, id=gid("Calculation", mine), atoms={"atomIndex": {"gte": 1, "lt": 4}}
    )
    (calculation,) = data["calculations"]["nodes"]
    assert [(a["atomIndex"], a["element"]) for a in calculation["atomicProperties"]["nodes"]] == [
        (1, "C"),
        (2, "O"),
        (3, "H"),
    ]


async def test_batch_items_of_a_batch_by_status(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    molecules = await _molecules(session, "C", "CC", "CCC", "CCCC")
    mine, other = await _ids(
        session,
        m.Batch,
        [{"name": "B1", "status": m.Status.RUNNING}, {"name": "B2", "status": m.Status.PENDING}],
    )
    statuses = [m.Status.PENDING, m.Status.SUCCEEDED, m.Status.FAILED, m.Status.SUCCEEDED]
    await session.execute(
        insert(m.BatchItem),
        [
            {"batch_id": mine, "molecule_id": molecule, "status": status}
            for molecule, status in zip(molecules, statuses, strict=True)
        ]
        + [
            {"batch_id": other, "molecule_id": molecule, "status": m.Status.SUCCEEDED}
            for molecule in molecules
        ],
    )
    statements.reset()
    data = await graphql.data(
        '{ batches(where: {name: {eq: "B1"}}) { nodes { name '
        "items(where: {status: {eq: SUCCEEDED}}) { totalCount "
        "nodes { status molecule { smiles } } } } } }"
    )
    assert data["batches"]["nodes"] == [
        {
            "name": "B1",
            "items": {
                "totalCount": 2,
                "nodes": [
                    {"status": "SUCCEEDED", "molecule": {"smiles": "CC"}},
                    {"status": "SUCCEEDED", "molecule": {"smiles": "CCCC"}},
                ],
            },
        }
    ]
    # batches page, items page, items count, molecules by id
    assert statements.count == read_statements(4), statements.statements

    statements.reset()
    data = await graphql.data("{ batches(where: {status: {eq: RUNNING}}) { nodes { name } } }")
    assert data["batches"]["nodes"] == [{"name": "B1"}]
    assert statements.count == 1, statements.statements


async def test_event_logs_by_subject_type_and_type(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    sequences = await _ids(
        session,
        m.Event,
        [
            {"subject_type": "Calculation", "subject_id": 1, "type": "calculation_started"},
            {"subject_type": "Calculation", "subject_id": 1, "type": "calculation_completed"},
            {"subject_type": "Batch", "subject_id": 1, "type": "calculation_completed"},
            {"subject_type": "Molecule", "subject_id": 2, "type": "molecule_created"},
            {"subject_type": "Calculation", "subject_id": 2, "type": "calculation_completed"},
            {"subject_type": "Calculation", "subject_id": 3, "type": "calculation_failed"},
        ],
    )
    query = (
        "query($where: EventWhere) { events(where: $where) "
        "{ nodes { id sequence subjectType subjectId type } } }"
    )
    statements.reset()
    data = await graphql.data(
        query, where={"subject": {"type": "Calculation"}, "type": {"eq": "calculation_completed"}}
    )
    assert data["events"]["nodes"] == [
        {
            "id": gid("Event", sequences[1]),
            "sequence": sequences[1],
            "subjectType": "Calculation",
            "subjectId": gid("Calculation", 1),
            "type": "calculation_completed",
        },
        {
            "id": gid("Event", sequences[4]),
            "sequence": sequences[4],
            "subjectType": "Calculation",
            "subjectId": gid("Calculation", 2),
            "type": "calculation_completed",
        },
    ]
    assert statements.count == 1, statements.statements

    data = await graphql.data(query, where={"subject": {"type": "Calculation"}})
    assert [e["sequence"] for e in data["events"]["nodes"]] == [
        sequences[0],
        sequences[1],
        sequences[4],
        sequences[5],
    ]
    data = await graphql.data(query, where={"subject": {"eq": gid("Calculation", 1)}})
    assert [e["type"] for e in data["events"]["nodes"]] == [
        "calculation_started",
        "calculation_completed",
    ]
    data = await graphql.data(query, where={"type": {"eq": "calculation_completed"}})
    assert [e["sequence"] for e in data["events"]["nodes"]] == [
        sequences[1],
        sequences[2],
        sequences[4],
    ]


# --- seed 000: trajectories and chunk attempts -----------------------------------------------


async def _trajectories(session: AsyncSession, run_name: str, count: int) -> tuple[int, list[int]]:
    (run,) = await _ids(session, m.Run, [{"name": run_name}])
    trajectories = await _ids(
        session,
        m.Trajectory,
        [{"run_id": run, "index": i, "target_length": 100 + i} for i in range(count)],
    )
    return run, trajectories


async def test_passed_chunks_of_a_trajectory(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    run, (first, second) = await _trajectories(session, "run_xyz789", 2)
    passed, failed, pending = m.AuditStatus.PASSED, m.AuditStatus.FAILED, m.AuditStatus.PENDING
    await session.execute(
        insert(m.Chunk),
        [
            {
                "run_id": run,
                "trajectory_id": trajectory,
                "index": index,
                "attempt": attempt,
                "audit_status": status,
                "model_version": f"v{attempt}",
                "frame_count": 10 * index + attempt,
            }
            for trajectory, index, attempt, status in [
                (first, 1, 1, passed),
                (first, 0, 1, failed),
                (first, 0, 2, passed),
                (first, 2, 1, pending),
                (second, 0, 1, passed),
                (first, 2, 2, failed),
            ]
        ],
    )
    statements.reset()
    data = await graphql.data(
        '{ trajectories(where: {run: {name: {eq: "run_xyz789"}}, index: {eq: 0}}) '
        "{ nodes { index chunks(where: {auditStatus: {eq: PASSED}}) "
        "{ nodes { index attempt modelVersion frameCount auditStatus } } } } }"
    )
    assert data["trajectories"]["nodes"] == [
        {
            "index": 0,
            "chunks": {
                "nodes": [
                    {
                        "index": 0,
                        "attempt": 2,
                        "modelVersion": "v2",
                        "frameCount": 2,
                        "auditStatus": "PASSED",
                    },
                    {
                        "index": 1,
                        "attempt": 1,
                        "modelVersion": "v1",
                        "frameCount": 11,
                        "auditStatus": "PASSED",
                    },
                ]
            },
        }
    ]
    # trajectories page, chunks page
    assert statements.count == read_statements(2), statements.statements


async def test_a_trajectory_by_run_and_index(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    await _trajectories(session, "run_a", 3)
    _, wanted = await _trajectories(session, "run_b", 3)
    statements.reset()
    data = await graphql.data(
        '{ trajectories(where: {run: {name: {eq: "run_b"}}, index: {eq: 2}}) '
        "{ totalCount nodes { id index targetLength run { name } } } }"
    )
    assert data["trajectories"] == {
        "totalCount": 1,
        "nodes": [
            {
                "id": gid("Trajectory", wanted[2]),
                "index": 2,
                "targetLength": 102,
                "run": {"name": "run_b"},
            }
        ],
    }
    # trajectories page, their count, runs by id
    assert statements.count == read_statements(3), statements.statements


# --- seed 004: studies by spec hash, runs, the event log of a run ---------------------------


async def test_runs_in_status_pending(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    statuses = [m.Status.PENDING, m.Status.RUNNING, m.Status.PENDING, m.Status.SUCCEEDED]
    ids = await _ids(
        session,
        m.Run,
        [{"name": f"run_{i}", "status": status} for i, status in enumerate(statuses)],
    )
    statements.reset()
    data = await graphql.data("{ runs(where: {status: {eq: PENDING}}) { nodes { id name } } }")
    assert data["runs"]["nodes"] == [
        {"id": gid("Run", ids[0]), "name": "run_0"},
        {"id": gid("Run", ids[2]), "name": "run_2"},
    ]
    assert statements.count == 1, statements.statements


async def test_runs_of_a_study_spec_hash_newest_first(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    wanted_hash, other_hash = "a" * 64, "b" * 64
    wanted, other = await _ids(
        session,
        m.Study,
        [
            {"name": "pincell", "spec": {"name": "pincell"}, "spec_hash": wanted_hash},
            {"name": "assembly", "spec": {"name": "assembly"}, "spec_hash": other_hash},
        ],
    )
    base = datetime(2025, 3, 1, 12, tzinfo=UTC)
    # inserted out of time order, so id order is not time order
    runs = [
        ("run_mid", wanted, base + timedelta(hours=2)),
        ("run_new", wanted, base + timedelta(hours=5)),
        ("run_other", other, base + timedelta(hours=9)),
        ("run_old", wanted, base),
        ("run_none", None, base + timedelta(hours=7)),
        ("run_newest", wanted, base + timedelta(days=1, microseconds=1)),
    ]
    await session.execute(
        insert(m.Run),
        [{"name": name, "study_id": study, "created_at": at} for name, study, at in runs],
    )
    statements.reset()
    data = await graphql.data(
        "query($hash: String) { runs(where: {study: {specHash: {eq: $hash}}}, "
        "orderBy: [{field: CREATED_AT, direction: DESC}]) { nodes { name createdAt } } }",
        hash=wanted_hash,
    )
    nodes = data["runs"]["nodes"]
    assert [run["name"] for run in nodes] == ["run_newest", "run_new", "run_mid", "run_old"]
    assert datetime.fromisoformat(nodes[0]["createdAt"]) == base + timedelta(days=1, microseconds=1)
    assert statements.count == 1, statements.statements


async def test_the_last_50_events_of_a_run(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    run, other = await _ids(session, m.Run, [{"name": "run_xyz789"}, {"name": "run_other"}])
    rows = []
    for i in range(60):
        rows.append(
            {"subject_type": "Run", "subject_id": run, "type": f"e{i}", "payload": {"i": i}}
        )
        # interleaved: events of another run, and of another type with the same id
        rows.append({"subject_type": "Run", "subject_id": other, "type": "x", "payload": {}})
        rows.append({"subject_type": "Job", "subject_id": run, "type": "x", "payload": {}})
    await _ids(session, m.Event, rows)

    statements.reset()
    data = await graphql.data(
        '{ runs(where: {name: {eq: "run_xyz789"}}) { nodes { events(last: 50) '
        "{ pageInfo { hasPreviousPage hasNextPage } nodes { sequence type payload } } } } }"
    )
    (node,) = data["runs"]["nodes"]
    events = node["events"]
    assert [e["type"] for e in events["nodes"]] == [f"e{i}" for i in range(10, 60)]
    assert [e["payload"] for e in events["nodes"]] == [{"i": i} for i in range(10, 60)]
    sequences = [e["sequence"] for e in events["nodes"]]
    assert sequences == sorted(sequences)
    assert events["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
    # runs page, events page
    assert statements.count == read_statements(2), statements.statements

    statements.reset()
    data = await graphql.data(
        "query($run: ID) { events(where: {subject: {eq: $run}}, last: 50) { nodes { type } } }",
        run=gid("Run", run),
    )
    assert [e["type"] for e in data["events"]["nodes"]] == [f"e{i}" for i in range(10, 60)]
    assert statements.count == 1, statements.statements


# --- seed 003: studies, participants, recordings ---------------------------------------------


async def _recordings(session: AsyncSession) -> dict[tuple[str, int, str, str], int]:
    """Two studies with a participant 1011 each, and AOA's 1012; each with walks on both
    knees and a sit-to-stand. Returns recording ids by (study, participant, maneuver, knee)."""
    aoa, pre_oa = await _ids(session, m.Study, [{"name": "AOA"}, {"name": "preOA"}])
    people = [("AOA", aoa, 1011), ("AOA", aoa, 1012), ("preOA", pre_oa, 1011)]
    participant_ids = await _ids(
        session,
        m.Participant,
        [{"study_id": study_id, "number": number} for _, study_id, number in people],
    )
    keys: list[tuple[str, int, str, str]] = []
    rows: list[dict[str, Any]] = []
    for (study, _, number), participant in zip(people, participant_ids, strict=True):
        for maneuver, knee, pass_number in [
            (m.Maneuver.WALK, m.Knee.LEFT, 1),
            (m.Maneuver.SIT_TO_STAND, m.Knee.LEFT, None),
            (m.Maneuver.WALK, m.Knee.RIGHT, 2),
        ]:
            keys.append((study, number, maneuver.value, knee.value))
            rows.append(
                {
                    "participant_id": participant,
                    "kind": m.RecordingKind.AUDIO,
                    "maneuver": maneuver,
                    "knee": knee,
                    "pass_number": pass_number,
                }
            )
    ids = await _ids(session, m.Recording, rows)
    return dict(zip(keys, ids, strict=True))


async def test_recordings_of_a_study_participant_and_maneuver(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    recordings = await _recordings(session)
    statements.reset()
    data = await graphql.data(
        "{ recordings(where: {maneuver: {eq: WALK}, participant: {number: {eq: 1011}, "
        'study: {name: {eq: "AOA"}}}}) { nodes { id maneuver knee passNumber } } }'
    )
    assert data["recordings"]["nodes"] == [
        {
            "id": gid("Recording", recordings[("AOA", 1011, "WALK", "LEFT")]),
            "maneuver": "WALK",
            "knee": "LEFT",
            "passNumber": 1,
        },
        {
            "id": gid("Recording", recordings[("AOA", 1011, "WALK", "RIGHT")]),
            "maneuver": "WALK",
            "knee": "RIGHT",
            "passNumber": 2,
        },
    ]
    assert statements.count == 1, statements.statements


async def test_recordings_of_a_study_participant_and_maneuver_through_the_tree(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    recordings = await _recordings(session)
    statements.reset()
    data = await graphql.data(
        '{ studies(where: {name: {eq: "AOA"}}) { nodes { name '
        "participants(where: {number: {eq: 1011}}) { nodes { number "
        "recordings(where: {maneuver: {eq: WALK}}) { nodes { id knee } } } } } } }"
    )
    assert data["studies"]["nodes"] == [
        {
            "name": "AOA",
            "participants": {
                "nodes": [
                    {
                        "number": 1011,
                        "recordings": {
                            "nodes": [
                                {
                                    "id": gid("Recording", recordings[("AOA", 1011, "WALK", k)]),
                                    "knee": k,
                                }
                                for k in ("LEFT", "RIGHT")
                            ]
                        },
                    }
                ]
            },
        }
    ]
    # studies page, participants page, recordings page
    assert statements.count == read_statements(3), statements.statements


# --- seed 001: a project's job tree ----------------------------------------------------------


async def _job_tree(session: AsyncSession) -> int:
    """Project P's jobs, inserted out of number order; and project Q with a job 1."""
    project, other = await _ids(session, m.Project, [{"name": "P"}, {"name": "Q"}])
    ids: dict[str, int] = {}
    tree = [
        ("10", "refmac", m.Status.FAILED),
        ("1", "ctruncate", m.Status.SUCCEEDED),
        ("2", "refmac", m.Status.FAILED),
        ("1.2", "refmac", m.Status.SUCCEEDED),
        ("1.10", "refmac", m.Status.FAILED),
        ("1.1", "copycell", m.Status.SUCCEEDED),
        ("10.1", "refmac", m.Status.PENDING),
        ("1.1.2", "refmac", m.Status.FAILED),
        ("1.1.1", "ctruncate", m.Status.SUCCEEDED),
    ]
    for number, task, status in tree:
        parent = number.rpartition(".")[0]
        job = m.Job(
            project_id=project,
            parent_id=ids[parent] if parent else None,
            number=number,
            task_name=task,
            status=status,
        )
        session.add(job)
        await session.flush()
        ids[number] = job.id
    session.add(m.Job(project_id=other, number="1", task_name="refmac", status=m.Status.FAILED))
    await session.flush()
    return project


def _numbers(jobs: dict[str, Any]) -> list[Any]:
    """A job list as [number, [children...]] pairs, or bare numbers for leaves."""
    tree: list[Any] = []
    for job in jobs["nodes"]:
        if "children" in job and job["children"]["nodes"]:
            tree.append([job["number"], _numbers(job["children"])])
        else:
            tree.append(job["number"])
    return tree


async def test_a_projects_job_tree_in_dotted_number_order(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    await _job_tree(session)
    statements.reset()
    data = await graphql.data(
        '{ projects(where: {name: {eq: "P"}}) { nodes { name jobs { nodes { number '
        "children { nodes { number children { nodes { number } } } } } } } } }"
    )
    (project,) = data["projects"]["nodes"]
    assert _numbers(project["jobs"]) == [
        ["1", [["1.1", ["1.1.1", "1.1.2"]], "1.2", "1.10"]],
        "2",
        ["10", ["10.1"]],
    ]
    # projects page, top-level jobs page, children pages at depth 2, at depth 3
    assert statements.count == read_statements(4), statements.statements


async def test_a_projects_jobs_page_through_dotted_numbers(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    await _job_tree(session)
    query = (
        'query($after: String) { jobs(where: {project: {name: {eq: "P"}}}, '
        "orderBy: [{field: NUMBER}], first: 2, after: $after) "
        "{ nodes { number } pageInfo { hasNextPage endCursor } } }"
    )
    numbers: list[str] = []
    after = None
    statements.reset()
    for _ in range(10):
        page = (await graphql.data(query, after=after))["jobs"]
        numbers += [job["number"] for job in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert numbers == ["1", "1.1", "1.1.1", "1.1.2", "1.2", "1.10", "2", "10", "10.1"]
    assert statements.count == 5, statements.statements


async def test_jobs_by_status_and_task_name(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    project = await _job_tree(session)
    query = (
        "query($where: JobWhere) { jobs(where: $where, orderBy: [{field: NUMBER}]) "
        "{ nodes { number project { name } } } }"
    )
    statements.reset()
    data = await graphql.data(
        query,
        where={
            "status": {"eq": "FAILED"},
            "taskName": {"eq": "refmac"},
            "project": {"id": {"eq": gid("Project", project)}},
        },
    )
    assert data["jobs"]["nodes"] == [
        {"number": n, "project": {"name": "P"}} for n in ["1.1.2", "1.10", "2", "10"]
    ]
    # jobs page, projects by id
    assert statements.count == read_statements(2), statements.statements

    # across projects: Q's job 1 is a failed refmac too
    data = await graphql.data(
        query, where={"status": {"eq": "FAILED"}, "taskName": {"eq": "refmac"}}
    )
    assert [(j["project"]["name"], j["number"]) for j in data["jobs"]["nodes"]] == [
        ("Q", "1"),
        ("P", "1.1.2"),
        ("P", "1.10"),
        ("P", "2"),
        ("P", "10"),
    ]

    data = await graphql.data(
        query, where={"status": {"in": ["SUCCEEDED", "PENDING"]}, "taskName": {"eq": "refmac"}}
    )
    assert [j["number"] for j in data["jobs"]["nodes"]] == ["1.2", "10.1"]
