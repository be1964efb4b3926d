"""Declarative base, naming conventions and the columns every entity shares."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit names keep migrations stable and let errors name the rule a row broke.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


class Entity(Base):
    """A row that is a GraphQL `Node`: a surrogate key, creation/update times and a
    version that every update increments (clients pass it back to detect a concurrent
    change)."""

    __abstract__ = True
    # Values the database sets on insert or update are read back in the same statement
    # (RETURNING): an async session cannot load an expired attribute later.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=True), primary_key=True, sort_order=-1
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), sort_order=1)
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), onupdate=func.now(), sort_order=1
    )
    version: Mapped[int] = mapped_column(
        Integer, server_default="1", onupdate=literal_column("version") + 1, sort_order=1
    )


def reference(
    target: str, *, ondelete: str, nullable: bool = False, index: bool = True, **kwargs: Any
) -> Any:
    """A foreign key to another entity's `id`; ON DELETE is always stated."""
    return mapped_column(
        BigInteger,
        ForeignKey(target, ondelete=ondelete),
        nullable=nullable,
        index=index,
        **kwargs,
    )


def attributes_column() -> Mapped[dict[str, Any]]:
    """Lab-specific fields the schema does not name, as a JSON object."""
    return mapped_column(JSONB, server_default="{}")


def enum_column(enum_type: type[enum.Enum], name: str, **kwargs: Any) -> Any:
    """An enum stored as text with a CHECK constraint, which is simpler to extend than a
    PostgreSQL enum type (new values need no ALTER TYPE outside a transaction)."""
    return mapped_column(
        Enum(
            enum_type,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=32,
            validate_strings=True,
        ),
        **kwargs,
    )
