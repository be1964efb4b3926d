"""A new entity, added as the ownership declaration promises: its model, its declaration
and its GraphQL type (with the spec of its list's inputs), and nothing else.

`tests/test_new_entity.py` runs this in a process of its own (the model joins the shared
metadata, which the other tests compare with the migrations), on a database of its own,
and checks what it prints: what a caller with a role on one study reads of the new
entity, through the ORM, the loaders and GraphQL, how its list filters (by its fields,
its relation, and the relation back from the study), where a change to one of its rows
needs a role, and the relations the declaration adds.
"""

from __future__ import annotations

import asyncio
import json
import sys
from types import ModuleType
from typing import Any

import strawberry
from sqlalchemy import Text, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from strawberry.schema.config import StrawberryConfig

from scimeta import models
from scimeta.models import ownership
from scimeta.models.base import Entity, reference
from scimeta.schema.generate import generated
from scimeta.schema.inputs.specs import ENTITIES, Inputs

# -- 1. the model -----------------------------------------------------------------------


class Note(Entity):
    """A free-text note on a study."""

    __tablename__ = "notes"

    study_id: Mapped[int] = reference("studies.id", ondelete="CASCADE")
    text: Mapped[str] = mapped_column(Text)


# -- 2. its declaration ------------------------------------------------------------------

ownership.declare(
    Note,
    ownership.Domain.STUDIES,
    ownership.study(Note.study_id),
    {"study": ownership.One(Note.study_id, reverse="notes")},
)


# -- 3. its GraphQL type: the spec of its list's inputs, and the type ---------------------

# (the model exported from scimeta.models, as its line in scimeta/models/__init__.py does)
models.Note = Note  # type: ignore[attr-defined]
NOTE_INPUTS = Inputs(
    Note,
    "note",
    where=("id", "text", "created_at"),
    order={"TEXT": "text", "CREATED_AT": "created_at"},
)


def regenerate() -> None:
    """Put what `python -m scimeta.schema.generate` writes with the note's spec added in
    place of the generated modules (in this process only: no file is written)."""
    files = generated((*ENTITIES, NOTE_INPUTS))
    for name in ("filters", "where", "order", "aggregates"):
        module = ModuleType(f"scimeta.schema.generated.{name}")
        sys.modules[module.__name__] = module
        exec(compile(files[f"{name}.py"], module.__name__, "exec"), vars(module))


regenerate()

# the rest of the server, which reads the generated modules
from scimeta.auth.identity import Identity  # noqa: E402
from scimeta.auth.policy import bind, scopes_of  # noqa: E402
from scimeta.auth.tokens import Grant  # noqa: E402
from scimeta.operation import Context  # noqa: E402
from scimeta.schema.connections import list_field  # noqa: E402
from scimeta.schema.generated.order import NoteOrder  # type: ignore[attr-defined]  # noqa: E402
from scimeta.schema.generated.where import NoteWhere  # type: ignore[attr-defined]  # noqa: E402
from scimeta.schema.node import Entity as Node  # noqa: E402
from scimeta.schema.node import LoaderInfo  # noqa: E402
from scimeta.schema.relations import Relation, one, reads  # noqa: E402
from scimeta.schema.scalars import SCALARS  # noqa: E402
from scimeta.schema.studies import Study  # noqa: E402
from scimeta.server.database import create_engine  # noqa: E402
from scimeta.server.migrate import run_upgrade  # noqa: E402


@strawberry.type(description="A free-text note on a study.")
class NoteType(Node):
    __model__ = Note

    text: str = strawberry.field(description="The note.")

    @strawberry.field(description="The study.")
    @reads(Relation(models.Study, "study_id"))
    async def study(self, root: strawberry.Parent[Note], info: LoaderInfo) -> Study:
        return await one(info, models.Study, root.study_id)


# -- what the rest of the server makes of it ----------------------------------------------


@strawberry.type
class Query:
    @strawberry.field
    async def notes_by_id(self, info: LoaderInfo, ids: list[int]) -> list[NoteType | None]:
        return await info.context.loaders.by_id(Note).load_many(ids)  # type: ignore[return-value]

    notes = list_field(
        NoteType,
        Note,
        where=NoteWhere,
        order=NoteOrder,
        description="Every note.",
    )


async def main(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_upgrade)
            await connection.run_sync(lambda c: ownership.table_of(Note).create(c))
            studies = (
                await connection.execute(
                    insert(models.Study).returning(models.Study.id),
                    [{"name": "A"}, {"name": "B"}],
                )
            ).scalars()
            study_a, study_b = list(studies)
            notes = (
                await connection.execute(
                    insert(Note).returning(Note.id),
                    [
                        {"study_id": study_a, "text": "a1"},
                        {"study_id": study_a, "text": "a2"},
                        {"study_id": study_b, "text": "b1"},
                    ],
                )
            ).scalars()
            note_ids = list(notes)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        reader = Identity(
            name="reader", token_id=1, grants=(Grant(models.Role.VIEWER, study_id=study_a),)
        )

        async with sessionmaker() as session:
            bind(session, reader.access)
            orm_texts = sorted((await session.scalars(select(Note.text))).all())
            scopes = await scopes_of(session, [("Note", note_id) for note_id in note_ids])

        schema = strawberry.Schema(
            query=Query, types=[NoteType], config=StrawberryConfig(scalar_map=SCALARS)
        )
        context = Context(request=None, response=None, sessionmaker=sessionmaker, identity=reader)  # type: ignore[arg-type]
        result = await schema.execute(
            "query($ids: [Int!]!) { notesById(ids: $ids) { text study { name } } }",
            variable_values={"ids": note_ids},
            context_value=context,
        )
        await context.scope.close()
        lists = {}
        for name, where in {
            "all": "{}",
            "of B": '{study: {name: {eq: "B"}}}',
            # the relation back from the study, declared by the note
            "of a study with a2": '{study: {notes: {text: {eq: "a2"}}}}',
            "a1 or b1": '{or: [{text: {eq: "a1"}}, {text: {eq: "b1"}}]}',
        }.items():
            listed = await schema.execute(
                f"{{ notes(where: {where}, orderBy: [{{field: TEXT, direction: DESC}}]) "
                "{ totalCount nodes { text } } }",
                context_value=context,
            )
            await context.scope.close()
            lists[name] = listed.data if not listed.errors else [str(e) for e in listed.errors]
        notes_relation = ownership.relation(models.Study, "notes")
        return {
            "orm": orm_texts,
            "graphql": result.data,
            "errors": [str(e) for e in result.errors or []],
            "lists": lists,
            "scopes": [
                [scope.project_id, scope.study_id]
                for _, scope in sorted(scopes.items(), key=lambda item: item[0][1])
            ],
            "studies": [study_a, study_b],
            "keeps_scope": [
                ownership.relation(Note, "study").same_scope,
                ownership.relation(models.Study, "notes").same_scope,
            ],
            "reverse": [notes_relation.target.__name__, notes_relation.many],
        }
    finally:
        await engine.dispose()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
