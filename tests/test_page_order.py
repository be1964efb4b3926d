"""The pages of many parents' lists, read in one statement, keep each page's order
whatever plan the database picks: the statement sorts by each row's place in its page
instead of relying on the order a lateral join happens to return rows in."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from scimeta import models
from scimeta.auth.identity import Identity
from scimeta.auth.tokens import Grant
from scimeta.loaders.pages import PLACE, PageQuery, pages_by_parent
from scimeta.operation import OperationScope
from scimeta.schema.ordering import OrderTerm
from tests.conftest import StatementCounter

KINDS = [models.RecordingKind.AUDIO, models.RecordingKind.BIOMECHANICS]


async def test_each_parents_page_is_in_its_order_for_a_restricted_caller(
    sessionmaker: async_sessionmaker[AsyncSession], statements: StatementCounter
) -> None:
    async with sessionmaker() as session:
        (study,) = (
            await session.scalars(
                insert(models.Study).returning(models.Study.id), [{"name": "page-order"}]
            )
        ).all()
        participants = (
            await session.scalars(
                insert(models.Participant).returning(models.Participant.id),
                [{"study_id": study, "number": n} for n in range(3)],
            )
        ).all()
        # one statement: every recording has the same created_at, so the id breaks ties
        await session.execute(
            insert(models.Recording),
            [
                {
                    "participant_id": participant,
                    "kind": kind,
                    "maneuver": models.Maneuver.WALK,
                    "knee": knee,
                    "pass_number": number,
                }
                for participant in participants
                for kind in KINDS
                for knee in (models.Knee.LEFT, models.Knee.RIGHT)
                for number in range(3)
            ],
        )
        await session.commit()
    viewer = Identity(
        name="viewer", token_id=1, grants=(Grant(models.Role.VIEWER, study_id=study),)
    )
    scope = OperationScope(sessionmaker, viewer)
    try:
        recording = models.Recording
        for terms in (
            [OrderTerm(recording.created_at, True), OrderTerm(recording.id, True)],
            [
                OrderTerm(recording.knee),
                OrderTerm(recording.pass_number, True),
                OrderTerm(recording.id, True),
            ],
        ):
            statements.reset()
            query = PageQuery(
                models.Recording, conditions=[], order=[t.sql() for t in terms], limit=5
            )
            pages = await pages_by_parent(
                scope, query, models.Recording.participant_id, list(participants)
            )
            (statement,) = statements.statements
            assert statement.rstrip().endswith(f"ORDER BY page.{PLACE}")
            for participant, page in zip(participants, pages, strict=True):
                assert len(page) == 5
                assert {row.participant_id for row in page} == {participant}
                keys = [
                    tuple(_sort_key(getattr(row, t.column.key), t.descending) for t in terms)
                    for row in page
                ]
                assert keys == sorted(keys)
    finally:
        await scope.end()


def _sort_key(value: object, descending: bool) -> object:
    if hasattr(value, "value"):
        value = value.value  # an enum sorts by its label's place, as PostgreSQL's do
    if isinstance(value, int | float):
        return -value if descending else value
    return value
