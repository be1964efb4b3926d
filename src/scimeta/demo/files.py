"""Rows of the `files` table: metadata of files that stay where the labs keep them."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath

from scimeta.demo.determinism import sha256_hex

MIMETYPES = {
    ".bin": "application/octet-stream",
    ".pkl": "application/x-python-pickle",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".gz": "application/gzip",
    ".h5": "application/x-hdf5",
    ".parquet": "application/vnd.apache.parquet",
    ".extxyz": "chemical/x-extxyz",
}


def file_row(
    file_id: int,
    path: str,
    *,
    size_bytes: int,
    modified_at: datetime,
    mimetype: str | None = None,
    project_id: int | None = None,
    annotation: str | None = None,
    content_flag: int | None = None,
    sub_type: int | None = None,
    imported_from: str | None = None,
    imported_at: datetime | None = None,
) -> dict[str, object]:
    """One file, with every column named so that rows of all origins copy together.

    The checksum stands in for the SHA-256 of the content: derived from the path, it is
    stable across loads and distinct per file, as the import-deduplication index needs.
    """
    pure_path = PurePosixPath(path)
    return {
        "id": file_id,
        "project_id": project_id,
        "path": path,
        "name": pure_path.name,
        "mimetype": mimetype or MIMETYPES.get(pure_path.suffix),
        "size_bytes": size_bytes,
        "checksum": sha256_hex(f"content of {path}"),
        "checksum_algorithm": "sha256",
        "modified_at": modified_at,
        "annotation": annotation,
        "content_flag": content_flag,
        "sub_type": sub_type,
        "imported_from": imported_from,
        "imported_at": imported_at,
    }
