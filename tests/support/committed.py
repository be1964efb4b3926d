"""Fixtures for writes that must really commit: concurrent clients each need their own
connection and see each other's commits, which one rolled-back test transaction cannot
give. A test package takes them by importing them into its conftest.py, and gets a
database of its own, created for the run and dropped at its end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.app import create_app
from scimeta.server.database import create_sessionmaker
from tests.conftest import DatabaseFactory, GraphQLClient, started


@pytest.fixture(scope="session")
async def committed_engine(databases: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = await databases.migrated_engine()
    yield engine
    await engine.dispose()


@pytest.fixture
async def committed_graphql(committed_engine: AsyncEngine) -> AsyncIterator[GraphQLClient]:
    """A client whose every mutation commits; tests name their rows uniquely."""
    app = await started(create_app(sessionmaker=create_sessionmaker(committed_engine)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield GraphQLClient(http)
