"""Which web pages of other origins may call the server from a browser (CORS).

A page of another origin can read a response only if the response names its origin in
`Access-Control-Allow-Origin`, and it can send the only POST this server takes
(`Content-Type: application/json`) or any `Authorization` header only after the server
has answered a preflight (an `OPTIONS` request with `Access-Control-Request-Method`)
saying it may. So the origins given with `--cors-origin` (`SCIMETA_CORS_ORIGINS`) are the
only ones whose preflights are answered and whose responses carry those headers; a
preflight from any other origin is refused with 403 `ORIGIN_NOT_ALLOWED` and no CORS
header, so the browser sends nothing more.

Browsers apply no CORS to WebSockets: a page of any origin may open one, with the
user's cookies. A WebSocket handshake whose `Origin` is neither the server's own (the
`Host` it was sent to) nor a listed origin is therefore answered 403 `ORIGIN_NOT_ALLOWED`
instead of its 101 (or closed with 1008 unaccepted, where the server cannot answer a
handshake with a response); strawberry's own check of `Origin` is given the same list.
A client that sends no `Origin` is no browser and is not checked here.

Credentials (cookies, HTTP authentication) are not allowed: the server reads none of
them, and a page sends its token in `Authorization`, which a preflight admits. Allowing
them would only let a listed origin's page ride on what the browser holds for the
server's host.

While a server runs open, `HostCheck` (scimeta.server.hosts) refuses pages of origins
other than loopback and the allowed hosts; a listed CORS origin is admitted there too:
listing it is the operator's explicit choice to let its pages act as the local user.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.websocket_origin import is_same_origin, normalize_origin

ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
CORS_PREFLIGHT_REFUSED = "CORS_PREFLIGHT_REFUSED"

ALLOWED_METHODS = ("GET", "POST")
# lower case, as browsers list them in Access-Control-Request-Headers
ALLOWED_HEADERS = ("content-type", "authorization", "x-request-id", "scimeta-report")
# response headers a page may read besides the safelisted ones: when to retry, and why
# a token was refused
EXPOSED_HEADERS = ("Retry-After", "WWW-Authenticate")
# how long a browser may keep a preflight's answer (Chromium caps it at 7200)
MAX_AGE_SECONDS = 600
# the close code of a WebSocket refused where the server cannot send a response instead
POLICY_VIOLATION = 1008


def normalize_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """Origins as browsers send them (scheme and host in lower case, no default port),
    in the order given without repeats. Raises ValueError for anything else: `*`, a
    path, `null`."""
    normalized: list[str] = []
    for origin in origins:
        value = normalize_origin(origin)
        try:
            parts = urlsplit(origin.strip())
        except ValueError:
            parts = None
        if (
            value is None
            or parts is None
            or parts.scheme.lower() not in ("http", "https")
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ValueError(
                f"{origin!r} is not an origin: give one as a page's address bar shows it, "
                "scheme, host and port if not the default, such as https://lab.example.org "
                "or http://localhost:3000 (no path, no '*')"
            )
        if value not in normalized:
            normalized.append(value)
    return tuple(normalized)


class CorsMiddleware:
    """ASGI middleware answering preflights and adding CORS headers for the listed
    origins, and refusing WebSocket handshakes of other origins (see the module's
    docstring)."""

    def __init__(self, app: ASGIApp, *, origins: Iterable[str] = ()) -> None:
        self.app = app
        self.origins = normalize_origins(origins)
        self._origins = frozenset(self.origins)

    def allows(self, origin: str) -> bool:
        """Whether pages of `origin` (an `Origin` header) are listed."""
        return normalize_origin(origin) in self._origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if (
            scope["method"] == "OPTIONS"
            and origin is not None
            and "access-control-request-method" in headers
        ):
            await self.preflight(origin, headers)(scope, receive, send)
        elif origin is not None and self.allows(origin):
            await self.app(scope, receive, self._adding(send, origin))
        elif self._origins:
            # a cache must not give a listed origin's answer to another, nor the reverse
            await self.app(scope, receive, self._adding(send, None))
        else:
            await self.app(scope, receive, send)

    def preflight(self, origin: str, headers: Headers) -> Response:
        """The answer to a preflight: 204 with what the origin may send, or 403."""
        if not self.allows(origin):
            listed = ", ".join(self.origins) if self.origins else "none (see --cors-origin)"
            return _refused(
                ORIGIN_NOT_ALLOWED,
                f"pages of {origin!r} may not call this server from a browser; the origins "
                f"that may: {listed}. Start it with --cors-origin {origin} to let them.",
            )
        method = headers["access-control-request-method"].strip().upper()
        if method not in ALLOWED_METHODS:
            return _refused(
                CORS_PREFLIGHT_REFUSED,
                f"{method} is not served here: a page may send {' or '.join(ALLOWED_METHODS)}",
            )
        requested = [
            name.strip().lower()
            for name in headers.get("access-control-request-headers", "").split(",")
            if name.strip()
        ]
        refused = [name for name in requested if name not in ALLOWED_HEADERS]
        if refused:
            return _refused(
                CORS_PREFLIGHT_REFUSED,
                f"a page may not send the header(s) {', '.join(refused)}; it may send "
                f"{', '.join(ALLOWED_HEADERS)}",
            )
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
                "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
                "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
                "Vary": "Origin",
            },
        )

    def _adding(self, send: Send, origin: str | None) -> Send:
        """`send`, adding to the response's head the CORS headers for `origin` (None:
        only `Vary: Origin`)."""

        async def adding(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                if origin is not None:
                    headers["Access-Control-Allow-Origin"] = origin
                    headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
            await send(message)

        return adding

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if (
            origin is None
            or headers.get("sec-fetch-site") == "same-origin"
            or is_same_origin(origin, headers.get("host"))
            or self.allows(origin)
        ):
            await self.app(scope, receive, send)
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            # sent instead of the handshake's 101: the socket never opens
            await _refused(
                ORIGIN_NOT_ALLOWED,
                f"pages of {origin!r} may not open a WebSocket to this server: only its "
                "own pages and those of the origins given with --cors-origin may.",
            )(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})


def _refused(code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, 403)
