"""Writes: every change to the data, one transaction per call, each with its events.

The functions here know nothing of GraphQL; mutations, importers and workers call them.
One module or package per domain (`core`, `jobs`, `studies`, `runs`, `chemistry`, named as
in `scimeta.models`), beside the machinery they share: `transaction`, `columns`, `unique`,
`idempotency` and `database_errors`.
"""
