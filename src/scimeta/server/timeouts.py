"""Deadlines for slow clients.

uvicorn bounds only the idle time between requests on a kept-alive connection
(`timeout_keep_alive`). A new connection that sends half a request head, or a request
whose body stops midway, keeps its socket (and, for a body, a task and a database
session's worth of waiting) for as long as the client likes, so one client holding a few
hundred of them takes the server's connections away from everyone else.

Two deadlines close that gap:

- the request head: a connection must deliver a whole head within
  `SCIMETA_HEAD_TIMEOUT_SECONDS` (default 10) of connecting, or of the previous response
  completing. Bytes that trickle in do not restart the clock. Enforced by the uvicorn
  protocol classes below, since no ASGI application sees a request before its head is
  complete. A connection that sent part of a head is answered 408 and closed; one that
  sent nothing is just closed.
- the request body: once the application asks for the next chunk of a body, it must
  arrive within `SCIMETA_BODY_TIMEOUT_SECONDS` (default 30). Enforced by
  `BodyTimeoutMiddleware`, around the application's `receive`: the clock then runs only
  while the application waits for the client, never while uvicorn's flow control has
  paused reading because the application is busy.

Either deadline is off at 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

logger = logging.getLogger(__name__)

HEAD_TIMEOUT_VARIABLE = "SCIMETA_HEAD_TIMEOUT_SECONDS"
BODY_TIMEOUT_VARIABLE = "SCIMETA_BODY_TIMEOUT_SECONDS"
# a browser or an HTTP library sends a head in one write; ten seconds is room for a slow
# network, not for a client that means to hold the connection
DEFAULT_HEAD_TIMEOUT_SECONDS = 10.0
# the clock restarts with whatever part of a body arrives, however small: thirty seconds
# with nothing at all is a stalled client, not a slow link
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0

REQUEST_TIMEOUT = "REQUEST_TIMEOUT"


def _seconds(text: str | None, variable: str, default: float) -> float:
    if text is None or not text.strip():
        return default
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{variable} must be a number of seconds, not {text!r}") from None
    return _checked(seconds, variable)


def _checked(seconds: float, what: str) -> float:
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"{what} must be 0 or more seconds, not {seconds}")
    return float(seconds)


def head_timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    """`SCIMETA_HEAD_TIMEOUT_SECONDS`, or its default; 0 turns the deadline off."""
    env = os.environ if environ is None else environ
    return _seconds(
        env.get(HEAD_TIMEOUT_VARIABLE), HEAD_TIMEOUT_VARIABLE, DEFAULT_HEAD_TIMEOUT_SECONDS
    )


def body_timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    """`SCIMETA_BODY_TIMEOUT_SECONDS`, or its default; 0 turns the deadline off."""
    env = os.environ if environ is None else environ
    return _seconds(
        env.get(BODY_TIMEOUT_VARIABLE), BODY_TIMEOUT_VARIABLE, DEFAULT_BODY_TIMEOUT_SECONDS
    )


def _timeout_body(message: str) -> bytes:
    """A GraphQL-shaped error, as every other refusal of this server has."""
    return json.dumps(
        {"errors": [{"message": message, "extensions": {"code": REQUEST_TIMEOUT}}]}
    ).encode()


def _number(seconds: float) -> str:
    return f"{seconds:g}"


class _HeadDeadline:
    """The clock of one connection while it owes the server a request head.

    Started when the connection is made and when a response completes with no further
    request already read; stopped when a whole head has been parsed. Starting it while it
    runs keeps the first start's deadline, so a head sent a byte at a time gets no more
    time than one sent whole.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        seconds: float,
        expire: Callable[[bool], None],
    ) -> None:
        self.seconds = seconds
        self._loop = loop
        self._expire = expire
        self._timer: asyncio.TimerHandle | None = None
        self._partial = False

    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        if self.seconds > 0 and self._timer is None:
            self._partial = False
            self._timer = self._loop.call_later(self.seconds, self._fire)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def received(self) -> None:
        """Notes that bytes arrived while a head is owed: if it never completes, the
        client gets a 408 rather than a bare close."""
        if self._timer is not None:
            self._partial = True

    def _fire(self) -> None:
        self._timer = None
        self._expire(self._partial)


def _close_late_connection(
    transport: asyncio.Transport,
    server_state: ServerState,
    seconds: float,
    partial: bool,
) -> None:
    """Closes a connection whose head is overdue, answering 408 if it started one.

    The response is written directly: neither parser has a request to answer yet (h11
    refuses to send a response before it has read a request's head).
    """
    if transport.is_closing():
        return
    if partial:
        body = _timeout_body(
            f"the request's head did not arrive within {_number(seconds)} s of the "
            "connection opening or of the previous response: send the head whole "
            f"(the deadline is {HEAD_TIMEOUT_VARIABLE})"
        )
        head = [b"HTTP/1.1 408 Request Timeout\r\n"]
        for name, value in server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        transport.write(b"".join(head) + body)
    logger.debug(
        "closed a connection that sent %s request head within %s s",
        "no whole" if partial else "no",
        _number(seconds),
    )
    transport.close()


class HeadTimeoutHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request head.

    `head_timeout_seconds` of None (the default) reads `SCIMETA_HEAD_TIMEOUT_SECONDS`
    for each connection, which is how worker processes, importing this class by name,
    learn it; `head_timeout_protocol` makes a subclass with a fixed value.
    """

    head_timeout_seconds: ClassVar[float | None] = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        seconds = self.head_timeout_seconds
        self.head_deadline = _HeadDeadline(
            self.loop,
            head_timeout_from_env() if seconds is None else seconds,
            self._head_overdue,
        )

    def _head_overdue(self, partial: bool) -> None:
        _close_late_connection(
            self.transport, self.server_state, self.head_deadline.seconds, partial
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_deadline.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_deadline.stop()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.head_deadline.received()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        # also before a WebSocket upgrade, which hands the transport to another protocol
        self.head_deadline.stop()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # httptools parses pipelined requests as they arrive: `cycle` is the newest one,
        # and while it is unanswered the next head is already here
        if self.cycle.response_complete and not self.transport.is_closing():
            self.head_deadline.start()


class HeadTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head (see
    `HeadTimeoutHttpToolsProtocol`)."""

    head_timeout_seconds: ClassVar[float | None] = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        seconds = self.head_timeout_seconds
        self.head_deadline = _HeadDeadline(
            self.loop,
            head_timeout_from_env() if seconds is None else seconds,
            self._head_overdue,
        )

    def _head_overdue(self, partial: bool) -> None:
        _close_late_connection(
            self.transport, self.server_state, self.head_deadline.seconds, partial
        )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_deadline.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_deadline.stop()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.head_deadline.received()
        super().data_received(data)

    def handle_events(self) -> None:
        # h11 has no callback for a complete head: a new request cycle is its sign
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:
            self.head_deadline.stop()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self.head_deadline.stop()
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        # a pipelined request read on completing this response starts a new cycle
        super().on_response_complete()
        if self.cycle.response_complete and not self.transport.is_closing():
            self.head_deadline.start()


HeadTimeoutProtocol: type[HeadTimeoutHttpToolsProtocol] | type[HeadTimeoutH11Protocol]
"""The protocol uvicorn's `http="auto"` would pick, with the head deadline: httptools
where it is installed (as `uvicorn[standard]` installs it), h11 otherwise."""
try:
    import httptools  # noqa: F401
except ImportError:  # pragma: no cover
    HeadTimeoutProtocol = HeadTimeoutH11Protocol
else:
    HeadTimeoutProtocol = HeadTimeoutHttpToolsProtocol


def head_timeout_protocol(
    seconds: float, http: Literal["auto", "httptools", "h11"] = "auto"
) -> type[asyncio.Protocol]:
    """A protocol class for `uvicorn.Config(http=...)` whose head deadline is `seconds`
    whatever the environment says (for a server in this process; worker processes need a
    class they can import by name, and so the environment)."""
    base: type[HeadTimeoutHttpToolsProtocol] | type[HeadTimeoutH11Protocol] = {
        "auto": HeadTimeoutProtocol,
        "httptools": HeadTimeoutHttpToolsProtocol,
        "h11": HeadTimeoutH11Protocol,
    }[http]
    fixed = _checked(seconds, "the head timeout")
    return type(base.__name__, (base,), {"head_timeout_seconds": fixed})


class BodyTimeoutMiddleware:
    """Bounds the wait for each chunk of an HTTP request body.

    Each `receive` the application makes before the body is complete must be answered
    within `seconds`. When one is not, the client gets a 408 `REQUEST_TIMEOUT` with
    `Connection: close` (so uvicorn closes the connection rather than read on), and the
    application is told the client disconnected, as ASGI has it: it stops reading, and
    whatever it still sends is dropped. If its response had already started, no 408 can
    be sent; the dropped end of it makes uvicorn close the connection.

    WebSockets, the lifespan and receives after the body pass through untimed: waiting
    for a disconnect is not waiting for the client to send.
    """

    def __init__(self, app: ASGIApp, seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.seconds = _checked(seconds, "the body timeout")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        request = _TimedBody(self.seconds, receive, send)
        await self.app(scope, request.receive, request.send)


class _TimedBody:
    """One request's `receive` and `send` under the body deadline."""

    def __init__(self, seconds: float, receive: Receive, send: Send) -> None:
        self._seconds = seconds
        self._receive = receive
        self._send = send
        self._body_complete = False
        self._response_started = False
        self._timed_out = False

    async def receive(self) -> Message:
        if self._timed_out:
            return {"type": "http.disconnect"}
        if self._body_complete:
            return await self._receive()
        try:
            # cancelling uvicorn's receive while it waits loses nothing: it takes the
            # buffered body only once its wait is over
            async with asyncio.timeout(self._seconds):
                message = await self._receive()
        except TimeoutError:
            await self._time_out()
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_complete = True
        return message

    async def send(self, message: Message) -> None:
        if self._timed_out:
            return
        if message["type"] == "http.response.start":
            self._response_started = True
        await self._send(message)

    async def _time_out(self) -> None:
        self._timed_out = True
        logger.debug("a request body stalled for %s s", _number(self._seconds))
        if self._response_started:
            return
        body = _timeout_body(
            f"the request body stalled: no part of it arrived for {_number(self._seconds)} s "
            f"(the deadline is {BODY_TIMEOUT_VARIABLE})"
        )
        await self._send(
            {
                "type": "http.response.start",
                "status": 408,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await self._send({"type": "http.response.body", "body": body, "more_body": False})
