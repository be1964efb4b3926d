"""Enumerations shared by the ORM and the GraphQL schema."""

from __future__ import annotations

import enum


class Status(enum.Enum):
    """One lifecycle for jobs, runs, calculations, batches and batch items."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class EventLevel(enum.Enum):
    """How much an event matters, as the logging module grades it."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class AuditStatus(enum.Enum):
    PENDING = "PENDING"
    PASSED = "PASSED"
    FAILED = "FAILED"


class RunPhase(enum.Enum):
    BUNDLE = "BUNDLE"
    EXECUTE = "EXECUTE"
    EXTRACT = "EXTRACT"
    DONE = "DONE"


class RecordingKind(enum.Enum):
    AUDIO = "AUDIO"
    BIOMECHANICS = "BIOMECHANICS"
    SYNCHRONIZATION = "SYNCHRONIZATION"
    MOVEMENT_CYCLES = "MOVEMENT_CYCLES"


class Maneuver(enum.Enum):
    WALK = "WALK"
    SIT_TO_STAND = "SIT_TO_STAND"
    FLEXION_EXTENSION = "FLEXION_EXTENSION"


class Knee(enum.Enum):
    LEFT = "LEFT"
    RIGHT = "RIGHT"


class FileRole(enum.Enum):
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class Role(enum.Enum):
    """What an API token may do in the project or study it is granted on."""

    VIEWER = "VIEWER"  # read
    CONTRIBUTOR = "CONTRIBUTOR"  # read and write
    ADMIN = "ADMIN"  # also manage tokens and delete
    RUNNER = "RUNNER"  # claim, renew and release runs and write their results
