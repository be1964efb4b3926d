"""Shared execution of subscription messages: subscribers of a process whose messages
would be the same get one execution per event, and the same encoded text.

A message of a subscription is the operation's selection set executed on the event and
the changed row, which the subscription re-reads when it pushes the event. Which events a
subscriber gets depends on its own arguments and filters (`id`, `where`, `types`,
`afterSequence`, and what its caller may see), but the message for one event depends
only on

- the document (its selection set and fragments) and the operation's name,
- the values of the variables the selection set uses (not those that only fill the root
  field's arguments, which choose events and never shape a message),
- what the caller may see (`access_key`: callers with the same grants read the same rows),
- and the rows as read for the batch of events being pushed, which the subscriptions
  pushing one batch read through one shared scope (`Delivery.shared`).

Subscribers with the same `message_key` pushing the same event therefore send the same
message. The first of them to get to it executes it (the `Leader`); the others wait for
its result and send it as it is. Its `data` is encoded once (`SharedData`), and each
subscriber's frame is that text with its own operation id around it. An execution that
ends in errors, or not at all (its subscriber went away), is not shared: each of the
others executes the event for itself, as without sharing.

Sharing is on unless `SCIMETA_SHARED_SUBSCRIPTIONS=0` (the reference the tests and the
live benchmark compare it with).
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import json
import os
from collections.abc import Awaitable, Callable, Hashable, Mapping
from contextvars import ContextVar, Token
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    Node,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected

from scimeta.live.frames import frame_writer

SHARING_VARIABLE = "SCIMETA_SHARED_SUBSCRIPTIONS"
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})

Encode = Callable[[Any], "str | bytes"]


def sharing_from_env(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(SHARING_VARIABLE, "").strip().lower() not in _FALSE_WORDS


class SharedData(dict[str, Any]):
    """The `data` of a message executed once for subscribers with one `message_key`.

    A dict like any result's data (whatever reads it as one still can), that remembers
    its encoding: the first subscriber to send it encodes it, the others reuse the text.
    """

    __slots__ = ("_frames", "_text", "wire")

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self._text: str | None = None
        self._frames: dict[tuple[str, str], str] = {}
        # the WebSocket frames of those messages, as the connections without extensions
        # all send them (see `scimeta.live.frames.FrameWriter`)
        self.wire: dict[str, bytes] = {}

    def text(self, encode: Encode) -> str:
        if self._text is None:
            self._text = _str(encode(dict(self)))
        return self._text

    def frame(self, route: Route) -> str:
        """The `next` message of the route's operation with this data and the rest of its
        payload (its `extensions`), exactly as the route's encoder encodes the whole
        message."""
        operation_id, rest, encode = route.operation_id, route.rest, route.encode
        frames_key = (operation_id, route.rest_text)
        frame = self._frames.get(frames_key)
        if frame is None:
            # the message with a mark in the data's place, the mark replaced by the data's
            # text: what the encoder writes around the data stays its own
            mark = _str(encode(_MARK))
            message = {"id": operation_id, "type": "next", "payload": {"data": _MARK, **rest}}
            encoded = _str(encode(message))
            head, found, tail = encoded.partition(mark)
            assert found, "the encoder wrote the mark as it writes any string"
            frame = self._frames[frames_key] = head + self.text(encode) + tail
        return frame


# a string no message holds (a private-use character with a name around it)
_MARK = "\ue000scimeta shared data\ue000"


def _str(encoded: str | bytes) -> str:
    return encoded.decode() if isinstance(encoded, bytes) else encoded


class Route:
    """Where a subscription's messages go: its socket, its operation's id, and what its
    payloads carry besides the data (the operation's `extensions`: its cost, the same for
    each message of an operation), as learned from a message strawberry sent."""

    __slots__ = ("encode", "operation_id", "rest", "rest_text", "websocket", "writer")

    def __init__(
        self, websocket: Any, operation_id: str, rest: dict[str, Any], encode: Encode
    ) -> None:
        self.websocket = websocket
        self.operation_id = operation_id
        self.rest = rest
        self.rest_text = _str(encode(rest)) if rest else ""
        self.encode = encode
        # what writes a frame straight to the connection, where the server has it
        self.writer = frame_writer(getattr(websocket.ws, "scope", None))

    async def send(self, data: SharedData) -> bool:
        """Send the message with `data`; False if the socket is gone (closed by the client,
        or by the server for a token that no longer works)."""
        frame = data.frame(self)
        if self.writer is not None:
            written = self.writer.write_text(frame, data.wire)
            if written is not None:
                return written
        try:
            await self.websocket.ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError):
            # starlette raises RuntimeError for a socket it has sent its close on
            return False
        return True


# The route of the subscription running in this task, once strawberry has sent one of its
# shared messages (each operation runs in a task of its own). From then on the
# subscription sends the shared messages it gets from others itself, without strawberry
# and graphql-core handling each one again.
_route: ContextVar[Route | None] = ContextVar("shared_route", default=None)


def current_route() -> Route | None:
    return _route.get()


class Leader:
    """One event's message for the subscribers with one `message_key`: executed by the
    first to get there, awaited by the others."""

    __slots__ = ("done", "executing", "sequence")

    def __init__(self, sequence: int) -> None:
        self.sequence = sequence
        self.executing = False
        # the shared data, or None where each executes for itself
        self.done: asyncio.Future[SharedData | None] = asyncio.get_running_loop().create_future()

    def settle(self, data: SharedData | None) -> None:
        if not self.done.done():
            self.done.set_result(data)

    async def close(self) -> None:
        """The batch is pushed: nobody waits any more (see `Delivery.release`)."""
        self.settle(None)

    async def shared_data(self) -> SharedData | None:
        """The shared data once another subscriber has executed the message; None if this
        one is the first to get to it, or if the execution is not shared: then this
        subscriber has it executed (and leads, if it is the first)."""
        if self.done.done():
            return self.done.result()
        if not self.executing:
            return None
        # shielded: a subscriber that is cancelled does not cancel the shared future
        return await asyncio.shield(self.done)


class Shared:
    """A value computed once for subscribers that would compute the same (which events
    of a batch to deliver, for subscriptions with the same arguments and visibility): the
    first computes it, the others wait for it. A computation that fails or is cancelled
    is not shared: each of the others computes for itself."""

    __slots__ = ("done", "started")

    def __init__(self) -> None:
        self.started = False
        self.done: asyncio.Future[tuple[Any] | None] = asyncio.get_running_loop().create_future()

    async def get(self, compute: Callable[[], Awaitable[Any]]) -> Any:
        if not self.started:
            self.started = True
            result: tuple[Any] | None = None
            try:
                value = await compute()
                result = (value,)
                return value
            finally:
                self.done.set_result(result)
        shared = self.done.result() if self.done.done() else await asyncio.shield(self.done)
        return (await compute()) if shared is None else shared[0]

    async def close(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


# The message the subscription in this task is about to have executed: set by the
# subscription's source stream (`scimeta.resolvers.subscription`) right before it yields
# an event and reset when it is asked for the next, so the executor of that one event,
# which runs in the same task in between, finds it.
_pending: ContextVar[Leader | None] = ContextVar("shared_message", default=None)
PendingToken = Token[Leader | None]


def expect(leader: Leader) -> PendingToken:
    return _pending.set(leader)


def done_with(token: PendingToken) -> None:
    _pending.reset(token)


class SharedEventExecution:
    """Executor mixin (graphql-core's `Executor`, through strawberry's execution
    context): a subscription event whose message is shared is executed once."""

    root_value: Any
    is_awaitable: Any

    def execute_operation(self, serially: bool | None = None) -> Any:
        leader = _pending.get()
        if leader is None or getattr(self.root_value, "sequence", None) != leader.sequence:
            return super().execute_operation(serially)  # type: ignore[misc]
        if leader.done.done():
            data = leader.done.result()
            if data is not None:
                return ExecutionResult(data)
            return super().execute_operation(serially)  # type: ignore[misc]
        if leader.executing:
            return self._follow(leader, serially)
        leader.executing = True
        return self._lead(leader, serially)

    async def _lead(self, leader: Leader, serially: bool | None) -> Any:
        data: SharedData | None = None
        try:
            result = super().execute_operation(serially)  # type: ignore[misc]
            if self.is_awaitable(result):
                result = await result
            if isinstance(result, ExecutionResult) and not result.errors and result.data:
                data = SharedData(result.data)
                result = ExecutionResult(data)
            return result
        finally:
            # also when the execution failed or was cancelled: the others then execute
            # for themselves rather than wait
            leader.settle(data)

    async def _follow(self, leader: Leader, serially: bool | None) -> Any:
        # shielded: a follower that is cancelled does not cancel the shared future
        data = await asyncio.shield(leader.done)
        if data is not None:
            return ExecutionResult(data)
        result = super().execute_operation(serially)  # type: ignore[misc]
        return (await result) if self.is_awaitable(result) else result


async def send_shared(websocket: Any, message: Mapping[str, Any], encode: Encode) -> bool:
    """Send a `next` message whose data is shared as the text encoded once; False for any
    other message, which the caller sends as usual. `websocket` is strawberry's ASGI
    adapter, whose `ws` is the Starlette WebSocket."""
    if message.get("type") != "next":
        return False
    payload = message.get("payload")
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, SharedData):
        return False
    assert isinstance(payload, Mapping)
    rest = {key: value for key, value in payload.items() if key != "data"}
    route = _route.get()
    if route is None or route.rest != rest or route.operation_id != message["id"]:
        route = Route(websocket, str(message["id"]), rest, encode)
        # this task's subscription sends its next shared messages itself
        _route.set(route)
    frame = data.frame(route)
    written = None if route.writer is None else route.writer.write_text(frame, data.wire)
    if written is False:
        raise WebSocketDisconnected
    if written:
        return True
    try:
        await websocket.ws.send_text(frame)
    except WebSocketDisconnect as exc:
        raise WebSocketDisconnected from exc
    return True


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _message_variables(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> set[str]:
    """The variables that may shape a message: all but those used only in the root
    field's arguments."""
    collector = _Variables()
    parts: list[Node] = [*(operation.directives or ()), *fragments.values()]
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode):
            parts += selection.directives or ()
            if selection.selection_set is not None:
                parts.append(selection.selection_set)
        else:
            parts.append(selection)
    for part in parts:
        visit(part, collector)
    return collector.names


