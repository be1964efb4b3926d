"""The AONP run service's MongoDB collections as `mongoexport` writes them: one file of
extended JSON per collection, one document per line (the default), one JSON array
(`--jsonArray`) or documents one after another over several lines (`--pretty`).

Documents are decoded by `bson.json_util`, canonical or relaxed alike ($oid, $date,
$numberLong...); aonp_rows reads their fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from bson import json_util
from bson.json_util import JSONOptions

from scimeta.transfer.formats import TransferError

COLLECTIONS = ("studies", "runs", "summaries", "events", "agent_outputs")
SUFFIXES = (".json", ".jsonl")
# times decoded as UTC, as MongoDB stores them
JSON_OPTIONS = JSONOptions(tz_aware=True, tzinfo=UTC)


@dataclass(frozen=True)
class Document:
    """One document of a collection file, where it is there (`runs.json line 3`), or why
    it could not be read."""

    location: str
    value: dict[str, Any] | None
    unreadable: str | None = None


def collection_files(location: str) -> dict[str, Path]:
    """The file of each collection at `location`: a directory holding `studies.json`,
    `runs.json`, ... (any may be missing), or one such file."""
    path = Path(location)
    if path.is_dir():
        found = {}
        for collection in COLLECTIONS:
            for suffix in SUFFIXES:
                candidate = path / f"{collection}{suffix}"
                if candidate.is_file():
                    found[collection] = candidate
                    break
        if not found:
            raise TransferError(
                f"{path} holds none of {', '.join(c + '.json' for c in COLLECTIONS)}: "
                "export each collection with mongoexport --collection=NAME --out=NAME.json"
            )
        return found
    if path.is_file():
        named = collection_of(path)
        if named is None:
            raise TransferError(
                f"{path.name} does not name a collection of the run service: call it after "
                f"its collection ({', '.join(c + '.json' for c in COLLECTIONS)})"
            )
        return {named: path}
    raise TransferError(f"{path} is neither a directory nor a file")


def collection_of(path: Path) -> str | None:
    """The collection a file is named after: `runs.json`, or `aonp_db.runs.json`."""
    if path.suffix not in SUFFIXES:
        return None
    name = path.stem.rsplit(".", 1)[-1]
    return name if name in COLLECTIONS else None


def read_documents(path: Path) -> list[Document]:
    """Every document of the file, in file order; a document that is not extended JSON
    is returned as unreadable, saying why."""
    with path.open("rb") as stream:
        head = stream.read(4096).lstrip()
    if head.startswith(b"["):
        return list(_stream(path, array=True))
    if head.split(b"\n", 1)[0].strip() == b"{":
        return list(_stream(path, array=False))
    return list(_lines(path))


def _lines(path: Path) -> Iterator[Document]:
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield Document(where, None, "it is not UTF-8 text")
                continue
            yield _decoded(where, line)


def _stream(path: Path, *, array: bool) -> Iterator[Document]:
    """Documents of a --jsonArray file (`element N`) or of --pretty output (`document N`):
    each element's text is found by the JSON parser, then decoded as extended JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TransferError(f"{path}: not UTF-8 text ({exc})") from exc
    decoder = json.JSONDecoder()
    position = _skip(text, 0)
    if array:
        position = _skip(text, position + 1)  # past "["
    number = 0
    while position < len(text):
        if array and text[position] == "]":
            if _skip(text, position + 1) != len(text):
                raise TransferError(f"{path}: text after the closing ] of its JSON array")
            return
        number += 1
        try:
            _, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise TransferError(
                f"{path}: {'element' if array else 'document'} {number} is not JSON "
                f"(line {exc.lineno} column {exc.colno}: {exc.msg}); nothing after it can be read"
            ) from exc
        where = f"{path.name} {'element' if array else 'document'} {number}"
        yield _decoded(where, text[position:end])
        position = _skip(text, end)
        if array and position < len(text) and text[position] == ",":
            position = _skip(text, position + 1)
    if array:
        raise TransferError(f"{path}: its JSON array has no closing ]")


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _decoded(where: str, text: str) -> Document:
    try:
        value = json_util.loads(text, json_options=JSON_OPTIONS)
    except Exception as exc:  # json's, and bson's own (InvalidId, ...), which share no base
        return Document(where, None, f"it is not extended JSON: {exc}")
    if not isinstance(value, dict):
        return Document(where, None, f"it is a JSON {type(value).__name__}, not a document")
    return Document(where, value)
