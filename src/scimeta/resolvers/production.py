"""Production mode: what a server on a network tells only those who need to know.

- Introspection (`__schema`, `__type`) is for admins of everything; others get
  INTROSPECTION_DISABLED. The schema is published as `schema.graphql` for them.
- Validation messages do not suggest names ("Did you mean ...?"), which would let a
  caller map the schema field by field.

GraphiQL is off in production (see `scimeta.server.settings`), and internal errors are
masked in every mode (`scimeta.errors.mask_internal_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, NoSchemaIntrospectionCustomRule, validate
from strawberry.extensions import SchemaExtension

from scimeta.errors import ClientError
from scimeta.resolvers.limits import app_state
from scimeta.strawberry_internals import graphql_schema

# graphql-core's suggestions: " Did you mean 'x'?" or "... 'y', or 'z'?", at the end of
# a message or inside one (a variable's value names the field it found after them); the
# names suggested hold no "?"
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class IntrospectionDisabled(ClientError):
    code = "INTROSPECTION_DISABLED"


def production_of(context: Any) -> bool:
    """Whether the application serving this request runs in production mode."""
    return bool(app_state(context, "production"))


def without_suggestion(error: GraphQLError) -> None:
    error.message = _SUGGESTION.sub("", error.message)


def _without_suggestion(error: GraphQLError) -> GraphQLError:
    return GraphQLError(
        _SUGGESTION.sub("", error.message),
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )


class ProductionExtension(SchemaExtension):
    """Refuses introspection to callers who are not admins of everything, in production.
    Comes after the validation of the document (`QueryLimitsExtension`)."""

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        production = production_of(context)
        if production and execution.pre_execution_errors:
            # copies: the validation cache keeps the errors it returned for every request
            execution.pre_execution_errors = [
                _without_suggestion(error) for error in execution.pre_execution_errors
            ]
        if (
            document is not None
            and not execution.pre_execution_errors
            and production
            and not context.identity.is_admin
        ):
            found = validate(
                graphql_schema(execution.schema), document, [NoSchemaIntrospectionCustomRule]
            )
            if found:
                execution.pre_execution_errors = [
                    IntrospectionDisabled(
                        "Introspection is for admins on this server; the schema is "
                        "published as schema.graphql (scimeta export-schema)."
                    )
                ]
        yield
