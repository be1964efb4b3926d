"""The unified schema: shared core, studies, projects and jobs, runs, chemistry.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit log is append-only: the database itself refuses to change or remove an event.
EVENTS_APPEND_ONLY = (
    """
    CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'events are append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION events_refuse_change()
    """,
    """
    CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change()
    """,
)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("method", sa.String(length=64), server_default="GFN2-xTB", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "CANCELLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index(
        "ix_batches_status_created_at", "batches", ["status", "created_at"], unique=False
    )
    op.create_table(
        "events",
        sa.Column("sequence", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("subject_type", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_events")),
    )
    op.create_index("ix_events_at", "events", ["at"], unique=False)
    op.create_index(
        "ix_events_subject_sequence",
        "events",
        ["subject_type", "subject_id", "sequence"],
        unique=False,
    )
    op.create_index("ix_events_type_sequence", "events", ["type", "sequence"], unique=False)
    op.create_table(
        "metric_keys",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_metric_keys_name")),
    )
    op.create_table(
        "molecules",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("smiles", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("formula", sa.String(length=255), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_molecules")),
        sa.UniqueConstraint("smiles", name=op.f("uq_molecules_smiles")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("directory", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("last_job_number", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "last_job_number >= 0", name=op.f("ck_projects_last_job_number_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "studies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("spec_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "spec_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_studies_spec_hash_is_sha256")
        ),
        sa.CheckConstraint(
            "(spec IS NULL) = (spec_hash IS NULL)", name=op.f("ck_studies_spec_has_hash")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
        sa.UniqueConstraint("name", name=op.f("uq_studies_name")),
        sa.UniqueConstraint("spec_hash", name=op.f("uq_studies_spec_hash")),
    )
    op.create_table(
        "calculations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("molecule_id", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=64), server_default="GFN2-xTB", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "CANCELLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("energy", sa.Float(), nullable=True),
        sa.Column("gap", sa.Float(), nullable=True),
        sa.Column("dipole", sa.Float(), nullable=True),
        sa.Column("execution_seconds", sa.Float(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "dipole IS NULL OR dipole >= 0", name=op.f("ck_calculations_dipole_non_negative")
        ),
        sa.CheckConstraint(
            "execution_seconds IS NULL OR execution_seconds >= 0",
            name=op.f("ck_calculations_execution_seconds_non_negative"),
        ),
        sa.CheckConstraint(
            "gap IS NULL OR gap >= 0", name=op.f("ck_calculations_gap_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["molecule_id"],
            ["molecules.id"],
            name=op.f("fk_calculations_molecule_id_molecules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calculations")),
    )
    op.create_index("ix_calculations_energy", "calculations", ["energy"], unique=False)
    op.create_index("ix_calculations_finished_at", "calculations", ["finished_at"], unique=False)
    op.create_index("ix_calculations_gap", "calculations", ["gap"], unique=False)
    op.create_index(
        "ix_calculations_molecule_id_created_at",
        "calculations",
        ["molecule_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_calculations_status", "calculations", ["status"], unique=False)
    op.create_table(
        "files",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("mimetype", sa.String(length=255), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("checksum", sa.String(length=128), nullable=True),
        sa.Column(
            "checksum_algorithm", sa.String(length=32), server_default="sha256", nullable=True
        ),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("annotation", sa.Text(), nullable=True),
        sa.Column("content_flag", sa.Integer(), nullable=True),
        sa.Column("sub_type", sa.Integer(), nullable=True),
        sa.Column("imported_from", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "checksum IS NULL OR checksum_algorithm IS NOT NULL",
            name=op.f("ck_files_checksum_has_algorithm"),
        ),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_files_size_bytes_non_negative")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_files_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index("ix_files_checksum", "files", ["checksum"], unique=False)
    op.create_index(op.f("ix_files_project_id"), "files", ["project_id"], unique=False)
    op.create_index(
        "uq_files_project_id_imported_checksum",
        "files",
        ["project_id", "checksum_algorithm", "checksum"],
        unique=True,
        postgresql_where=sa.text("imported_from IS NOT NULL"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("number", sa.String(length=255), nullable=False),
        sa.Column(
            "number_path",
            postgresql.ARRAY(sa.Integer()),
            sa.Computed("string_to_array(number, '.')::integer[]", persisted=True),
            nullable=False,
        ),
        sa.Column("last_child_number", sa.Integer(), server_default="0", nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "CANCELLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "number ~ '^[1-9][0-9]*(\\.[1-9][0-9]*)*$'", name=op.f("ck_jobs_number_is_dotted")
        ),
        sa.CheckConstraint(
            "finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at",
            name=op.f("ck_jobs_finishes_after_start"),
        ),
        sa.CheckConstraint(
            "last_child_number >= 0", name=op.f("ck_jobs_last_child_number_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id", "project_id"],
            ["jobs.id", "jobs.project_id"],
            name="fk_jobs_parent_id_project_id_jobs",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_jobs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("id", "project_id", name=op.f("uq_jobs_id_project_id")),
        sa.UniqueConstraint("project_id", "number", name=op.f("uq_jobs_project_id_number")),
    )
    op.create_index(op.f("ix_jobs_parent_id"), "jobs", ["parent_id"], unique=False)
    op.create_index(
        "ix_jobs_project_id_number_path", "jobs", ["project_id", "number_path"], unique=False
    )
    op.create_index("ix_jobs_project_id_status", "jobs", ["project_id", "status"], unique=False)
    op.create_index("ix_jobs_task_name", "jobs", ["task_name"], unique=False)
    op.create_table(
        "participants",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("study_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("number >= 0", name=op.f("ck_participants_number_non_negative")),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_participants_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("study_id", "number", name=op.f("uq_participants_study_id_number")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("study_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "CANCELLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column(
            "phase",
            sa.Enum(
                "BUNDLE",
                "EXECUTE",
                "EXTRACT",
                "DONE",
                name="run_phase",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(claimed_by IS NULL) = (lease_token IS NULL)"
            " AND (lease_token IS NULL) = (lease_expires_at IS NULL)",
            name=op.f("ck_runs_lease_is_complete"),
        ),
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_runs_attempt_non_negative")),
        sa.CheckConstraint(
            "ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at",
            name=op.f("ck_runs_ends_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_runs_study_id_studies"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("name", name=op.f("uq_runs_name")),
    )
    op.create_index("ix_runs_lease_expires_at", "runs", ["lease_expires_at"], unique=False)
    op.create_index("ix_runs_phase_status", "runs", ["phase", "status"], unique=False)
    op.create_index("ix_runs_status_created_at", "runs", ["status", "created_at"], unique=False)
    op.create_index("ix_runs_study_id_created_at", "runs", ["study_id", "created_at"], unique=False)
    op.create_table(
        "agent_outputs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("agent", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=255), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("schema_version", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_agent_outputs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_outputs")),
    )
    op.create_index(
        "ix_agent_outputs_run_id_agent_kind",
        "agent_outputs",
        ["run_id", "agent", "kind", "created_at"],
        unique=False,
    )
    op.create_table(
        "atomic_properties",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("calculation_id", sa.BigInteger(), nullable=False),
        sa.Column("atom_index", sa.Integer(), nullable=False),
        sa.Column("element", sa.String(length=3), nullable=False),
        sa.Column("charge", sa.Float(), nullable=True),
        sa.Column(
            "values", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "atom_index >= 0", name=op.f("ck_atomic_properties_atom_index_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["calculation_id"],
            ["calculations.id"],
            name=op.f("fk_atomic_properties_calculation_id_calculations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_atomic_properties")),
        sa.UniqueConstraint(
            "calculation_id",
            "atom_index",
            name=op.f("uq_atomic_properties_calculation_id_atom_index"),
        ),
    )
    op.create_table(
        "batch_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("molecule_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "SUCCEEDED",
                "FAILED",
                "CANCELLED",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("calculation_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_batch_items_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["calculation_id"],
            ["calculations.id"],
            name=op.f("fk_batch_items_calculation_id_calculations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["molecule_id"],
            ["molecules.id"],
            name=op.f("fk_batch_items_molecule_id_molecules"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_items")),
        sa.UniqueConstraint(
            "batch_id", "molecule_id", name=op.f("uq_batch_items_batch_id_molecule_id")
        ),
    )
    op.create_index(
        "ix_batch_items_batch_id_status", "batch_items", ["batch_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_batch_items_calculation_id"), "batch_items", ["calculation_id"], unique=False
    )
    op.create_index(
        op.f("ix_batch_items_molecule_id"), "batch_items", ["molecule_id"], unique=False
    )
    op.create_table(
        "job_files",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "INPUT",
                "OUTPUT",
                name="file_role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("parameter_name", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_job_files_file_id_files"), ondelete="NO ACTION"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_files_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_files")),
        sa.UniqueConstraint(
            "job_id", "file_id", "role", name=op.f("uq_job_files_job_id_file_id_role")
        ),
    )
    op.create_index(op.f("ix_job_files_file_id"), "job_files", ["file_id"], unique=False)
    op.create_table(
        "recordings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "AUDIO",
                "BIOMECHANICS",
                "SYNCHRONIZATION",
                "MOVEMENT_CYCLES",
                name="recording_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "maneuver",
            sa.Enum(
                "WALK",
                "SIT_TO_STAND",
                "FLEXION_EXTENSION",
                name="maneuver",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "knee",
            sa.Enum(
                "LEFT", "RIGHT", name="knee", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("pass_number", sa.Integer(), nullable=True),
        sa.Column("speed", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device_serial", sa.String(length=128), nullable=True),
        sa.Column("firmware_version", sa.String(length=64), nullable=True),
        sa.Column("num_channels", sa.Integer(), nullable=True),
        sa.Column("qc_passed", sa.Boolean(), nullable=True),
        sa.Column(
            "qc_fail_segments",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "maneuver = 'WALK' OR (pass_number IS NULL AND speed IS NULL)",
            name=op.f("ck_recordings_pass_and_speed_only_for_walk"),
        ),
        sa.CheckConstraint(
            "num_channels IS NULL OR num_channels > 0",
            name=op.f("ck_recordings_num_channels_positive"),
        ),
        sa.CheckConstraint(
            "pass_number IS NULL OR pass_number >= 0",
            name=op.f("ck_recordings_pass_number_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_recordings_file_id_files"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_recordings_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint(
            "participant_id",
            "kind",
            "maneuver",
            "knee",
            "pass_number",
            name=op.f("uq_recordings_participant_id_kind_maneuver_knee_pass_number"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index(op.f("ix_recordings_file_id"), "recordings", ["file_id"], unique=False)
    op.create_index("ix_recordings_maneuver_knee", "recordings", ["maneuver", "knee"], unique=False)
    op.create_index("ix_recordings_recorded_at", "recordings", ["recorded_at"], unique=False)
    op.create_table(
        "run_artifacts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_run_artifacts_file_id_files"),
            ondelete="NO ACTION",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_artifacts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_artifacts")),
        sa.UniqueConstraint("run_id", "file_id", name=op.f("uq_run_artifacts_run_id_file_id")),
    )
    op.create_index(op.f("ix_run_artifacts_file_id"), "run_artifacts", ["file_id"], unique=False)
    op.create_table(
        "trajectories",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("target_length", sa.Integer(), nullable=False),
        sa.Column("init_atoms", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("index >= 0", name=op.f("ck_trajectories_index_non_negative")),
        sa.CheckConstraint(
            "target_length >= 0", name=op.f("ck_trajectories_target_length_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_trajectories_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trajectories")),
        sa.UniqueConstraint("id", "run_id", name=op.f("uq_trajectories_id_run_id")),
        sa.UniqueConstraint("run_id", "index", name=op.f("uq_trajectories_run_id_index")),
    )
    op.create_table(
        "chunks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("trajectory_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=255), nullable=True),
        sa.Column(
            "audit_status",
            sa.Enum(
                "PENDING",
                "PASSED",
                "FAILED",
                name="audit_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="PENDING",
            nullable=False,
        ),
        sa.Column("frame_count", sa.Integer(), nullable=True),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("attempt >= 1", name=op.f("ck_chunks_attempt_positive")),
        sa.CheckConstraint(
            "frame_count IS NULL OR frame_count >= 0",
            name=op.f("ck_chunks_frame_count_non_negative"),
        ),
        sa.CheckConstraint("index >= 0", name=op.f("ck_chunks_index_non_negative")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_chunks_file_id_files"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["trajectory_id", "run_id"],
            ["trajectories.id", "trajectories.run_id"],
            name="fk_chunks_trajectory_id_run_id_trajectories",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunks")),
        sa.UniqueConstraint(
            "trajectory_id", "index", "attempt", name=op.f("uq_chunks_trajectory_id_index_attempt")
        ),
    )
    op.create_index(op.f("ix_chunks_file_id"), "chunks", ["file_id"], unique=False)
    op.create_index("ix_chunks_model_version", "chunks", ["model_version"], unique=False)
    op.create_index(
        "ix_chunks_run_id_audit_status", "chunks", ["run_id", "audit_status"], unique=False
    )
    op.create_index(
        "ix_chunks_trajectory_id_audit_status",
        "chunks",
        ["trajectory_id", "audit_status"],
        unique=False,
    )
    op.create_table(
        "movement_cycles",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("recording_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=False),
        sa.Column("end_seconds", sa.Float(), nullable=False),
        sa.Column("qc_passed", sa.Boolean(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "end_seconds >= start_seconds", name=op.f("ck_movement_cycles_ends_after_start")
        ),
        sa.CheckConstraint("index >= 0", name=op.f("ck_movement_cycles_index_non_negative")),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_movement_cycles_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movement_cycles")),
        sa.UniqueConstraint(
            "recording_id", "index", name=op.f("uq_movement_cycles_recording_id_index")
        ),
    )
    op.create_table(
        "recording_channels",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("recording_id", sa.BigInteger(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("microphone_position", sa.String(length=32), nullable=True),
        sa.Column("qc_passed", sa.Boolean(), nullable=True),
        sa.Column(
            "artifact_types", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("signal_dropout", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("index >= 0", name=op.f("ck_recording_channels_index_non_negative")),
        sa.CheckConstraint(
            "signal_dropout IS NULL OR (signal_dropout >= 0 AND signal_dropout <= 1)",
            name=op.f("ck_recording_channels_signal_dropout_is_fraction"),
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_channels_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_channels")),
        sa.UniqueConstraint(
            "recording_id", "index", name=op.f("uq_recording_channels_recording_id_index")
        ),
    )
    op.create_table(
        "synchronizations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("audio_recording_id", sa.BigInteger(), nullable=False),
        sa.Column("biomechanics_recording_id", sa.BigInteger(), nullable=False),
        sa.Column("audio_sync_seconds", sa.Float(), nullable=True),
        sa.Column("biomechanics_sync_seconds", sa.Float(), nullable=True),
        sa.Column("offset_seconds", sa.Float(), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=True),
        sa.Column(
            "consensus",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("qc_passed", sa.Boolean(), nullable=True),
        sa.Column("qc_notes", sa.Text(), nullable=True),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["audio_recording_id"],
            ["recordings.id"],
            name=op.f("fk_synchronizations_audio_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["biomechanics_recording_id"],
            ["recordings.id"],
            name=op.f("fk_synchronizations_biomechanics_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_synchronizations_file_id_files"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synchronizations")),
        sa.UniqueConstraint(
            "audio_recording_id",
            "biomechanics_recording_id",
            name=op.f("uq_synchronizations_audio_recording_id_biomechanics_recording_id"),
        ),
    )
    op.create_index(
        op.f("ix_synchronizations_biomechanics_recording_id"),
        "synchronizations",
        ["biomechanics_recording_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_synchronizations_file_id"), "synchronizations", ["file_id"], unique=False
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("chunk_id", sa.BigInteger(), nullable=True),
        sa.Column("recording_id", sa.BigInteger(), nullable=True),
        sa.Column("calculation_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "num_nonnulls(job_id, run_id, chunk_id, recording_id, calculation_id) = 1",
            name=op.f("ck_metrics_exactly_one_owner"),
        ),
        sa.CheckConstraint(
            "value IS NOT NULL OR text IS NOT NULL", name=op.f("ck_metrics_has_value_or_text")
        ),
        sa.ForeignKeyConstraint(
            ["calculation_id"],
            ["calculations.id"],
            name=op.f("fk_metrics_calculation_id_calculations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["chunk_id"], ["chunks.id"], name=op.f("fk_metrics_chunk_id_chunks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_metrics_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["metric_keys.id"],
            name=op.f("fk_metrics_key_id_metric_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_metrics_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_metrics_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
    )
    op.create_index(op.f("ix_metrics_key_id"), "metrics", ["key_id"], unique=False)
    op.create_index(
        "uq_metrics_calculation_id_key_id",
        "metrics",
        ["calculation_id", "key_id"],
        unique=True,
        postgresql_where=sa.text("calculation_id IS NOT NULL"),
    )
    op.create_index(
        "uq_metrics_chunk_id_key_id",
        "metrics",
        ["chunk_id", "key_id"],
        unique=True,
        postgresql_where=sa.text("chunk_id IS NOT NULL"),
    )
    op.create_index(
        "uq_metrics_job_id_key_id",
        "metrics",
        ["job_id", "key_id"],
        unique=True,
        postgresql_where=sa.text("job_id IS NOT NULL"),
    )
    op.create_index(
        "uq_metrics_recording_id_key_id",
        "metrics",
        ["recording_id", "key_id"],
        unique=True,
        postgresql_where=sa.text("recording_id IS NOT NULL"),
    )
    op.create_index(
        "uq_metrics_run_id_key_id",
        "metrics",
        ["run_id", "key_id"],
        unique=True,
        postgresql_where=sa.text("run_id IS NOT NULL"),
    )
    for statement in EVENTS_APPEND_ONLY:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER events_no_truncate ON events")
    op.execute("DROP TRIGGER events_append_only ON events")
    op.execute("DROP FUNCTION events_refuse_change()")
    op.drop_index(
        "uq_metrics_run_id_key_id",
        table_name="metrics",
        postgresql_where=sa.text("run_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_metrics_recording_id_key_id",
        table_name="metrics",
        postgresql_where=sa.text("recording_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_metrics_job_id_key_id",
        table_name="metrics",
        postgresql_where=sa.text("job_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_metrics_chunk_id_key_id",
        table_name="metrics",
        postgresql_where=sa.text("chunk_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_metrics_calculation_id_key_id",
        table_name="metrics",
        postgresql_where=sa.text("calculation_id IS NOT NULL"),
    )
    op.drop_index(op.f("ix_metrics_key_id"), table_name="metrics")
    op.drop_table("metrics")
    op.drop_index(op.f("ix_synchronizations_file_id"), table_name="synchronizations")
    op.drop_index(
        op.f("ix_synchronizations_biomechanics_recording_id"), table_name="synchronizations"
    )
    op.drop_table("synchronizations")
    op.drop_table("recording_channels")
    op.drop_table("movement_cycles")
    op.drop_index("ix_chunks_trajectory_id_audit_status", table_name="chunks")
    op.drop_index("ix_chunks_run_id_audit_status", table_name="chunks")
    op.drop_index("ix_chunks_model_version", table_name="chunks")
    op.drop_index(op.f("ix_chunks_file_id"), table_name="chunks")
    op.drop_table("chunks")
    op.drop_table("trajectories")
    op.drop_index(op.f("ix_run_artifacts_file_id"), table_name="run_artifacts")
    op.drop_table("run_artifacts")
    op.drop_index("ix_recordings_recorded_at", table_name="recordings")
    op.drop_index("ix_recordings_maneuver_knee", table_name="recordings")
    op.drop_index(op.f("ix_recordings_file_id"), table_name="recordings")
    op.drop_table("recordings")
    op.drop_index(op.f("ix_job_files_file_id"), table_name="job_files")
    op.drop_table("job_files")
    op.drop_index(op.f("ix_batch_items_molecule_id"), table_name="batch_items")
    op.drop_index(op.f("ix_batch_items_calculation_id"), table_name="batch_items")
    op.drop_index("ix_batch_items_batch_id_status", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_table("atomic_properties")
    op.drop_index("ix_agent_outputs_run_id_agent_kind", table_name="agent_outputs")
    op.drop_table("agent_outputs")
    op.drop_index("ix_runs_study_id_created_at", table_name="runs")
    op.drop_index("ix_runs_status_created_at", table_name="runs")
    op.drop_index("ix_runs_phase_status", table_name="runs")
    op.drop_index("ix_runs_lease_expires_at", table_name="runs")
    op.drop_table("runs")
    op.drop_table("participants")
    op.drop_index("ix_jobs_task_name", table_name="jobs")
    op.drop_index("ix_jobs_project_id_status", table_name="jobs")
    op.drop_index("ix_jobs_project_id_number_path", table_name="jobs")
    op.drop_index(op.f("ix_jobs_parent_id"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_index(
        "uq_files_project_id_imported_checksum",
        table_name="files",
        postgresql_where=sa.text("imported_from IS NOT NULL"),
    )
    op.drop_index(op.f("ix_files_project_id"), table_name="files")
    op.drop_index("ix_files_checksum", table_name="files")
    op.drop_table("files")
    op.drop_index("ix_calculations_status", table_name="calculations")
    op.drop_index("ix_calculations_molecule_id_created_at", table_name="calculations")
    op.drop_index("ix_calculations_gap", table_name="calculations")
    op.drop_index("ix_calculations_finished_at", table_name="calculations")
    op.drop_index("ix_calculations_energy", table_name="calculations")
    op.drop_table("calculations")
    op.drop_table("studies")
    op.drop_table("projects")
    op.drop_table("molecules")
    op.drop_table("metric_keys")
    op.drop_index("ix_events_type_sequence", table_name="events")
    op.drop_index("ix_events_subject_sequence", table_name="events")
    op.drop_index("ix_events_at", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_batches_status_created_at", table_name="batches")
    op.drop_table("batches")
