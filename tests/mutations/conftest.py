"""The committed database's fixtures, for the tests here whose writes must commit."""

from tests.support.committed import committed_engine, committed_graphql

__all__ = ["committed_engine", "committed_graphql"]
