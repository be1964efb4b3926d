"""The results directory of a Quantum Forge store: one job directory per calculation
(`xtbout.json`, `structure.xyz`, `metadata.json`, `results.json`, logs), named by the
calculation's `output_json_path`. The bytes stay on disk; scimeta records each file's
path, size, sha256 and time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath

STRUCTURE_FILE = "structure.xyz"
_READ_BYTES = 1 << 20


@dataclass(frozen=True)
class ResultFile:
    path: str
    name: str
    size_bytes: int
    sha256: str
    modified_at: datetime
    # the file's path as the store knows it (its job directory as output_json_path names it)
    recorded: str


def job_directory(output_json_path: str, roots: list[Path]) -> Path | None:
    """The job directory of a calculation: where its output_json_path says, or a directory
    of that name under one of `roots` (the store moved to another machine)."""
    recorded = PurePath(output_json_path).parent
    candidates = [Path(recorded), *(root / recorded.name for root in roots)]
    for candidate in candidates:
        if str(candidate) not in {"", "."} and candidate.is_dir():
            return candidate.resolve()
    return None


def result_files(directory: Path, output_json_path: str) -> list[ResultFile]:
    """Every regular file of a job directory, in name order."""
    recorded = PurePath(output_json_path).parent
    files = []
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(_READ_BYTES):
                digest.update(chunk)
        status = path.stat()
        files.append(
            ResultFile(
                path=str(path),
                name=path.name,
                size_bytes=status.st_size,
                sha256=digest.hexdigest(),
                modified_at=datetime.fromtimestamp(status.st_mtime, UTC),
                recorded=str(recorded / path.name),
            )
        )
    return files
