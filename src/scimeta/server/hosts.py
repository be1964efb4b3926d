"""Which names a request may address the server by, and which pages may send it.

A server that runs open trusts every request that reaches it: its one user is whoever is
on this machine. A web page in that user's browser can reach it too. A page of
attacker.example that makes its own name resolve to 127.0.0.1 (DNS rebinding) sends
requests the browser counts as the page's own, and reads their answers: they carry
`Host: attacker.example:8000`. A page of another site that calls http://127.0.0.1:8000
itself carries that site in `Origin`. So while the server runs open, an HTTP request or
a WebSocket handshake is answered only if its `Host` names loopback (localhost,
127.0.0.1 or [::1], any port) or a name given with `--allowed-host`
(`SCIMETA_ALLOWED_HOSTS`), and its `Origin`, when it has one, names one of those too.
`Origin: null` (a sandboxed or local file's page) names none; an origin given with
`--cors-origin` (scimeta.server.cors) is admitted too, the operator's explicit choice. A
refused request gets 421
`HOST_NOT_ALLOWED` or 403 `ORIGIN_NOT_ALLOWED`; a refused WebSocket is answered the same
way instead of its handshake (or closed with 1008 before it is accepted, where the
server cannot answer a handshake with a response). A WebSocket that passes is still
held to strawberry's own rule, in either mode: a page may open one only to its own
origin.

With tokens, a request can do only what the token it carries allows, and a browser never
adds a token on its own: `Host` and `Origin` protect nothing then. Names given with
`--allowed-host` are still the only ones besides loopback that `Host` may name, since an
operator who lists them means them; without them nothing is checked. `Origin` is checked
only while the server runs open.

/healthz and /readyz answer whatever `Host` and `Origin` say: load balancers and probes
address a server by names of their own, and neither reads or changes data.

Whether the server runs open is asked of its `Authenticator` for each request (free while
it is known), so a server stops checking from the request after a token is made. While
the database cannot be asked, requests are held to the open server's rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.http.websocket_origin import normalize_origin

from scimeta.auth.identity import is_loopback
from scimeta.faults import database_fault
from scimeta.server.authn import LOOPBACK_NAMES, Authenticator
from scimeta.server.cors import normalize_origins

# answered whatever the request's Host: probes that call them use names of their own
UNCHECKED_PATHS = frozenset({"/healthz", "/readyz"})
# the close code of a WebSocket refused where the server cannot send a response instead
POLICY_VIOLATION = 1008


class HostCheck:
    """ASGI middleware refusing HTTP requests and WebSocket handshakes whose `Host` or
    `Origin` names a host the server does not answer to (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        allowed_hosts: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.allowed_hosts = tuple(allowed_hosts)
        self._allowed = frozenset(name for name in map(host_name, self.allowed_hosts) if name)
        self._cors_origins = frozenset(normalize_origins(cors_origins))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in UNCHECKED_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            runs_open = await self.authenticator.runs_open(scope["app"].state.sessionmaker)
        except Exception as exc:
            if database_fault(exc) is None:
                raise
            # the database cannot say now: held to an open server's rule meanwhile; the
            # application tells what passes to retry
            runs_open = True
        if not runs_open and not self._allowed:
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(Headers(scope=scope), runs_open)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await refusal(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            # sent instead of the handshake's 101: the socket never opens
            await refusal(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": POLICY_VIOLATION})

    def refusal(self, headers: Headers, runs_open: bool) -> JSONResponse | None:
        """The response refusing a request with these headers, or None to answer it."""
        host = headers.get("host", "")
        name = host_name(host)
        if not self.allows(name):
            addressed = f"not to {host!r}" if host else "and this one names no host"
            return _refused(
                421,
                "HOST_NOT_ALLOWED",
                f"This server answers only requests addressed to {self._names()}, "
                f"{addressed}. Call it as http://127.0.0.1:<port>/ or "
                f"http://localhost:<port>/, or start it with --allowed-host {name or 'NAME'} "
                "if that name is meant to reach it." + (_WHILE_OPEN if runs_open else ""),
            )
        origin = headers.get("origin")
        if (
            runs_open
            and origin is not None
            and not self.allows(origin_host(origin))
            and normalize_origin(origin) not in self._cors_origins
        ):
            return _refused(
                403,
                "ORIGIN_NOT_ALLOWED",
                f"This server answers no request sent by a page of {origin!r}: only pages "
                f"of {self._names()} may call it. Start it with --allowed-host NAME to let "
                "pages of NAME call it, or with --cors-origin ORIGIN for pages of another "
                "origin." + _WHILE_OPEN,
            )
        return None

    def allows(self, name: str | None) -> bool:
        return name is not None and (is_loopback(name) or name in self._allowed)

    def _names(self) -> str:
        names = [*LOOPBACK_NAMES, *self.allowed_hosts]
        return ", ".join(names[:-1]) + " or " + names[-1]


_WHILE_OPEN = (
    " It runs open (no API token was ever created), so a web page that reached it could "
    "read and change everything without a token."
)


def host_name(host: str) -> str | None:
    """The name of a `Host` header or an allowed host, without its port or IPv6 brackets,
    in lower case; None for an empty or malformed one."""
    try:
        name = urlsplit(f"//{host.strip()}").hostname
    except ValueError:
        return None
    return name or None


def origin_host(origin: str) -> str | None:
    """The host name of an `Origin` header; None for `null` or a malformed one."""
    try:
        parts = urlsplit(origin.strip())
        name = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return None
    return name or None


def _refused(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)
