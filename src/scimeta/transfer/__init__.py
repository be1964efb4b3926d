"""Data out and back in: exports of what a caller may see, their import, and backups.

- `export`: every entity the caller may see, one file per entity, ids and references as
  global ids, read from one snapshot in keyset pages (constant memory).
- `sources`: the registry behind `scimeta import SOURCE`, with the interface every
  importer implements (`scimeta-export` is `import_export`).
- `backup`: `pg_dump`/`pg_restore` (custom format) of the whole database.
"""
