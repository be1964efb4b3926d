"""Every entity declares its owner and relations, and the declarations match the tables."""

from __future__ import annotations

import pytest

from scimeta import models
from scimeta.models import ownership


def mapped_classes() -> list[type[models.Base]]:
    return sorted(
        (mapper.class_ for mapper in models.Base.registry.mappers), key=lambda c: c.__name__
    )


@pytest.mark.parametrize("model", mapped_classes(), ids=lambda c: c.__name__)
def test_every_mapped_class_is_declared(model: type[models.Base]) -> None:
    declaration = ownership.declaration_of(model)
    assert declaration.model is model
    # the domain is the module the model lives in
    assert model.__module__ == f"scimeta.models.{declaration.domain.value}" or (
        declaration.domain is ownership.Domain.CORE and model.__module__ == "scimeta.models.auth"
    )


def test_an_undeclared_entity_is_named_in_the_error() -> None:
    class Undeclared:
        __name__ = "Undeclared"

    with pytest.raises(LookupError, match="Undeclared has no ownership declaration"):
        ownership.declaration_of(Undeclared)  # type: ignore[arg-type]


def test_owning_columns_refer_to_what_they_say() -> None:
    for model, declaration in ownership.declarations().items():
        owner = declaration.owner
        if owner.project is not None and owner.project is not models.Project.id:
            assert ownership.referred(owner.project) is models.Project, model
        if owner.study is not None and owner.study is not models.Study.id:
            assert ownership.referred(owner.study) is models.Study, model
        for column in owner.parents:
            assert column.class_ is model
            target = ownership.target_of(model, column)
            assert ownership.declaration_of(target).owner.scoped or target is models.Calculation
        for column in owner.referrers:
            assert ownership.referred(column) is model


def test_to_one_relations_follow_foreign_keys() -> None:
    for relation in ownership.all_relations():
        if relation.many:
            assert ownership.target_of(relation.target, relation.remote) is relation.model
        else:
            assert ownership.target_of(relation.model, relation.local) is relation.target
            assert relation.remote is relation.target.id  # type: ignore[attr-defined]


def test_relations_resolve_both_ways() -> None:
    participants = ownership.relation(models.Study, "participants")
    assert participants.target is models.Participant and participants.many
    assert participants.same_scope
    study = ownership.relation(models.Participant, "study")
    assert study.target is models.Study and not study.many and study.same_scope
    # a job may use another project's file
    assert not ownership.relation(models.JobFile, "file").same_scope
    # the chemistry store is the whole server's: nothing to keep
    assert not ownership.relation(models.Molecule, "calculations").same_scope
    with pytest.raises(LookupError, match="Study declares no relation 'jobs'"):
        ownership.relation(models.Study, "jobs")


def test_a_declaration_is_made_once() -> None:
    with pytest.raises(ValueError, match="Study is declared twice"):
        ownership.declare(models.Study, ownership.Domain.STUDIES, ownership.study(models.Study.id))


def test_every_entity_a_request_reads_has_one_node_type() -> None:
    from scimeta.resolvers.schema import NODE_TYPES

    shown = [node.__model__ for node in NODE_TYPES]  # type: ignore[attr-defined]
    assert len(shown) == len(set(shown))
    readable = {
        model
        for model, declaration in ownership.declarations().items()
        if declaration.owner.reach is not ownership.Reach.INTERNAL
    }
    assert set(shown) == readable
