"""The lab dashboard at /dashboard, served by the server itself.

A person opens one address and sees what the server holds: runs by status and phase,
changing live (`runChanged`, resumed with `afterSequence` after a reconnect), a run's
trajectories and chunk audits, a project's job tree, batches' progress, the statistics
and any node's event log. The page and its script, styles and icon are files in this
package (`scimeta/static/dashboard/`, built from `dashboard/` at the repository's root
by `dashboard/build.mjs` and committed), so an installed scimeta needs no Node, and the
page sends nothing to any other host: its Content-Security-Policy allows the server's
own origin only.

The page runs the documents of `frontend-queries/`, by id only. The build writes their
manifest (`scimeta documents build`) beside the script; the server adds those documents
to its trusted documents while the dashboard is on, so the ids the page sends are known
whatever `--trusted-documents` says, and the page needs no text of its own. Under
`--trusted-documents-only` they are then among the documents any caller may run: they
are the frontends' own documents, which such a server is meant to run anyway.

It is on unless turned off (`--no-dashboard`, `SCIMETA_DASHBOARD=0`), and off in
production unless asked for (`--dashboard`, `SCIMETA_DASHBOARD=1`). It is only a page:
what it shows is what the caller's token may read, as for any other client, and the
token it asks for on a 401 stays in the browser tab (sessionStorage).
"""

from __future__ import annotations

import functools
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from scimeta.server.documents import TrustedDocuments, load_manifest
from scimeta.server.graphiql import PackagedFiles, page_headers
from scimeta.server.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "dashboard"
PAGE = STATIC_DIR / "index.html"
ASSETS_DIR = STATIC_DIR / "assets"
# the manifest of frontend-queries/ the page sends ids of (dashboard/build.mjs)
MANIFEST = ASSETS_DIR / "documents.json"
PATH = "/dashboard"
ASSETS_PATH = "/dashboard/assets"
# where the page learns whether to link to GraphiQL
_GRAPHIQL_OFF = 'data-graphiql="off"'
_GRAPHIQL_ON = 'data-graphiql="on"'

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        # HTTP and the WebSocket of the page's own origin ('self' covers ws: and wss:)
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

PAGE_HEADERS = page_headers(CONTENT_SECURITY_POLICY)


def dashboard_enabled(settings: Settings) -> bool:
    """On unless turned off; in production only when asked for."""
    if settings.dashboard is not None:
        return settings.dashboard
    return not settings.production


@functools.cache
def _page_text(graphiql: bool) -> str:
    text = PAGE.read_text(encoding="utf-8")
    if _GRAPHIQL_OFF not in text:
        raise RuntimeError(f"{PAGE} lacks {_GRAPHIQL_OFF}: rebuild it with dashboard/build.mjs")
    return text.replace(_GRAPHIQL_OFF, _GRAPHIQL_ON) if graphiql else text


@functools.cache
def dashboard_documents() -> dict[str, str]:
    """The documents the page sends ids of, by id."""
    return load_manifest(MANIFEST)


def with_dashboard_documents(documents: TrustedDocuments) -> TrustedDocuments:
    """The server's trusted documents and the dashboard's (the server's own win where an
    id is both, which can only be the same text)."""
    return TrustedDocuments(
        {**dashboard_documents(), **documents.documents}, trusted_only=documents.trusted_only
    )


def dashboard_routes(*, graphiql: bool) -> list[BaseRoute]:
    """/dashboard (the page), /dashboard/ (sent to it) and /dashboard/assets/ (its
    files). With `graphiql` the page links each view to GraphiQL with its query."""

    async def page(request: Request) -> Response:
        return HTMLResponse(_page_text(graphiql), headers=PAGE_HEADERS)

    async def to_page(request: Request) -> Response:
        # relative, so that it also holds under a prefix
        return RedirectResponse("../dashboard", status_code=308)

    return [
        Route(PATH, page, methods=["GET", "HEAD"]),
        Route(PATH + "/", to_page, methods=["GET", "HEAD"]),
        # checked again on each load: their names do not change with their content
        Mount(ASSETS_PATH, app=PackagedFiles(directory=ASSETS_DIR), name="dashboard"),
    ]
