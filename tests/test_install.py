"""What an installation holds and relies on.

- RDKit is the `chemistry` extra: a server installed without it starts, serves reads (of
  molecules too) and refuses the writes that need a canonical SMILES with
  FEATURE_UNAVAILABLE. Checked on a real `scimeta serve` whose Python cannot import RDKit.
- The element symbols are a constant of scimeta's, the same as RDKit's periodic table.
- Each private attribute of strawberry and graphql-core that `scimeta.strawberry_internals`
  names exists on the installed versions with the expected type, and does what the
  server uses it for; an upgrade that moves one fails here, by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
)
from sqlalchemy import text
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from scimeta.resolvers.schema import PerEventMemoExecutionContext, schema
from scimeta.server.database import create_engine
from scimeta.server.http_websocket import OperationCapHandler
from scimeta.strawberry_internals import (
    DEFINITION,
    TRANSPORT_WS_HANDLER_ATTRIBUTES,
    TRANSPORT_WS_HANDLER_METHODS,
    forget_collected_sub_fields,
    graphql_schema,
    provided_operation_name,
    resolve_info,
)
from scimeta.writes.chemistry.smiles import CHEMISTRY_EXTRA, PERIODIC_TABLE
from tests.conftest import DatabaseFactory

STARTUP_DEADLINE_SECONDS = 90
POLL_INTERVAL_SECONDS = 0.1

# Run before anything else in the server's Python: a meta path finder that refuses RDKit
# as if it were not installed.
WITHOUT_RDKIT = """
import sys

class NoRDKit:
    def find_spec(self, name, path=None, target=None):
        if name == "rdkit" or name.startswith("rdkit."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoRDKit())
