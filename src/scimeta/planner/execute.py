"""Compiled statements, cached by what they answer, and their execution.

A statement is built and compiled once per document, operation, variables and caller's
visibility; each later request with the same ones runs the cached SQL text with its
parameters, which asyncpg keeps prepared on each connection.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from graphql import DocumentNode, OperationDefinitionNode
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util.concurrency import greenlet_spawn

from scimeta.auth.policy import Access
from scimeta.lru import LRU

from .compile import compile_operation
from .selections import NotCompilable
from .sqljson import FALLBACK_BYTES

logger = logging.getLogger(__name__)

CACHE_SIZE = 256


# Called with the SQL of each statement the fast path sends on a pooled connection, which
# SQLAlchemy's `before_cursor_execute` does not see: whoever counts statements (tests,
# benchmarks) listens to both.
statement_listeners: list[Callable[[str], None]] = []


# The response's JSON comes in rows of at most this many bytes, so that no part of the
# server holds it twice: a driver reading one large value keeps the bytes it received
# until it has copied them into the value.
CHUNK_BYTES = 256 * 1024


def in_chunks(sql: str) -> str:
    """The statement that sends the UTF-8 bytes of the text `sql` selects in chunks, in
    order (a chunk may end inside a character: the client gets them joined)."""
    return (
        "WITH document AS MATERIALIZED ("
        f"SELECT convert_to(text, 'UTF8') AS body FROM ({sql}) AS answer(text)) "
        f"SELECT substring(body FROM start FOR {CHUNK_BYTES}) FROM document, "
        f"generate_series(1, greatest(octet_length(body), 1), {CHUNK_BYTES}) AS start "
        "ORDER BY start"
    )


@dataclass(frozen=True)
class CompiledRead:
    sql: str
    parameters: tuple[Any, ...]

    async def run_alone(self, sessionmaker: async_sessionmaker[AsyncSession]) -> list[bytes] | None:
        """`run` on a connection of its own, outside any transaction: the statement is
        the request's only one, and PostgreSQL runs it on one snapshot anyway. This
        saves the BEGIN and ROLLBACK round trips."""
        bind = sessionmaker.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            # a session bound to a connection (a test's transaction): read through it
            async with sessionmaker() as session:
                return await self.run(session)
        # the pool's connection as asyncpg has it: one statement needs none of what a
        # SQLAlchemy connection adds, and costs a fifth less of the server's time without it
        pooled = await greenlet_spawn(bind.sync_engine.raw_connection)
        driver: Any = pooled.driver_connection
        for listener in statement_listeners:
            listener(self.sql)
        try:
            rows = await driver.fetch(self.sql, *self.parameters)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            logger.info("a compiled read failed; the executor answers", exc_info=True)
            if driver.is_closed():
                pooled.invalidate()
            return None
        finally:
            await greenlet_spawn(pooled.close)
        return _chunks(rows)

    async def run(self, session: AsyncSession) -> list[bytes] | None:
        """The response's `data` as chunks of JSON bytes, or None where the executor must
        answer: where the statement wrote the fallback mark, and where the database
        refused it (a statement timeout, a lost connection), which the executor reports
        field by field as the reference does, in a new transaction."""
        connection = await session.connection()
        try:
            result = await connection.exec_driver_sql(self.sql, self.parameters)
        except DBAPIError:
            logger.info("a compiled read failed; the executor answers", exc_info=True)
            await session.rollback()
            return None
        return _chunks(result.all())


def _chunks(rows: Sequence[Any]) -> list[bytes] | None:
    """The chunks of the response, or None if the fallback mark is in them (searched in
    Python, which is many times faster at it than PostgreSQL's strpos)."""
    chunks: list[bytes] = [row[0] for row in rows]
    overlap = len(FALLBACK_BYTES) - 1
    for position, chunk in enumerate(chunks):
        if FALLBACK_BYTES in chunk:
            return None
        if position and FALLBACK_BYTES in chunks[position - 1][-overlap:] + chunk[:overlap]:
            return None
    return chunks


@dataclass(frozen=True)
class JSONText:
    """A response value that is JSON already, sent as it is, in its chunks."""

    chunks: list[bytes]


_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_NOT_COMPILABLE = object()


def variables_key(variables: Mapping[str, Any] | None) -> str:
    return json.dumps(variables, sort_keys=True, separators=(",", ":")) if variables else ""


def access_key(access: Access) -> tuple[Any, ...]:
    return (access.reads_all, tuple(access.projects), tuple(access.studies))


@dataclass(frozen=True)
class Answer:
    """A request answered by a compiled statement once: the statement, and the
    `extensions` its response carried. The same request (document, operation name,
    variables, caller's visibility and limits) passes parsing, validation and the limits
    as it did then, so it is answered again without them."""

    read: CompiledRead
    extensions: dict[str, Any]


class CompiledReads:
    """The statements compiled so far (and the operations found not compilable), and the
    requests they answered, most recently used last."""

    def __init__(self, schema: Any, size: int = CACHE_SIZE) -> None:
        self.schema = schema
        self._cache: LRU[tuple[Any, ...], Any] = LRU(size)
        self._answers: LRU[tuple[Any, ...], Answer] = LRU(size)
        self._sql_cache: LRU[Any, Any] = LRU(size)

    def answer(self, request_key: tuple[Any, ...]) -> Answer | None:
        return self._answers.get(request_key)

    def remember(self, request_key: tuple[Any, ...], answer: Answer) -> None:
        self._answers.put(request_key, answer)

    def get(
        self,
        query: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        access: Access,
    ) -> CompiledRead | None:
        key = (
            query,
            operation.name.value if operation.name else None,
            variables_key(variables),
            *access_key(access),
        )
        cached = self._cache.get_or_make(
            key, lambda: self._compile(document, operation, variables, access)
        )
        return None if cached is _NOT_COMPILABLE else cached

    def _compile(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        access: Access,
    ) -> Any:
        try:
            statement = compile_operation(
                self.schema, document, operation, variables, access.visibility
            )
            compiled, values = self._sql(statement)
            # a list parameter (`in`) becomes one parameter per item
            expanded = compiled.construct_expanded_state(values)
        except NotCompilable:
            return _NOT_COMPILABLE
        except Exception:
            # the executor answers, and is the reference: a planner bug costs speed only
            logger.warning("the planner failed on an operation", exc_info=True)
            return _NOT_COMPILABLE
        processors: Mapping[str, Any] = {**compiled._bind_processors, **expanded.processors}
        parameters = []
        for name in expanded.positiontup or ():
            value = expanded.parameters[name]
            processor = processors.get(name)
            parameters.append(processor(value) if processor is not None else value)
        return CompiledRead(in_chunks(expanded.statement), tuple(parameters))

    def _sql(self, statement: Any) -> tuple[Any, dict[str, Any]]:
        """The SQL of `statement` and its parameter values. Statements that differ only
        in their parameter values (another id, cursor or filter value) share one
        compilation, as SQLAlchemy's own statement cache does."""
        cache_key = statement._generate_cache_key()
        if cache_key is None:
            compiled = statement.compile(dialect=_DIALECT)
            return compiled, compiled.construct_params()
        compiled = self._sql_cache.get(cache_key.key)
        if compiled is None:
            compiled = statement.compile(dialect=_DIALECT, cache_key=cache_key)
            self._sql_cache.put(cache_key.key, compiled)
            return compiled, compiled.construct_params()
        parameters = compiled.construct_params(extracted_parameters=cache_key.bindparams)
        return compiled, parameters
