"""Every uniqueness rule of the domain is a database constraint, and so are the checks
that keep rows consistent."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from scimeta import models as m


async def _insert(session: AsyncSession, model: type[m.Base], **values: Any) -> int:
    result = await session.execute(insert(model).values(**values).returning(model.__table__.c[0]))
    return int(result.scalar_one())


async def _refused(
    session: AsyncSession, model: type[m.Base], constraint: str, **values: Any
) -> None:
    """Inserting `values` fails on `constraint`; only its savepoint is rolled back."""
    with pytest.raises(IntegrityError) as raised:
        async with session.begin_nested():
            await _insert(session, model, **values)
    assert constraint in str(raised.value)


@pytest.fixture
async def study(session: AsyncSession) -> int:
    return await _insert(session, m.Study, name="AOA")


@pytest.fixture
async def participant(session: AsyncSession, study: int) -> int:
    return await _insert(session, m.Participant, study_id=study, number=1011)


@pytest.fixture
async def project(session: AsyncSession) -> int:
    return await _insert(session, m.Project, name="lysozyme")


@pytest.fixture
async def run(session: AsyncSession) -> int:
    return await _insert(session, m.Run, name="run_xyz789")


@pytest.fixture
async def trajectory(session: AsyncSession, run: int) -> int:
    return await _insert(session, m.Trajectory, run_id=run, index=0, target_length=100)


async def test_study_name_is_unique(session: AsyncSession, study: int) -> None:
    await _refused(session, m.Study, "uq_studies_name", name="AOA")


async def test_study_spec_hash_is_unique(session: AsyncSession) -> None:
    spec = {"name": "pincell"}
    digest = hashlib.sha256(b'{"name":"pincell"}').hexdigest()
    await _insert(session, m.Study, name="pincell-a", spec=spec, spec_hash=digest)
    await _refused(
        session, m.Study, "uq_studies_spec_hash", name="pincell-b", spec=spec, spec_hash=digest
    )


async def test_participant_number_is_unique_within_its_study(
    session: AsyncSession, study: int, participant: int
) -> None:
    await _refused(
        session, m.Participant, "uq_participants_study_id_number", study_id=study, number=1011
    )
    other_study = await _insert(session, m.Study, name="preOA")
    await _insert(session, m.Participant, study_id=other_study, number=1011)


@pytest.mark.parametrize("pass_number", [1, None])
async def test_recording_key_is_unique_also_without_pass_number(
    session: AsyncSession, participant: int, pass_number: int | None
) -> None:
    maneuver = m.Maneuver.WALK if pass_number else m.Maneuver.SIT_TO_STAND
    key = {
        "participant_id": participant,
        "kind": m.RecordingKind.AUDIO,
        "maneuver": maneuver,
        "knee": m.Knee.LEFT,
        "pass_number": pass_number,
    }
    await _insert(session, m.Recording, **key)
    await _refused(
        session, m.Recording, "uq_recordings_participant_id_kind_maneuver_knee_pass_number", **key
    )


async def test_project_name_is_unique(session: AsyncSession, project: int) -> None:
    await _refused(session, m.Project, "uq_projects_name", name="lysozyme")


async def test_job_number_is_unique_within_its_project(session: AsyncSession, project: int) -> None:
    job = {"project_id": project, "number": "1", "task_name": "ctruncate"}
    await _insert(session, m.Job, **job)
    await _refused(session, m.Job, "uq_jobs_project_id_number", **job)


async def test_job_number_must_be_dotted(session: AsyncSession, project: int) -> None:
    await _refused(
        session, m.Job, "ck_jobs_number_is_dotted", project_id=project, number="1.0", task_name="x"
    )


async def test_parent_job_must_be_in_the_same_project(session: AsyncSession, project: int) -> None:
    parent = await _insert(session, m.Job, project_id=project, number="1", task_name="copycell")
    other = await _insert(session, m.Project, name="insulin")
    await _refused(
        session,
        m.Job,
        "fk_jobs_parent_id_project_id_jobs",
        project_id=other,
        parent_id=parent,
        number="1.1",
        task_name="refmac",
    )


async def test_importing_the_same_checksum_into_a_project_twice_is_refused(
    session: AsyncSession, project: int
) -> None:
    imported = {
        "project_id": project,
        "path": "/data/CCP4_IMPORTED_FILES/hkl.mtz",
        "name": "hkl.mtz",
        "checksum": "ab" * 32,
        "imported_from": "/home/me/hkl.mtz",
    }
    await _insert(session, m.File, **imported)
    await _refused(
        session,
        m.File,
        "uq_files_project_id_imported_checksum",
        **{**imported, "path": "/data/CCP4_IMPORTED_FILES/hkl_1.mtz"},
    )
    # The same content produced by a job (not imported) is fine.
    await _insert(session, m.File, **{**imported, "imported_from": None})


async def test_run_name_is_unique(session: AsyncSession, run: int) -> None:
    await _refused(session, m.Run, "uq_runs_name", name="run_xyz789")


async def test_run_lease_is_all_or_nothing(session: AsyncSession) -> None:
    await _refused(session, m.Run, "ck_runs_lease_is_complete", name="r", claimed_by="worker-01")


async def test_trajectory_index_is_unique_within_its_run(
    session: AsyncSession, run: int, trajectory: int
) -> None:
    await _refused(
        session,
        m.Trajectory,
        "uq_trajectories_run_id_index",
        run_id=run,
        index=0,
        target_length=5,
    )


async def test_chunk_attempt_is_unique(session: AsyncSession, run: int, trajectory: int) -> None:
    chunk = {"run_id": run, "trajectory_id": trajectory, "index": 3, "attempt": 1}
    await _insert(session, m.Chunk, **chunk)
    await _refused(session, m.Chunk, "uq_chunks_trajectory_id_index_attempt", **chunk)


async def test_chunk_run_must_be_its_trajectorys_run(
    session: AsyncSession, trajectory: int
) -> None:
    other_run = await _insert(session, m.Run, name="other")
    await _refused(
        session,
        m.Chunk,
        "fk_chunks_trajectory_id_run_id_trajectories",
        run_id=other_run,
        trajectory_id=trajectory,
        index=0,
        attempt=1,
    )


async def test_molecule_smiles_is_unique(session: AsyncSession) -> None:
    await _insert(session, m.Molecule, smiles="CCO")
    await _refused(session, m.Molecule, "uq_molecules_smiles", smiles="CCO")


async def test_metric_key_name_is_unique_and_one_value_per_owner(
    session: AsyncSession, run: int
) -> None:
    key = await _insert(session, m.MetricKey, name="keff")
    await _refused(session, m.MetricKey, "uq_metric_keys_name", name="keff")
    await _insert(session, m.Metric, key_id=key, run_id=run, value=1.0234)
    await _refused(session, m.Metric, "uq_metrics_run_id_key_id", key_id=key, run_id=run, value=1)


async def test_metric_has_exactly_one_owner(session: AsyncSession, run: int) -> None:
    key = await _insert(session, m.MetricKey, name="keff")
    await _refused(session, m.Metric, "ck_metrics_exactly_one_owner", key_id=key, value=1.0)


async def test_batch_holds_a_molecule_once(session: AsyncSession) -> None:
    molecule = await _insert(session, m.Molecule, smiles="C")
    batch = await _insert(session, m.Batch, name="screen")
    await _insert(session, m.BatchItem, batch_id=batch, molecule_id=molecule)
    await _refused(
        session,
        m.BatchItem,
        "uq_batch_items_batch_id_molecule_id",
        batch_id=batch,
        molecule_id=molecule,
    )


@pytest.mark.parametrize(
    "statement",
    ["UPDATE events SET type = 'rewritten'", "DELETE FROM events", "TRUNCATE events"],
)
async def test_events_are_append_only(session: AsyncSession, statement: str) -> None:
    await _insert(session, m.Event, subject_type="Run", subject_id=1, type="claimed")
    with pytest.raises(DBAPIError, match="events are append-only"):
        async with session.begin_nested():
            await session.execute(text(statement))
    count = await session.execute(text("SELECT count(*) FROM events"))
    assert count.scalar_one() == 1
