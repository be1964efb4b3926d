"""Memory benchmark: what one deep read allocates in the server, compiled and executed.

Loads the demo data at `--scale` into a fresh database (as `bench/read.py` does), serves
the deep query of `bench/read.py` in-process through the ASGI application (no HTTP client
holding a copy), once to warm the caches and once under `tracemalloc`, on each path, and
prints the response's size and the peak of Python allocations during the request. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from read import DEEP_QUERY, prepare_database, scratch_database


async def serve_once(app: Any, query: str) -> int:
    """POST `query` to `app` as a server would; the size of the body it sends."""
    body = json.dumps({"query": query}).encode()
    requests = [{"type": "http.request", "body": body, "more_body": False}]
    sent = 0

    async def receive() -> dict[str, Any]:
        return requests.pop(0) if requests else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent
        if message["type"] == "http.response.body":
            sent += len(message["body"])

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/graphql",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "app": app,
    }
    await app(scope, receive, send)
    return sent


async def measure(url: str) -> list[dict[str, Any]]:
    from scimeta.server.app import create_app
    from scimeta.server.database import create_engine, create_sessionmaker
    from scimeta.server.settings import Settings

    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    results = []
    try:
        for way, compiled in (("compiled", True), ("executor", False)):
            app = create_app(Settings(compiled_reads=compiled), sessionmaker=sessionmaker)
            await app.state.authenticator.start(sessionmaker, "127.0.0.1")
            await serve_once(app, DEEP_QUERY)
            tracemalloc.start()
            try:
                size = await serve_once(app, DEEP_QUERY)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            results.append(
                {"way": way, "response_bytes": size, "peak_bytes": peak, "ratio": peak / size}
            )
    finally:
        await engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100, help="demo data scale (default 100)")
    args = parser.parse_args()

    async def prepare(url: str) -> None:
        await prepare_database(url, args.scale)

    admin = os.environ.get("DATABASE_URL")
    with scratch_database(admin, f"scimeta_memory_{args.scale}", prepare) as (url, _):
        results = asyncio.run(measure(url))
    print(f"scale {args.scale}, deep query, one request in-process\n")
    print("| way | response MB | peak of allocations MB | peak / response |")
    print("|---|---:|---:|---:|")
    for result in results:
        print(
            f"| {result['way']} | {result['response_bytes'] / 1e6:.2f} | "
            f"{result['peak_bytes'] / 1e6:.2f} | {result['ratio']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
