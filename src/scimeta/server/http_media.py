"""The media type of a /graphql response, negotiated from the request's Accept header,
and the HTTP status that goes with it.

HTTP status codes follow the response's media type. With
`application/graphql-response+json` (preferred, and the answer to a missing or `*/*`
Accept) a request that never reached execution (it does not parse, validate, name an
operation to run, or its variables do not coerce) carries no `data` and is a 400 (a 500
if the server failed); with `application/json`, which legacy clients ask for, it is a
200, because there a non-200 answer may come from any proxy on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

from scimeta.errors import INTERNAL, QueryTimeout
from scimeta.faults import RETRY_AFTER_SECONDS, is_retryable
from scimeta.server.http_refusals import JSONObject, Refusal

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# the media types a response can take, the server's preference first
RESPONSE_MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, JSON)

NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
QUERY_TIMEOUT = QueryTimeout.code


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    quality: float
    position: int

    def specificity(self, media_type: str) -> int | None:
        """How closely this range names `media_type` (2: exactly, 0: `*/*`), or None if
        it does not cover it."""
        type_, subtype = media_type.split("/")
        if self.type == "*" and self.subtype == "*":
            return 0
        if self.type != type_:
            return None
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == subtype else None


def parse_accept(header: str) -> list[MediaRange]:
    ranges = []
    for position, part in enumerate(header.split(",")):
        essence, parameters = parse_media_type(part)
        if essence.count("/") != 1:
            continue
        try:
            quality = float(parameters.get("q", "1"))
        except ValueError:
            continue
        type_, subtype = essence.split("/")
        ranges.append(MediaRange(type_, subtype, quality, position))
    return ranges


def parse_media_type(text: str) -> tuple[str, dict[str, str]]:
    """The lower-cased essence ("type/subtype") of a media type, and its parameters."""
    essence, *parameters = text.split(";")
    values = {}
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        values[name.strip().lower()] = value.strip().strip('"')
    return essence.strip().lower(), values


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None if it admits neither.

    The most specific range naming a type gives its quality (RFC 9110); the highest
    quality wins, then the more specific range, then the one listed first, then the
    server's preference. Without an Accept header the answer is
    `application/graphql-response+json`, as the specification says from 2025 on.
    """
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE_JSON
    ranges = parse_accept(accept)
    best: tuple[tuple[float, int, int, int], str] | None = None
    for preference, media_type in enumerate(RESPONSE_MEDIA_TYPES):
        matches = [
            (specificity, media_range)
            for media_range in ranges
            if (specificity := media_range.specificity(media_type)) is not None
        ]
        if not matches:
            continue
        specificity, media_range = max(matches, key=lambda match: match[0])
        if media_range.quality <= 0:
            continue
        rank = (media_range.quality, specificity, -media_range.position, -preference)
        if best is None or rank > best[0]:
            best = (rank, media_type)
    return None if best is None else best[1]


def not_acceptable(accept: str | None) -> Refusal:
    """The refusal of a request whose Accept header admits no response media type."""
    return Refusal(
        406,
        NOT_ACCEPTABLE,
        f"responses are {GRAPHQL_RESPONSE_JSON} or {JSON}, and the Accept "
        f"header ({accept}) admits neither",
    )


def accepts_html(accept: str | None) -> bool:
    return any(
        (media_range.type, media_range.subtype) == ("text", "html") and media_range.quality > 0
        for media_range in parse_accept(accept or "")
    )


def response_status(
    media_type: str, body: JSONObject, executed: bool
) -> tuple[int, dict[str, str]]:
    """The status of a response to one operation, and the headers that go with it."""
    errors = body.get("errors") or []
    codes = {(error.get("extensions") or {}).get("code") for error in errors}
    headers: dict[str, str] = {}
    if media_type == JSON:
        status = 200
    elif any(is_retryable(error) for error in errors):
        # the database's state, not the request: a client, proxy or load balancer
        # that sees 503 tries again later (or elsewhere), as it would for an outage
        status = 503
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    elif executed:
        status = 200
    elif QUERY_TIMEOUT in codes:
        status = 504
    else:
        # without data the status must say it failed, and whose fault it was
        status = 500 if INTERNAL in codes else 400
    return status, headers
