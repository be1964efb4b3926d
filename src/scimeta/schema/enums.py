"""GraphQL enums, the same Python enums the ORM stores."""

import strawberry

from scimeta import models

Status = strawberry.enum(
    models.Status, description="The lifecycle of jobs, runs, calculations and batches."
)
AuditStatus = strawberry.enum(models.AuditStatus, description="The audit result of a chunk.")
RunPhase = strawberry.enum(models.RunPhase, description="The phase a run is in.")
RecordingKind = strawberry.enum(models.RecordingKind, description="What a recording holds.")
Maneuver = strawberry.enum(models.Maneuver, description="The movement a participant performed.")
Knee = strawberry.enum(models.Knee, description="Which knee a recording is of.")
FileRole = strawberry.enum(models.FileRole, description="Whether a job reads or writes a file.")
