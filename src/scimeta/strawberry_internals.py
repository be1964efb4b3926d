"""What scimeta reads and writes of strawberry's and graphql-core's insides, in one place.

Strawberry is a 0.x library: a minor version may rename or drop any attribute whose name
starts with an underscore, and graphql-core's executor keeps its memo privately too. The
server needs a few of them (the graphql-core schema behind a strawberry schema, the
operation name exactly as the client gave it, the resolve info behind strawberry's
`Info`, the executor's memo of collected sub-fields), so every such access goes through
this module and nowhere else. `tests/test_install.py` asserts that each one exists, with
the expected type, on the installed versions: an upgrade that moves one fails there, by
name, instead of as an AttributeError deep in a request.

`pyproject.toml` allows the strawberry-graphql and graphql-core versions the suite has
passed on; widening the range means running that test (and the suite) on the new ones.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema
from strawberry.types import ExecutionContext, Info

# The key under which strawberry keeps a field's definition (its `StrawberryField`) in the
# `extensions` of the graphql-core field it builds: how the planner and the lists find
# what a field declared.
DEFINITION = "strawberry-definition"

# The attributes of strawberry's graphql-transport-ws handler (`BaseGraphQLTransportWSHandler`)
# that `scimeta.server.http_websocket.OperationCapHandler` reads beside the methods it overrides
# (`handle_connection_init`, `handle_subscribe`, `send_message`): public names, but the
# handler's own state rather than a documented interface.
TRANSPORT_WS_HANDLER_ATTRIBUTES = (
    "view",
    "websocket",
    "context",
    "max_subscriptions_per_connection",
    "connection_acknowledged",
    "operations",
)
TRANSPORT_WS_HANDLER_METHODS = ("handle_connection_init", "handle_subscribe", "send_message")


def graphql_schema(schema: Any) -> GraphQLSchema:
    """The graphql-core schema a strawberry schema built, which graphql-core's own
    functions (validation, variable coercion) take; strawberry has no public accessor."""
    core: GraphQLSchema = schema._schema
    return core


def provided_operation_name(execution: ExecutionContext) -> str | None:
    """The `operationName` the client sent, None if it sent none. (`operation_name`
    falls back to the first operation's name, which hides a missing choice among
    several.)"""
    name: str | None = execution._provided_operation_name
    return name


def resolve_info(info: Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's resolve info behind strawberry's `Info`: its field nodes, fragments,
    operation and coerced variables, which `Info` converts (at a cost) or does not show."""
    raw: GraphQLResolveInfo[Any] = info._raw_info
    return raw


def forget_collected_sub_fields(executor: Any) -> None:
    """Give a graphql-core executor an empty memo of collected sub-fields, so that what
    one subscription event collects is not kept for the life of the subscription."""
    executor._relevant_sub_fields = {}
