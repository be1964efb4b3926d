"""GraphiQL, served by the server itself.

A browser asking for /graphql gets a page whose scripts, styles and fonts (React,
ReactDOM, GraphiQL, its explorer plugin) come from files in this package, served under
/graphiql/: the page works on a machine without internet, and it sends nothing to any
other host. The files are the npm packages of `graphiql/package-lock.json` at exact
versions, copied into `scimeta/static/graphiql/assets/vendor/` by `graphiql/build.mjs`
(see its header), so an installed scimeta needs no Node. Their directories name their
versions, so a browser may keep them for good; the page and scimeta's own script are
checked again on each load.

The page's Content-Security-Policy holds the browser to that: scripts, styles, fonts,
images and connections only from the server itself (fonts and icons also inline, as
`data:` URLs), which also keeps a description in the schema from making the
documentation panel load an image from elsewhere. Scripts run only from files, never
inline.

GraphiQL is on unless it is turned off (`SCIMETA_GRAPHIQL=0`), and never in production;
where it is off, /graphql answers browsers as any other client and /graphiql/ serves
nothing.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from scimeta.server.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "graphiql"
PAGE = STATIC_DIR / "index.html"
ASSETS_DIR = STATIC_DIR / "assets"
# where the assets are served; the page names them relative to /graphql ("graphiql/...")
ASSETS_PATH = "/graphiql"
VENDOR_DIR = "vendor"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # GraphiQL and CodeMirror set style attributes as they lay out the editors
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        # HTTP and the WebSocket of the page's own origin ('self' covers ws: and wss:)
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def graphiql_enabled(settings: Settings) -> bool:
    """Whether the server offers GraphiQL: where it is not turned off, and never in
    production."""
    return settings.graphiql and not settings.production


@functools.cache
def _page_text() -> str:
    return PAGE.read_text(encoding="utf-8")


def graphiql_page() -> Response:
    """The GraphiQL page, with the policy that keeps it on this server."""
    return HTMLResponse(_page_text(), headers=PAGE_HEADERS)


class PackagedFiles(StaticFiles):
    """A page's files from the package, never sniffed into another type. Those under
    `immutable` never change at a path (a new version gets a new directory), so a
    browser keeps them; the others it checks on each load."""

    def __init__(self, *, directory: Path, immutable: Path | None = None) -> None:
        super().__init__(directory=directory)
        self._immutable = None if immutable is None else os.path.realpath(immutable) + os.sep

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        kept = self._immutable is not None and os.path.realpath(full_path).startswith(
            self._immutable
        )
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if kept else "no-cache"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def page_headers(content_security_policy: str) -> dict[str, str]:
    """The headers of a page the server serves: its policy, checked on each load."""
    return {
        "Content-Security-Policy": content_security_policy,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


PAGE_HEADERS = page_headers(CONTENT_SECURITY_POLICY)


def graphiql_assets_route() -> Mount:
    """The route serving the page's files at /graphiql/."""
    files = PackagedFiles(directory=ASSETS_DIR, immutable=ASSETS_DIR / VENDOR_DIR)
    return Mount(ASSETS_PATH, app=files, name="graphiql")
