"""GraphiQL is served by the server itself: the page and every file it loads come from
the package, and nothing the page, its scripts or its styles reference names another
host. (tests/browser/ loads the page in a real browser with every other host blocked.)"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import started

from scimeta.server.app import create_app
from scimeta.server.graphiql import ASSETS_DIR, CONTENT_SECURITY_POLICY, PAGE, STATIC_DIR
from scimeta.server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "graphiql"
PAGE_URL = "http://localhost/graphql"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# attributes whose value a browser loads or navigates to
URL_ATTRIBUTES = frozenset(
    {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "manifest"}
)
CSS_URL = re.compile(r"""url\(\s*(["']?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
CSS_IMPORT = re.compile(r"""@import\s+(["'])(.*?)\1""", re.IGNORECASE)
SOURCE_MAP = re.compile(r"""[#@]\s*sourceMappingURL\s*=\s*([^\s*'"]+)""")
_STRING = r"""(["'`])((?:(?!\1).)*?)\1"""
# what in a script makes the browser load something from a URL it names
JS_LOADS = [
    re.compile(r"\bimport\s*\(\s*" + _STRING),
    re.compile(r"\bimport\s+(?:[\w*{}\s,$]+\s+from\s+)?" + _STRING),
    re.compile(r"\bfetch\s*\(\s*" + _STRING),
    re.compile(r"\bimportScripts\s*\(\s*" + _STRING),
    re.compile(r"\bnew\s+(?:Shared)?Worker\s*\(\s*" + _STRING),
    re.compile(r"\bnew\s+(?:WebSocket|EventSource)\s*\(\s*" + _STRING),
    re.compile(r"\bsendBeacon\s*\(\s*" + _STRING),
    re.compile(r"\.open\s*\(\s*[\"'][A-Za-z]+[\"']\s*,\s*" + _STRING),
    re.compile(r"\.(?:src|href|action)\s*=\s*" + _STRING),
    re.compile(r"\bsetAttribute\s*\(\s*[\"'](?:src|href)[\"']\s*,\s*" + _STRING),
]


@dataclass
class References:
    """The URLs a document makes a browser load: `relative` ones (followed, and served
    by the page's own server) and `absolute` ones (`scheme://host`, `//host`)."""

    relative: list[str] = field(default_factory=list)
    absolute: list[str] = field(default_factory=list)
    inline_scripts: int = 0

    def add(self, url: str, *, follow_relative: bool = True) -> None:
        url = url.strip()
        if not url or url.startswith("#"):
            return
        parts = urlsplit(url)
        if parts.netloc or url.startswith("//"):
            self.absolute.append(url)
        elif parts.scheme in ("data", "blob", "about"):
            return
        elif parts.scheme:
            # javascript:, mailto: and the like load nothing from a host
            return
        elif follow_relative:
            self.relative.append(url)


class _Markup(HTMLParser):
    def __init__(self, references: References) -> None:
        super().__init__(convert_charrefs=True)
        self.references = references
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in URL_ATTRIBUTES:
                self.references.add(value)
            elif name in ("srcset", "imagesrcset"):
                for candidate in value.split(","):
                    self.references.add(candidate.strip().split(" ")[0])
            elif name == "style":
                css_references(value, self.references)
            elif name == "content" and "url=" in value.lower():
                # <meta http-equiv="refresh" content="0; url=...">
                self.references.add(value.split("=", 1)[1])
        if tag == "script" and not dict(attrs).get("src"):
            self._in = "script"
        elif tag == "style":
            self._in = "style"

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script" and data.strip():
            self.references.inline_scripts += 1
            js_references(data, self.references)
        elif self._in == "style":
            css_references(data, self.references)


def html_references(text: str, references: References | None = None) -> References:
    references = references or References()
    parser = _Markup(references)
    parser.feed(text)
    parser.close()
    return references


def css_references(text: str, references: References | None = None) -> References:
    references = references or References()
    for match in CSS_URL.finditer(text):
        references.add(match.group(2))
    for match in CSS_IMPORT.finditer(text):
        references.add(match.group(2))
    for match in SOURCE_MAP.finditer(text):
        references.add(match.group(1))
    return references


def js_references(text: str, references: References | None = None) -> References:
    """What a script loads. Relative specifiers are not followed (minified bundles quote
    code examples in their messages); the browser test sees any the page really loads,
    which go to the page's own server anyway."""
    references = references or References()
    for pattern in JS_LOADS:
        for match in pattern.finditer(text):
            references.add(match.group(2), follow_relative=False)
    for match in SOURCE_MAP.finditer(text):
        references.add(match.group(1))
    return references


def references_of(content_type: str, text: str) -> References:
    media_type = content_type.split(";")[0].strip()
    if media_type == "text/css":
        return css_references(text)
    if media_type in ("text/javascript", "application/javascript"):
        return js_references(text)
    if media_type in ("text/html", "image/svg+xml"):
        return html_references(text)
    raise AssertionError(f"unexpected media type {content_type}")


@dataclass
class Crawl:
    """The page and everything it loads from its own server, transitively."""

    fetched: dict[str, httpx.Response] = field(default_factory=dict)
    foreign: list[tuple[str, str]] = field(default_factory=list)
    inline_scripts: int = 0


async def crawl(client: httpx.AsyncClient) -> Crawl:
    result = Crawl()
    pending = [PAGE_URL]
    own = urlsplit(PAGE_URL).netloc
    while pending:
        url = pending.pop()
        if url in result.fetched:
            continue
        accept = BROWSER_ACCEPT if url == PAGE_URL else "*/*"
        response = await client.get(url, headers={"Accept": accept})
        result.fetched[url] = response
        if response.status_code != 200:
            continue
        references = references_of(response.headers["content-type"], response.text)
        result.inline_scripts += references.inline_scripts
        for absolute in references.absolute:
            target = urlsplit(urljoin(url, absolute))
            if target.netloc != own:
                result.foreign.append((url, absolute))
            else:
                pending.append(urljoin(url, absolute).split("#")[0])
        for relative in references.relative:
            pending.append(urljoin(url, relative).split("#")[0])
    return result


@pytest.fixture
async def client(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app = await started(create_app(Settings(lease_sweep_seconds=0), sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


async def test_the_page_and_what_it_loads_come_from_the_server_alone(
    client: httpx.AsyncClient,
) -> None:
    result = await crawl(client)

    assert result.foreign == []
    failed = {url: r.status_code for url, r in result.fetched.items() if r.status_code != 200}
    assert failed == {}
    assert result.inline_scripts == 0
    served = {urlsplit(url).path for url in result.fetched}
    # every script and style the package carries is loaded, and only from /graphiql/
    vendored = {
        "/graphiql/" + path.relative_to(ASSETS_DIR).as_posix()
        for path in ASSETS_DIR.rglob("*")
        if path.suffix in (".js", ".css")
    }
    assert vendored <= served
    assert served - vendored == {"/graphql", "/graphiql/favicon.svg"}
    assert any("/graphiql-3.8.3/graphiql.min.js" in path for path in served)
    assert any("/react-dom-18.3.1/" in path for path in served)
    assert any("/graphiql-plugin-explorer-3.2.5/" in path for path in served)
    # fonts travel inside the stylesheet
    stylesheet = next(r for url, r in result.fetched.items() if url.endswith("graphiql.min.css"))
    assert "url(data:font/woff2;base64," in stylesheet.text


async def test_the_page_holds_the_browser_to_its_own_server(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(
        (directive.split()[0], directive.split()[1:]) for directive in policy.split(";")
    )
    assert directives["default-src"] == ["'none'"]
    for name, sources in directives.items():
        # keywords and data: only: no scheme or host another server could answer for
        for source in sources:
            assert source.startswith("'") or source == "data:", (name, source)
    assert directives["script-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert page.headers["cache-control"] == "no-cache"


async def test_vendored_files_are_cached_for_good_and_the_page_s_own_are_checked(
    client: httpx.AsyncClient,
) -> None:
    vendored = await client.get("/graphiql/vendor/graphiql-3.8.3/graphiql.min.js")
    own = await client.get("/graphiql/scimeta-graphiql.js")
    missing = await client.get("/graphiql/vendor/graphiql-3.8.2/graphiql.min.js")
    outside = await client.get("/graphiql/../index.html")
    page_file = await client.get("/graphiql/index.html")

    assert vendored.status_code == 200
    assert vendored.headers["content-type"].startswith("text/javascript")
    assert vendored.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert own.status_code == 200
    assert own.headers["cache-control"] == "no-cache"
    assert "etag" in own.headers
    assert missing.status_code == 404
    # the page is served at /graphql only, with its policy
    assert outside.status_code == 404
    assert page_file.status_code == 404


async def test_the_page_s_script_talks_to_graphql_over_http_and_its_websocket(
    client: httpx.AsyncClient,
) -> None:
    script = (await client.get("/graphiql/scimeta-graphiql.js")).text

    # the URL the page came from, over HTTP and as ws:// or wss://
    assert "window.location.origin + window.location.pathname" in script
    assert 'url.replace(/^http/, "ws")' in script
    assert "subscriptionUrl: subscriptionUrl" in script
    # the headers editor is on, and shows where a token goes
    assert "isHeadersEditorEnabled: true" in script
    assert '"Bearer smt_..."' in script
    assert "defaultHeaders: DEFAULT_HEADERS" in script
    # what strawberry's page offered: the explorer, shared links, persisted headers
    assert "GraphiQLPluginExplorer.explorerPlugin()" in script
    assert "updateURL({ q: edited })" in script
    assert "shouldPersistHeaders: true" in script


@pytest.mark.parametrize(
    "settings",
    [Settings(production=True, lease_sweep_seconds=0), Settings(graphiql=False)],
    ids=["production", "turned off"],
)
async def test_without_graphiql_neither_the_page_nor_its_files_are_served(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    app = await started(create_app(settings, sessionmaker=sessionmaker))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        script = await client.get("/graphiql/vendor/graphiql-3.8.3/graphiql.min.js")

    assert page.status_code == 406
    assert page.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert script.status_code == 404


async def test_the_files_answer_only_to_the_server_s_own_names(
    client: httpx.AsyncClient,
) -> None:
    rebound = await client.get(
        "/graphiql/scimeta-graphiql.js", headers={"Host": "attacker.example:8000"}
    )

    assert rebound.status_code == 421
    assert rebound.json()["errors"][0]["extensions"]["code"] == "HOST_NOT_ALLOWED"


def test_the_vendored_files_are_the_pinned_packages_as_built() -> None:
    """The committed files are what graphiql/build.mjs copied from the versions
    package.json and package-lock.json pin: nobody edited or swapped one by hand."""
    pinned = json.loads((BUILD_DIR / "package.json").read_text())["dependencies"]
    locked = json.loads((BUILD_DIR / "package-lock.json").read_text())["packages"]
    manifest = json.loads((ASSETS_DIR / "vendor" / "manifest.json").read_text())

    assert set(manifest) == {"react", "react-dom", "graphiql", "@graphiql/plugin-explorer"}
    on_disk = {
        path.relative_to(ASSETS_DIR / "vendor").as_posix()
        for path in (ASSETS_DIR / "vendor").rglob("*")
        if path.is_file() and path.name not in ("manifest.json", "LICENSE")
    }
    listed = set()
    for name, entry in manifest.items():
        assert entry["version"] == pinned[name] == locked[f"node_modules/{name}"]["version"]
        # exact versions only: a range would let npm pick another one
        assert re.fullmatch(r"\d+\.\d+\.\d+", pinned[name])
        assert entry["directory"].endswith(f"-{entry['version']}")
        for file, digest in entry["files"].items():
            path = ASSETS_DIR / "vendor" / entry["directory"] / file
            assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
            assert "sourceMappingURL" not in path.read_text()[-300:]
            listed.add(f"{entry['directory']}/{file}")
    assert on_disk == listed


def test_the_package_data_takes_in_the_page_and_its_files() -> None:
    """pyproject's package-data globs take in every file GraphiQL needs."""
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["scimeta"]
    package = STATIC_DIR.parents[1]
    needed = [PAGE, *(path for path in ASSETS_DIR.rglob("*") if path.is_file())]
    assert len(needed) > 10
    for path in needed:
        relative = path.relative_to(package)
        # setuptools' globs: `*` stays within one directory
        assert any(
            relative.match(glob) and len(relative.parts) == len(Path(glob).parts) for glob in globs
        ), relative


def test_the_checks_find_other_hosts_wherever_they_hide() -> None:
    """The collector above would see a CDN: in strawberry's own page, and in each form a
    page, a stylesheet or a script can load from."""
    stock = Path(strawberry.__file__).parent / "static" / "graphiql.html"
    found = html_references(stock.read_text())
    assert any("unpkg.com" in url for url in found.absolute)

    page = html_references(
        '<link rel="stylesheet" href="//cdn.example/a.css">'
        '<img srcset="https://img.example/a.png 1x, b.png 2x">'
        "<div style=\"background: url('https://img.example/b.png')\"></div>"
        "<script>fetch('https://api.example/x')</script>"
        '<a href="#top">top</a><img src="data:image/png;base64,AAAA">'
    )
    assert page.absolute == [
        "//cdn.example/a.css",
        "https://img.example/a.png",
        "https://img.example/b.png",
        "https://api.example/x",
    ]
    assert page.relative == ["b.png"]
    assert page.inline_scripts == 1

    css = css_references(
        '@import "https://fonts.example/css";'
        "@font-face { src: url(https://fonts.example/f.woff2) }"
        "a { background: url(data:image/png;base64,AAAA) }"
        "/*# sourceMappingURL=https://maps.example/a.css.map */"
    )
    assert sorted(css.absolute) == [
        "https://fonts.example/css",
        "https://fonts.example/f.woff2",
        "https://maps.example/a.css.map",
    ]

    script = js_references(
        'import x from "https://esm.example/x.js";'
        "import('//esm.example/y.js');"
        "fetch(`https://api.example/z`);"
        "importScripts('https://w.example/w.js');"
        'new Worker("https://w.example/v.js");'
        "new WebSocket('wss://ws.example/');"
        "xhr.open('GET', 'https://api.example/xhr');"
        "s.src = 'https://cdn.example/s.js';"
        'throw Error("see https://docs.example/error")\n'
        "//# sourceMappingURL=https://maps.example/a.js.map"
    )
    assert sorted(script.absolute) == [
        "//esm.example/y.js",
        "https://api.example/xhr",
        "https://api.example/z",
        "https://cdn.example/s.js",
        "https://esm.example/x.js",
        "https://maps.example/a.js.map",
        "https://w.example/v.js",
        "https://w.example/w.js",
        "wss://ws.example/",
    ]
