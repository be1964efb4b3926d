"""Counts, statistics and groups over whole lists, each in one statement per list."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models as m
from tests.conftest import GraphQLClient, StatementCounter, read_statements


async def _runs_with_trajectories(session: AsyncSession, runs: int) -> list[m.Run]:
    """Runs with 2 trajectories each; trajectory t of run r has chunk attempts whose audit
    results are PASSED for chunk 0, FAILED then PASSED for chunk 1, PENDING for chunk 2."""
    created = [m.Run(name=f"agg-run-{r}", status=m.Status.PENDING) for r in range(runs)]
    session.add_all(created)
    await session.flush()
    for run in created:
        for t in range(2):
            trajectory = m.Trajectory(run_id=run.id, index=t, target_length=30)
            session.add(trajectory)
            await session.flush()
            attempts = [
                (0, 1, m.AuditStatus.PASSED),
                (1, 1, m.AuditStatus.FAILED),
                (1, 2, m.AuditStatus.PASSED),
                (2, 1, m.AuditStatus.PENDING),
            ]
            session.add_all(
                m.Chunk(
                    run_id=run.id,
                    trajectory_id=trajectory.id,
                    index=index,
                    attempt=attempt,
                    audit_status=audit,
                    frame_count=10 * (index + 1),
                )
                for index, attempt, audit in attempts
            )
    await session.flush()
    return created


async def test_runs_counted_by_status(session: AsyncSession, graphql: GraphQLClient) -> None:
    statuses = [m.Status.PENDING] * 3 + [m.Status.RUNNING] * 2 + [m.Status.FAILED]
    session.add_all(m.Run(name=f"count-{i}", status=s) for i, s in enumerate(statuses))
    await session.flush()
    data = await graphql.data(
        '{ runs(where: {name: {ilike: "count-%"}}) { totalCount '
        "groups(by: [STATUS]) { key { status phase } count } } }"
    )
    groups = data["runs"]["groups"]
    assert groups == [
        {"key": {"status": "FAILED", "phase": None}, "count": 1},
        {"key": {"status": "PENDING", "phase": None}, "count": 3},
        {"key": {"status": "RUNNING", "phase": None}, "count": 2},
    ]
    assert data["runs"]["totalCount"] == 6


async def test_calculation_statistics_with_and_without_groups(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    molecule = m.Molecule(smiles="C", formula="CH4")
    session.add(molecule)
    await session.flush()
    energies = [-4.0, -2.0, -1.0, None]
    gaps = [0.5, 0.1, 0.9, 0.3]
    methods = ["GFN2-xTB", "GFN2-xTB", "GFN1-xTB", "GFN1-xTB"]
    session.add_all(
        m.Calculation(molecule_id=molecule.id, method=method, energy=e, gap=g)
        for method, e, g in zip(methods, energies, gaps, strict=True)
    )
    await session.flush()
    statements.reset()
    data = await graphql.data(
        """query($smiles: String!) {
          calculations(where: {molecule: {smiles: {eq: $smiles}}}) {
            aggregate { count energy { min max avg sum median count } gap { median } }
            groups(by: [METHOD]) { key { method molecule { smiles } } count energy { avg } }
          }
        }""",
        smiles="C",
    )
    # the aggregate and the groups; not grouped by molecule, so no molecule is read
    assert statements.count == read_statements(2), statements.statements
    aggregate = data["calculations"]["aggregate"]
    present = [e for e in energies if e is not None]
    assert aggregate["count"] == 4
    assert aggregate["energy"] == {
        "min": -4.0,
        "max": -1.0,
        "avg": statistics.mean(present),
        "sum": sum(present),
        "median": statistics.median(present),
        "count": 3,
    }
    assert aggregate["gap"] == {"median": statistics.median(gaps)}
    assert data["calculations"]["groups"] == [
        {"key": {"method": "GFN1-xTB", "molecule": None}, "count": 2, "energy": {"avg": -1.0}},
        {"key": {"method": "GFN2-xTB", "molecule": None}, "count": 2, "energy": {"avg": -3.0}},
    ]


async def test_empty_list_aggregates_to_zero_count(graphql: GraphQLClient) -> None:
    data = await graphql.data(
        '{ calculations(where: {method: {eq: "none-such"}}) '
        "{ aggregate { count energy { avg count } } } }"
    )
    assert data["calculations"]["aggregate"] == {"count": 0, "energy": {"avg": None, "count": 0}}


NESTED_GROUPS = """
query($prefix: String!) {
  runs(where: {name: {ilike: $prefix}}) { nodes {
    name
    trajectories { nodes {
      index
      chunksCompleted
      chunks { totalCount groups(by: [AUDIT_STATUS]) { key { auditStatus } count
        frameCount { sum } } }
    } }
  } }
}
"""


async def test_nested_groups_are_per_parent_in_one_statement_per_level(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    for runs in (1, 3):
        await _runs_with_trajectories(session, runs)
        statements.reset()
        data = await graphql.data(NESTED_GROUPS, prefix="agg-run-%")
        # runs, trajectories, passed chunk indexes, chunk counts, chunk groups
        assert statements.count == read_statements(5), statements.statements
        for run in data["runs"]["nodes"]:
            for trajectory in run["trajectories"]["nodes"]:
                assert trajectory["chunksCompleted"] == [0, 1]
                chunks = trajectory["chunks"]
                assert chunks["totalCount"] == 4
                assert chunks["groups"] == [
                    {"key": {"auditStatus": "FAILED"}, "count": 1, "frameCount": {"sum": 20}},
                    {"key": {"auditStatus": "PASSED"}, "count": 2, "frameCount": {"sum": 30}},
                    {"key": {"auditStatus": "PENDING"}, "count": 1, "frameCount": {"sum": 30}},
                ]
        await session.rollback()


async def test_batch_progress(session: AsyncSession, graphql: GraphQLClient) -> None:
    batch = m.Batch(name="progress", method="GFN2-xTB")
    molecules = [m.Molecule(smiles=s) for s in ("C", "CC", "CCC", "CCCC")]
    session.add_all([batch, *molecules])
    await session.flush()
    statuses = [m.Status.SUCCEEDED, m.Status.SUCCEEDED, m.Status.FAILED, m.Status.PENDING]
    session.add_all(
        m.BatchItem(batch_id=batch.id, molecule_id=molecule.id, status=status)
        for molecule, status in zip(molecules, statuses, strict=True)
    )
    await session.flush()
    data = await graphql.data(
        '{ batches(where: {name: {eq: "progress"}}) { nodes { progress { total pending '
        "running succeeded failed cancelled fractionDone } } } }"
    )
    (node,) = data["batches"]["nodes"]
    assert node["progress"] == {
        "total": 4,
        "pending": 1,
        "running": 0,
        "succeeded": 2,
        "failed": 1,
        "cancelled": 0,
        "fractionDone": 0.75,
    }


async def test_chemistry_statistics(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    before = (await graphql.data("{ chemistryStatistics { molecules calculations } }"))[
        "chemistryStatistics"
    ]
    molecule = m.Molecule(smiles="O")
    session.add(molecule)
    await session.flush()
    rows = [
        (m.Status.SUCCEEDED, -5.0, 0.2, datetime(2026, 3, 1, tzinfo=UTC)),
        (m.Status.SUCCEEDED, -3.0, 0.6, datetime(2026, 3, 2, tzinfo=UTC)),
        (m.Status.SUCCEEDED, -1.0, 0.4, datetime(2026, 3, 4, tzinfo=UTC)),
        (m.Status.FAILED, None, None, datetime(2026, 3, 3, tzinfo=UTC)),
    ]
    session.add_all(
        m.Calculation(
            molecule_id=molecule.id,
            method="stats-method",
            status=status,
            energy=energy,
            gap=gap,
            created_at=at,
        )
        for status, energy, gap, at in rows
    )
    await session.flush()
    statements.reset()
    data = await graphql.data(
        "{ all: chemistryStatistics { molecules calculations } "
        'some: chemistryStatistics(where: {method: {eq: "stats-method"}}) { calculations '
        "succeeded failed averageEnergy medianGap successRate latestCalculationAt } }"
    )
    assert statements.count == read_statements(2)
    assert data["all"]["molecules"] == before["molecules"] + 1
    assert data["all"]["calculations"] == before["calculations"] + 4
    assert data["some"] == {
        "calculations": 4,
        "succeeded": 3,
        "failed": 1,
        "averageEnergy": -3.0,
        "medianGap": 0.4,
        "successRate": 0.75,
        "latestCalculationAt": "2026-03-04T00:00:00+00:00",
    }


async def test_metrics_averaged_per_key(session: AsyncSession, graphql: GraphQLClient) -> None:
    keff = m.MetricKey(name="agg-keff", unit="1")
    runs = [m.Run(name=f"metric-run-{i}") for i in range(3)]
    session.add_all([keff, *runs])
    await session.flush()
    session.add_all(
        m.Metric(key_id=keff.id, run_id=run.id, value=1.0 + i / 10) for i, run in enumerate(runs)
    )
    await session.flush()
    data = await graphql.data(
        '{ metrics(where: {key: {name: {eq: "agg-keff"}}}) { groups(by: [KEY]) '
        "{ key { key { name unit } } count value { avg min max } } } }"
    )
    (group,) = data["metrics"]["groups"]
    assert group["key"] == {"key": {"name": "agg-keff", "unit": "1"}}
    assert group["count"] == 3
    assert group["value"]["min"] == 1.0
    assert group["value"]["max"] == 1.2
    assert abs(group["value"]["avg"] - 1.1) < 1e-9


async def test_measures_selected_through_fragments_are_computed(
    session: AsyncSession, graphql: GraphQLClient, statements: StatementCounter
) -> None:
    session.add_all(
        m.Run(name=f"fragment-{i}", status=m.Status.FAILED, attempt=i) for i in range(1, 4)
    )
    await session.flush()
    statements.reset()
    data = await graphql.data(
        """query {
          runs(where: {name: {ilike: "fragment-%"}}) { ...Stats }
        }
        fragment Stats on RunConnection {
          groups(by: [STATUS]) { ... on RunGroup { count attempt { ...Range } } }
        }
        fragment Range on NumberStats { min max }
        """
    )
    assert data["runs"]["groups"] == [{"count": 3, "attempt": {"min": 1.0, "max": 3.0}}]
    # no page of runs is read: only the groups are selected
    assert statements.count == 1, statements.statements
