"""scimeta: a GraphQL API server over one unified schema for scientific metadata."""

__version__ = "0.1.0"
