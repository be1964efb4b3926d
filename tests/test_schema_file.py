"""The committed SDL is the schema the code serves."""

from pathlib import Path

from scimeta.resolvers.schema import schema

SDL = Path(__file__).parent.parent / "schema.graphql"


def test_committed_sdl_matches_the_code() -> None:
    assert SDL.read_text() == schema.as_str() + "\n", (
        "schema.graphql is out of date: run `scimeta export-schema > schema.graphql`"
    )
