"""GraphQL enums: the same Python enums the ORM stores, registered with strawberry."""

from typing import TypeAlias

import strawberry

from scimeta import models

Status: TypeAlias = models.Status
AuditStatus: TypeAlias = models.AuditStatus
RunPhase: TypeAlias = models.RunPhase
RecordingKind: TypeAlias = models.RecordingKind
Maneuver: TypeAlias = models.Maneuver
Knee: TypeAlias = models.Knee
FileRole: TypeAlias = models.FileRole
EventLevel: TypeAlias = models.EventLevel

strawberry.enum(Status, description="The lifecycle of jobs, runs, calculations and batches.")
strawberry.enum(AuditStatus, description="The audit result of a chunk.")
strawberry.enum(RunPhase, description="The phase a run is in.")
strawberry.enum(RecordingKind, description="What a recording holds.")
strawberry.enum(Maneuver, description="The movement a participant performed.")
strawberry.enum(Knee, description="Which knee a recording is of.")
strawberry.enum(FileRole, description="Whether a job reads or writes a file.")
strawberry.enum(EventLevel, description="How much an event matters, DEBUG to CRITICAL.")

Role: TypeAlias = models.Role
strawberry.enum(
    Role,
    description="What an API token may do where it is granted: VIEWER reads; RUNNER also "
    "claims runs and records their results; CONTRIBUTOR also writes; ADMIN also deletes and "
    "manages tokens.",
)
