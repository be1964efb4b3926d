"""Strawberry types mirroring the ORM entities; relations resolve through loaders."""
