"""Trusted documents: the GraphQL documents the server's own frontends send, known to it
by id, so that a client may send an id instead of the text and a server may refuse any
text it was not given.

A manifest is a JSON object mapping each document's id to its text, the id being
`sha256:` and the hexadecimal SHA-256 of the text as UTF-8 (the convention of GraphQL
over HTTP's persisted documents, and of GraphQL Codegen's `persisted-documents.json`,
whose bare hexadecimal keys are read as `sha256:` ids too). `scimeta documents build`
makes one from a folder of `.graphql` files (`frontend-queries/`), with its keys in
order, so the same folder always gives the same bytes.

A request names a document in one of two ways:

- `documentId: "sha256:<hex>"` beside `variables` and `operationName` (GET or POST), as
  GraphQL over HTTP's persisted documents have it;
- `extensions: {persistedQuery: {version: 1, sha256Hash: "<hex>"}}`, as Apollo clients
  send it.

An id the manifest lacks is refused with `PERSISTED_QUERY_NOT_FOUND`, the code Apollo's
persisted-query link reads. With `trusted_only`, text in `query` runs only if it is one
of the manifest's documents (by its hash) or the caller is an admin of everything (the
local user of an open server, or GraphiQL used by an operator): anyone else is refused
with `TRUSTED_DOCUMENTS_ONLY`, so a leaked scoped token cannot run arbitrary, costly
queries, only the frontends' own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scimeta.auth.identity import Identity

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
TRUSTED_DOCUMENTS_ONLY = "TRUSTED_DOCUMENTS_ONLY"
BAD_REQUEST = "BAD_REQUEST"

SHA256_PREFIX = "sha256:"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# Apollo's automatic persisted queries, the one version there is
APOLLO_PERSISTED_QUERY_VERSION = 1


class DocumentsError(ValueError):
    """A manifest or folder of documents the server cannot use; says which and why."""


class DocumentRefused(Exception):
    """A request whose document cannot run: unknown id, free text refused, or malformed
    document parameters. Carries the code the client reads."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def document_id(text: str) -> str:
    """The id of a document: `sha256:` and the SHA-256 of its text as UTF-8."""
    return SHA256_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def build_manifest(directory: Path) -> dict[str, str]:
    """The documents of every `.graphql` file under `directory`, by id, in id order."""
    if not directory.is_dir():
        raise DocumentsError(f"{directory} is not a folder of .graphql files")
    documents: dict[str, str] = {}
    for path in sorted(directory.rglob("*.graphql")):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DocumentsError(f"{path} is not UTF-8 text") from None
        if not text.strip():
            raise DocumentsError(f"{path} is empty: a document has at least one operation")
        documents[document_id(text)] = text
    if not documents:
        raise DocumentsError(f"{directory} holds no .graphql files")
    return dict(sorted(documents.items()))


def manifest_json(documents: Mapping[str, str]) -> str:
    """A manifest's text: keys sorted, two-space indent, a final newline; the same
    documents always give the same bytes."""
    return json.dumps(dict(sorted(documents.items())), indent=2, ensure_ascii=False) + "\n"


def load_manifest(path: Path) -> dict[str, str]:
    """The documents of a manifest file, or of a folder of `.graphql` files built at
    once. Each `sha256:` id must be the hash of its text."""
    if path.is_dir():
        return build_manifest(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DocumentsError(f"cannot read the trusted documents {path}: {exc.strerror}") from None
    except ValueError:
        raise DocumentsError(f"{path} is not a JSON manifest of trusted documents") from None
    if not isinstance(raw, dict) or not all(
        isinstance(key, str) and isinstance(text, str) for key, text in raw.items()
    ):
        raise DocumentsError(f"{path} must be a JSON object mapping document ids to document texts")
    documents: dict[str, str] = {}
    for key, text in raw.items():
        identifier = SHA256_PREFIX + key if _HEX_DIGEST.fullmatch(key) else key
        if identifier.startswith(SHA256_PREFIX) and identifier != document_id(text):
            raise DocumentsError(
                f"{path}: the document under {key!r} has another hash, "
                f"{document_id(text)}: rebuild the manifest with `scimeta documents build`"
            )
        documents[identifier] = text
    return documents


def requested_id(parameters: Mapping[str, object]) -> str | None:
    """The document id a request's parameters name (`documentId`, or Apollo's
    `extensions.persistedQuery`), or None. Raises `DocumentRefused` (BAD_REQUEST) for
    parameters of the wrong shape, or two ids that differ."""
    given = parameters.get("documentId")
    if given is not None and not isinstance(given, str):
        raise DocumentRefused(BAD_REQUEST, "`documentId` must be a string (sha256:<hex>)")
    extensions = parameters.get("extensions")
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    if persisted is None:
        return given
    if not isinstance(persisted, dict):
        raise DocumentRefused(
            BAD_REQUEST, "`extensions.persistedQuery` must be an object {version, sha256Hash}"
        )
    if persisted.get("version") != APOLLO_PERSISTED_QUERY_VERSION:
        raise DocumentRefused(
            BAD_REQUEST,
            f"`extensions.persistedQuery.version` must be {APOLLO_PERSISTED_QUERY_VERSION}",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest.lower()):
        raise DocumentRefused(
            BAD_REQUEST,
            "`extensions.persistedQuery.sha256Hash` must be the SHA-256 of the document "
            "in hexadecimal",
        )
    apollo = SHA256_PREFIX + digest.lower()
    if given is not None and given != apollo:
        raise DocumentRefused(
            BAD_REQUEST, "`documentId` and `extensions.persistedQuery` name different documents"
        )
    return apollo


@dataclass(frozen=True)
class TrustedDocuments:
    """The documents a server knows by id, and whether it runs only them."""

    documents: Mapping[str, str]
    trusted_only: bool = False

    @classmethod
    def load(cls, path: Path | None, *, trusted_only: bool) -> TrustedDocuments:
        """The documents of a manifest file or a folder (none without a path)."""
        if path is None:
            if trusted_only:
                raise DocumentsError(
                    "trusted documents only, but no trusted documents were given: pass "
                    "--trusted-documents FILE (a manifest of `scimeta documents build`) "
                    "or a folder of .graphql files"
                )
            return cls({}, trusted_only=False)
        return cls(load_manifest(path), trusted_only=trusted_only)

    def resolve(self, query: object, document: str | None, identity: Identity) -> str:
        """The text to run for a request's `query` and document id, for this caller.

        With both, the text must be the document the id names (as Apollo's link sends
        them when it registers a query): it then runs as that document. A request with
        neither is the caller's to refuse.
        """
        if document is not None:
            if isinstance(query, str):
                if document.startswith(SHA256_PREFIX) and document != document_id(query):
                    raise DocumentRefused(
                        BAD_REQUEST,
                        f"`query` is not the document {document} names: its "
                        f"hash is {document_id(query)}",
                    )
                return self._checked(query, identity)
            text = self.documents.get(document)
            if text is None:
                raise DocumentRefused(
                    PERSISTED_QUERY_NOT_FOUND,
                    f"PersistedQueryNotFound: this server has no trusted document {document}; "
                    "send the ids of `scimeta documents build` for the documents it serves",
                )
            return text
        assert isinstance(query, str)
        return self._checked(query, identity)

    def _checked(self, query: str, identity: Identity) -> str:
        if not self.trusted_only or identity.is_admin:
            return query
        if document_id(query) in self.documents:
            return query
        raise DocumentRefused(
            TRUSTED_DOCUMENTS_ONLY,
            "this server runs only its trusted documents: send the `documentId` of one "
            "(or its exact text); only an admin of everything may send other documents",
        )
