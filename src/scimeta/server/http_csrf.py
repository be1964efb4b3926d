"""Cross-site request forgery: which POSTs to /graphql a browser could have sent from
another site without asking the server first, refused before their body is read.

A browser sends a cross-site POST without asking the server first (a CORS preflight) only
if it is "simple", whose Content-Type is text/plain, application/x-www-form-urlencoded or
multipart/form-data. A POST must therefore say `Content-Type: application/json`, which
makes it non-simple; one with a simple Content-Type or none is refused. A GET runs only
queries, which change nothing.
"""

from __future__ import annotations

from scimeta.server.http_media import JSON, parse_media_type
from scimeta.server.http_refusals import Refusal

# the Content-Types a browser may send cross-site without a CORS preflight
SIMPLE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)

CSRF_REFUSED = "CSRF_REFUSED"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"


def check_content_type(header: str | None) -> None:
    """Refuse a POST whose Content-Type a cross-site form could send (403), or whose body
    is not JSON in UTF-8 (415)."""
    essence, parameters = parse_media_type(header or "")
    if not essence or essence in SIMPLE_CONTENT_TYPES:
        raise Refusal(
            403,
            CSRF_REFUSED,
            "refused as a possible cross-site request forgery: a POST must have "
            "`Content-Type: application/json`"
            + (f", not {essence}" if essence else ", and this one has no Content-Type"),
        )
    charset = parameters.get("charset", "utf-8").lower()
    if essence != JSON or charset not in ("utf-8", "utf8"):
        raise Refusal(
            415,
            UNSUPPORTED_MEDIA_TYPE,
            f"a POST body must be `application/json` in UTF-8, not {header}",
        )
