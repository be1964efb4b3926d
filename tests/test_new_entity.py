"""Adding an entity takes its model, its ownership declaration and its GraphQL type: the
read visibility, the scope a change needs and the relations' scopes follow
(`tests/examples/new_entity.py`, run in a process of its own)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import DatabaseFactory

EXAMPLE = Path(__file__).parent / "examples" / "new_entity.py"


async def test_a_new_entity_is_read_and_scoped_by_its_declaration(
    databases: DatabaseFactory,
) -> None:
    url = await databases.create()
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    study_a, _ = found["studies"]
    # a viewer of study A reads A's notes only, through the ORM, the loaders and GraphQL
    assert found["orm"] == ["a1", "a2"]
    assert found["errors"] == []
    assert found["graphql"] == {
        "notesById": [
            {"text": "a1", "study": {"name": "A"}},
            {"text": "a2", "study": {"name": "A"}},
            None,
        ]
    }

    # its list, filtered by its fields, by its relation and by the relation back from the
    # study (the inputs generated from its spec and declaration), ordered, and visible
    def listed(*texts: str) -> dict[str, object]:
        return {"notes": {"totalCount": len(texts), "nodes": [{"text": t} for t in texts]}}

    assert found["lists"] == {
        "all": listed("a2", "a1"),
        "of B": listed(),
        "of a study with a2": listed("a2", "a1"),
        "a1 or b1": listed("a1"),
    }
    # a change to a note needs a role on its study
    study_b = found["studies"][1]
    assert found["scopes"] == [[None, study_a], [None, study_a], [None, study_b]]
    # the relation both ways keeps the scope, and the study has its notes
    assert found["keeps_scope"] == [True, True]
    assert found["reverse"] == ["Note", True]
