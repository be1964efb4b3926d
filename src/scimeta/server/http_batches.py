"""Batches: several GraphQL requests POSTed in one JSON array, answered by one array in
the same order.

Each operation of a batch runs at once with the others, each on a database connection of
its own, and each is checked against the per-operation limits alone: the cap on a batch's
size keeps one request from taking the whole pool or multiplying those limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from scimeta.server.http_refusals import BAD_REQUEST, JSONObject, Refusal
from scimeta.server.http_requests import GraphQLRequest, graphql_request

MAX_BATCH_OPERATIONS = 10

BATCHING_DISABLED = "BATCHING_DISABLED"
BATCH_TOO_LARGE = "BATCH_TOO_LARGE"


def batch_requests(items: list[object], enabled: bool) -> list[GraphQLRequest | Refusal]:
    """The requests of a batch; one that is not a valid request is refused alone, in its
    place, while a batch that cannot be served at all is refused whole."""
    if not enabled:
        raise Refusal(
            400,
            BATCHING_DISABLED,
            "batching (a JSON array of requests) is off on this server: send each "
            "request on its own, or turn it on with SCIMETA_BATCHING",
        )
    if not items:
        raise Refusal(400, BAD_REQUEST, "the batch is empty")
    if len(items) > MAX_BATCH_OPERATIONS:
        raise Refusal(
            400,
            BATCH_TOO_LARGE,
            f"a batch holds at most {MAX_BATCH_OPERATIONS} requests, this one "
            f"{len(items)}: send it in several",
        )
    if not all(isinstance(item, dict) for item in items):
        raise Refusal(400, BAD_REQUEST, "each item of a batch must be a request object")
    requests: list[GraphQLRequest | Refusal] = []
    for item in items:
        try:
            requests.append(graphql_request(cast(JSONObject, item)))
        except Refusal as refusal:
            requests.append(refusal)
    return requests


async def answer_batch(
    requests: Sequence[GraphQLRequest | Refusal],
    execute: Callable[[GraphQLRequest], Awaitable[JSONObject]],
) -> list[JSONObject]:
    """The response bodies of a batch's requests, in their order; a request refused as it
    runs answers with its refusal and leaves the others be."""

    async def answer(item: GraphQLRequest | Refusal) -> JSONObject:
        if isinstance(item, Refusal):
            return item.body
        try:
            return await execute(item)
        except Refusal as refusal:
            return refusal.body

    # each operation runs in a task of its own, and so with a session of its own
    return list(await asyncio.gather(*(answer(item) for item in requests)))