def _value_text(value: Any) -> Any:
    """A JSON-encodable stand-in for a coerced variable value that names it exactly; any
    other type raises TypeError (and the subscription shares nothing)."""
    if isinstance(value, enum.Enum):
        return [type(value).__qualname__, value.name]
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta | decimal.Decimal):
        return [type(value).__name__, str(value)]
    if type(value).__name__ == "GlobalID":
        return ["GlobalID", str(value)]
    raise TypeError(f"not a value to share by: {type(value).__name__}")


def message_key(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variable_values: Mapping[str, Any],
    every_variable: bool = False,
) -> Hashable | None:
    """What decides a subscription's messages besides the event, its rows and the
    caller's visibility; None where it cannot be told (the subscription then executes
    every message itself). With `every_variable`, what decides its events too."""
    source = operation.loc.source.body if operation.loc is not None else None
    if source is None:
        return None
    if every_variable:
        names = sorted(variable_values)
    else:
        names = sorted(_message_variables(operation, fragments))
    try:
        values = json.dumps(
            {name: variable_values.get(name) for name in names if name in variable_values},
            sort_keys=True,
            separators=(",", ":"),
            default=_value_text,
        )
    except (TypeError, ValueError):
        return None
    return (source, operation.name.value if operation.name else None, values)
