"""Batched, per-request data loaders over the ORM."""

from scimeta.loaders.registry import Loaders, LoaderSource

__all__ = ["LoaderSource", "Loaders"]
