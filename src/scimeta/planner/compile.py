"""Compile a query into one SQL statement whose single value is the response's `data`,
as JSON text built by PostgreSQL.

The compiler reads the same declarations the executor resolves with: each list field's
`ListSpec` (model, parent key, filter, default order), each relation's `Relation`, the
columns of the models, the caller's visibility conditions. Arguments are converted by
strawberry and checked by the executor's own functions (`PageArgs.size`, `order_terms`,
`where_condition`, `decode_cursor`), so both paths agree on what a query means. Anything
it does not know, or where the executor would answer with an error, raises
`NotCompilable` (before any SQL) or writes the fallback mark (found in the result), and
the executor answers instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Select,
    Text,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by
from sqlalchemy.sql.visitors import cloned_traverse
from strawberry import relay
from strawberry.types.arguments import convert_arguments
from strawberry.utils.str_converters import to_camel_case

from scimeta import models
from scimeta.errors import ClientError
from scimeta.ids import parse_row_id
from scimeta.models import Status
from scimeta.schema.aggregates import NUMBER_MEASURES, TIME_MEASURES, AggregateSpec, GroupField
from scimeta.schema.connections import ListSpec
from scimeta.schema.filters import RESTRICTED_ONCE, where_condition
from scimeta.schema.node import Entity
from scimeta.schema.ordering import OrderTerm, decode_cursor, keyset_condition, ordering_name
from scimeta.schema.pagination import PageArgs
from scimeta.schema.relations import DistinctValues, Figures, Relation, StatusCounts, SubjectId
from scimeta.strawberry_internals import DEFINITION, graphql_schema

from .declarations import (
    TABLES,
    column_name,
    declaration_of,
    labelled,
    model_of,
    ordering_on,
    primary_key,
    table_of,
)
from .selections import NotCompilable, Selections
from .sqljson import (
    cursor,
    fallback,
    global_id,
    global_id_of,
    iso_datetime,
    json_object,
    output_value,
    sql_literal,
)

PAGE_FIELDS = frozenset({"edges", "nodes", "pageInfo"})
# json_build_object takes at most 100 arguments, a key and a value per field
MAX_OBJECT_FIELDS = 50
MAX_NODES_IDS = 100


def compile_operation(
    schema: Any,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    raw_variables: Mapping[str, Any] | None,
    visibility: Mapping[type[models.Base], ColumnElement[bool]],
) -> Select[Any]:
    """The statement answering `operation`, a query of `document`, for a caller who sees
    the rows `visibility` allows (all rows of an entity missing from it)."""
    if operation.operation is not OperationType.QUERY:
        raise NotCompilable("only queries are compiled")
    core_schema = graphql_schema(schema)
    variables = get_variable_values(
        core_schema, operation.variable_definitions or (), dict(raw_variables or {})
    )
    if not isinstance(variables, VariableValues):
        raise NotCompilable("the variables do not coerce")
    compiler = _Compiler(schema, document, variables, visibility)
    return compiler.query(operation)


class _Compiler:
    def __init__(
        self,
        schema: Any,
        document: DocumentNode,
        variables: VariableValues,
        visibility: Mapping[type[models.Base], ColumnElement[bool]],
    ) -> None:
        self.schema: GraphQLSchema = graphql_schema(schema)
        self.scalars = schema.schema_converter.scalar_registry
        self.config = schema.config
        self.selections = Selections(self.schema, document, variables)
        self.collect = self.selections.collect
        self.variables = variables
        self.visibility = visibility
        self.names = itertools.count(1)

    # -- the operation --------------------------------------------------------------

    def query(self, operation: OperationDefinitionNode) -> Select[Any]:
        root = self.schema.query_type
        assert root is not None
        pairs = []
        selected = self.collect(root, [operation.selection_set])
        for key, nodes in selected.items():
            name = nodes[0].name.value
            if name == "__typename":
                pairs.append((key, sql_literal(root.name)))
                continue
            field = root.fields.get(name)
            if field is None:
                raise NotCompilable(f"{name} (introspection)")
            if name == "node":
                pairs.append((key, self.node(field, nodes)))
            elif name == "nodes":
                pairs.append((key, self.nodes(field, nodes)))
            elif isinstance(declaration_of(field), Figures):
                pairs.append((key, self.figures(field, nodes)))
            else:
                spec = self.list_spec(field)
                pairs.append((key, self.connection(field, spec, nodes, None)))
        if all(
            name == "__typename" for name in (nodes[0].name.value for nodes in selected.values())
        ):
            raise NotCompilable("nothing to read from the database")
        return select(cast(self.object_of(pairs), Text))

    # -- objects ----------------------------------------------------------------------

    def object_of(self, pairs: list[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
        if len(pairs) > MAX_OBJECT_FIELDS:
            raise NotCompilable("too many fields in one object")
        return json_object(pairs)

    def needed(
        self,
        type_: GraphQLObjectType,
        selection_sets: Iterable[SelectionSetNode | None],
        model: type[models.Base],
    ) -> set[str]:
        """The columns of `model` that `entity` reads for these selections: a page or a
        related row selects only those."""
        names = {primary_key(model).name}
        for nodes in self.collect(type_, selection_sets).values():
            field = type_.fields.get(nodes[0].name.value)
            definition = None if field is None else field.extensions.get(DEFINITION)
            if definition is None or getattr(definition, "list_spec", None) is not None:
                continue
            resolver = definition.base_resolver
            if resolver is None:
                if definition.python_name != "id":
                    names.add(column_name(model, definition.python_name))
                continue
            declaration = getattr(resolver.wrapped_func, "reads", None)
            if isinstance(declaration, Relation):
                names.add(column_name(model, declaration.key))
            elif isinstance(declaration, SubjectId):
                names.add(column_name(model, declaration.type_column))
                names.add(column_name(model, declaration.id_column))
        return names

    def page_columns(
        self,
        connection_type: GraphQLObjectType,
        selected: dict[str, list[FieldNode]],
        model: type[models.Base],
    ) -> set[str]:
        """The columns the items of a page read, under `nodes` and `edges { node }`."""
        names = {primary_key(model).name}
        for nodes in selected.values():
            name = nodes[0].name.value
            if name not in ("nodes", "edges"):
                continue
            named = get_named_type(connection_type.fields[name].type)
            assert isinstance(named, GraphQLObjectType)
            sets = [node.selection_set for node in nodes]
            if name == "edges":
                node_type = get_named_type(named.fields["node"].type)
                assert isinstance(node_type, GraphQLObjectType)
                edge_nodes = [
                    edge_node
                    for edge_field in self.collect(named, sets).values()
                    for edge_node in edge_field
                    if edge_node.name.value == "node"
                ]
                named, sets = node_type, [node.selection_set for node in edge_nodes]
            names |= self.needed(named, sets, model)
        return names

    def entity(
        self,
        type_: GraphQLObjectType,
        selection_sets: Iterable[SelectionSetNode | None],
        row: FromClause,
        model: type[models.Base],
    ) -> ColumnElement[Any]:
        """The JSON object of the row of `model` that `row` holds, as `type_`."""
        pairs = [
            (key, self.field(type_, nodes, row, model))
            for key, nodes in self.collect(type_, selection_sets).items()
        ]
        return self.object_of(pairs)

    def field(
        self,
        type_: GraphQLObjectType,
        nodes: list[FieldNode],
        row: FromClause,
        model: type[models.Base],
    ) -> ColumnElement[Any]:
        name = nodes[0].name.value
        if name == "__typename":
            return sql_literal(type_.name)
        field = type_.fields[name]
        definition = field.extensions.get(DEFINITION)
        if definition is None:
            raise NotCompilable(f"{type_.name}.{name}")
        if name == "id":
            # named by the row's model, as `Entity.id` names it
            return global_id(model.__name__, row.c[primary_key(model).name])
        spec = getattr(definition, "list_spec", None)
        if spec is not None:
            return self.connection(field, spec, nodes, row.c[primary_key(model).name])
        resolver = definition.base_resolver
        if resolver is None:
            return output_value(row.c[column_name(model, definition.python_name)])
        declaration = getattr(resolver.wrapped_func, "reads", None)
        if isinstance(declaration, Relation):
            return self.relation(field, declaration, nodes, row, model)
        if isinstance(declaration, SubjectId):
            return global_id_of(
                row.c[column_name(model, declaration.type_column)],
                row.c[column_name(model, declaration.id_column)],
            )
        if isinstance(declaration, DistinctValues):
            return self.distinct_values(declaration, row.c[primary_key(model).name])
        if isinstance(declaration, StatusCounts):
            return self.status_counts(field, declaration, nodes, row.c[primary_key(model).name])
        raise NotCompilable(f"{type_.name}.{name} is resolved in Python")

    def distinct_values(
        self, declaration: DistinctValues, parent_id: ColumnElement[Any]
    ) -> ColumnElement[Any]:
        model = declaration.model
        table = table_of(model)
        column = table.c[column_name(model, declaration.column)]
        parent_key = table.c[column_name(model, declaration.parent_key)]
        values = (
            select(column)
            .where(parent_key == parent_id, declaration.condition(), *self.visible(model))
            .distinct()
            .correlate_except(table)
            .lateral(self.name("values"))
        )
        value = values.c[column.name]
        aggregated = func.json_agg(aggregate_order_by(value, value.asc()), type_=JSON)
        return (
            select(func.coalesce(aggregated, sql_json("[]"))).select_from(values).scalar_subquery()
        )

    def status_counts(
        self,
        field: GraphQLField,
        declaration: StatusCounts,
        nodes: list[FieldNode],
        parent_id: ColumnElement[Any],
    ) -> ColumnElement[Any]:
        """`BatchProgress`: the rows counted by status, and the fraction finished."""
        model = declaration.model
        table = table_of(model)
        status = table.c.status
        total = func.count()

        def counted(*statuses: Status) -> ColumnElement[Any]:
            return func.count().filter(status.in_([item.name for item in statuses]))

        finished = counted(Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
        values: dict[str, ColumnElement[Any]] = {
            "total": total,
            "fractionDone": case(
                (total == 0, literal_column("0.0")),
                else_=cast(finished, Float) / cast(total, Float),
            ),
            **{item.name.lower(): counted(item) for item in Status},
        }
        progress_type = get_named_type(field.type)
        assert isinstance(progress_type, GraphQLObjectType)
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for key, count_nodes in self.collect(
            progress_type, [node.selection_set for node in nodes]
        ).items():
            name = count_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, sql_literal(progress_type.name)))
            elif name in values:
                pairs.append((key, values[name]))
            else:
                raise NotCompilable(f"{progress_type.name}.{name}")
        parent_key = table.c[column_name(model, declaration.parent_key)]
        return (
            select(self.object_of(pairs))
            .select_from(table)
            .where(parent_key == parent_id, *self.visible(model))
            .correlate_except(table)
            .scalar_subquery()
        )

    def relation(
        self,
        field: GraphQLField,
        relation: Relation,
        nodes: list[FieldNode],
        row: FromClause,
        model: type[models.Base],
    ) -> ColumnElement[Any]:
        target = relation.model
        table = table_of(target)
        key = row.c[column_name(model, relation.key)]
        selection_sets = [node.selection_set for node in nodes]
        named = get_named_type(field.type)
        if relation.column is not None:
            needed = {column_name(target, relation.column)}
        elif isinstance(named, GraphQLObjectType):
            needed = self.needed(named, selection_sets, target)
        else:
            raise NotCompilable("relation to an abstract type")
        related = (
            select(*labelled(table, needed))
            .where(primary_key(target) == key, *self.visible(target))
            .correlate_except(table)
            .lateral(self.name("related"))
        )
        value: ColumnElement[Any]
        if relation.column is not None:
            value = func.to_json(output_value(related.c[column_name(target, relation.column)]))
        else:
            assert isinstance(named, GraphQLObjectType)
            value = self.entity(named, selection_sets, related, target)
        found = select(value).select_from(related).scalar_subquery()
        if isinstance(field.type, GraphQLNonNull):
            # the executor answers a missing or hidden row of a non-null field with an error
            return func.coalesce(found, fallback())
        return found

    def figures(self, field: GraphQLField, nodes: list[FieldNode]) -> ColumnElement[Any]:
        declaration = declaration_of(field)
        assert isinstance(declaration, Figures)
        where = self.argument_values(field, nodes[0]).get("where")
        try:
            conditions = where_condition(where)
        except ClientError:
            raise NotCompilable("the executor refuses these arguments") from None
        statement = self.restricted(declaration.statement(conditions))
        row = statement.lateral(self.name("figures"))
        figures_type = get_named_type(field.type)
        assert isinstance(figures_type, GraphQLObjectType)
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for key, figure_nodes in self.collect(
            figures_type, [node.selection_set for node in nodes]
        ).items():
            name = figure_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, sql_literal(figures_type.name)))
                continue
            definition = figures_type.fields[name].extensions.get(DEFINITION)
            python_name = getattr(definition, "python_name", None)
            if python_name not in row.c:
                raise NotCompilable(f"{figures_type.name}.{name}")
            pairs.append((key, output_value(row.c[python_name])))
        return select(self.object_of(pairs)).select_from(row).scalar_subquery()

    # -- node(id) ---------------------------------------------------------------------

    def node(self, field: GraphQLField, nodes: list[FieldNode]) -> ColumnElement[Any]:
        arguments = self.argument_values(field, nodes[0])
        return self.node_by_id(arguments["id"], nodes)

    def nodes(self, field: GraphQLField, nodes: list[FieldNode]) -> ColumnElement[Any]:
        ids = self.argument_values(field, nodes[0])["ids"]
        if not 0 < len(ids) <= MAX_NODES_IDS:
            raise NotCompilable("nodes(ids) of this length")
        return func.json_build_array(*(self.node_by_id(node_id, nodes) for node_id in ids))

    def node_by_id(self, node_id: Any, nodes: list[FieldNode]) -> ColumnElement[Any]:
        if not isinstance(node_id, relay.GlobalID):
            raise NotCompilable("not a global id")
        parsed = node_id
        type_ = self.schema.get_type(parsed.type_name)
        row_id = parse_row_id(parsed.node_id)
        if not isinstance(type_, GraphQLObjectType) or row_id is None:
            raise NotCompilable("no such node type")
        definition = type_.extensions.get(DEFINITION)
        model = model_of(definition)
        origin = getattr(definition, "origin", None)
        if model is None or not (isinstance(origin, type) and issubclass(origin, Entity)):
            # (an event has a table, but `node` takes entities' ids only: the executor
            # words the refusal)
            raise NotCompilable("not an entity")
        table = table_of(model)
        selection_sets = [node.selection_set for node in nodes]
        row = (
            select(*labelled(table, self.needed(type_, selection_sets, model)))
            .where(primary_key(model) == literal(row_id), *self.visible(model))
            .lateral(self.name("node"))
        )
        value = self.entity(type_, selection_sets, row, model)
        # a missing node is an error the executor words
        return func.coalesce(select(value).select_from(row).scalar_subquery(), fallback())

    # -- lists ------------------------------------------------------------------------

    def list_spec(self, field: GraphQLField) -> ListSpec:
        definition = field.extensions.get(DEFINITION)
        spec = getattr(definition, "list_spec", None)
        if spec is None:
            raise NotCompilable("not a list field")
        assert isinstance(spec, ListSpec)
        return spec

    def connection(
        self,
        field: GraphQLField,
        spec: ListSpec,
        nodes: list[FieldNode],
        parent_id: ColumnElement[Any] | None,
    ) -> ColumnElement[Any]:
        arguments = self.argument_values(field, nodes[0])
        page = PageArgs(
            first=arguments.get("first"),
            after=arguments.get("after"),
            last=arguments.get("last"),
            before=arguments.get("before"),
        )
        try:
            size = page.size()
            terms = spec.terms(arguments.get("order_by"))
            conditions = self.with_visibility(spec.conditions(arguments.get("where_")))
            keyset = self.keyset(terms, page)
        except ClientError:
            raise NotCompilable("the executor refuses these arguments") from None
        model = spec.model
        table = table_of(model)
        if spec.parent_key is not None:
            if parent_id is None:
                raise NotCompilable("a nested list at the root")
            conditions.insert(0, spec.parent_key == parent_id)
        conditions += self.visible(model)
        connection_type = get_named_type(field.type)
        assert isinstance(connection_type, GraphQLObjectType)
        selected = self.collect(connection_type, [node.selection_set for node in nodes])
        rows: FromClause | None = None
        selected_names = {nodes_[0].name.value for nodes_ in selected.values()}
        if not PAGE_FIELDS.isdisjoint(selected_names):
            order = [term.reversed() for term in terms] if page.backward else terms
            order_sql = [term.sql() for term in order]
            needed = self.page_columns(connection_type, selected, model)
            needed |= {term.column.property.columns[0].name for term in terms}
            columns = labelled(table, needed)
            if "pageInfo" in selected_names:
                # one row more than the page tells whether there is another page; the row
                # numbers keep the page's rows apart from it
                numbered = func.row_number().over(order_by=order_sql).label("row_number")
                page_rows = select(*columns, numbered).limit(size + 1)
            else:
                page_rows = select(*columns).limit(size)
            rows = (
                page_rows.where(*conditions, *keyset)
                .order_by(*order_sql)
                .correlate_except(table)
                .lateral(self.name("page"))
            )
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for key, field_nodes in selected.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                value: ColumnElement[Any] = sql_literal(connection_type.name)
            elif name == "totalCount":
                value = (
                    select(func.count())
                    .select_from(table)
                    .where(*conditions)
                    .correlate_except(table)
                    .scalar_subquery()
                )
            elif name in PAGE_FIELDS:
                assert rows is not None
                value = self.page_field(
                    connection_type, name, field_nodes, rows, model, terms, page, size
                )
            else:
                value = self.aggregates(connection_type.fields[name], field_nodes, conditions)
            pairs.append((key, value))
        result = self.object_of(pairs)
        if rows is None:
            return result
        # one row even for an empty page: every value is an aggregate or a constant
        whole_page: ColumnElement[Any] = literal_column("()")
        return select(result).select_from(rows).group_by(whole_page).scalar_subquery()

    def page_field(
        self,
        connection_type: GraphQLObjectType,
        name: str,
        nodes: list[FieldNode],
        rows: FromClause,
        model: type[models.Base],
        terms: list[OrderTerm],
        page: PageArgs,
        size: int,
    ) -> ColumnElement[Any]:
        numbered = "row_number" in rows.c
        field = connection_type.fields[name]
        selection_sets = [node.selection_set for node in nodes]
        named = get_named_type(field.type)
        assert isinstance(named, GraphQLObjectType)

        def each(value: ColumnElement[Any]) -> ColumnElement[Any]:
            """The page's values in the list's order (a backward page is read reversed)."""
            if not numbered:
                order = [ordering_on(rows, term) for term in terms]
                aggregated = func.json_agg(aggregate_order_by(value, *order), type_=JSON)
                return func.coalesce(aggregated, sql_json("[]"))
            row_number = rows.c.row_number
            position = row_number.desc() if page.backward else row_number.asc()
            aggregated = func.json_agg(aggregate_order_by(value, position), type_=JSON)
            return func.coalesce(aggregated.filter(row_number <= size), sql_json("[]"))

        def row_cursor() -> ColumnElement[Any]:
            columns = [rows.c[term.column.property.columns[0].name] for term in terms]
            return cursor(ordering_name(terms), columns)

        if name == "nodes":
            return each(self.entity(named, selection_sets, rows, model))
        if name == "edges":
            pairs = []
            for key, edge_nodes in self.collect(named, selection_sets).items():
                edge_field = edge_nodes[0].name.value
                if edge_field == "__typename":
                    pairs.append((key, sql_literal(named.name)))
                elif edge_field == "cursor":
                    pairs.append((key, row_cursor()))
                elif edge_field == "node":
                    node_type = get_named_type(named.fields["node"].type)
                    assert isinstance(node_type, GraphQLObjectType)
                    node_sets = [node.selection_set for node in edge_nodes]
                    pairs.append((key, self.entity(node_type, node_sets, rows, model)))
                else:
                    raise NotCompilable(f"{named.name}.{edge_field}")
            return each(self.object_of(pairs))
        row_number = rows.c.row_number
        in_page = row_number <= size
        more = func.count() > size
        pairs = []
        for key, info_nodes in self.collect(named, selection_sets).items():
            info_field = info_nodes[0].name.value
            value: ColumnElement[Any]
            if info_field == "__typename":
                value = sql_literal(named.name)
            elif info_field == "hasNextPage":
                value = (true() if page.before is not None else false()) if page.backward else more
            elif info_field == "hasPreviousPage":
                value = more if page.backward else (true() if page.after is not None else false())
            elif info_field in ("startCursor", "endCursor"):
                first_in_order = (info_field == "startCursor") != page.backward
                ordered = row_number.asc() if first_in_order else row_number.desc()
                cursors = func.json_agg(aggregate_order_by(row_cursor(), ordered), type_=JSON)
                value = cursors.filter(in_page).op("->")(literal(0))
            else:
                raise NotCompilable(f"PageInfo.{info_field}")
            pairs.append((key, value))
        return self.object_of(pairs)

    def aggregates(
        self,
        field: GraphQLField,
        nodes: list[FieldNode],
        conditions: list[ColumnElement[bool]],
    ) -> ColumnElement[Any]:
        """`aggregate` (one object) or `groups(by:)` (a list ordered by the groups'
        values) over the list's rows, as `scimeta.schema.aggregates` computes them."""
        definition = field.extensions.get(DEFINITION)
        spec: AggregateSpec | None = getattr(definition, "aggregate_spec", None)
        if spec is None:
            raise NotCompilable(f"{field.ast_node} is resolved in Python")
        grouped = "by" in field.args
        by: list[tuple[str, GroupField]] = []
        if grouped:
            by = [spec.groups[item.name] for item in self.argument_values(field, nodes[0])["by"]]
        table = table_of(spec.model)
        group_type = get_named_type(field.type)
        assert isinstance(group_type, GraphQLObjectType)
        selection_sets = [node.selection_set for node in nodes]
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for key, field_nodes in self.collect(group_type, selection_sets).items():
            name = field_nodes[0].name.value
            value: ColumnElement[Any]
            if name == "__typename":
                value = sql_literal(group_type.name)
            elif name == "count":
                value = func.count()
            elif name == "key":
                value = self.group_key(group_type.fields[name], field_nodes, spec, by)
            else:
                value = self.statistics(group_type.fields[name], field_nodes, spec)
            pairs.append((key, value))
        result = self.object_of(pairs)
        columns = [group_field.column for _, group_field in by]
        statement = select(result.label("result"), *columns).select_from(table)
        statement = statement.where(*conditions).correlate_except(table)
        if not grouped:
            return statement.scalar_subquery()
        groups = statement.group_by(*columns).lateral(self.name("groups"))
        order = [groups.c[column.key].asc() for column in columns]
        aggregated = func.json_agg(
            aggregate_order_by(groups.c.result, *order) if order else groups.c.result,
            type_=JSON,
        )
        return (
            select(func.coalesce(aggregated, sql_json("[]"))).select_from(groups).scalar_subquery()
        )

    def group_key(
        self,
        field: GraphQLField,
        nodes: list[FieldNode],
        spec: AggregateSpec,
        by: list[tuple[str, GroupField]],
    ) -> ColumnElement[Any]:
        key_type = get_named_type(field.type)
        assert isinstance(key_type, GraphQLObjectType)
        grouped = dict(by)
        names = {to_camel_case(name): name for name, _ in spec.groups.values()}
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for key, key_nodes in self.collect(
            key_type, [node.selection_set for node in nodes]
        ).items():
            name = key_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, sql_literal(key_type.name)))
                continue
            group_field = grouped.get(names[name])
            if group_field is None:
                pairs.append((key, null()))
            elif group_field.model is None:
                pairs.append((key, output_value(group_field.column)))
            else:
                target = group_field.model
                target_table = table_of(target)
                named = get_named_type(key_type.fields[name].type)
                assert isinstance(named, GraphQLObjectType)
                needed = self.needed(named, [node.selection_set for node in key_nodes], target)
                related = (
                    select(*labelled(target_table, needed))
                    .where(primary_key(target) == group_field.column, *self.visible(target))
                    .correlate_except(target_table)
                    .lateral(self.name("related"))
                )
                value = self.entity(
                    named, [node.selection_set for node in key_nodes], related, target
                )
                pairs.append((key, select(value).select_from(related).scalar_subquery()))
        return self.object_of(pairs)

    def statistics(
        self, field: GraphQLField, nodes: list[FieldNode], spec: AggregateSpec
    ) -> ColumnElement[Any]:
        names = {to_camel_case(name): name for name in [*spec.numbers, *spec.times]}
        stats_type = get_named_type(field.type)
        assert isinstance(stats_type, GraphQLObjectType)
        field_name = nodes[0].name.value
        python_name = names.get(field_name)
        if python_name is None:
            raise NotCompilable(f"aggregate {field_name}")
        numeric = python_name in spec.numbers
        column = spec.numbers[python_name] if numeric else spec.times[python_name]
        measures = NUMBER_MEASURES if numeric else TIME_MEASURES
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for key, stat_nodes in self.collect(
            stats_type, [node.selection_set for node in nodes]
        ).items():
            stat = stat_nodes[0].name.value
            if stat == "__typename":
                pairs.append((key, sql_literal(stats_type.name)))
                continue
            if stat not in measures:
                raise NotCompilable(f"statistic {stat}")
            value = measures[stat](column)
            if not numeric:
                value = iso_datetime(value)
            elif stat != "count":
                # the executor reads numeric results as Python floats
                value = cast(value, Float)
            pairs.append((key, value))
        return self.object_of(pairs)

    def keyset(self, terms: list[OrderTerm], page: PageArgs) -> list[ColumnElement[bool]]:
        conditions = []
        if page.after is not None:
            conditions.append(keyset_condition(terms, decode_cursor(terms, page.after)))
        if page.before is not None:
            reverse = [term.reversed() for term in terms]
            conditions.append(keyset_condition(reverse, decode_cursor(terms, page.before)))
        return conditions

    # -- visibility -------------------------------------------------------------------

    def visible(self, model: type[models.Base]) -> list[ColumnElement[bool]]:
        condition = self.visibility.get(model)
        return [] if condition is None else [condition]

    def with_visibility(
        self, conditions: Sequence[ColumnElement[bool]]
    ) -> list[ColumnElement[bool]]:
        """The client's conditions, with the caller's visibility added to each subquery
        they hold (a relation filter), as the loaders' criteria add it."""
        return [self.restricted(condition) for condition in conditions]

    def restricted(self, element: Any) -> Any:
        """`element` with the caller's visibility added to each SELECT in it, for each
        entity it reads."""
        if not self.visibility:
            return element

        def restrict(statement: Any) -> None:
            # a relation filter that keeps the caller's scope: its rows are restricted
            # by the row it starts from (`scimeta.schema.filters.restricted_once`)
            if getattr(statement, RESTRICTED_ONCE, False):
                return
            for table in statement.get_final_froms():
                model = TABLES.get(table)
                if model is not None and model in self.visibility:
                    statement._where_criteria += (self.visibility[model],)

        return cloned_traverse(element, {}, {"select": restrict})

    # -- helpers ----------------------------------------------------------------------

    def argument_values(self, field: GraphQLField, node: FieldNode) -> dict[str, Any]:
        try:
            values = get_argument_values(field, node, self.variables)
        except GraphQLError:
            raise NotCompilable("the arguments do not coerce") from None
        definition = field.extensions.get(DEFINITION)
        if definition is None:
            raise NotCompilable("a field strawberry does not resolve")
        try:
            return convert_arguments(values, definition.arguments, self.scalars, self.config)
        except Exception:
            raise NotCompilable("the arguments do not convert") from None

    def name(self, prefix: str) -> str:
        return f"{prefix}_{next(self.names)}"


def sql_json(text: str) -> ColumnElement[Any]:
    return cast(sql_literal(text), JSON)
