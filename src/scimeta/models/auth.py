"""API tokens and what each may do.

A token's secret is shown once, when it is made; the database keeps only its SHA-256, so
a copy of the database lets nobody call the API. A token holds grants: a role on one
project, on one study, or on everything (neither given).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from scimeta.models.base import Entity, enum_column, reference
from scimeta.models.enums import Role


class ApiToken(Entity):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("expires_at IS NULL OR expires_at > created_at", name="expires_after"),
    )

    name: Mapped[str] = mapped_column(String(255))
    # hex SHA-256 of the secret: what a request's token is looked up by
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the secret's first characters, so that people can tell their tokens apart
    prefix: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class TokenGrant(Entity):
    __tablename__ = "token_grants"
    __table_args__ = (CheckConstraint("project_id IS NULL OR study_id IS NULL", name="one_scope"),)

    token_id: Mapped[int] = reference("api_tokens.id", ondelete="CASCADE")
    # neither: every project and study
    project_id: Mapped[int | None] = reference("projects.id", ondelete="CASCADE", nullable=True)
    study_id: Mapped[int | None] = reference("studies.id", ondelete="CASCADE", nullable=True)
    role: Mapped[Role] = enum_column(Role, "role")