from scimeta.server.cli import main
status = main(sys.argv[1:])
assert "rdkit" not in sys.modules, "RDKit was imported after all"
sys.exit(status)
"""

CREATE_MOLECULE = """
mutation { createMolecule(input: {smiles: "OCC"}) { created molecule { smiles } } }
"""
CREATE_BATCH = """
mutation { createBatch(input: {name: "light", smiles: ["CCO"]}) { batch { id } } }
"""
MOLECULES = "{ molecules { totalCount nodes { smiles formula name } } }"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _serving_without_rdkit(database_url: str, log: Path) -> Iterator[tuple[str, Any]]:
    port = _free_port()
    environment = {**os.environ, "DATABASE_URL": database_url}
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", WITHOUT_RDKIT, "serve", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}", process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()


async def _wait_until_ready(http: httpx.AsyncClient, process: Any, log: Path) -> None:
    """Polls /readyz (bounded) until the server has migrated its database and answers."""
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"scimeta serve without RDKit exited early:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
    pytest.fail(f"scimeta serve without RDKit was not ready in time:\n{log.read_text()}")


async def test_a_server_without_rdkit_serves_reads_and_refuses_smiles_writes(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.create()
    log = tmp_path / "serve.log"
    with _serving_without_rdkit(url, log) as (base, process):
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            await _wait_until_ready(http, process, log)
            # a molecule stored by a server that has RDKit reads back here
            engine = create_engine(url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        text(
                            "INSERT INTO molecules (smiles, name, formula) "
                            "VALUES ('CCO', 'ethanol', 'C2H6O')"
                        )
                    )
            finally:
                await engine.dispose()
            read = (await http.post("/graphql", json={"query": MOLECULES})).json()
            assert "errors" not in read, read
            assert read["data"] == {
                "molecules": {
                    "totalCount": 1,
                    "nodes": [{"smiles": "CCO", "formula": "C2H6O", "name": "ethanol"}],
                }
            }
            for mutation in (CREATE_MOLECULE, CREATE_BATCH):
                refused = (await http.post("/graphql", json={"query": mutation})).json()
                assert refused["data"] is None, refused
                (error,) = refused["errors"]
                assert error["extensions"]["code"] == "FEATURE_UNAVAILABLE", error
                assert error["extensions"]["feature"] == "chemistry", error
                assert error["message"].startswith("canonical SMILES need RDKit"), error
                assert CHEMISTRY_EXTRA in error["message"], error
            # the refusals wrote nothing
            after = (await http.post("/graphql", json={"query": MOLECULES})).json()
            assert after["data"] == read["data"]
            batches = await http.post("/graphql", json={"query": "{ batches { totalCount } }"})
            assert batches.json()["data"] == {"batches": {"totalCount": 0}}


@pytest.mark.chemistry
def test_the_element_symbols_are_rdkits_periodic_table() -> None:
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    assert tuple(table.GetElementSymbol(number) for number in range(1, 119)) == PERIODIC_TABLE


# --- strawberry's and graphql-core's insides ----------------------------------------------


def test_the_graphql_core_schema_behind_a_strawberry_schema() -> None:
    core = graphql_schema(schema)
    assert isinstance(core, GraphQLSchema)
    assert core.query_type is not None and "molecules" in core.query_type.fields
    assert core.mutation_type is not None and "createMolecule" in core.mutation_type.fields
    # each graphql-core field carries the strawberry field it was built from
    definition = core.query_type.fields["molecules"].extensions[DEFINITION]
    assert isinstance(definition, StrawberryField)
    assert definition.python_name == "molecules"


GIVEN_NAMES: list[str | None] = []
CHOSEN_NAMES: list[str | None] = []
RESOLVE_INFOS: list[Any] = []
MEMOS: list[dict[Any, Any]] = []


class NameProbe(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        GIVEN_NAMES.append(provided_operation_name(self.execution_context))
        CHOSEN_NAMES.append(self.execution_context.operation_name)
        yield


@strawberry.type
class Tick:
    number: int


@strawberry.type
class ProbeQuery:
    @strawberry.field
    def probe(self, info: Info[Any, Any]) -> str:
        RESOLVE_INFOS.append(resolve_info(info))
        return "ok"


@strawberry.type
class ProbeSubscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[Tick, None]:
        for number in range(2):
            yield Tick(number=number)


class MemoProbe(StrawberryGraphQLCoreExecutionContext):  # type: ignore[misc]
    """Forgets each event executor's memo as `PerEventMemoExecutionContext` does, and
    keeps the memo it starts with to look at after the event."""

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor._relevant_sub_fields, dict), type(executor)
        forget_collected_sub_fields(executor)
        MEMOS.append(executor._relevant_sub_fields)
        return executor


async def test_the_operation_name_as_given_and_the_resolve_info() -> None:
    GIVEN_NAMES.clear()
    CHOSEN_NAMES.clear()
    RESOLVE_INFOS.clear()
    probe_schema = strawberry.Schema(ProbeQuery, extensions=[NameProbe])
    document = "query Named { ...Part } fragment Part on ProbeQuery { probe }"
    named = await probe_schema.execute(document, operation_name="Named")
    unnamed = await probe_schema.execute(document)
    assert named.errors is None and unnamed.errors is None
    assert named.data == unnamed.data == {"probe": "ok"}
    # without a name strawberry's `operation_name` falls back to the first operation's
    assert GIVEN_NAMES == ["Named", None]
    assert CHOSEN_NAMES == ["Named", "Named"]
    assert len(RESOLVE_INFOS) == 2
    for info in RESOLVE_INFOS:
        # what `scimeta.schema.selection` and the subscription resolver read of it
        assert [node.name.value for node in info.field_nodes] == ["probe"]
        assert isinstance(info.field_nodes[0], FieldNode)
        assert list(info.fragments) == ["Part"]
        assert isinstance(info.fragments["Part"], FragmentDefinitionNode)
        assert isinstance(info.operation, OperationDefinitionNode)
        assert info.operation.name is not None and info.operation.name.value == "Named"
        assert info.variable_values is not None


async def test_each_subscription_event_gets_an_executor_whose_memo_can_be_forgotten() -> None:
    MEMOS.clear()
    probe_schema = strawberry.Schema(
        ProbeQuery, subscription=ProbeSubscription, execution_context_class=MemoProbe
    )
    stream = await probe_schema.subscribe("subscription { ticks { number } }")
    results = [result async for result in stream]  # type: ignore[union-attr]
    assert [result.data for result in results] == [
        {"ticks": {"number": 0}},
        {"ticks": {"number": 1}},
    ]
    # each event's executor started with an empty memo of its own, and executing the
    # event filled it: the memo the server forgets is the one graphql-core uses
    assert len(MEMOS) == 2
    assert MEMOS[0] is not MEMOS[1]
    assert all(len(memo) > 0 for memo in MEMOS), MEMOS
    assert issubclass(PerEventMemoExecutionContext, StrawberryGraphQLCoreExecutionContext)


def test_the_transport_ws_handler_state_the_operation_cap_reads() -> None:
    view, websocket, context = object(), object(), object()
    handler: Any = BaseGraphQLTransportWSHandler(
        view,  # type: ignore[arg-type]
        websocket,  # type: ignore[arg-type]
        context,
        None,
        schema,
        timedelta(seconds=1),
        7,
    )
    missing = [name for name in TRANSPORT_WS_HANDLER_ATTRIBUTES if not hasattr(handler, name)]
    assert missing == []
    assert handler.view is view and handler.websocket is websocket
    assert handler.context is context
    assert handler.max_subscriptions_per_connection == 7
    assert handler.connection_acknowledged is False
    assert handler.operations == {} and isinstance(handler.operations, dict)
    # strawberry still calls the methods the server overrides, by these names
    source = inspect.getsource(BaseGraphQLTransportWSHandler)
    for method in TRANSPORT_WS_HANDLER_METHODS:
        assert callable(getattr(BaseGraphQLTransportWSHandler, method, None)), method
        assert f"self.{method}(" in source, method
        assert method in vars(OperationCapHandler), method


def test_graphql_core_parses_with_the_token_and_comment_limits() -> None:
    """`scimeta.resolvers.limits` passes these options to graphql-core's parser (through
    strawberry's `parse_options`); graphql-core before 3.3.2 refuses them."""
    with pytest.raises(GraphQLError, match="more than 3 tokens"):
        parse("{ a b c d }", max_lexical_tokens=3, max_comments=3)
    assert parse("{ a }", max_lexical_tokens=3, max_comments=3).definitions
