"""Batched, per-request data loaders over the ORM."""

from scimeta.loaders.batch import LoaderSource
from scimeta.loaders.registry import Loaders

__all__ = ["LoaderSource", "Loaders"]
