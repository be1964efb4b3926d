"""The Relay `Node` base of every type: opaque global ids resolved through loaders."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from datetime import datetime
from types import ModuleType
from typing import Any, ClassVar, Protocol, Self, TypeAlias

import strawberry
from strawberry import relay
from strawberry.extensions import FieldExtension
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition

from scimeta.errors import BadUserInput, NotFound
from scimeta.ids import parse_row_id
from scimeta.loaders import Loaders
from scimeta.models import Base


class HasLoaders(Protocol):
    @property
    def loaders(self) -> Loaders: ...


LoaderInfo: TypeAlias = Info[HasLoaders, Any]


@strawberry.interface(description="An entity with creation and modification times.")
class Entity(relay.Node):
    """Types declare their ORM model in `__model__`; resolvers return ORM rows directly,
    and `is_type_of` tells GraphQL which type a row is."""

    __model__: ClassVar[type[Base]]

    id: relay.NodeID[int]
    created_at: datetime = strawberry.field(description="When the entity was created.")
    updated_at: datetime = strawberry.field(description="When the entity was last changed.")
    version: int = strawberry.field(
        description="Incremented by every change; pass it as `expectedVersion` to an update "
        "so that a concurrent change is refused instead of overwritten."
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Info) -> bool:
        return isinstance(obj, cls.__model__)

    @strawberry.field(name="id", description="The globally unique id of this object.")
    @staticmethod
    def _id(root: strawberry.Parent[Base]) -> relay.GlobalID:
        # The rows are ORM models named like their GraphQL types. Taking neither `info`
        # nor the type's classmethods makes this field, resolved once per row, cheap.
        return relay.GlobalID(type(root).__name__, str(root.id))  # type: ignore[attr-defined]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls,
        *,
        info: LoaderInfo,
        node_ids: Iterable[str],
        required: bool = False,
    ) -> list[Self | None]:
        return await load_nodes(cls.__model__, info, node_ids, required=required)


async def load_nodes(
    model: type[Base], info: LoaderInfo, node_ids: Iterable[str], *, required: bool
) -> list[Any]:
    ids = [_row_id(model, node_id) for node_id in node_ids]
    rows: list[Any] = await info.context.loaders.by_id(model).load_many(ids)
    if required and None in rows:
        missing = next(i for i, row in zip(ids, rows, strict=True) if row is None)
        raise NotFound(
            f"No {model.__name__} has this id (row {missing}); it may have been deleted."
        )
    return rows


def _row_id(model: type[Base], node_id: str) -> int:
    row = parse_row_id(node_id)
    if row is None:
        raise BadUserInput(f"Invalid {model.__name__} id: pass an id this API returned.")
    return row


class ConcreteNodeIds(FieldExtension):
    """Refuses, as a bad id, a global id naming an interface (`Node:1`, `Entity:1`) or
    another type that is not an entity, before `node`/`nodes` try to resolve it (an
    interface cannot)."""

    def resolve(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        _check_node_types(info, kwargs)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        _check_node_types(info, kwargs)
        result = next_(source, info, **kwargs)
        return await result if inspect.isawaitable(result) else result


def _check_node_types(info: Info, arguments: dict[str, Any]) -> None:
    given = arguments.get("ids") or []
    if arguments.get("id") is not None:
        given = [arguments["id"]]
    for global_id in given:
        definition = info.schema.get_type_by_name(global_id.type_name)
        if (
            not isinstance(definition, StrawberryObjectDefinition)
            or definition.is_interface
            or not issubclass(definition.origin, Entity)
        ):
            raise BadUserInput(
                f"Invalid id: {global_id.type_name} is not a type of node; pass an id this "
                "API returned."
            )


def node_types(*modules: ModuleType) -> list[type[relay.Node]]:
    """The node types `modules` define (each a strawberry type with the `__model__` it
    shows), by name."""
    found = {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, relay.Node)
        and value.__module__ == module.__name__
        and (definition := get_object_definition(value)) is not None
        and not definition.is_interface
        and "__model__" in vars(value)
    }
    return sorted(found, key=lambda cls: cls.__name__)
